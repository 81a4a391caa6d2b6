// Structured log: one JSON object per line. Secrets never reach it: callers log facts, not configs, and
// redact() blanks any field whose name looks like a secret as a second line of defence.
import { createWriteStream, type WriteStream } from 'node:fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const secretKey = /pass(word)?|secret|token|key$/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  close(): Promise<void>;
}

export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (secretKey.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error)
      out[k] = { message: v.message, stack: v.stack, cause: describeCause(v.cause) };
    else out[k] = v;
  }
  return out;
}

function describeCause(cause: unknown): unknown {
  if (cause instanceof Error) return { message: cause.message, stack: cause.stack };
  return cause;
}

export function createLogger(opts: { level: Level; file?: string; stream?: NodeJS.WritableStream }): Logger {
  const stream: NodeJS.WritableStream | WriteStream =
    opts.stream ?? (opts.file ? createWriteStream(opts.file, { flags: 'a', mode: 0o600 }) : process.stderr);
  const ownsStream = !opts.stream && Boolean(opts.file);
  const make = (base: Record<string, unknown>): Logger => {
    const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
      if (order[level] < order[opts.level]) return;
      const line = { time: new Date().toISOString(), level, msg, ...redact({ ...base, ...fields }) };
      stream.write(`${JSON.stringify(line)}\n`);
    };
    return {
      debug: (m, f) => write('debug', m, f),
      info: (m, f) => write('info', m, f),
      warn: (m, f) => write('warn', m, f),
      error: (m, f) => write('error', m, f),
      child: (fields) => make({ ...base, ...fields }),
      close: () =>
        ownsStream ? new Promise<void>((resolve) => (stream as WriteStream).end(resolve)) : Promise.resolve(),
    };
  };
  return make({});
}
