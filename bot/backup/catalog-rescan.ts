// Rebuilds the catalog from the files: the dump store (each dump's sidecar, or its own header when the
// sidecar is missing or does not match) and the wiki's legacy directory. What the archive holds of a
// dump whose file is gone stays catalogued, read from the archive from then on.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readStoredHeader, type Tools } from '../../actions/decode.ts';
import {
  listDumpFiles,
  parseDumpFileName,
  readSidecar,
  type Sidecar,
  type StoredFile,
} from '../../actions/dump-store.ts';
import type { Catalog, NewDump } from './catalog.ts';

const LEGACY_DUMP = /^(\d{4}\.\d{2}\.\d{2})-(.+)\.dump\.gz\.aescrypt$/;
const LEGACY_DB = /^(\d{4}\.\d{2}\.\d{2})-databases\.tar\.gz\.aescrypt$/;

/** The catalog row of a dump file its sidecar describes (the sidecar's size matches the file's). */
export function rowFromSidecar(f: StoredFile, side: Sidecar): NewDump {
  return {
    volume: side.volume,
    volume_id: side.volumeId,
    clone_id: side.cloneId,
    date: f.date,
    level: side.level,
    kind: side.kind,
    clone_time: side.cloneTime,
    base_clone_time: side.baseCloneTime,
    raw_bytes: side.rawBytes,
    stored_bytes: f.size,
    sha256: side.sha256,
    location: f.path,
    job_id: null,
    files: side.files ?? null,
    disk_kb: side.diskKb ?? null,
  };
}

/** What the dump store holds, as catalog rows; files it cannot read are listed with why. */
async function scanDumpStore(
  dumpDir: string,
  tools: Tools,
): Promise<{ found: NewDump[]; skipped: string[] }> {
  const found: NewDump[] = [];
  const skipped: string[] = [];
  for (const f of listDumpFiles(dumpDir)) {
    const name = parseDumpFileName(f.name)!;
    const side = readSidecar(f.path);
    if (side && side.storedBytes === f.size) {
      found.push(rowFromSidecar(f, side));
      continue;
    }
    // No usable sidecar: the dump's own header says what it is.
    try {
      const h = await readStoredHeader({ kind: 'zstd', path: f.path }, tools);
      found.push({
        volume: name.volume,
        volume_id: h.parentId ?? null,
        clone_id: h.volumeId,
        date: f.date,
        level: h.fromTime === 0 ? 'full' : 'incremental',
        kind: 'scheduled',
        clone_time: h.toTime,
        base_clone_time: h.fromTime === 0 ? null : h.fromTime,
        raw_bytes: null,
        stored_bytes: f.size,
        sha256: null,
        location: f.path,
        job_id: null,
      });
    } catch (err) {
      skipped.push(`${f.path}: ${(err as Error).message}`);
    }
  }
  return { found, skipped };
}

/** The wiki's old archives: YYYY.MM.DD-<vol>.dump.gz.aescrypt and YYYY.MM.DD-databases.tar.gz.aescrypt. */
function scanLegacy(legacyDir: string): { found: NewDump[]; skipped: string[] } {
  let names: string[];
  try {
    names = readdirSync(legacyDir).sort();
  } catch (err) {
    return { found: [], skipped: [`${legacyDir}: ${(err as Error).message}`] };
  }
  const found: NewDump[] = [];
  for (const n of names) {
    const m = LEGACY_DUMP.exec(n);
    const db = LEGACY_DB.exec(n);
    if (!m && !db) continue;
    const path = join(legacyDir, n);
    found.push({
      volume: db ? 'databases' : m![2]!,
      volume_id: null,
      clone_id: null,
      date: (db ?? m)![1]!,
      level: 'full',
      kind: db ? 'databases' : 'legacy',
      clone_time: null,
      base_clone_time: null,
      raw_bytes: null,
      stored_bytes: statSync(path).size,
      sha256: null,
      location: path,
      job_id: null,
    });
  }
  return { found, skipped: [] };
}

/** Rebuilds the catalog from the dump store and the legacy directory. Returns what it found. */
export async function rescanCatalog(
  catalog: Catalog,
  opts: { dumpDir: string; legacyDir?: string; tools: Tools },
): Promise<{ added: number; removed: number; skipped: string[] }> {
  const store = await scanDumpStore(opts.dumpDir, opts.tools);
  const legacy = opts.legacyDir ? scanLegacy(opts.legacyDir) : { found: [], skipped: [] };
  const r = catalog.replaceFromScan([...store.found, ...legacy.found]);
  return { ...r, skipped: [...store.skipped, ...legacy.skipped] };
}
