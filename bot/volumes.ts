// Shared steps of the volume commands: dumping one volume into the store, resolving dump chains to
// sources, and where restored volumes go. Commands stay small; the AFS work itself is in actions/.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DumpSource } from '../actions/decode.ts';
import { dumpToFile } from '../actions/dump.ts';
import { type DumpKind, dumpFileName, type Level, writeSidecar } from '../actions/dump-store.ts';
import type { ChainError, ChainLink } from '../actions/restore.ts';
import { volumeNameProblem } from '../actions/vos.ts';
import type { DumpRow } from './catalog.ts';
import { dumpDate } from './dates.ts';
import { UserError } from './errors.ts';
import { formatBytes } from './format.ts';
import type { RunningJob } from './jobs.ts';
import type { Services } from './services.ts';

export function iso(epoch: number | null): string {
  return epoch === null ? 'unknown' : new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
}

/** A volume name typed by an admin: valid, and not a clone. */
export function checkVolumeArg(name: string): string {
  const problem = volumeNameProblem(name);
  if (problem) throw new UserError(problem);
  return name;
}

/** Checks, before a job is made, that `volume` is a read-write volume in the VLDB. */
/** Returns the read-write volume's id. */
export async function requireRwVolume(s: Services, volume: string): Promise<number> {
  const ex = await s.vos.examine(volume);
  if (!ex.ok) {
    if (ex.missing) throw new UserError(`there is no volume ${volume} in the VLDB (vos listvldb lists them)`);
    throw new Error(`vos examine ${volume} failed: ${ex.message}`);
  }
  if (ex.fields.type && ex.fields.type !== 'RW')
    throw new UserError(`${volume} is a ${ex.fields.type} volume; name its read-write volume`);
  return Number(ex.fields.id);
}

/**
 * The full dump an incremental of `volume` may build on: its newest, and only if it is of the same
 * volume (a promote or a re-creation gives the name a new id, and starts a new chain).
 */
export function baseFull(s: Services, volume: string, volumeId: number): DumpRow | undefined {
  const full = s.catalog.newestFull(volume);
  return full?.clone_time && (full.volume_id === null || full.volume_id === volumeId) ? full : undefined;
}

export interface DumpDone {
  row: DumpRow;
  fresh: boolean;
  text: string;
}

/** vos backup, then the clone dumped to the store, checksummed, catalogued. */
export async function dumpVolume(
  s: Services,
  job: RunningJob,
  volume: string,
  level: Level,
  kind: DumpKind = 'scheduled',
): Promise<DumpDone> {
  await cloneVolume(s, job, volume);
  return dumpClone(s, job, volume, level, kind);
}

/** vos backup, waiting out a clone that is still busy. */
export async function cloneVolume(s: Services, job: RunningJob, volume: string): Promise<void> {
  job.progress('cloning', 0);
  // A clone that another dump (or one a crash cut short) still holds is busy for up to a minute.
  let b = await s.vos.backup(volume, job.signal);
  for (let waited = 0; !b.ok && /busy/i.test(`${b.stderr}${b.stdout}`) && waited < 120_000; waited += 5000) {
    if (waited === 0)
      await job.say(`${volume} is busy on its file server; waiting for it (up to two minutes)`);
    await new Promise((r) => setTimeout(r, 5000));
    if (job.signal.aborted) throw new Error('cancelled');
    b = await s.vos.backup(volume, job.signal);
  }
  if (!b.ok) throw new Error(`vos backup ${volume} failed: ${b.message}`);
}

/**
 * Dumps the existing .backup clone of `volume` into the store, checksummed and catalogued. An
 * incremental is relative to the newest full's clone time, unless `since` says otherwise.
 */
export async function dumpClone(
  s: Services,
  job: RunningJob,
  volume: string,
  level: Level,
  kind: DumpKind = 'scheduled',
  opts: { since?: number; onBytes?: (n: number, expected: number) => void } = {},
): Promise<DumpDone> {
  const clone = `${volume}.backup`;
  const ex = await s.vos.examine(clone, job.signal);
  if (!ex.ok) throw new Error(`vos examine ${clone} failed: ${ex.message}`);
  const cloneTime = Number(ex.fields.creationDate);
  const expected = Number(ex.fields.diskused ?? 0) * 1024;
  let since = 0;
  if (level === 'incremental' && opts.since !== undefined) since = opts.since;
  else if (level === 'incremental') {
    const full = baseFull(s, volume, Number(ex.fields.parentID));
    if (!full?.clone_time)
      throw new UserError(
        `there is no full dump of ${volume} as it is now (none yet, or it was replaced since), so an incremental has no base; run !dump ${volume} full`,
      );
    since = full.clone_time;
  }
  const date = dumpDate(s.clock(), s.config.timeZone);
  const path = join(s.config.dumps.dir, date, dumpFileName(volume, level, cloneTime));
  const existing = s.catalog.byLocation(path);
  if (existing && existsSync(path)) {
    return {
      row: existing,
      fresh: false,
      text: `${volume} was already dumped from this clone (${iso(cloneTime)}): ${path}`,
    };
  }
  // If afsbot dies mid-dump, vos dies of SIGPIPE and leaves the clone busy on the volserver.
  const busy = `busy:${ex.fields.serv}/${ex.fields.id}`;
  job.leftover(busy);
  const r = await dumpToFile({
    vos: s.vos,
    volume: clone,
    since,
    path,
    zstd: { binary: s.tools.zstd, level: s.config.dumps.zstdLevel, rsyncable: s.config.dumps.rsyncable },
    signal: job.signal,
    onBytes: (n) =>
      opts.onBytes ? opts.onBytes(n, expected) : job.progress('dumping', n, expected || undefined),
  });
  if (!r.ok) {
    // A killed vos leaves the clone busy on the volserver until its transaction is ended.
    await s.vos.endTransactions(ex.fields.serv ?? '', Number(ex.fields.id));
    job.settled(busy);
    if (r.cancelled) throw new Error('cancelled');
    throw new Error(`vos dump of ${clone} failed, and no file was kept: ${r.message}`);
  }
  job.settled(busy);
  if (r.header.fromTime !== since || r.header.toTime !== cloneTime) {
    throw new Error(
      `the dump of ${clone} covers ${r.header.fromTime}..${r.header.toTime}, not ${since}..${cloneTime}; it was kept at ${path} but not catalogued`,
    );
  }
  const volumeId = Number(ex.fields.parentID);
  writeSidecar(path, {
    volume,
    volumeId,
    cloneId: r.header.volumeId,
    level,
    kind,
    date,
    cloneTime,
    baseCloneTime: level === 'full' ? null : since,
    rawBytes: r.rawBytes,
    storedBytes: r.storedBytes,
    sha256: r.sha256,
    ...(ex.fields.filecount ? { files: Number(ex.fields.filecount) } : {}),
    ...(ex.fields.diskused ? { diskKb: Number(ex.fields.diskused) } : {}),
    createdAt: new Date().toISOString(),
  });
  s.catalog.add({
    volume,
    volume_id: volumeId,
    clone_id: r.header.volumeId,
    date,
    level,
    kind,
    clone_time: cloneTime,
    base_clone_time: level === 'full' ? null : since,
    raw_bytes: r.rawBytes,
    stored_bytes: r.storedBytes,
    sha256: r.sha256,
    location: path,
    job_id: job.id,
    files: ex.fields.filecount ? Number(ex.fields.filecount) : null,
    disk_kb: ex.fields.diskused ? Number(ex.fields.diskused) : null,
  });
  const row = s.catalog.byLocation(path)!;
  const base = level === 'incremental' ? `, since the full of ${iso(since)}` : '';
  return {
    row,
    fresh: true,
    text: `${level} dump of ${volume} (clone of ${iso(cloneTime)}${base}) for ${date}: ${formatBytes(r.rawBytes)} raw, ${formatBytes(r.storedBytes)} stored, sha256 ${r.sha256.slice(0, 16)}…, ${path}`,
  };
}

/** Where a catalogued dump's bytes are, as something the decoders can read. */
export function sourceOf(s: Services, row: DumpRow): DumpSource {
  if (row.kind === 'legacy' || row.kind === 'databases') {
    const keyFile = s.config.dumps.legacyKeyFile;
    if (!keyFile) {
      throw new UserError(
        `${row.location} is a legacy ccrypt archive, and no key file is configured (set dumps.legacyKeyFile or AFSBOT_LEGACY_KEY_FILE)`,
      );
    }
    return { kind: 'legacy', path: row.location, keyFile };
  }
  if (row.local && existsSync(row.location)) return { kind: 'zstd', path: row.location };
  if (row.archive_snapshot) return s.archive.sourceOf(row);
  throw new UserError(
    `the dump ${row.location} is gone from disk and was never archived; !backup rescan updates the catalog`,
  );
}

/** The chain's sources; `fromArchive` reads every archived link from the archive even when it is on disk. */
export function chainLinks(s: Services, rows: DumpRow[], opts: { fromArchive?: boolean } = {}): ChainLink[] {
  return rows.map((r) => {
    const source = opts.fromArchive && r.archive_snapshot ? s.archive.sourceOf(r) : sourceOf(s, r);
    const link: ChainLink = { source, level: r.level };
    if (r.clone_time !== null)
      link.expect = { cloneTime: r.clone_time, baseCloneTime: r.base_clone_time, volumeId: r.volume_id };
    return link;
  });
}

/** The chain to restore `volume` as of `date`, or a UserError saying why there is none. */
export function chainFor(s: Services, volume: string, date?: string): DumpRow[] {
  const c = s.catalog.chain(volume, date);
  if ('error' in c) throw new UserError(c.error);
  return c.links;
}

/** Server and partition for a restored copy of `volume`: the config's, or where the volume lives. */
export async function restoreSite(
  s: Services,
  volume: string,
): Promise<{ server: string; partition: string }> {
  if (s.config.afs.server) return { server: s.config.afs.server, partition: s.config.afs.partition };
  const e = await s.vos.listvldbEntry(volume);
  if (!e.ok) throw new Error(`vos listvldb -name ${volume} failed: ${e.message}`);
  const site = e.entry?.sites.find((x) => x.type === 'RW') ?? e.entry?.sites[0];
  if (!site) {
    throw new UserError(
      `${volume} is not in the VLDB any more, so I do not know which file server to restore to; set afs.server (AFSBOT_AFS_SERVER)`,
    );
  }
  return { server: site.server, partition: site.partition.replace(/^\/vicep/, '') };
}

/** A refused chain, in words for the admin: with how to bring the catalog in line when that is why. */
export function chainRefusal(err: ChainError): string {
  return `refused: ${err.message}${err.catalogOutOfDate ? '; !backup rescan updates the catalog to what is on disk' : ''}`;
}
