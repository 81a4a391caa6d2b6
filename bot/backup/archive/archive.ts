// The off-site archive: each night's dumps go into restic or borg (archive.engine), one engine process
// at a time, fed while the dumps go on; a dump whose local file retention removed is read back out of
// it. The catalog records, per dump, the snapshot and the path it has in the archive. Every dump goes
// in with its sidecar, so the catalog can be rebuilt from the archive alone.
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { ArchiveEngine, ArchiveItem, EngineLock } from '../../../actions/archive-engine.ts';
import { Cancelled, sleep } from '../../../actions/backoff.ts';
import type { DumpSource } from '../../../actions/decode.ts';
import { zstdArgs } from '../../../actions/dump.ts';
import { partialName, removeQuietly } from '../../../actions/dump-store.ts';
import { runTool, type Stall, spawnTool, watchStall } from '../../../actions/exec.ts';
import { faultPoint } from '../../../actions/faults.ts';
import { Restic } from '../../../actions/restic.ts';
import { UserError } from '../../chat/errors.ts';
import type { Config } from '../../platform/config.ts';
import { formatDuration, snapshotName } from '../../platform/format.ts';
import type { Logger } from '../../platform/log.ts';
import { processAlive } from '../../platform/process.ts';
import type { Catalog, DumpRow } from '../catalog.ts';
import { borgBaseDir, borgFeedDir, borgOf, removeDeadFeeds, resticOf } from './engines.ts';

/**
 * The password file must exist and be readable by its owner alone: anyone who reads it can read every
 * dump in the archive. Returns what is wrong, or undefined.
 */
export function passwordFileProblem(file: string): string | undefined {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    return `the archive password file ${file} does not exist: create it with (umask 077; head -c 32 /dev/urandom | base64 > ${file}) and keep a copy somewhere safe, off this machine`;
  }
  if ((st.mode & 0o077) !== 0)
    return `the archive password file ${file} can be read by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${file}`;
  return undefined;
}

/** Tags of one snapshot: afsbot, the date, and each volume and level in it. */
export function tagsFor(rows: DumpRow[]): string[] {
  const tags = new Set(['afsbot']);
  for (const r of rows) {
    tags.add(`date:${r.date}`);
    tags.add(`volume:${r.volume}`);
    tags.add(`level:${r.level}`);
  }
  return [...tags];
}

/** Dumps that cannot be archived because their files are gone; the rest of a batch can still go. */
export class ArchiveGap extends Error {
  constructor(
    readonly rows: DumpRow[],
    message: string,
  ) {
    super(message);
  }
}

export interface LockReport {
  /** Locks removed because their holder is provably gone (same host, no such process). */
  removed: string[];
  /** Lines for the report: what held the repository and how long we waited. */
  notes: string[];
}

function describeLock(l: EngineLock): string {
  return `${l.exclusive ? 'exclusive' : 'shared'} lock ${l.id.slice(0, 8)} held by ${l.username}@${l.hostname} pid ${l.pid} since ${l.time.replace(/\.\d+/, '')}`;
}

export class Archive {
  /** The engine archive.engine names. Its user's group is learnt at ready() (borg's pipes need it). */
  engine: ArchiveEngine;

  constructor(private readonly s: { config: Config; catalog: Catalog; log: Logger }) {
    this.engine = s.config.archive.engine === 'borg' ? borgOf(s.config) : resticOf(s.config);
    if (this.engine.kind === 'borg') removeDeadFeeds(borgFeedDir(s.config));
  }

  get enabled(): boolean {
    return this.s.config.archive.enabled;
  }

  /** restic's key slots (`!keys`, `afsbot keys`); borg has one key per repository. */
  get restic(): Restic {
    if (this.engine instanceof Restic) return this.engine;
    throw new UserError(
      'the archive is borg, which has one key per repository, protected by the passphrase in archive.passwordFile (change it with borg key change-passphrase); a key per admin needs archive.engine restic',
    );
  }

  private get what(): string {
    return `the ${this.engine.kind} repository ${this.s.config.archive.repository}`;
  }

  /** Checks the password file and creates the repository on first use. Returns a note when it did. */
  async ready(): Promise<string | undefined> {
    if (!this.enabled)
      throw new UserError('the archive is off (archive.enabled, AFSBOT_ARCHIVE); nothing was sent');
    const problem = passwordFileProblem(this.s.config.archive.passwordFile);
    if (problem) throw new UserError(problem);
    const other = this.s.catalog.archivedRows().find((r) => !this.holdsPath(r.archive_path ?? ''));
    if (other)
      throw new UserError(
        `archive.engine is ${this.engine.kind}, but the catalog holds dumps archived by the other engine (${other.volume} of ${other.date} at ${other.archive_path}): switching engines would call them lost. Keep archive.engine, or start the new engine with its own database`,
      );
    if (this.engine.kind === 'borg') await this.prepareBorg();
    // One engine start both proves the repository is there and lists its locks, which clearLocks
    // then uses (each start costs key derivation).
    const locks = await this.engine.locks();
    if (locks.ok) {
      this.prefetched = locks.locks;
      return undefined;
    }
    if (!this.engine.isMissing(locks)) throw new Error(`${this.what}: ${locks.message}`);
    // A repository that dumps were sent to has gone (an unmounted disk, a mistyped path): making a new
    // empty one there would let retention delete local copies that exist nowhere else.
    const known = this.s.catalog.archivedCount();
    if (known > 0)
      throw new Error(
        `${this.what} is not there, but ${known} dumps were archived to it: is its disk mounted, is archive.repository right? Nothing was sent`,
      );
    const r = await this.engine.init();
    if (!r.ok) throw new Error(`${this.what}: ${r.message}`);
    this.prefetched = [];
    return `created ${this.what}`;
  }

  /** Whether an archived path is of this engine's kind (restic: the .zst file; borg: the raw dump). */
  private holdsPath(path: string): boolean {
    if (path === '') return true;
    return this.engine.storesRaw ? !path.endsWith('.zst') : path.endsWith('.zst');
  }

  /** borg's base directory, and its feed of named pipes, usable by the user borg runs as. */
  private async prepareBorg(): Promise<void> {
    const owner = await this.runAsIds();
    const base = borgBaseDir(this.s.config);
    mkdirSync(base, { recursive: true, mode: 0o700 });
    if (owner) chownSync(base, owner.uid, owner.gid);
    if (owner) this.engine = borgOf(this.s.config, owner.gid);
  }

  /** The locks ready() just listed, used once by clearLocks instead of asking restic again. */
  private prefetched: EngineLock[] | undefined;

  /**
   * Before restic works on the repository: a lock whose holder is provably dead (this host, and no such
   * process) is reported and removed; a live one that conflicts makes us wait, up to lockWaitMs. A lock
   * restic would call stale only by its age (another host) is reported and left: it is not proven dead.
   */
  async clearLocks(
    exclusive: boolean,
    signal?: AbortSignal,
    say?: (text: string) => void,
  ): Promise<LockReport> {
    const report: LockReport = { removed: [], notes: [] };
    const deadline = Date.now() + this.s.config.archive.lockWaitMs;
    const here = hostname();
    let waited = false;
    for (;;) {
      const r = this.prefetched ? { ok: true as const, locks: this.prefetched } : await this.engine.locks();
      this.prefetched = undefined;
      if (!r.ok) throw new Error(`listing the archive's locks failed: ${r.message}`);
      const dead = r.locks.filter((l) => l.hostname === here && !processAlive(l.pid));
      const unproven = r.locks.filter(
        (l) => l.hostname !== here && Date.now() - Date.parse(l.time) > 30 * 60_000,
      );
      if (dead.length > 0 && unproven.length === 0) {
        // restic unlock removes exactly the stale locks, and every stale one here is proven dead
        const u = await this.engine.unlock();
        if (!u.ok) throw new Error(`${this.engine.kind} unlock failed: ${u.message}`);
        for (const l of dead) {
          const line = `removed a stale ${describeLock(l)}: that process is gone`;
          report.removed.push(line);
          await say?.(line);
        }
        continue;
      }
      const blocking = r.locks.filter(
        (l) => !dead.includes(l) && (exclusive || l.exclusive) && l.pid !== process.pid,
      );
      if (blocking.length === 0) {
        for (const l of unproven)
          report.notes.push(
            `left a ${describeLock(l)}: restic calls it stale by age, but its holder is on another host`,
          );
        return report;
      }
      if (!waited) {
        const line = `the archive is locked: ${blocking.map(describeLock).join('; ')}; waiting up to ${formatDuration(this.s.config.archive.lockWaitMs)}`;
        report.notes.push(line);
        await say?.(line);
        waited = true;
      }
      if (Date.now() >= deadline)
        throw new Error(`the archive stayed locked: ${blocking.map(describeLock).join('; ')}`);
      if (signal?.aborted) throw new Cancelled();
      await sleep(Math.min(5000, Math.max(100, deadline - Date.now())), signal);
    }
  }

  /**
   * Sends catalogued dumps (each with its sidecar) in one snapshot and records where each went.
   * Returns restic's summary: bytes read and bytes the repository grew by.
   */
  async send(
    rows: DumpRow[],
    opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
  ): Promise<{ snapshot: string; added: number; processed: number }> {
    const gone = rows.filter((r) => !existsSync(r.location));
    if (gone.length)
      throw new ArchiveGap(
        gone,
        `${gone.map((g) => g.location).join(', ')} ${gone.length === 1 ? 'is' : 'are'} gone from disk and not in the archive: ${gone.length === 1 ? 'that dump is' : 'those dumps are'} lost; !backup rescan drops ${gone.length === 1 ? 'it' : 'them'} from the catalog`,
      );
    const files = rows.flatMap((r) =>
      existsSync(`${r.location}.json`) ? [r.location, `${r.location}.json`] : [r.location],
    );
    // restic runs as the archive user, which may read the files and nothing more: they stay root's, in
    // its group, mode 0640. (Were they its own, it could replace a dump that root later restores with
    // vos restore -localauth; every restore checks the catalog's sha256 as well.)
    const owner = await this.runAsIds();
    if (owner)
      for (const f of files) {
        chownSync(f, 0, owner.gid);
        chmodSync(f, 0o640);
      }
    const items: ArchiveItem[] = files.map((file) => ({ file, name: this.nameOf(file) }));
    const r = await this.engine.backup(items, tagsFor(rows), opts);
    if (!r.ok) throw new Error(`${this.engine.kind} backup failed: ${r.message}`);
    faultPoint('archive:before-record');
    const pathOf = new Map(files.map((f, i) => [f, r.paths[i]!]));
    this.s.catalog.markArchived(
      rows,
      r.snapshot,
      new Date().toISOString(),
      rows.map((row) => pathOf.get(row.location)!),
    );
    return { snapshot: r.snapshot, added: r.added, processed: r.processed };
  }

  private ids: { uid: number; gid: number } | undefined;

  private async runAsIds(): Promise<{ uid: number; gid: number } | undefined> {
    const user = this.s.config.archive.runAs;
    if (!user) return undefined;
    if (!this.ids) {
      const r = await runTool('id', [user], { timeoutMs: 10_000 });
      const m = r.ok ? /uid=(\d+).*gid=(\d+)/.exec(r.stdout) : null;
      if (!m)
        throw new UserError(
          `archive.runAs is ${user}, but there is no such user here (id ${user}: ${r.ok ? r.stdout : r.message})`,
        );
      this.ids = { uid: Number(m[1]), gid: Number(m[2]) };
    }
    return this.ids;
  }

  /**
   * A local file's name in the archive. restic keeps the absolute path; borg stores a dump decompressed
   * as <date>/<name>.dump (a sidecar: <date>/<name>.dump.json), so the name must not say .zst.
   */
  private nameOf(file: string): string {
    if (!this.engine.storesRaw) return file;
    const date = basename(dirname(file));
    return `${date}/${basename(file).replace(/\.dump\.zst(\.json)?$/, '.dump$1')}`;
  }

  /** Where a dump archived under `path` lives on local disk (or lived, before retention removed it). */
  localLocation(path: string): string {
    if (path.startsWith('/')) return path;
    return join(this.s.config.dumps.dir, path.replace(/\.dump(\.json)?$/, '.dump.zst$1'));
  }

  /** A dump in the archive as a source for the decoders: the engine's extract of it. */
  sourceOf(row: DumpRow): DumpSource {
    if (!row.archive_snapshot || !row.archive_path)
      throw new UserError(`${row.location} is neither on disk nor in the archive`);
    return {
      kind: 'archive',
      path: `archive:${snapshotName(row.archive_snapshot)}:${row.archive_path}`,
      // borg gives the dump itself: progress counts its raw bytes
      size: row.archive_path.endsWith('.zst') ? row.stored_bytes : (row.raw_bytes ?? row.stored_bytes),
      raw: !row.archive_path.endsWith('.zst'),
      command: this.engine.dumpCommand(row.archive_snapshot, row.archive_path.replace(/^\//, '')),
    };
  }

  /**
   * Writes an archived file into `dst` (the engine's extract into a partial file beside it, renamed
   * once whole), stopped if it stalls. A dump borg keeps decompressed is compressed again on the way,
   * as the dump store does it (same zstd, level and flags: the same bytes, so its sha256 matches the
   * catalog's). A fetch that fails leaves nothing under a name that looks valid.
   */
  async fetch(snapshot: string, path: string, dst: string, signal?: AbortSignal): Promise<void> {
    if (existsSync(dst)) throw new Error(`${dst} is there already; not overwritten`);
    const tmp = partialName(dst);
    const fd = openSync(tmp, 'wx', 0o600);
    const stop = new AbortController();
    let stalled: Stall | undefined;
    let unwatch = () => {};
    let whole = false;
    const name = `${this.engine.kind} ${this.engine.kind === 'borg' ? 'extract' : 'dump'}`;
    try {
      const c = this.engine.dumpCommand(snapshot, path.replace(/^\//, ''));
      const both = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
      const recompress = this.engine.storesRaw && path.endsWith('.dump');
      const out = spawnTool(c.program, c.args, {
        stdin: 'ignore',
        stdout: recompress ? 'pipe' : fd,
        env: c.env,
        signal: both,
      });
      const stages = [{ name, child: out.child }];
      const done = [out.done];
      if (recompress) {
        const d = this.s.config.dumps;
        const z = spawnTool(this.s.config.tools.zstd, [...zstdArgs(d.zstdLevel, d.rsyncable), '-q'], {
          stdin: out.child.stdout!,
          stdout: fd,
          signal: both,
        });
        out.child.stdout!.destroy(); // zstd holds the pipe now
        stages.push({ name: 'zstd', child: z.child });
        done.push(z.done);
      }
      unwatch = watchStall(stages, this.s.config.jobs.stallMs, (st) => {
        stalled = st;
        stop.abort();
      });
      const results = await Promise.all(done);
      if (stalled) throw new Error(`fetching ${path} from the archive failed: ${stalled.message}`);
      const failed = results.find((r) => !r.ok);
      if (failed && !failed.ok) throw new Error(`${name} of ${path} failed: ${failed.message}`);
      fsyncSync(fd);
      whole = true;
    } finally {
      unwatch();
      closeSync(fd);
      if (!whole) removeQuietly(tmp);
    }
    renameSync(tmp, dst);
  }
}
