// The wiki's sections 1.3 and 1.5 as typed operations: restore a dump chain (a full, then at most one
// incremental) into a new volume with vos restore, or extract it to a directory with restorevol.
// The chain is checked here, from the dump headers themselves, because vos does no lineage check: an
// incremental of one volume applied onto another returns 0 and mixes them.
import { chmodSync, mkdirSync } from 'node:fs';
import {
  type DecodeOutcome,
  type DumpSource,
  decodeInto,
  MissingDumpFile,
  readStoredHeader,
  type Tools,
} from './decode.ts';
import type { DumpHeader } from './dump-header.ts';
import { sha256File } from './dump-store.ts';
import type { ToolFailure } from './exec.ts';
import { parseFormatBlock, type VolumeFields, type Vos } from './vos.ts';

export interface ChainLink {
  source: DumpSource;
  level: 'full' | 'incremental';
  /**
   * What the catalog says; checked against the file's own header before use, and (a file on disk) its
   * sha256 against the one recorded when it was written.
   */
  expect?: {
    cloneTime: number;
    baseCloneTime: number | null;
    volumeId: number | null;
    sha256?: string | null;
  };
}

export class ChainError extends Error {
  override readonly name = 'ChainError';
  constructor(
    message: string,
    /** The files are not what the catalog says (gone, or another clone): rebuilding it may help. */
    readonly catalogOutOfDate = false,
  ) {
    super(message);
  }
}

/**
 * Reads each link's header and checks the chain: the first link is a full dump, an incremental is
 * of the same volume and relative to exactly the full's clone time. Throws ChainError saying why not.
 */
export async function checkChain(chain: ChainLink[], tools: Tools): Promise<DumpHeader[]> {
  if (chain.length === 0 || chain.length > 2)
    throw new ChainError(`a dump chain has one or two dumps, not ${chain.length}`);
  const headers: DumpHeader[] = [];
  for (const link of chain) {
    let h: DumpHeader;
    try {
      h = await readStoredHeader(link.source, tools);
    } catch (err) {
      throw new ChainError(
        `${link.source.path} is not a readable volume dump: ${(err as Error).message}`,
        err instanceof MissingDumpFile,
      );
    }
    // the file is read whole once more before anything is restored from it: a changed dump (a full
    // disk's damage, or a hand that could write it) is refused, not loaded into a volume
    if (link.source.kind === 'zstd' && link.expect?.sha256) {
      const got = await sha256File(link.source.path);
      if (got !== link.expect.sha256)
        throw new ChainError(
          `${link.source.path} has sha256 ${got.slice(0, 16)}…, not the ${link.expect.sha256.slice(0, 16)}… recorded when it was written: the file changed since, so nothing is restored from it`,
        );
    }
    if (link.expect && link.source.kind !== 'legacy' && h.toTime !== link.expect.cloneTime) {
      throw new ChainError(
        `${link.source.path} holds a clone of ${h.toTime}, but the catalog says ${link.expect.cloneTime}`,
        true,
      );
    }
    headers.push(h);
  }
  const [full, incr] = headers as [DumpHeader, DumpHeader | undefined];
  if (full.fromTime !== 0) {
    throw new ChainError(
      `${chain[0]!.source.path} is an incremental dump (since ${full.fromTime}), not a full one`,
    );
  }
  if (incr) {
    if (incr.fromTime === 0)
      throw new ChainError(`${chain[1]!.source.path} is a full dump, not an incremental`);
    const sameVolume =
      incr.volumeId === full.volumeId || (incr.parentId !== undefined && incr.parentId === full.parentId);
    if (!sameVolume) {
      throw new ChainError(
        `the incremental is of ${incr.volumeName} (${incr.parentId ?? incr.volumeId}) but the full is of ${full.volumeName} (${full.parentId ?? full.volumeId}): they are not one chain`,
      );
    }
    if (incr.fromTime !== full.toTime) {
      throw new ChainError(
        `the incremental is relative to ${new Date(incr.fromTime * 1000).toISOString()} but the full was cloned at ${new Date(full.toTime * 1000).toISOString()}: applying it would give a volume that never existed`,
      );
    }
  }
  return headers;
}

export interface RestoreRequest {
  vos: Vos;
  tools: Tools;
  chain: ChainLink[];
  server: string;
  partition: string;
  target: string;
  signal?: AbortSignal;
  /** Bytes of the stored files read so far over the whole chain, and which link is running (0-based). */
  onBytes?: (raw: number, link: number) => void;
  /** Called with the new volume's id once it exists in the VLDB, before any data goes in. */
  onCreated?: (volumeId: number) => void;
  /** A stage that moves no byte for this long stops the restore (see decodeInto). */
  stallMs?: number;
  /**
   * The target may exist already (a promote brings content over the live volume): then its VLDB entry,
   * id, read-only sites and mount points stay, and only its content is replaced.
   */
  overwriteExisting?: boolean;
}

export type RestoreOutcome =
  | { ok: true; examine: VolumeFields; storedBytes: number; headers: DumpHeader[] }
  | (ToolFailure & { appliedLinks: number });

/** vos restore of the chain into `target`: the full with -overwrite full, the incremental with -overwrite incremental. */
export async function restoreChain(req: RestoreRequest): Promise<RestoreOutcome> {
  const headers = await checkChain(req.chain, req.tools);
  // Create the target first, so that it is in the VLDB (and can be found and removed) from the start:
  // a vos restore into a new name registers it only at the very end, and one killed midway leaves a
  // nameless busy volume on the partition.
  const there = req.overwriteExisting ? await req.vos.examine(req.target, req.signal) : undefined;
  if (there && !there.ok && !there.missing) return { ...there, appliedLinks: 0 };
  if (!there?.ok) {
    const created = await req.vos.run(
      ['create', '-server', req.server, '-partition', req.partition, '-name', req.target, '-maxquota', '0'],
      req.signal,
    );
    if (!created.ok) return { ...created, appliedLinks: 0 };
  }
  const made = await req.vos.examine(req.target, req.signal);
  if (!made.ok) return { ...made, appliedLinks: 0 };
  req.onCreated?.(Number(made.fields.id));
  let done = 0;
  for (const [i, link] of req.chain.entries()) {
    const before = done;
    const r: DecodeOutcome = await decodeInto({
      source: link.source,
      tools: req.tools,
      consumer: {
        program: req.vos.binary,
        args: req.vos.argv([
          'restore',
          '-server',
          req.server,
          '-partition',
          req.partition,
          '-name',
          req.target,
          '-overwrite',
          i === 0 ? 'full' : 'incremental',
        ]),
      },
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.stallMs ? { stallMs: req.stallMs } : {}),
      onBytes: (n) => req.onBytes?.(before + n, i),
    });
    if (!r.ok) return { ...r, appliedLinks: i };
    done += r.storedBytes;
  }
  const ex = await req.vos.run(['examine', '-id', req.target, '-format']);
  if (!ex.ok) return { ...ex, appliedLinks: req.chain.length };
  return { ok: true, examine: parseFormatBlock(ex.stdout), storedBytes: done, headers };
}

export interface ExtractRequest {
  tools: Tools & { restorevol: string };
  chain: ChainLink[];
  /** An existing, empty directory; restorevol writes dir/<volume>/ into it. */
  dir: string;
  signal?: AbortSignal;
  onBytes?: (raw: number, link: number) => void;
  stallMs?: number;
}

/**
 * restorevol of the chain into a directory: single-file recovery without AFS. What comes out is a whole
 * volume, whose AFS ACLs do not survive extraction: it is the owner's (root's) alone, in a 0700
 * directory and with umask 077, while it lies there and after (restorevol would otherwise give every
 * file its owner's mode bits for group and other too).
 */
export async function extractChain(
  req: ExtractRequest,
): Promise<{ ok: true; headers: DumpHeader[] } | ToolFailure> {
  const headers = await checkChain(req.chain, req.tools);
  mkdirSync(req.dir, { recursive: true, mode: 0o700 });
  chmodSync(req.dir, 0o700);
  let done = 0;
  for (const [i, link] of req.chain.entries()) {
    const before = done;
    const r = await decodeInto({
      source: link.source,
      tools: req.tools,
      consumer: { program: req.tools.restorevol, args: ['-dir', req.dir, '-umask', '077'] },
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.stallMs ? { stallMs: req.stallMs } : {}),
      onBytes: (n) => req.onBytes?.(before + n, i),
    });
    if (!r.ok) return r;
    done += r.storedBytes;
  }
  return { ok: true, headers };
}
