// vos dump -> zstd -> file, streamed. The file gets its final name only after every stage succeeded,
// it is fsynced, and its checksum is known; any failure or cancel removes the partial file.
import { createWriteStream, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type DumpHeader, parseDumpHeader } from './dump-header.ts';
import { fsyncDir, fsyncFile, partialName, removeQuietly } from './dump-store.ts';
import { pipelineFailure, spawnTool, type ToolFailure } from './exec.ts';
import { Meter } from './streams.ts';
import type { Vos } from './vos.ts';

export interface DumpToFileRequest {
  vos: Vos;
  /** The volume to dump, usually the .backup clone. */
  volume: string;
  /** 0 for a full dump, else the epoch second the incremental is relative to. */
  since: number;
  /** Final path of the compressed dump. */
  path: string;
  zstd: { binary: string; level: number };
  signal?: AbortSignal;
  onBytes?: (raw: number) => void;
}

export interface DumpToFileResult {
  ok: true;
  path: string;
  rawBytes: number;
  storedBytes: number;
  sha256: string;
  header: DumpHeader;
}

export type DumpOutcome = DumpToFileResult | (ToolFailure & { partialRemoved: boolean });

export async function dumpToFile(req: DumpToFileRequest): Promise<DumpOutcome> {
  mkdirSync(dirname(req.path), { recursive: true });
  const tmp = partialName(req.path);
  const stop = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, stop.signal]) : stop.signal;

  const dump = spawnTool(
    req.vos.binary,
    req.vos.argv(['dump', '-id', req.volume, '-time', String(req.since)]),
    // stopped by closing its output: a vos killed by a signal would leave the clone busy on the volserver
    { stdin: 'ignore', stdout: 'pipe', signal, gentle: 'close-stdout' },
  );
  const zstd = spawnTool(req.zstd.binary, [`-${req.zstd.level}`, '-q', '-c', '-T1'], {
    stdin: 'pipe',
    stdout: 'pipe',
    signal,
  });
  const raw = new Meter({ keepHead: 4096, ...(req.onBytes ? { onBytes: req.onBytes } : {}) });
  const stored = new Meter({ sha256: true });

  const streams = Promise.all([
    pipeline(dump.child.stdout!, raw, zstd.child.stdin!),
    pipeline(zstd.child.stdout!, stored, createWriteStream(tmp, { mode: 0o600 })),
  ]).then(
    () => undefined,
    (err: Error) => {
      stop.abort(); // one stage broke: stop the others rather than leave them blocked on a pipe
      return err;
    },
  );
  const [dumpResult, zstdResult, streamError] = await Promise.all([dump.done, zstd.done, streams]);

  const failure = pipelineFailure([dumpResult, zstdResult]);
  if (failure || streamError || req.signal?.aborted) {
    removeQuietly(tmp);
    const base: ToolFailure = failure ?? {
      ok: false,
      program: 'afsbot',
      args: [],
      exitCode: null,
      stdout: '',
      stderr: '',
      timedOut: false,
      cancelled: Boolean(req.signal?.aborted),
      message: req.signal?.aborted ? 'cancelled' : `writing ${tmp} failed: ${streamError?.message}`,
      durationMs: 0,
    };
    // Cancelled means the caller asked for it; a stage we stopped because another broke is a failure.
    return { ...base, cancelled: Boolean(req.signal?.aborted), partialRemoved: true };
  }

  let header: DumpHeader;
  try {
    header = parseDumpHeader(raw.peek());
  } catch (err) {
    removeQuietly(tmp);
    return {
      ok: false,
      program: req.vos.binary,
      args: [],
      exitCode: 0,
      stdout: '',
      stderr: '',
      timedOut: false,
      cancelled: false,
      message: `vos dump of ${req.volume} produced no valid dump: ${(err as Error).message}`,
      durationMs: 0,
      partialRemoved: true,
    };
  }
  fsyncFile(tmp);
  renameSync(tmp, req.path);
  fsyncDir(dirname(req.path));
  return {
    ok: true,
    path: req.path,
    rawBytes: raw.bytes,
    storedBytes: stored.bytes,
    sha256: stored.sha256(),
    header,
  };
}
