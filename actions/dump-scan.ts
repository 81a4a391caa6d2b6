// Reads a stored dump (a local .zst, or the archive's copy) through its decoders into the dump parser,
// for the file index: the decoders are processes as for a restore, and only their output, the raw
// dump, passes through this process, where the parser passes file data over without keeping it.
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type DumpSource, stageName, stagesFor, type Tools } from './decode.ts';
import { DumpParser, type DumpVolumeInfo, type ParseSink } from './dump-parser.ts';
import { pipelineFailure, type Spawned, spawnTool, watchStall } from './exec.ts';

export type ScanResult = { ok: true; volume: DumpVolumeInfo } | { ok: false; message: string };

/** Parses the dump `source` holds into `sink`. A decoder's failure, a stall or a corrupt dump: a message. */
export async function scanDump(
  source: DumpSource,
  tools: Tools,
  sink: ParseSink,
  opts: { signal?: AbortSignal; stallMs?: number } = {},
): Promise<ScanResult> {
  if (source.kind === 'legacy')
    return { ok: false, message: `${source.path} is a legacy archive, not indexed` };
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let fd: number | undefined;
  try {
    fd = source.kind === 'zstd' ? openSync(source.path, 'r') : undefined;
  } catch (err) {
    return { ok: false, message: `cannot read ${source.path}: ${(err as NodeJS.ErrnoException).code}` };
  }
  const started: Spawned[] = [];
  const stages = stagesFor(source, tools);
  try {
    let input: number | Readable | 'ignore' = fd ?? 'ignore';
    for (const s of stages) {
      const p = spawnTool(s.program, s.args, {
        stdin: input,
        stdout: 'pipe',
        signal,
        ...(s.env ? { env: s.env } : {}),
      });
      if (typeof input === 'object') input.destroy();
      started.push(p);
      input = p.child.stdout as Readable;
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  for (const p of started) void p.done.then((r) => !r.ok && stop.abort());
  let stalled: string | undefined;
  const unwatch = watchStall(
    started.map((p, i) => ({ name: stageName(stages[i]!.program, stages[i]!.args), child: p.child })),
    opts.stallMs ?? 300_000,
    (s) => {
      stalled = s.message;
      stop.abort();
    },
  );
  let volume: DumpVolumeInfo | undefined;
  let parseError: Error | undefined;
  const parser = new DumpParser({
    volume: (v) => {
      volume = v;
      sink.volume(v);
    },
    vnode: (v) => sink.vnode(v),
  });
  try {
    await pipeline(started.at(-1)!.child.stdout as Readable, parser, { signal });
  } catch (err) {
    parseError = err as Error;
    stop.abort(); // the decoders must not wait on a pipe nobody reads
  }
  const results = await Promise.all(started.map((p) => p.done));
  unwatch();
  if (stalled) return { ok: false, message: stalled };
  const failure = pipelineFailure(results);
  if (opts.signal?.aborted) return { ok: false, message: 'cancelled' };
  if (failure && !(parseError && failure.cancelled)) return { ok: false, message: failure.message };
  if (parseError) return { ok: false, message: `${source.path}: ${parseError.message}` };
  return { ok: true, volume: volume! };
}
