// The one place where afsbot runs an external program. Every call gets an argv array (never a shell
// string), a timeout and an optional AbortSignal; a failure comes back as a value that keeps the tool's
// exit code and its own words on stderr, so callers can show them to an admin unchanged.
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
