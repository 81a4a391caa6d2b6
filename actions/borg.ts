// borg, the archive engine with fine content-defined chunks. A dump goes in decompressed: each stored
// .zst file is decoded by zstd straight into a named pipe that borg reads (--read-special), so there is
// no second copy on disk and no byte through the bot; borg compresses and encrypts it itself. The
// passphrase reaches borg through BORG_PASSCOMMAND (`cat` of the password file), never argv; an SSH
// repository is reached with BORG_RSH (its own key and known_hosts) and `borg serve` on the remote.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import {
  type ArchiveEngine,
  type ArchiveItem,
  type EngineBackup,
  type EngineCommand,
  type EngineLock,
  parseToolJson,
  toolFailure,
} from './archive-engine.ts';
import {
  runTool,
  type Spawned,
  type Stall,
  spawnTool,
  type ToolFailure,
  type ToolResult,
  watchStall,
} from './exec.ts';

export interface BorgOptions {
  binary: string;
  /** A local path, or ssh://user@host:port/path (the remote runs `borg serve`). */
  repository: string;
  /** File holding the passphrase, readable by the user borg runs as. */
  passwordFile: string;
  /** BORG_RSH for an SSH repository: the ssh command, with its own key and known_hosts. */
  rsh?: string;
  /** Run borg as this unix user instead of the bot's own (runuser -u USER --). */
  runAs?: string;
  /** BORG_BASE_DIR: borg's cache, config and security records (writable by the user borg runs as). */
  baseDir: string;
  /** e.g. zstd,3 */
  compression: string;
  /** e.g. buzhash,14,20,16,4095: 64 KiB average chunks. */
  chunkerParams: string;
  timeoutMs: number;
  /** A backup or extract that moves no byte for this long is stopped. */
  stallMs: number;
  /** How long borg itself waits for another process's lock. */
  lockWaitSeconds: number;
  /** The zstd binary that decodes a stored dump into borg's named pipe. */
  zstd: string;
  /**
   * Where the named pipes of a backup are made (a directory of its own per backup, removed after). It
   * must be root's: the archive user only reads it (its group).
   */
  feedDir: string;
  /** The group of the user borg runs as: it must read the pipes and sidecars. */
  feedGid?: number;
}

/** Prefix of every archive afsbot makes, so that a repository shared with others lists only ours. */
export const ARCHIVE_PREFIX = 'afsbot-';

const createSchema = z.object({
  archive: z.object({
    name: z.string(),
    stats: z.object({ deduplicated_size: z.number(), original_size: z.number() }),
  }),
});
const listSchema = z.object({ archives: z.array(z.object({ name: z.string(), id: z.string() })) });
const itemSchema = z.object({ type: z.string(), path: z.string(), size: z.number().optional() });
const rosterSchema = z.record(z.string(), z.array(z.tuple([z.string(), z.number(), z.number()])));

/** A word for a shell-like split (BORG_PASSCOMMAND and BORG_RSH are split by borg with shlex). */
function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\"'\"'")}'`;
}

const parseJson = <T>(schema: z.ZodType<T>, text: string, what: string) =>
  parseToolJson('borg', schema, text, what);

/** Whether a process is alive (signal 0); EPERM means it is, under another user. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Borg implements ArchiveEngine {
  readonly kind = 'borg' as const;
  readonly storesRaw = true;

  constructor(private readonly opts: BorgOptions) {}

  private get local(): boolean {
    return !this.opts.repository.includes('://');
  }

  command(args: readonly string[]): { program: string; args: string[] } {
    if (this.opts.runAs)
      return { program: 'runuser', args: ['-u', this.opts.runAs, '--', this.opts.binary, ...args] };
    return { program: this.opts.binary, args: [...args] };
  }

  env(): Record<string, string> {
    return {
      BORG_PASSCOMMAND: `cat -- ${quote(this.opts.passwordFile)}`,
      BORG_BASE_DIR: this.opts.baseDir,
      // (borg 1.2 removes a lock whose holder on this host is dead by itself: its host id is the
      // host name and the machine's MAC-derived id; BORG_HOSTNAME_IS_UNIQUE is gone)
      BORG_DISPLAY_PASSPHRASE: 'no',
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'no',
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'no',
      ...(this.opts.rsh ? { BORG_RSH: this.opts.rsh } : {}),
    };
  }

  private lockWait(): string[] {
    return ['--lock-wait', String(this.opts.lockWaitSeconds)];
  }

  private archive(name: string): string {
    return `${this.opts.repository}::${name}`;
  }

  run(args: readonly string[], signal?: AbortSignal): Promise<ToolResult> {
    const c = this.command(args);
    return runTool(c.program, c.args, {
      timeoutMs: this.opts.timeoutMs,
      env: this.env(),
      ...(signal ? { signal } : {}),
    });
  }

  async init(): Promise<{ ok: true; created: boolean } | ToolFailure> {
    const probe = await this.run([
      'list',
      '--short',
      '--last',
      '1',
      ...this.lockWait(),
      this.opts.repository,
    ]);
    if (probe.ok) return { ok: true, created: false };
    if (!this.isMissing(probe)) return probe;
    const r = await this.run(['init', '--encryption', 'repokey', '--make-parent-dirs', this.opts.repository]);
    return r.ok ? { ok: true, created: true } : r;
  }

  isMissing(f: ToolFailure): boolean {
    return /does not exist|is not a valid repository/i.test(`${f.stderr}\n${f.message}`);
  }

  /**
   * Opens the repository (proving the passphrase) and lists its locks: from the lock roster of a local
   * repository; a remote one's locks are borg serve's, and borg waits for them itself (--lock-wait).
   * A holder of this host that is dead is left out: borg removes its lock when it next takes one.
   */
  async locks(): Promise<{ ok: true; locks: EngineLock[] } | ToolFailure> {
    const probe = await this.run(['list', '--short', '--last', '1', '--bypass-lock', this.opts.repository]);
    if (!probe.ok) return probe;
    if (!this.local) return { ok: true, locks: [] };
    const roster = join(this.opts.repository, 'lock.roster');
    let text: string;
    let time: string;
    try {
      text = readFileSync(roster, 'utf8');
      time = statSync(roster).mtime.toISOString();
    } catch {
      return { ok: true, locks: [] };
    }
    const parsed = parseJson(rosterSchema, text || '{}', 'lock roster');
    if (!parsed.ok) return parsed;
    const here = hostname();
    const locks: EngineLock[] = [];
    for (const [kind, holders] of Object.entries(parsed.value)) {
      for (const [host, pid, thread] of holders) {
        const hostname = host.split('@')[0] ?? host;
        if (hostname === here && !alive(pid)) continue;
        locks.push({
          id: `${host}.${pid}-${thread}`,
          exclusive: kind === 'exclusive',
          hostname,
          username: this.opts.runAs ?? 'root',
          pid,
          time,
        });
      }
    }
    return { ok: true, locks };
  }

  /** Nothing to do: borg removes a dead holder's lock itself; a live one is never broken. */
  async unlock(): Promise<ToolResult> {
    return { ok: true, stdout: '', stderr: '', durationMs: 0 };
  }

  /**
   * One archive of these items: a `.zst` dump goes in decoded (zstd into a named pipe, one after the
   * other in the order borg reads them), anything else (a sidecar) as a copy. `onBytes` gets borg's
   * own count of bytes read.
   */
  async backup(
    items: ArchiveItem[],
    tags: string[],
    opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
  ): Promise<EngineBackup | ToolFailure> {
    if (items.length === 0) return toolFailure('borg', 'nothing to archive');
    mkdirSync(this.opts.feedDir, { recursive: true, mode: 0o700 });
    if (this.opts.feedGid !== undefined) {
      chownSync(this.opts.feedDir, 0, this.opts.feedGid);
      chmodSync(this.opts.feedDir, 0o750);
    }
    const feed = mkdtempSync(join(this.opts.feedDir, `borg-feed-${process.pid}-`));
    try {
      return await this.backupFrom(feed, items, tags, opts);
    } finally {
      rmSync(feed, { recursive: true, force: true });
    }
  }

  private async backupFrom(
    feed: string,
    items: ArchiveItem[],
    tags: string[],
    opts: { signal?: AbortSignal; onBytes?: (n: number) => void },
  ): Promise<EngineBackup | ToolFailure> {
    const gid = this.opts.feedGid;
    const own = (p: string, mode: number) => {
      if (gid !== undefined) chownSync(p, 0, gid);
      chmodSync(p, mode);
    };
    own(feed, 0o750);
    const pipes: { item: ArchiveItem; path: string }[] = [];
    for (const item of items) {
      const path = join(feed, item.name);
      for (let d = dirname(path); d !== feed && !existsSync(d); d = dirname(d))
        mkdirSync(d, { recursive: true });
      for (let d = dirname(path); d.startsWith(`${feed}/`); d = dirname(d)) own(d, 0o750);
      if (item.file.endsWith('.zst')) pipes.push({ item, path });
      else {
        copyFileSync(item.file, path);
        own(path, 0o640);
      }
    }
    if (pipes.length) {
      const mk = await runTool('mkfifo', ['-m', '0600', '--', ...pipes.map((p) => p.path)], {
        timeoutMs: 30_000,
      });
      if (!mk.ok) return mk;
      for (const p of pipes) own(p.path, 0o640);
    }
    const name = `${ARCHIVE_PREFIX}${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
    const c = this.command([
      'create',
      '--json',
      '--log-json',
      '--progress',
      '--read-special',
      '--paths-from-stdin',
      '--compression',
      this.opts.compression,
      '--chunker-params',
      this.opts.chunkerParams,
      '--comment',
      tags.join(' '),
      ...this.lockWait(),
      this.archive(name),
    ]);
    const stop = new AbortController();
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const signal = AbortSignal.any([stop.signal, timeout, ...(opts.signal ? [opts.signal] : [])]);
    const borg = spawnTool(c.program, c.args, {
      stdin: 'pipe',
      stdout: 'pipe',
      cwd: feed,
      env: this.env(),
      signal,
    });
    borg.child.stdin!.end(`${items.map((i) => i.name).join('\n')}\n`);
    let out = '';
    borg.child.stdout!.setEncoding('utf8');
    borg.child.stdout!.on('data', (d: string) => {
      out += d;
    });
    let progressTail = '';
    borg.child.stderr!.on('data', (d: string) => {
      const lines = (progressTail + d).split('\n');
      progressTail = lines.pop() ?? '';
      for (const l of lines) {
        const m = /"type": ?"archive_progress".*"original_size": ?(\d+)/.exec(l);
        if (m) opts.onBytes?.(Number(m[1]));
      }
    });
    let writer: Spawned | undefined;
    let stalled: Stall | undefined;
    const stages = () => [
      { name: 'borg create', child: borg.child },
      ...(writer ? [{ name: 'zstd', child: writer.child }] : []),
    ];
    let unwatch = watchStall(stages(), this.opts.stallMs, (s) => {
      stalled = s;
      stop.abort();
    });
    let borgExited = false;
    const borgDone = borg.done.then((r) => {
      borgExited = true;
      if (!r.ok) stop.abort();
      return r;
    });
    let feedFailure: ToolFailure | undefined;
    for (const p of pipes) {
      if (signal.aborted || borgExited) break;
      const fh = await openForWriting(p.path, signal, () => borgExited);
      if (!fh) break;
      try {
        writer = spawnTool(this.opts.zstd, ['-d', '-c', '-q', '--', p.item.file], {
          stdin: 'ignore',
          stdout: fh.fd,
          signal,
        });
      } finally {
        await fh.close();
      }
      unwatch();
      unwatch = watchStall(stages(), this.opts.stallMs, (s) => {
        stalled = s;
        stop.abort();
      });
      const w = await writer.done;
      if (!w.ok && !signal.aborted) {
        feedFailure = { ...w, message: `decoding ${p.item.file} for borg failed: ${w.message}` };
        stop.abort();
        break;
      }
    }
    const r = await borgDone;
    unwatch();
    // borg archives whatever a pipe gave it: when the last decoder failed as borg finished reading, the
    // archive holds a short dump. It must not stay, or reconciliation would adopt it.
    if ((stalled || feedFailure) && r.ok) await this.forget([name]);
    if (stalled) return toolFailure(stalled.stage, stalled.message);
    if (feedFailure) return feedFailure;
    if (!r.ok && timeout.aborted && !opts.signal?.aborted)
      return {
        ...r,
        message: `borg create did not finish within ${Math.round(this.opts.timeoutMs / 1000)} s and was stopped`,
      };
    if (!r.ok) return r;
    const parsed = parseJson(createSchema, out, 'create summary');
    if (!parsed.ok) return parsed;
    opts.onBytes?.(parsed.value.archive.stats.original_size); // borg's progress lines come once a second
    return {
      ok: true,
      snapshot: parsed.value.archive.name,
      added: parsed.value.archive.stats.deduplicated_size,
      processed: parsed.value.archive.stats.original_size,
      paths: items.map((i) => i.name),
    };
  }

  async snapshots(
    signal?: AbortSignal,
  ): Promise<{ ok: true; snapshots: { id: string; short: string }[] } | ToolFailure> {
    // --bypass-lock: a listing must not fail because another process (a compact) holds the repository
    const r = await this.run(
      ['list', '--json', '--bypass-lock', '--glob-archives', `${ARCHIVE_PREFIX}*`, this.opts.repository],
      signal,
    );
    if (!r.ok) return r;
    const parsed = parseJson(listSchema, r.stdout, 'archive list');
    if (!parsed.ok) return parsed;
    return { ok: true, snapshots: parsed.value.archives.map((a) => ({ id: a.name, short: a.name })) };
  }

  async ls(
    snapshot: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; files: { path: string; size: number }[] } | ToolFailure> {
    const r = await this.run(['list', '--json-lines', '--bypass-lock', this.archive(snapshot)], signal);
    if (!r.ok) return r;
    const files: { path: string; size: number }[] = [];
    for (const line of r.stdout.split('\n')) {
      if (!line.trim()) continue;
      const parsed = parseJson(itemSchema, line, 'archive item');
      if (!parsed.ok) return parsed;
      if (parsed.value.type === '-') files.push({ path: parsed.value.path, size: parsed.value.size ?? 0 });
    }
    return { ok: true, files };
  }

  async cat(
    snapshot: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; text: string } | ToolFailure> {
    const r = await this.run(['extract', '--stdout', '--bypass-lock', this.archive(snapshot), path], signal);
    return r.ok ? { ok: true, text: r.stdout } : r;
  }

  dumpCommand(snapshot: string, path: string): EngineCommand {
    return {
      ...this.command([
        'extract',
        '--stdout',
        '--bypass-lock',
        this.archive(snapshot),
        path.replace(/^\//, ''),
      ]),
      env: this.env(),
    };
  }

  forget(snapshots: string[], signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['delete', ...this.lockWait(), this.opts.repository, ...snapshots], signal);
  }

  /** `borg compact`: frees the space of deleted archives (borg 1.2 does this apart from delete). */
  prune(signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['compact', ...this.lockWait(), this.opts.repository], signal);
  }

  /**
   * Subset n of `of`: every archive whose place in the name order is n modulo `of` is read whole and
   * its data verified cryptographically (borg check --verify-data of that archive); subset 1 also
   * checks the repository's segments. After `of` checks, every archive was read.
   */
  async check(n: number, of: number, signal?: AbortSignal): Promise<ToolResult> {
    const list = await this.snapshots(signal);
    if (!list.ok) return list;
    const names = list.snapshots.map((s) => s.id).sort();
    const mine = names.filter((_, i) => i % of === n - 1);
    if (n === 1) {
      const r = await this.run(
        ['check', '--repository-only', ...this.lockWait(), this.opts.repository],
        signal,
      );
      if (!r.ok) return r;
    }
    let last: ToolResult = { ok: true, stdout: '', stderr: '', durationMs: 0 };
    for (const name of mine) {
      last = await this.run(
        ['check', '--archives-only', '--verify-data', ...this.lockWait(), this.archive(name)],
        signal,
      );
      if (!last.ok) return last;
    }
    return last;
  }
}

/**
 * Opens a named pipe for writing, which blocks (in a libuv thread) until its reader opens it. When the
 * reader is gone for good (borg exited, or the backup was stopped), the pipe is opened for reading here
 * so the blocked open returns, and undefined is returned.
 */
async function openForWriting(
  path: string,
  signal: AbortSignal,
  readerGone: () => boolean,
): Promise<Awaited<ReturnType<typeof open>> | undefined> {
  const opening = open(path, constants.O_WRONLY);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    try {
      closeSync(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
    } catch {
      // the writer's open already returned
    }
  };
  const timer = setInterval(() => {
    if (signal.aborted || readerGone()) release();
  }, 200);
  try {
    const fh = await opening;
    if (released) {
      await fh.close();
      return undefined;
    }
    return fh;
  } finally {
    clearInterval(timer);
  }
}
