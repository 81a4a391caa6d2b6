// The local dump store: one directory per date, one zstd-compressed file per dump, each with a
// small JSON sidecar. A file only gets its final name once it is complete and checksummed, so
// anything named *.dump.zst is whole; leftovers of interrupted work end in .partial.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export type Level = 'full' | 'incremental';
/** Why a dump exists: the normal chain, or a safety copy taken before a promote. */
export type DumpKind = 'scheduled' | 'pre-promote';

export const DATE_DIR = /^\d{4}\.\d{2}\.\d{2}$/;
const DUMP_FILE =
  /^(?<volume>[A-Za-z0-9._-]+)\.(?<level>full|incr)\.(?<clone>\d+)(?<live>\.live)?\.dump\.zst$/;

export const sidecarSchema = z.object({
  volume: z.string(),
  volumeId: z.number().int(),
  cloneId: z.number().int(),
  level: z.enum(['full', 'incremental']),
  kind: z.enum(['scheduled', 'pre-promote']).default('scheduled'),
  date: z.string().regex(DATE_DIR),
  cloneTime: z.number().int(),
  baseCloneTime: z.number().int().nullable(),
  rawBytes: z.number().int(),
  storedBytes: z.number().int(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The clone's file count and disk use (KiB) when it was dumped: what a test restore must give back. */
  files: z.number().int().optional(),
  diskKb: z.number().int().optional(),
  createdAt: z.string(),
});
export type Sidecar = z.infer<typeof sidecarSchema>;

/**
 * `live`: a dump of the read-write volume itself (a promote's safety dump, taken off line), whose time is
 * the volume's last update: a clone made in that same second may hold less, so the names must differ.
 */
export function dumpFileName(volume: string, level: Level, cloneTime: number, live = false): string {
  return `${volume}.${level === 'full' ? 'full' : 'incr'}.${cloneTime}${live ? '.live' : ''}.dump.zst`;
}

export function parseDumpFileName(
  name: string,
): { volume: string; level: Level; cloneTime: number } | undefined {
  const m = DUMP_FILE.exec(name);
  if (!m?.groups) return undefined;
  return {
    volume: m.groups.volume!,
    level: m.groups.level === 'full' ? 'full' : 'incremental',
    cloneTime: Number(m.groups.clone),
  };
}

/**
 * A temporary name beside the final one, unique, and naming the process that writes it, so that a
 * restart removes exactly what dead processes left (never what another live afsbot is writing).
 */
export function partialName(finalPath: string): string {
  return `${finalPath}.${process.pid}-${randomBytes(4).toString('hex')}.partial`;
}

/** The process that wrote a partial file (undefined: an older name without it). */
export function partialWriter(path: string): number | undefined {
  const m = /\.(\d+)-[0-9a-f]{8}\.partial$/.exec(path);
  return m ? Number(m[1]) : undefined;
}

export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fsyncDir(dir: string): void {
  fsyncFile(dir);
}

/** Writes the sidecar atomically: temporary file, fsync, rename. */
export function writeSidecar(dumpPath: string, meta: Sidecar): void {
  const path = `${dumpPath}.json`;
  const tmp = partialName(path);
  writeFileSync(tmp, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
  fsyncFile(tmp);
  renameSync(tmp, path);
}

export function readSidecar(dumpPath: string): Sidecar | undefined {
  try {
    return sidecarSchema.parse(JSON.parse(readFileSync(`${dumpPath}.json`, 'utf8')));
  } catch {
    return undefined;
  }
}

export interface StoredFile {
  date: string;
  path: string;
  name: string;
  size: number;
}

/** Every complete dump file in the store, by date directory. */
export function listDumpFiles(root: string): StoredFile[] {
  const out: StoredFile[] = [];
  let dates: string[];
  try {
    dates = readdirSync(root).filter((d) => DATE_DIR.test(d));
  } catch {
    return out;
  }
  for (const date of dates.sort()) {
    for (const name of readdirSync(join(root, date)).sort()) {
      if (!parseDumpFileName(name)) continue;
      const path = join(root, date, name);
      out.push({ date, path, name, size: statSync(path).size });
    }
  }
  return out;
}

/** Every sidecar (<dump>.json) in the store, whether or not its dump is there. */
export function listSidecars(root: string): string[] {
  const out: string[] = [];
  let dates: string[];
  try {
    dates = readdirSync(root).filter((d) => DATE_DIR.test(d));
  } catch {
    return out;
  }
  for (const date of dates)
    for (const name of readdirSync(join(root, date)))
      if (name.endsWith('.dump.zst.json')) out.push(join(root, date, name));
  return out;
}

/** Leftovers of interrupted work: *.partial files anywhere in the store. */
export function listPartials(root: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.endsWith('.partial')) out.push(join(root, e));
    else if (DATE_DIR.test(e)) {
      for (const f of readdirSync(join(root, e))) if (f.endsWith('.partial')) out.push(join(root, e, f));
    }
  }
  return out;
}

export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/**
 * sha256 of a stored file, read through one reused 1 MiB buffer: a read stream allocates a new buffer
 * per chunk, and a 130 MB dump left about 35 MiB of them for the GC (the restore benchmark's RSS went
 * from 74 to 114 MiB); this takes half the time too.
 */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  const file = await open(path, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return h.digest('hex');
}
