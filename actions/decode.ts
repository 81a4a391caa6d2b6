// Streams a stored dump (or legacy archive) through its decoders into a consumer program:
//   file -> zstd -d                               -> vos restore / restorevol / tar
//   restic dump SNAPSHOT PATH -> zstd -d          -> ...   (a dump whose local file is gone)
//   file -> ccrypt -c -d -k KEYFILE -> gzip -d -c -> ...
// Every stage is a separate process connected straight to the next by a pipe; nothing is held in
// memory, and the legacy key is passed as a file name, never as the key itself.
import { closeSync, openSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { type DumpHeader, parseDumpHeader } from './dump-header.ts';
import {
  pipelineFailure,
  readCount,
  readPosition,
  type Spawned,
  type Stall,
  type StdioSpec,
  spawnTool,
  type ToolFailure,
  type ToolResult,
  watchStall,
} from './exec.ts';

export type DumpSource =
  | { kind: 'zstd'; path: string }
  /** The wiki's old format: gzip, then ccrypt with the key in keyFile. */
  | { kind: 'legacy'; path: string; keyFile: string }
  /**
   * A dump in the archive: `command` (restic dump, borg extract) writes it to stdout: the zstd file,
   * or with `raw` the dump itself.
   * `path` names it for messages (archive:SNAPSHOT:PATH); `size` is its stored size.
   */
  | {
      kind: 'archive';
      path: string;
      size: number;
      /** The archive gives the dump decompressed (borg): no zstd stage. */
      raw?: boolean;
      command: { program: string; args: string[]; env: Record<string, string> };
    };

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
  /** Stop the pipeline when none of its stages has moved a byte for this long (default 5 minutes). */
  stallMs?: number;
}

export interface DecodeSuccess {
  ok: true;
  /** Size of the stored file that was read. */
  storedBytes: number;
  consumerOutput: string;
}

export type DecodeOutcome = DecodeSuccess | ToolFailure;

export interface Stage extends Consumer {
  env?: Record<string, string>;
}

/** A stage as a person names it: `restic dump`, `zstd`, `vos restore` (runuser in front is not it). */
export function stageName(program: string, args: readonly string[]): string {
  const argv = program === 'runuser' ? args.slice(args.indexOf('--') + 1) : [program, ...args];
  const tool = (argv[0] ?? program).split('/').at(-1)!;
  const sub = argv.slice(1).find((a) => /^[a-z]+$/.test(a) && !a.startsWith('-'));
  return (tool === 'vos' || tool === 'restic') && sub ? `${tool} ${sub}` : tool;
}

/** The decoder processes that turn a stored dump (or the archive's copy of one) into the raw dump. */
export function stagesFor(source: DumpSource, tools: Tools): Stage[] {
  if (source.kind === 'zstd') return [{ program: tools.zstd, args: ['-d', '-c', '-q'] }];
  if (source.kind === 'archive')
    return source.raw
      ? [source.command]
      : [source.command, { program: tools.zstd, args: ['-d', '-c', '-q'] }];
  return [
    { program: tools.ccrypt, args: ['-c', '-d', '-k', source.keyFile] },
    { program: tools.gzip, args: ['-d', '-c'] },
  ];
}

/**
 * Runs file -> decoders -> consumer as processes joined by pipes. Node only starts them and watches:
 * no byte of the dump passes through this process, so a restore costs the bot no memory and no CPU
 * for the data (the stored file's integrity is zstd's frame checksum, or ccrypt's key check).
 * `onBytes` gets the position in the stored file, polled from /proc twice a second.
 */
export async function decodeInto(req: DecodeRequest): Promise<DecodeOutcome> {
  const stop = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, stop.signal]) : stop.signal;
  const fromFile = req.source.kind !== 'archive';
  const size = req.source.kind === 'archive' ? req.source.size : statSync(req.source.path).size;
  const fd = fromFile ? openSync(req.source.path, 'r') : undefined;
  const started: Spawned[] = [];
  let input: StdioSpec = fd ?? 'ignore';
  try {
    for (const s of stagesFor(req.source, req.tools)) {
      const stage = spawnTool(s.program, s.args, {
        stdin: input,
        stdout: 'pipe',
        signal,
        ...(s.env ? { env: s.env } : {}),
      });
      if (typeof input === 'object') input.destroy(); // the next process holds it now; our copy would keep it open
      started.push(stage);
      input = stage.child.stdout as Readable;
    }
    const consumer = spawnTool(req.consumer.program, req.consumer.args, {
      stdin: input,
      stdout: 'pipe',
      signal,
      // stopped by its input ending (the decoders before it are killed): a vos restore killed by a
      // signal would leave its transaction open and the new volume busy
      gentle: 'wait-for-eof',
      ...(req.consumer.cwd ? { cwd: req.consumer.cwd } : {}),
    });
    if (typeof input === 'object') input.destroy();
    started.push(consumer);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const consumer = started.at(-1)!;
  let consumerOutput = '';
  consumer.child.stdout!.setEncoding('utf8');
  consumer.child.stdout!.on('data', (d: string) => {
    consumerOutput = (consumerOutput + d).slice(-65536);
  });
  // From a file: the first stage's position in it. From the archive: what zstd has read from restic.
  const watched = started[fromFile ? 0 : 1]!.child.pid;
  const poll = req.onBytes
    ? setInterval(() => {
        const pos = fromFile ? readPosition(watched) : readCount(watched);
        if (pos !== undefined) req.onBytes!(pos);
      }, 500)
    : undefined;
  // One process failing leaves the others blocked on their pipes: stop them all.
  for (const p of started) void p.done.then((r) => !r.ok && stop.abort());
  let stalled: Stall | undefined;
  const names = [
    ...stagesFor(req.source, req.tools).map((s) => stageName(s.program, s.args)),
    stageName(req.consumer.program, req.consumer.args),
  ];
  const unwatch = watchStall(
    started.map((p, i) => ({ name: names[i] ?? p.child.spawnfile, child: p.child })),
    req.stallMs ?? 300_000,
    (s) => {
      stalled = s;
      stop.abort();
    },
  );
  const results: ToolResult[] = await Promise.all(started.map((p) => p.done));
  clearInterval(poll);
  unwatch();
  const failure = pipelineFailure(results);
  if (stalled)
    return {
      ...(failure ?? results[0]!),
      ok: false,
      program: stalled.stage,
      args: [],
      exitCode: null,
      stdout: '',
      stderr: failure && !failure.ok ? failure.stderr : '',
      timedOut: true,
      cancelled: false,
      message: stalled.message,
      durationMs: 0,
    };
  // Cancelled means the caller asked for it; a stage we stopped because another broke is a failure.
  if (failure) return { ...failure, cancelled: Boolean(req.signal?.aborted) };
  req.onBytes?.(size);
  return { ok: true, storedBytes: size, consumerOutput };
}

const HEADER_TIMEOUT_MS = 120_000;

/** A stored dump that cannot be opened (removed by hand, a disk not mounted). */
export class MissingDumpFile extends Error {
  override readonly name = 'MissingDumpFile';
}

/**
 * Reads only the dump header of a stored dump (for rescan and chain checks), decoding a few KiB.
 * Throws an Error that says why not: a missing file, a decoder's own words (a wrong ccrypt key,
 * a corrupt zstd frame), or what is wrong with the header.
 */
export async function readStoredHeader(source: DumpSource, tools: Tools): Promise<DumpHeader> {
  let fd: number | undefined;
  if (source.kind !== 'archive') {
    try {
      fd = openSync(source.path, 'r');
    } catch (err) {
      throw new MissingDumpFile(
        `cannot read ${source.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  const stop = new AbortController();
  const stages: Spawned[] = [];
  let input: StdioSpec = fd ?? 'ignore';
  try {
    for (const s of stagesFor(source, tools)) {
      const stage = spawnTool(s.program, s.args, {
        stdin: input,
        stdout: 'pipe',
        signal: stop.signal,
        ...(s.env ? { env: s.env } : {}),
      });
      if (typeof input === 'object') input.destroy();
      stages.push(stage);
      input = stage.child.stdout as Readable;
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const chunks: Buffer[] = [];
  let have = 0;
  // a few KiB never take long, unless the source stalls (an SFTP link that stopped answering)
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort();
  }, HEADER_TIMEOUT_MS);
  for await (const chunk of input as Readable) {
    chunks.push(chunk as Buffer);
    have += (chunk as Buffer).length;
    if (have >= 4096) break;
  }
  const enough = have >= 4096;
  if (enough) stop.abort(); // the rest is not needed
  const failure = pipelineFailure(await Promise.all(stages.map((s) => s.done)));
  clearTimeout(timer);
  if (timedOut && !enough)
    throw new Error(
      `reading the dump header of ${source.path} took over ${HEADER_TIMEOUT_MS / 1000} s; its source stalled`,
    );
  if (!enough && failure) {
    const hint =
      source.kind === 'legacy' ? ' (is dumps.legacyKeyFile, AFSBOT_LEGACY_KEY_FILE, the right key?)' : '';
    throw new Error(`${failure.message}${hint}`);
  }
  return parseDumpHeader(Buffer.concat(chunks));
}
