// The volume steps the commands and workflows share: checking a volume name an admin typed, and
// dumping one volume (vos backup, then the clone through zstd into the dump store, checksummed and
// catalogued). The AFS work itself is in actions/.
import { existsSync, statfsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { Cancelled, poll } from '../../actions/backoff.ts';
import { dumpToFile } from '../../actions/dump.ts';
import {
  type DumpKind,
  dumpFileName,
  type Level,
  removeQuietly,
  writeSidecar,
} from '../../actions/dump-store.ts';
import { faultPoint } from '../../actions/faults.ts';
import { VOLUME_NAME_MAX, volumeNameProblem } from '../../actions/vos.ts';
import { UserError } from '../chat/errors.ts';
import type { RunningJob } from '../jobs/job.ts';
import { formatBytes, iso } from '../platform/format.ts';
import { dumpDate } from '../platform/time.ts';
import type { Services } from '../services.ts';
import type { DumpRow } from './catalog.ts';
import { indexDump } from './file-index.ts';

/** A volume name typed by an admin: valid, and not a clone. */
export function checkVolumeArg(name: string): string {
  const problem = volumeNameProblem(name);
  if (problem) throw new UserError(problem);
  return name;
}

/** Checks, before a job is made, that `volume` is a read-write volume in the VLDB; returns its id. */
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
  const replaced = s.promotions.replacedAt(volume);
  if (full?.clone_time && replaced !== undefined && full.clone_time <= replaced) return undefined;
  return full?.clone_time && (full.volume_id === null || full.volume_id === volumeId) ? full : undefined;
}

export interface DumpDone {
  row: DumpRow;
  fresh: boolean;
  text: string;
  /** Why the file index did not take the dump (the dump itself is fine). */
  indexNote?: string;
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
  let last = await s.vos.backup(volume, job.signal);
  if (!last.ok && /busy|locked/i.test(`${last.stderr}${last.stdout}`)) {
    await job.say(`${volume} is busy on its file server; waiting for it (up to two minutes)`);
    await poll(
      async () => {
        last = await s.vos.backup(volume, job.signal);
        return last.ok || !/busy|locked/i.test(`${last.stderr}${last.stdout}`) ? true : undefined;
      },
      { initialMs: 2000, maxMs: 10_000, deadlineMs: 120_000, signal: job.signal },
    );
  }
  if (!last.ok) throw new Error(`vos backup ${volume} failed: ${last.message}`);
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
  opts: DumpOptions = {},
): Promise<DumpDone> {
  try {
    return await dumpCloneOnce(s, job, volume, level, kind, opts);
  } catch (err) {
    if (!(err instanceof CloneRemade)) throw err;
    // Another vos backup (an admin's, or one a killed afsbot left running) re-made the clone while
    // it was being dumped: examine it again and dump what it is now.
    await job.say(
      `${volume}.backup was re-made while it was being dumped (${err.message}); dumping it again`,
    );
    return await dumpCloneOnce(s, job, volume, level, kind, opts);
  }
}

type DumpOptions = {
  /**
   * Dump the read-write volume itself, not its clone: only for a volume taken off line (a promote's
   * safety dump), where it cannot change while it is read. Its dump runs until its last update.
   */
  rw?: boolean;
  since?: number;
  onBytes?: (n: number, expected: number) => void;
  /** The dump's expected size, for the free-space check (default: the clone's disk use). */
  estimate?: number;
  /** False: the caller indexes the dump itself (the nightly run, off the dump's own time). */
  index?: boolean;
};

/** The clone a dump came from is not the one examined before it: it was re-made meanwhile. */
class CloneRemade extends Error {}

async function dumpCloneOnce(
  s: Services,
  job: RunningJob,
  volume: string,
  level: Level,
  kind: DumpKind,
  opts: DumpOptions,
): Promise<DumpDone> {
  const clone = opts.rw ? volume : `${volume}.backup`;
  const ex = await s.vos.examine(clone, job.signal);
  if (!ex.ok) throw new Error(`vos examine ${clone} failed: ${ex.message}`);
  // a dump of a read-write volume runs until its last update (dumpstuff.c, DumpDumpHeader)
  const cloneTime = Number(opts.rw ? ex.fields.updateDate : ex.fields.creationDate);
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
  const path = join(s.config.dumps.dir, date, dumpFileName(volume, level, cloneTime, opts.rw));
  const existing = s.catalog.byLocation(path);
  if (existing && existsSync(path)) {
    return {
      row: existing,
      fresh: false,
      text: `${volume} was already dumped from this clone (${iso(cloneTime)}): ${path}`,
    };
  }
  requireFreeSpace(s, opts.estimate ?? expected, `the ${level} dump of ${volume}`);
  // If afsbot dies mid-dump, vos dies of SIGPIPE and leaves the clone busy on the volserver.
  const busy = `busy:${ex.fields.serv}/${ex.fields.id}`;
  job.leftover(busy);
  const volumeId = Number(ex.fields.parentID);
  let remade: string | undefined;
  const r = await dumpToFile({
    stallMs: s.config.jobs.stallMs,
    vos: s.vos,
    volume: clone,
    since,
    path,
    zstd: { binary: s.tools.zstd, level: s.config.dumps.zstdLevel, rsyncable: s.config.dumps.rsyncable },
    signal: job.signal,
    onBytes: (n) =>
      opts.onBytes ? opts.onBytes(n, expected) : job.progress('dumping', n, expected || undefined),
    beforeRename: (d) => {
      // a dump that is not what was asked for never gets a name that looks valid
      if (d.header.fromTime !== since || d.header.toTime !== cloneTime) {
        const why = `it covers ${d.header.fromTime}..${d.header.toTime}, not ${since}..${cloneTime}`;
        if (d.header.toTime !== cloneTime) remade = why;
        throw new Error(why);
      }
      writeSidecar(path, {
        volume,
        volumeId,
        cloneId: d.header.volumeId,
        level,
        kind,
        date,
        cloneTime,
        baseCloneTime: level === 'full' ? null : since,
        rawBytes: d.rawBytes,
        storedBytes: d.storedBytes,
        sha256: d.sha256,
        ...(ex.fields.filecount ? { files: Number(ex.fields.filecount) } : {}),
        ...(ex.fields.diskused ? { diskKb: Number(ex.fields.diskused) } : {}),
        createdAt: new Date().toISOString(),
      });
    },
  });
  if (!r.ok) {
    if (!existsSync(path)) removeQuietly(`${path}.json`); // a sidecar written just before it failed
    // A killed vos leaves the clone busy on the volserver until its transaction is ended.
    await s.vos.endTransactions(ex.fields.serv ?? '', Number(ex.fields.id));
    job.settled(busy);
    if (r.cancelled) throw new Cancelled();
    if (remade) throw new CloneRemade(remade);
    throw new Error(`vos dump of ${clone} failed, and no file was kept: ${r.message}`);
  }
  job.settled(busy);
  faultPoint('dump:before-catalog');
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
  // from the stored file right after: before the archive feeder can take it off the disk
  const indexed =
    s.config.dumps.index && opts.index !== false
      ? await indexDump(s.files, row, { kind: 'zstd', path }, s.tools, {
          signal: job.signal,
          stallMs: s.config.jobs.stallMs,
        })
      : undefined;
  return {
    row,
    fresh: true,
    ...(indexed && !indexed.ok ? { indexNote: `${volume} of ${date}: ${indexed.message}` } : {}),
    text: `${level} dump of ${volume} (clone of ${iso(cloneTime)}${base}) for ${date}: ${formatBytes(r.rawBytes)} raw, ${formatBytes(r.storedBytes)} stored, sha256 ${r.sha256.slice(0, 16)}…, ${path}`,
  };
}

/**
 * A full dump of a volume that is off line, of the read-write volume itself: every write it ever took
 * is in it, and none can come after. Catalogued as a promote's safety dump.
 */
export function dumpOfflineVolume(s: Services, job: RunningJob, volume: string): Promise<DumpDone> {
  return dumpCloneOnce(s, job, volume, 'full', 'pre-promote', { rw: true });
}

/** A name for a restored copy that fits AFS's 22 characters, for the error that suggests one. */
export function shortName(volume: string): string {
  return `${volume.slice(0, VOLUME_NAME_MAX - 2).replace(/\.+$/, '')}.r`;
}

/** Bytes free for an unprivileged write in the dump store (its directory, or the nearest that exists). */
export function freeBytes(dir: string): number {
  for (let d = dir; ; d = dirname(d)) {
    try {
      const st = statfsSync(d);
      return st.bavail * st.bsize;
    } catch {
      if (d === dirname(d)) return Number.POSITIVE_INFINITY;
    }
  }
}

/** Refuses work that would fill the dump store's disk: `need` bytes, plus 10% and dumps.reserveBytes. */
export function requireFreeSpace(s: Services, need: number, what: string): void {
  const free = freeBytes(s.config.dumps.dir);
  const want = Math.ceil(need * 1.1) + s.config.dumps.reserveBytes;
  if (free < want)
    throw new Error(
      `not started: ${what} needs about ${formatBytes(need)}, and the dump store ${s.config.dumps.dir} has ${formatBytes(free)} free (a dump starts only with 10% more than its size and ${formatBytes(s.config.dumps.reserveBytes)} besides, dumps.reserveBytes); free some space, or lower the local retention (archive.localKeepDays)`,
    );
}

/** A path inside a volume as anyone may ask for it: relative, no "..", nothing odd. */
export function checkVolumePath(p: string): string {
  if (p.startsWith('/'))
    throw new UserError(
      `"${p.slice(0, 60)}" is absolute; give the path inside the volume, e.g. projects/plan.md`,
    );
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f]/.test(p)) throw new UserError('a path may not contain control characters');
  const parts = p.split('/');
  if (parts.includes('..'))
    throw new UserError(`"${p.slice(0, 60)}" contains "..": give a path inside the volume`);
  const n = normalize(p).replace(/\/+$/, '');
  if (!n || n === '.')
    throw new UserError('give a file or directory inside the volume, not the whole volume');
  return n;
}
