// vos dump -> zstd -> file, process to process. The file gets its final name only after every stage
// succeeded, it is fsynced, and its checksum is known; any failure or cancel removes the partial file.
import { closeSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { readStoredHeader } from './decode.ts';
import type { DumpHeader } from './dump-header.ts';
import { fsyncDir, fsyncFile, partialName, removeQuietly, sha256File } from './dump-store.ts';
import { pipelineFailure, readCount, type Stall, spawnTool, type ToolFailure, watchStall } from './exec.ts';
import { faultPoint } from './faults.ts';
import type { Vos } from './vos.ts';

/**
 * zstd's arguments for a dump read from a pipe. The same arguments over the same raw bytes give the
 * same compressed bytes (one worker, no size known in advance), which is how a dump that borg kept
 * decompressed comes back out of the archive with the sha256 the catalog recorded.
 */
export function zstdArgs(level: number, rsyncable: boolean): string[] {
  return [`-${level}`, ...(rsyncable ? ['--rsyncable'] : []), '-c', '-T1'];
}

export interface DumpToFileRequest {
  vos: Vos;
  /** The volume to dump, usually the .backup clone. */
  volume: string;
  /** 0 for a full dump, else the epoch second the incremental is relative to. */
  since: number;
  /** Final path of the compressed dump. */
  path: string;
  zstd: { binary: string; level: number; rsyncable?: boolean };
  signal?: AbortSignal;
  onBytes?: (raw: number) => void;
  /** Stop the dump when neither vos nor zstd has moved a byte for this long (default 5 minutes). */
  stallMs?: number;
  /** Called once the dump is complete and checksummed, before it gets its final name (write its sidecar). */
  beforeRename?: (r: DumpToFileResult) => void;
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

/** zstd -vv ends with "(RAW B => STORED B, ...)": its exact byte counts. */
export function parseZstdSizes(stderr: string): { raw: number; stored: number } | undefined {
  const m = /\(\s*(\d+) B =>\s*(\d+) B,[^)]*\)\s*$/m.exec(stderr);
  return m ? { raw: Number(m[1]), stored: Number(m[2]) } : undefined;
}

/**
 * vos dump's stdout is zstd's stdin and zstd's stdout is the file: no byte of the dump passes through
 * this process (on a busy night Node's copying cost as much CPU as zstd). Progress is what zstd has
 * read (/proc/<pid>/io); the exact sizes are zstd's own count; the header is read back from the file,
 * and the sha256 from the file while it is still in the page cache.
 */
export async function dumpToFile(req: DumpToFileRequest): Promise<DumpOutcome> {
  mkdirSync(dirname(req.path), { recursive: true });
  const tmp = partialName(req.path);
  const stop = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, stop.signal]) : stop.signal;

  const fail = (message: string, cancelled = false, timedOut = false): DumpOutcome => {
    removeQuietly(tmp);
    return {
      ok: false,
      program: 'afsbot',
      args: [],
      exitCode: null,
      stdout: '',
      stderr: '',
      timedOut,
      cancelled,
      message,
      durationMs: 0,
      partialRemoved: true,
    };
  };

  const out = openSync(tmp, 'w', 0o600);
  let dump: ReturnType<typeof spawnTool>;
  let zstd: ReturnType<typeof spawnTool>;
  try {
    dump = spawnTool(
      req.vos.binary,
      req.vos.argv(['dump', '-id', req.volume, '-time', String(req.since)]),
      // never a signal: a vos killed by one leaves the clone busy on the volserver. When cancelled,
      // zstd is stopped, and vos then fails writing to the closed pipe and ends its call cleanly.
      { stdin: 'ignore', stdout: 'pipe', signal, gentle: 'wait-for-eof' },
    );
    zstd = spawnTool(req.zstd.binary, [...zstdArgs(req.zstd.level, req.zstd.rsyncable ?? false), '-vv'], {
      stdin: dump.child.stdout as Readable,
      stdout: out,
      signal,
    });
    (dump.child.stdout as Readable).destroy(); // zstd holds the read end now
  } finally {
    closeSync(out);
  }
  const poll = req.onBytes
    ? setInterval(() => {
        const n = readCount(zstd.child.pid);
        if (n !== undefined) req.onBytes!(n);
      }, 500)
    : undefined;
  // One stage failing leaves the other blocked on the pipe: stop both.
  for (const p of [dump, zstd]) void p.done.then((r) => !r.ok && stop.abort());
  let stalled: Stall | undefined;
  const unwatch = watchStall(
    [
      { name: 'vos dump', child: dump.child },
      { name: 'zstd', child: zstd.child },
    ],
    req.stallMs ?? 300_000,
    (s) => {
      stalled = s;
      stop.abort();
    },
  );
  const [dumpResult, zstdResult] = await Promise.all([dump.done, zstd.done]);
  clearInterval(poll);
  unwatch();
  if (stalled) {
    removeQuietly(tmp);
    return fail(stalled.message, false, true);
  }

  const failure = pipelineFailure([dumpResult, zstdResult]);
  if (failure || req.signal?.aborted) {
    if (!failure) return fail('cancelled', true);
    removeQuietly(tmp);
    // Cancelled means the caller asked for it; a stage we stopped because another broke is a failure.
    return { ...failure, cancelled: Boolean(req.signal?.aborted), partialRemoved: true };
  }
  const storedBytes = statSync(tmp).size;
  const sizes = parseZstdSizes(zstdResult.stderr);
  if (!sizes || sizes.stored !== storedBytes)
    return fail(
      `zstd did not report its sizes (or ${tmp} is not what it wrote): ${zstdResult.stderr.trim().split('\n').at(-1) ?? ''}`,
    );
  let header: DumpHeader;
  try {
    header = await readStoredHeader(
      { kind: 'zstd', path: tmp },
      { zstd: req.zstd.binary, ccrypt: '', gzip: '' },
    );
  } catch (err) {
    return fail(`vos dump of ${req.volume} produced no valid dump: ${(err as Error).message}`);
  }
  try {
    const sha256 = await sha256File(tmp);
    const done: DumpToFileResult = {
      ok: true,
      path: req.path,
      rawBytes: sizes.raw,
      storedBytes,
      sha256,
      header,
    };
    fsyncFile(tmp);
    // what describes the dump (its sidecar) is on disk before the dump has its name: a crash between
    // the two leaves a dump that says what it is, or none at all
    req.beforeRename?.(done);
    faultPoint('dump:before-rename');
    renameSync(tmp, req.path);
    fsyncDir(dirname(req.path));
    req.onBytes?.(sizes.raw);
    return done;
  } catch (err) {
    // a full disk (ENOSPC), an I/O error: nothing that looks valid is left
    return fail(`the dump of ${req.volume} could not be stored: ${(err as Error).message}`);
  }
}
