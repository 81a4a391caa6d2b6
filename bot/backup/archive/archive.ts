// The off-site archive: each night's dumps go into restic, one restic process at a time, fed while
// the dumps go on; a dump whose local file retention removed is read back with `restic dump`. The
// catalog records, per dump, the snapshot and the path it has in the archive. Every dump goes in with
// its sidecar, so the catalog can be rebuilt from the archive alone.
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { Cancelled, sleep } from '../../../actions/backoff.ts';
import type { DumpSource } from '../../../actions/decode.ts';
import { partialName, removeQuietly } from '../../../actions/dump-store.ts';
import { runTool, type Stall, spawnTool, watchStall } from '../../../actions/exec.ts';
import { faultPoint } from '../../../actions/faults.ts';
import { Restic, type ResticLock } from '../../../actions/restic.ts';
import { UserError } from '../../chat/errors.ts';
import type { Config } from '../../platform/config.ts';
import { formatDuration } from '../../platform/format.ts';
import type { Logger } from '../../platform/log.ts';
import { processAlive } from '../../platform/process.ts';
import type { Catalog, DumpRow } from '../catalog.ts';

export function resticOf(config: Config): Restic {
  const a = config.archive;
  return new Restic({
    binary: a.restic,
    repository: a.repository,
    passwordFile: a.passwordFile,
    compression: a.compression,
    timeoutMs: a.timeoutMs,
    stallMs: config.jobs.stallMs,
    ...(a.sftpCommand ? { sftpCommand: a.sftpCommand } : {}),
    ...(a.runAs ? { runAs: a.runAs } : {}),
    ...(a.cacheDir ? { cacheDir: a.cacheDir } : {}),
  });
}

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

function describeLock(l: ResticLock): string {
  return `${l.exclusive ? 'exclusive' : 'shared'} lock ${l.id.slice(0, 8)} held by ${l.username}@${l.hostname} pid ${l.pid} since ${l.time.replace(/\.\d+/, '')}`;
}

export class Archive {
  readonly restic: Restic;

  constructor(private readonly s: { config: Config; catalog: Catalog; log: Logger }) {
    this.restic = resticOf(s.config);
  }

  get enabled(): boolean {
    return this.s.config.archive.enabled;
  }

  /** Checks the password file and creates the repository on first use. Returns a note when it did. */
  async ready(): Promise<string | undefined> {
    if (!this.enabled)
      throw new UserError('the archive is off (archive.enabled, AFSBOT_ARCHIVE); nothing was sent');
    const problem = passwordFileProblem(this.s.config.archive.passwordFile);
    if (problem) throw new UserError(problem);
    // One restic start (each costs half a second of key derivation) both proves the repository is
    // there and lists its locks, which clearLocks then uses.
    const locks = await this.restic.locks();
    if (locks.ok) {
      this.prefetched = locks.locks;
      return undefined;
    }
    if (!/Is there a repository|unable to open config file/.test(locks.stderr))
      throw new Error(`the restic repository ${this.s.config.archive.repository}: ${locks.message}`);
    // A repository that dumps were sent to has gone (an unmounted disk, a mistyped path): making a new
    // empty one there would let retention delete local copies that exist nowhere else.
    const known = this.s.catalog.archivedCount();
    if (known > 0)
      throw new Error(
        `the restic repository ${this.s.config.archive.repository} is not there, but ${known} dumps were archived to it: is its disk mounted, is archive.repository right? Nothing was sent`,
      );
    const r = await this.restic.init();
    if (!r.ok) throw new Error(`the restic repository ${this.s.config.archive.repository}: ${r.message}`);
    this.prefetched = [];
    return `created the restic repository ${this.s.config.archive.repository}`;
  }

  /** The locks ready() just listed, used once by clearLocks instead of asking restic again. */
  private prefetched: ResticLock[] | undefined;

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
      const r = this.prefetched ? { ok: true as const, locks: this.prefetched } : await this.restic.locks();
      this.prefetched = undefined;
      if (!r.ok) throw new Error(`listing the archive's locks failed: ${r.message}`);
      const dead = r.locks.filter((l) => l.hostname === here && !processAlive(l.pid));
      const unproven = r.locks.filter(
        (l) => l.hostname !== here && Date.now() - Date.parse(l.time) > 30 * 60_000,
      );
      if (dead.length > 0 && unproven.length === 0) {
        // restic unlock removes exactly the stale locks, and every stale one here is proven dead
        const u = await this.restic.unlock();
        if (!u.ok) throw new Error(`restic unlock failed: ${u.message}`);
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
    const r = await this.restic.backupFiles(files, tagsFor(rows), opts);
    if (!r.ok) throw new Error(`restic backup failed: ${r.message}`);
    faultPoint('archive:before-record');
    this.s.catalog.markArchived(rows, r.summary.snapshot_id, new Date().toISOString());
    return {
      snapshot: r.summary.snapshot_id,
      added: r.summary.data_added,
      processed: r.summary.total_bytes_processed,
    };
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

  /** A dump in the archive as a source for the decoders: `restic dump` of it. */
  sourceOf(row: DumpRow): DumpSource {
    if (!row.archive_snapshot || !row.archive_path)
      throw new UserError(`${row.location} is neither on disk nor in the archive`);
    return {
      kind: 'archive',
      path: `archive:${row.archive_snapshot.slice(0, 8)}:${row.archive_path}`,
      size: row.stored_bytes,
      command: this.restic.dumpCommand(row.archive_snapshot, row.archive_path.replace(/^\//, '')),
    };
  }

  /**
   * Writes an archived file into `dst` (restic dump into a partial file beside it, renamed once whole),
   * stopped if it stalls. A fetch that fails leaves nothing under a name that looks valid.
   */
  async fetch(snapshot: string, path: string, dst: string, signal?: AbortSignal): Promise<void> {
    if (existsSync(dst)) throw new Error(`${dst} is there already; not overwritten`);
    const tmp = partialName(dst);
    const fd = openSync(tmp, 'wx', 0o600);
    const stop = new AbortController();
    let stalled: Stall | undefined;
    let unwatch = () => {};
    let whole = false;
    try {
      const c = this.restic.dumpCommand(snapshot, path.replace(/^\//, ''));
      const p = spawnTool(c.program, c.args, {
        stdin: 'ignore',
        stdout: fd,
        env: c.env,
        signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      });
      unwatch = watchStall([{ name: 'restic dump', child: p.child }], this.s.config.jobs.stallMs, (st) => {
        stalled = st;
        stop.abort();
      });
      const r = await p.done;
      if (stalled) throw new Error(`fetching ${path} from the archive failed: ${stalled.message}`);
      if (!r.ok) throw new Error(`restic dump of ${path} failed: ${r.message}`);
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
