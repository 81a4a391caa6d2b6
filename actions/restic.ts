// restic, the encrypted off-site archive. The password only ever travels as a file name in the
// environment (RESTIC_PASSWORD_FILE), never in argv; a dump file goes in as restic's stdin and comes
// back out of `restic dump` as a stream, so no byte of it passes through the bot. Where a backup user
// is configured, restic runs as that user (runuser), not as root.
import { closeSync, openSync } from 'node:fs';
import { z } from 'zod';
import { readPosition, runTool, spawnTool, type ToolFailure, type ToolResult } from './exec.ts';

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
  timeoutMs: number;
}

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

export const keySchema = z.object({
  current: z.boolean(),
  id: z.string(),
  userName: z.string(),
  hostName: z.string(),
  created: z.string(),
});
export type ResticKey = z.infer<typeof keySchema>;

function failure(program: string, message: string): ToolFailure {
  return {
    ok: false,
    program,
    args: [],
    exitCode: null,
    stdout: '',
    stderr: '',
    timedOut: false,
    cancelled: false,
    message,
    durationMs: 0,
  };
}

/** Parses restic's JSON output with a schema; a mismatch is a failure that quotes what restic said. */
function parseJson<T>(
  schema: z.ZodType<T>,
  text: string,
  what: string,
): { ok: true; value: T } | ToolFailure {
  try {
    const r = schema.safeParse(JSON.parse(text));
    if (r.success) return { ok: true, value: r.data };
    return failure(
      'restic',
      `unexpected ${what} from restic: ${r.error.issues[0]?.message ?? 'schema mismatch'}`,
    );
  } catch {
    return failure('restic', `restic printed no JSON for ${what}: ${text.slice(0, 200)}`);
  }
}

export class Restic {
  constructor(private readonly opts: ResticOptions) {}

  /** program and argv, with runuser in front when restic runs as another user. */
  command(args: readonly string[]): { program: string; args: string[] } {
    const full = [
      ...(this.opts.sftpCommand ? ['-o', `sftp.command=${this.opts.sftpCommand}`] : []),
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

  async snapshots(tags: string[] = []): Promise<{ ok: true; snapshots: Snapshot[] } | ToolFailure> {
    const r = await this.run(['snapshots', '--json', ...(tags.length ? ['--tag', tags.join(',')] : [])]);
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

  /** Adds a key slot whose password is in `newPasswordFile`. */
  addKey(newPasswordFile: string): Promise<ToolResult> {
    return this.run(['key', 'add', '--new-password-file', newPasswordFile]);
  }

  removeKey(id: string): Promise<ToolResult> {
    return this.run(['key', 'remove', id]);
  }
}
