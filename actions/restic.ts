// restic, the encrypted off-site archive. The password only ever travels as a file name in the
// environment (RESTIC_PASSWORD_FILE), never in argv; a dump file goes in as restic's stdin and comes
// back out of `restic dump` as a stream, so no byte of it passes through the bot. Where a backup user
// is configured, restic runs as that user (runuser), not as root.
import { closeSync, openSync } from 'node:fs';
import { z } from 'zod';
import {
  type ArchiveEngine,
  type ArchiveItem,
  type EngineBackup,
  parseToolJson,
  toolFailure,
} from './archive-engine.ts';
import {
  readPosition,
  runTool,
  type Stall,
  spawnTool,
  type ToolFailure,
  type ToolResult,
  watchStall,
} from './exec.ts';

export interface ResticOptions {
  binary: string;
  /** A local path, or sftp:user@host:/path. */
  repository: string;
  /** File holding the repository password, readable by the user restic runs as. */
  passwordFile: string;
  /** For SFTP: the ssh command restic runs (`ssh ... -s sftp`), with its own key and known_hosts. */
  sftpCommand?: string;
  /** Run restic as this unix user instead of the bot's own (runuser -u USER --). */
  runAs?: string;
  cacheDir?: string;
  /** restic's own compression (format 2 repositories). Dumps that are zstd already gain nothing from it. */
  compression?: 'off' | 'auto' | 'max';
  timeoutMs: number;
  /** A backup or dump that moves no byte for this long (a stalled SFTP link) is stopped. Default 5 min. */
  stallMs?: number;
}

/** A lock file in the repository, as `restic cat lock` shows it. */
export const lockSchema = z.object({
  time: z.string(),
  exclusive: z.boolean(),
  hostname: z.string(),
  username: z.string(),
  pid: z.number(),
});
export type ResticLock = z.infer<typeof lockSchema> & { id: string };

/** The last line of `restic backup --json`. */
export const backupSummarySchema = z.object({
  message_type: z.literal('summary'),
  snapshot_id: z.string(),
  data_added: z.number(),
  total_bytes_processed: z.number(),
});
export type BackupSummary = z.infer<typeof backupSummarySchema>;

export const snapshotSchema = z.object({
  id: z.string(),
  short_id: z.string(),
  time: z.string(),
  paths: z.array(z.string()),
  tags: z.array(z.string()).optional(),
});
export type Snapshot = z.infer<typeof snapshotSchema>;

/** One line of `restic ls --json`: the snapshot first, then a node per file and directory. */
const lsNodeSchema = z.object({
  struct_type: z.string(),
  type: z.string().optional(),
  path: z.string().optional(),
  size: z.number().optional(),
});

export const keySchema = z.object({
  current: z.boolean(),
  id: z.string(),
  userName: z.string(),
  hostName: z.string(),
  created: z.string(),
});
export type ResticKey = z.infer<typeof keySchema>;

const parseJson = <T>(schema: z.ZodType<T>, text: string, what: string) =>
  parseToolJson('restic', schema, text, what);

export class Restic implements ArchiveEngine {
  readonly kind = 'restic' as const;
  /** The dump files go in as they are, zstd and all (restic's chunks cannot be made finer anyway). */
  readonly storesRaw = false;

  constructor(private readonly opts: ResticOptions) {}

  isMissing(f: ToolFailure): boolean {
    return /Is there a repository|unable to open config file/.test(`${f.stderr}\n${f.message}`);
  }

  /** One snapshot of these files, each under its own absolute path (restic keeps it; `name` is unused). */
  async backup(
    items: ArchiveItem[],
    tags: string[],
    opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
  ): Promise<EngineBackup | ToolFailure> {
    const r = await this.backupFiles(
      items.map((i) => i.file),
      tags,
      opts,
    );
    if (!r.ok) return r;
    return {
      ok: true,
      snapshot: r.summary.snapshot_id,
      added: r.summary.data_added,
      processed: r.summary.total_bytes_processed,
      paths: items.map((i) => i.file),
    };
  }

  /** afsbot's snapshots, by full id and by the short id restic 0.14's backup summary gives. */
  async snapshots(
    signal?: AbortSignal,
  ): Promise<{ ok: true; snapshots: { id: string; short: string }[] } | ToolFailure> {
    const r = await this.snapshotList(['afsbot'], signal);
    if (!r.ok) return r;
    return { ok: true, snapshots: r.snapshots.map((x) => ({ id: x.id, short: x.short_id })) };
  }

  /** program and argv, with runuser in front when restic runs as another user. */
  command(args: readonly string[]): { program: string; args: string[] } {
    const full = [
      ...(this.opts.sftpCommand ? ['-o', `sftp.command=${this.opts.sftpCommand}`] : []),
      ...(this.opts.compression ? ['--compression', this.opts.compression] : []),
      '-r',
      this.opts.repository,
      ...args,
    ];
    if (this.opts.runAs)
      return { program: 'runuser', args: ['-u', this.opts.runAs, '--', this.opts.binary, ...full] };
    return { program: this.opts.binary, args: full };
  }

  /** The environment restic needs: where the password file is (never the password). */
  env(): Record<string, string> {
    return {
      RESTIC_PASSWORD_FILE: this.opts.passwordFile,
      ...(this.opts.cacheDir ? { RESTIC_CACHE_DIR: this.opts.cacheDir } : {}),
    };
  }

  run(args: readonly string[], signal?: AbortSignal): Promise<ToolResult> {
    const c = this.command(args);
    return runTool(c.program, c.args, {
      timeoutMs: this.opts.timeoutMs,
      env: this.env(),
      ...(signal ? { signal } : {}),
    });
  }

  /** Creates the repository (format 2: compressed) unless it exists already. */
  async init(): Promise<{ ok: true; created: boolean } | ToolFailure> {
    const cat = await this.run(['cat', 'config']);
    if (cat.ok) return { ok: true, created: false };
    const r = await this.run(['init', '--repository-version', '2']);
    return r.ok ? { ok: true, created: true } : r;
  }

  /**
   * Archives one file as `/<name>` in a new snapshot with these tags. The file is restic's stdin, so
   * the bytes go straight from disk to restic; progress is read from its file position.
   */
  async backupFile(
    path: string,
    name: string,
    tags: string[],
    opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
  ): Promise<{ ok: true; summary: BackupSummary } | ToolFailure> {
    const c = this.command([
      'backup',
      '--stdin',
      '--stdin-filename',
      name,
      '--tag',
      tags.join(','),
      '--json',
    ]);
    const fd = openSync(path, 'r');
    let out = '';
    let spawned: ReturnType<typeof spawnTool>;
    try {
      spawned = spawnTool(c.program, c.args, {
        stdin: fd,
        stdout: 'pipe',
        env: this.env(),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } finally {
      closeSync(fd);
    }
    spawned.child.stdout!.setEncoding('utf8');
    spawned.child.stdout!.on('data', (d: string) => {
      out = (out + d).slice(-65536); // status lines, then the summary last
    });
    const poll = opts.onBytes
      ? setInterval(() => {
          const pos = readPosition(spawned.child.pid);
          if (pos !== undefined) opts.onBytes!(pos);
        }, 500)
      : undefined;
    const r = await spawned.done;
    clearInterval(poll);
    if (!r.ok) return r;
    const last = out.trim().split('\n').at(-1) ?? '';
    const parsed = parseJson(backupSummarySchema, last, 'backup summary');
    return parsed.ok ? { ok: true, summary: parsed.value } : parsed;
  }

  /**
   * Archives several files (absolute paths) in one snapshot with these tags: one restic process, so one
   * key derivation (about half a second of CPU each time restic opens the repository) for the batch.
   * `onBytes` gets restic's own count of bytes read so far.
   */
  async backupFiles(
    paths: string[],
    tags: string[],
    opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
  ): Promise<{ ok: true; summary: BackupSummary } | ToolFailure> {
    if (paths.length === 0) return toolFailure('restic', 'nothing to archive');
    // Paths go on stdin (one per line, as they are), never in a temp file another user could swap.
    const c = this.command([
      'backup',
      '--files-from-verbatim',
      '-',
      ...tags.flatMap((t) => ['--tag', t]),
      '--json',
    ]);
    // a stalled SFTP connection must not hold the nightly run (and the archive's lock) for ever
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const stop = new AbortController();
    const spawned = spawnTool(c.program, c.args, {
      stdin: 'pipe',
      stdout: 'pipe',
      env: this.env(),
      signal: AbortSignal.any([timeout, stop.signal, ...(opts.signal ? [opts.signal] : [])]),
    });
    spawned.child.stdin!.end(`${paths.join('\n')}\n`);
    let out = '';
    spawned.child.stdout!.setEncoding('utf8');
    spawned.child.stdout!.on('data', (d: string) => {
      out = (out + d).slice(-65536);
      if (opts.onBytes) {
        const m = /"bytes_done":(\d+)[^\n]*\n?$/.exec(out.trimEnd().split('\n').at(-1) ?? '');
        if (m) opts.onBytes(Number(m[1]));
      }
    });
    let stalled: Stall | undefined;
    const unwatch = watchStall(
      [{ name: 'restic backup', child: spawned.child }],
      this.opts.stallMs ?? 300_000,
      (s) => {
        stalled = s;
        stop.abort();
      },
    );
    const r = await spawned.done;
    unwatch();
    if (!r.ok && stalled) return { ...r, timedOut: true, message: stalled.message };
    if (!r.ok && timeout.aborted && !opts.signal?.aborted)
      return {
        ...r,
        message: `restic backup did not finish within ${Math.round(this.opts.timeoutMs / 1000)} s and was stopped`,
      };
    if (!r.ok) return r;
    const last = out.trim().split('\n').at(-1) ?? '';
    const parsed = parseJson(backupSummarySchema, last, 'backup summary');
    return parsed.ok ? { ok: true, summary: parsed.value } : parsed;
  }

  /** The repository's lock files, each with who holds it (host, user, pid) and since when. */
  async locks(): Promise<{ ok: true; locks: ResticLock[] } | ToolFailure> {
    const list = await this.run(['list', 'locks', '--no-lock']);
    if (!list.ok) return list;
    const locks: ResticLock[] = [];
    for (const id of list.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)) {
      const cat = await this.run(['cat', 'lock', id, '--no-lock']);
      if (!cat.ok) {
        if (/not exist|no such file/i.test(cat.stderr)) continue; // released meanwhile
        return cat;
      }
      const parsed = parseJson(lockSchema, cat.stdout, 'lock');
      if (!parsed.ok) return parsed;
      locks.push({ ...parsed.value, id });
    }
    return { ok: true, locks };
  }

  /** `restic unlock`: removes the locks restic itself considers stale (never --remove-all). */
  unlock(): Promise<ToolResult> {
    return this.run(['unlock']);
  }

  /** `restic forget` of these snapshots (their data stays until a prune). */
  forget(snapshots: string[], signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['forget', ...snapshots], signal);
  }

  /** `restic prune`: deletes the data no snapshot uses any more. */
  prune(signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['prune'], signal);
  }

  /** The files of one snapshot (`restic ls --json`): path and size of each. */
  async ls(
    snapshot: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; files: { path: string; size: number }[] } | ToolFailure> {
    const r = await this.run(['ls', '--json', snapshot], signal);
    if (!r.ok) return r;
    const files: { path: string; size: number }[] = [];
    for (const line of r.stdout.split('\n')) {
      if (!line.trim()) continue;
      const parsed = parseJson(lsNodeSchema, line, 'ls entry');
      if (!parsed.ok) return parsed;
      const n = parsed.value;
      if (n.struct_type === 'node' && n.type === 'file' && n.path)
        files.push({ path: n.path, size: n.size ?? 0 });
    }
    return { ok: true, files };
  }

  /** A small file out of a snapshot, as text (a sidecar). */
  async cat(
    snapshot: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; text: string } | ToolFailure> {
    const r = await this.run(['dump', snapshot, path], signal);
    return r.ok ? { ok: true, text: r.stdout } : r;
  }

  /** `restic check` reading one subset of the data: `n` of `of`. */
  check(n: number, of: number, signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['check', '--read-data-subset', `${n}/${of}`], signal);
  }

  async snapshotList(
    tags: string[] = [],
    signal?: AbortSignal,
  ): Promise<{ ok: true; snapshots: Snapshot[] } | ToolFailure> {
    const r = await this.run(
      // --no-lock: a listing must not fail because another process (a prune) holds the repository
      ['snapshots', '--no-lock', '--json', ...(tags.length ? ['--tag', tags.join(',')] : [])],
      signal,
    );
    if (!r.ok) return r;
    const parsed = parseJson(z.array(snapshotSchema).nullable(), r.stdout, 'snapshot list');
    return parsed.ok ? { ok: true, snapshots: parsed.value ?? [] } : parsed;
  }

  /** `restic dump` as a process whose stdout is the file, for the next stage to read. */
  dumpCommand(
    snapshot: string,
    name: string,
  ): { program: string; args: string[]; env: Record<string, string> } {
    return { ...this.command(['dump', snapshot, `/${name}`]), env: this.env() };
  }

  async keys(): Promise<{ ok: true; keys: ResticKey[] } | ToolFailure> {
    const r = await this.run(['key', 'list', '--json']);
    if (!r.ok) return r;
    const parsed = parseJson(z.array(keySchema), r.stdout, 'key list');
    return parsed.ok ? { ok: true, keys: parsed.value } : parsed;
  }

  /** Adds a key slot whose password is in `newPasswordFile`, labelled user@host. */
  addKey(newPasswordFile: string, label: { user?: string; host?: string } = {}): Promise<ToolResult> {
    return this.run([
      'key',
      'add',
      '--new-password-file',
      newPasswordFile,
      ...(label.user ? ['--user', label.user] : []),
      ...(label.host ? ['--host', label.host] : []),
    ]);
  }

  removeKey(id: string): Promise<ToolResult> {
    return this.run(['key', 'remove', id]);
  }
}
