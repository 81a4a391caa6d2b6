// The one place where afsbot runs an external program. Every call gets an argv array (never a shell
// string), a timeout and an optional AbortSignal; a failure comes back as a value that keeps the tool's
// exit code and its own words on stderr, so callers can show them to an admin unchanged.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { execa } from 'execa';

export interface RunOptions {
  /** Kill the program after this long. Every call has one; there is no "wait forever". */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Text for stdin. Without it, stdin is /dev/null, so a program that prompts can never hang us. */
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
}

export interface ToolSuccess {
  ok: true;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface ToolFailure {
  ok: false;
  program: string;
  args: readonly string[];
  /** The exit code, or null when the program never exited on its own (signal, timeout, not found). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  cancelled: boolean;
  /** One line for a human: the program, why it failed, and the last line it printed on stderr. */
  message: string;
  durationMs: number;
}

export type ToolResult = ToolSuccess | ToolFailure;

/**
 * A tool that exited 0 but whose output says it did not do what was asked (vos examine of a busy
 * volume, pts examine with no id): a failure with the tool's own output and `message`.
 */
export function saidFailure(
  r: ToolSuccess,
  program: string,
  args: readonly string[],
  message: string,
  timedOut = false,
): ToolFailure {
  return { ...r, ok: false, program, args, exitCode: 0, timedOut, cancelled: false, message };
}

/**
 * Of the processes of one pipeline (in pipeline order), the failure to report: the first that failed
 * on its own and not of a broken pipe. The others are consequences: a stage upstream of a consumer
 * that stopped dies of a broken pipe, a decoder after a wrong key sees its input end early, and stages
 * we stopped ourselves are marked cancelled.
 */
export function pipelineFailure(results: ToolResult[]): ToolFailure | undefined {
  const failed = results.filter((r): r is ToolFailure => !r.ok);
  const brokenPipe = (r: ToolFailure) => /SIGPIPE|broken pipe|EPIPE/i.test(`${r.message}\n${r.stderr}`);
  return failed.find((r) => !r.cancelled && !brokenPipe(r)) ?? failed.find((r) => !r.cancelled) ?? failed[0];
}

/** The last non-empty line of a tool's stderr: usually the line that says what went wrong. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]) return lines[i] as string;
  }
  return '';
}

export async function runTool(
  program: string,
  args: readonly string[],
  opts: RunOptions,
): Promise<ToolResult> {
  const started = performance.now();
  const result = await execa(program, args, {
    reject: false,
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
    env: opts.env,
    extendEnv: true,
    cwd: opts.cwd,
    stripFinalNewline: false,
    forceKillAfterDelay: 2000,
  });
  const durationMs = Math.round(performance.now() - started);
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if (!result.failed) return { ok: true, stdout, stderr, durationMs };

  const notFound = (result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  let why: string;
  if (notFound) why = `not found on PATH`;
  else if (result.timedOut) why = `timed out after ${opts.timeoutMs} ms`;
  else if (result.isCanceled) why = 'cancelled';
  else if (result.signal) why = `killed by ${result.signal}`;
  else why = `exited with ${result.exitCode}`;
  const said = lastLine(stderr) || lastLine(stdout);
  return {
    ok: false,
    program,
    args,
    exitCode: result.exitCode ?? null,
    stdout,
    stderr,
    timedOut: Boolean(result.timedOut),
    cancelled: Boolean(result.isCanceled),
    message: `${program} ${why}${said ? `: ${said}` : ''}`,
    durationMs,
  };
}

/** 'pipe', 'ignore', an open file descriptor, or another process's output stream to read straight from. */
export type StdioSpec = 'pipe' | 'ignore' | number | Readable;

export interface SpawnOptions {
  signal?: AbortSignal;
  /** 'pipe' to write to it, 'ignore' for /dev/null, or an open file descriptor to read straight from. */
  stdin: StdioSpec;
  /** 'pipe' to read from it, or an open file descriptor to write straight to. */
  stdout: StdioSpec;
  env?: Record<string, string>;
  cwd?: string;
  /** How long after SIGTERM to send SIGKILL when cancelled. */
  killAfterMs?: number;
  /**
   * How to stop it when cancelled, instead of SIGTERM: 'close-stdout' closes our end of its output
   * (it then fails writing and exits by itself), 'wait-for-eof' leaves it to see its input end once
   * the stages before it are stopped. vos needs this: killed by a signal it leaves its volserver
   * transaction open and the volume busy, while exiting on a write or read error it ends it cleanly.
   * SIGTERM follows after `gentleMs` if it is still there.
   */
  gentle?: 'close-stdout' | 'wait-for-eof';
  gentleMs?: number;
}

export interface Spawned {
  child: ChildProcess;
  /** Resolves when the program has exited and its stderr is read; never rejects. */
  done: Promise<ToolResult>;
}

const STDERR_KEEP = 64 * 1024;

/**
 * Starts a program whose stdin/stdout are streams (a dump can be hundreds of GB, so nothing is
 * buffered whole). Only stderr is kept, its last 64 KiB, for the error message.
 */
export function spawnTool(program: string, args: readonly string[], opts: SpawnOptions): Spawned {
  const started = performance.now();
  const child = spawn(program, args, {
    stdio: [opts.stdin, opts.stdout, 'pipe'],
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    cwd: opts.cwd,
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP);
  });
  let cancelled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const terminate = () => {
    child.kill('SIGTERM');
    child.kill('SIGCONT'); // a stopped process would not see the SIGTERM until it ran again
    killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 2000);
  };
  const onAbort = () => {
    cancelled = true;
    if (!opts.gentle) return terminate();
    child.kill('SIGCONT'); // a stage stopped by a signal must run to see its pipe close
    if (opts.gentle === 'close-stdout') child.stdout?.destroy();
    killTimer = setTimeout(terminate, opts.gentleMs ?? 10_000);
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  const done = new Promise<ToolResult>((resolve) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    child.once('close', (code, signal) => {
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      const durationMs = Math.round(performance.now() - started);
      if (code === 0 && !spawnError) {
        resolve({ ok: true, stdout: '', stderr, durationMs });
        return;
      }
      let why: string;
      if (spawnError?.code === 'ENOENT') why = 'not found';
      else if (spawnError) why = `could not start (${spawnError.message})`;
      else if (cancelled) why = 'cancelled';
      else if (signal) why = `killed by ${signal}`;
      else why = `exited with ${code}`;
      const said = lastLine(stderr);
      resolve({
        ok: false,
        program,
        args,
        exitCode: code,
        stdout: '',
        stderr,
        timedOut: false,
        cancelled,
        message: `${program} ${why}${said ? `: ${said}` : ''}`,
        durationMs,
      });
    });
  });
  return { child, done };
}

/** How far a process has read its stdin (a file): the kernel's own file position, so no byte goes through us. */
export function readPosition(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/0`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // exited, or no /proc
  }
}

/** How many bytes a process has read so far (any input, a pipe too): rchar in /proc/<pid>/io. */
export function readCount(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /^rchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes a process has read and written so far (rchar + wchar in /proc/<pid>/io), pipes included. */
export function ioCount(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const n = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? 0);
    return n('rchar') + n('wchar');
  } catch {
    return undefined; // exited
  }
}

/** Whether a process is stopped by a signal (SIGSTOP, SIGTSTP) or by a tracer. */
export function isStopped(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    return /^\S+ \(.*\) [Tt] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export interface Stall {
  /** The stage to blame: one stopped by a signal if there is one, else the first of the pipeline. */
  stage: string;
  /** In words, for the job's failure: which tool, and for how long nothing moved. */
  message: string;
}

/**
 * The stall watchdog of one pipeline: when none of its processes has read or written a byte for
 * `stallMs` (a stalled SFTP link, a tool stopped with SIGSTOP, a volserver that stopped answering),
 * it calls `onStall` once, naming the stage and the tool. Every stopped stage is continued first, so
 * that once the caller stops the pipeline each stage can end cleanly (vos ends its transaction on a
 * broken pipe). Returns the function that stops watching.
 */
export function watchStall(
  stages: { name: string; child: ChildProcess }[],
  stallMs: number,
  onStall: (stall: Stall) => void,
): () => void {
  let last = -1;
  let since = Date.now();
  const timer = setInterval(
    () => {
      const counts = stages.map((s) => ioCount(s.child.pid));
      if (counts.every((c) => c === undefined)) return; // all gone: the pipeline is ending anyway
      const total = counts.reduce<number>((a, c) => a + (c ?? 0), 0);
      if (total !== last) {
        last = total;
        since = Date.now();
        return;
      }
      if (Date.now() - since < stallMs) return;
      clearInterval(timer);
      const stopped = stages.find((s) => isStopped(s.child.pid));
      const blamed = stopped ?? stages[0]!;
      for (const s of stages) if (isStopped(s.child.pid)) s.child.kill('SIGCONT');
      onStall({
        stage: blamed.name,
        message: `${blamed.name} stalled: nothing was read or written for ${Math.round(stallMs / 1000)} s${stopped ? ' (it was stopped by a signal)' : ''}; the pipeline was stopped`,
      });
    },
    Math.max(50, Math.min(1000, stallMs / 4)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
