// Streams a stored dump (or legacy archive) through its decoders into a consumer program:
//   file -> [sha256] -> zstd -d                 -> [count, peek header] -> vos restore / restorevol / tar
//   file -> [sha256] -> ccrypt -c -d -k KEYFILE -> gzip -d -c -> [count] -> ...
// Every stage is a separate process connected by pipes; nothing is held whole in memory, and the
// legacy key is passed as a file name, never as the key itself.
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type DumpHeader, parseDumpHeader } from './dump-header.ts';
import { spawnTool, type ToolFailure, type ToolResult } from './exec.ts';
import { Meter } from './streams.ts';

export type DumpSource =
  | { kind: 'zstd'; path: string }
  /** The wiki's old format: gzip, then ccrypt with the key in keyFile. */
  | { kind: 'legacy'; path: string; keyFile: string };

export interface Tools {
  zstd: string;
  ccrypt: string;
  gzip: string;
}

export interface Consumer {
  program: string;
  args: readonly string[];
  cwd?: string;
}

export interface DecodeRequest {
  source: DumpSource;
  consumer: Consumer;
  tools: Tools;
  signal?: AbortSignal;
  onBytes?: (raw: number) => void;
}

export interface DecodeSuccess {
  ok: true;
  /** Bytes of the stored file read, and its sha256. */
  storedBytes: number;
  sha256: string;
  /** Decoded bytes handed to the consumer. */
  rawBytes: number;
  /** The dump header, when the decoded stream is a volume dump. */
  header?: DumpHeader;
  consumerOutput: string;
}

export type DecodeOutcome = DecodeSuccess | ToolFailure;

function stagesFor(source: DumpSource, tools: Tools): Consumer[] {
  if (source.kind === 'zstd') return [{ program: tools.zstd, args: ['-d', '-c', '-q'] }];
  return [
    { program: tools.ccrypt, args: ['-c', '-d', '-k', source.keyFile] },
    { program: tools.gzip, args: ['-d', '-c'] },
  ];
}

export async function decodeInto(req: DecodeRequest): Promise<DecodeOutcome> {
  const stop = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, stop.signal]) : stop.signal;
  const stored = new Meter({ sha256: true });
  const raw = new Meter({ keepHead: 4096, ...(req.onBytes ? { onBytes: req.onBytes } : {}) });

  const stages = stagesFor(req.source, req.tools).map((s) =>
    spawnTool(s.program, s.args, { stdin: 'pipe', stdout: 'pipe', signal }),
  );
  const consumer = spawnTool(req.consumer.program, req.consumer.args, {
    stdin: 'pipe',
    stdout: 'pipe',
    signal,
    ...(req.consumer.cwd ? { cwd: req.consumer.cwd } : {}),
  });
  let consumerOutput = '';
  consumer.child.stdout!.setEncoding('utf8');
  consumer.child.stdout!.on('data', (d: string) => {
    consumerOutput = (consumerOutput + d).slice(-65536);
  });

  const links: Promise<void>[] = [];
  let upstream: Readable = createReadStream(req.source.path).pipe(stored);
  for (const stage of stages) {
    links.push(pipeline(upstream, stage.child.stdin as Writable));
    upstream = stage.child.stdout as Readable;
  }
  links.push(pipeline(upstream, raw, consumer.child.stdin as Writable));
  const streams = Promise.all(links).then(
    () => undefined,
    (err: Error) => {
      stop.abort();
      return err;
    },
  );
  const results: ToolResult[] = await Promise.all([...stages.map((s) => s.done), consumer.done]);
  const streamError = await streams;
  // The consumer's own words first: a decoder dying of EPIPE because vos stopped reading says less.
  const failure = (results.at(-1)!.ok ? results.find((r) => !r.ok) : results.at(-1)) as
    | ToolFailure
    | undefined;
  if (failure) return { ...failure, cancelled: failure.cancelled || Boolean(req.signal?.aborted) };
  if (streamError) {
    return {
      ok: false,
      program: 'afsbot',
      args: [],
      exitCode: null,
      stdout: '',
      stderr: '',
      timedOut: false,
      cancelled: Boolean(req.signal?.aborted),
      message: req.signal?.aborted
        ? 'cancelled'
        : `streaming ${req.source.path} failed: ${streamError.message}`,
      durationMs: 0,
    };
  }
  let header: DumpHeader | undefined;
  try {
    header = parseDumpHeader(raw.peek());
  } catch {
    header = undefined; // not a volume dump (a database tarball)
  }
  return {
    ok: true,
    storedBytes: stored.bytes,
    sha256: stored.sha256(),
    rawBytes: raw.bytes,
    ...(header ? { header } : {}),
    consumerOutput,
  };
}

/** Reads only the dump header of a stored dump (for rescan and chain checks), decoding a few KiB. */
export async function readStoredHeader(source: DumpSource, tools: Tools): Promise<DumpHeader> {
  const stop = new AbortController();
  const stages = stagesFor(source, tools).map((s) =>
    spawnTool(s.program, s.args, { stdin: 'pipe', stdout: 'pipe', signal: stop.signal }),
  );
  const file = createReadStream(source.path);
  let upstream: Readable = file;
  for (const stage of stages) {
    upstream.pipe(stage.child.stdin as Writable).on('error', () => {});
    upstream = stage.child.stdout as Readable;
  }
  const chunks: Buffer[] = [];
  let have = 0;
  try {
    for await (const chunk of upstream) {
      chunks.push(chunk as Buffer);
      have += (chunk as Buffer).length;
      if (have >= 4096) break;
    }
  } finally {
    stop.abort();
    file.destroy();
    await Promise.all(stages.map((s) => s.done));
  }
  return parseDumpHeader(Buffer.concat(chunks));
}
