// Direct access to the test cell for setting up and checking what the bot did: vos as root, and file
// content through the FUSE client's dynroot path (no mount point needed).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Vos } from '../../actions/vos.ts';
import type { CellInfo } from './peers.ts';

export function cellVos(cell: CellInfo): Vos {
  return new Vos({
    binary: 'vos',
    localauth: true,
    configDir: cell.configDir,
    cell: cell.cell,
    timeoutMs: 120_000,
  });
}

export async function vosOk(vos: Vos, args: string[]): Promise<string> {
  const r = await vos.run(args);
  if (!r.ok) throw new Error(`vos ${args.join(' ')}: ${r.message}`);
  return r.stdout;
}

/** A fresh empty volume (removed first if a previous run left it). */
export async function freshVolume(cell: CellInfo, name: string): Promise<void> {
  await removeIfThere(cell, name);
  await vosOk(cellVos(cell), [
    'create',
    '-server',
    cell.server,
    '-partition',
    cell.partition,
    '-name',
    name,
    '-maxquota',
    '0',
  ]);
}

/**
 * Removes a volume an earlier run left, whatever its state: read-only sites, a transaction left open
 * by a killed vos (ended, then waited out), or a VLDB entry whose volume is already gone.
 */
export async function removeIfThere(cell: CellInfo, name: string): Promise<void> {
  const vos = cellVos(cell);
  const e = await vos.listvldbEntry(name);
  if (!e.ok || !e.entry) return;
  if (e.entry.backup) await vos.endTransactions(cell.server, e.entry.backup);
  for (const site of e.entry.sites.filter((x) => x.type === 'RO')) {
    await vos.run([
      'remove',
      '-server',
      site.server,
      '-partition',
      site.partition,
      '-id',
      `${name}.readonly`,
    ]);
  }
  const rm = await vos.removeAfterAbort(name);
  if (!rm.gone) await vosOk(vos, ['delentry', '-id', name]);
}

export function volumePath(cell: CellInfo, volume: string, path = ''): string {
  return join(cell.fuseMount, '.:mount', `${cell.cell}:${volume}`, path);
}

/** Writes a file through FUSE and flushes it: FUSE writes reach the server asynchronously after close. */
export function writeVolumeFile(cell: CellInfo, volume: string, path: string, data: string | Buffer): void {
  const p = volumePath(cell, volume, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
  const fd = openSync(p, 'r');
  fsyncSync(fd);
  closeSync(fd);
}

export function removeVolumeFile(cell: CellInfo, volume: string, path: string): void {
  rmSync(volumePath(cell, volume, path));
}

export function readVolumeFile(cell: CellInfo, volume: string, path: string): Buffer {
  return readFileSync(volumePath(cell, volume, path));
}

/** Takes a volume off line (`vos offline`) or back on line: a volume the file server will not serve. */
export async function setOnline(cell: CellInfo, volume: string, online: boolean): Promise<void> {
  await vosOk(cellVos(cell), [
    online ? 'online' : 'offline',
    '-server',
    cell.server,
    '-partition',
    cell.partition,
    '-id',
    volume,
  ]);
}
