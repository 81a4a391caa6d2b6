// Direct access to the test cell for setting up and checking what the bot did: vos as root, and file
// content through the FUSE client's dynroot path (no mount point needed).
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parseStatus, Vos } from '../../actions/vos.ts';
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

/**
 * Writes a file through FUSE and waits until the file server has it. afsd.fuse implements neither
 * flush nor fsync (OpenAFS src/afsd/afsd_fuse.c): the data is stored only when the kernel sends
 * RELEASE, which it does after close() has returned; on a loaded machine that is seconds later, and a
 * clone made meanwhile misses the file. So this watches the volume on the server until the write shows.
 */
export function writeVolumeFile(cell: CellInfo, volume: string, path: string, data: string | Buffer): void {
  const p = volumePath(cell, volume, path);
  mkdirSync(dirname(p), { recursive: true });
  const oldKb = existsSync(p) ? Math.ceil(statSync(p).size / 1024) : 0;
  const before = serverView(cell, volume);
  writeFileSync(p, data);
  const grows = Math.ceil(Buffer.byteLength(data) / 1024) - oldKb;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const now = serverView(cell, volume);
    // once the volume changed at all, a small file is in (one RPC); a big one is in when all its
    // kilobytes are
    const changed = now.updated !== before.updated || now.diskKb !== before.diskKb;
    if (changed && now.diskKb >= before.diskKb + grows) return;
    // an overwrite that changes no size, in the second of the volume's last change, cannot be seen;
    // three seconds is far more than an unloaded release takes
    if (!changed && grows <= 0 && Date.now() > deadline - 57_000) return;
    if (Date.now() > deadline)
      throw new Error(
        `${volume}/${path} did not reach the file server within 60 s (afsd.fuse stores at release)`,
      );
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

/** Makes a symbolic link in a volume through FUSE (a directory operation: the server has it at once). */
export function symlinkVolumeFile(cell: CellInfo, volume: string, path: string, target: string): void {
  const p = volumePath(cell, volume, path);
  mkdirSync(dirname(p), { recursive: true });
  symlinkSync(target, p);
  if (lstatSync(p).isSymbolicLink() !== true) throw new Error(`${volume}/${path} is not a symbolic link`);
}

/**
 * Waits until the wall clock is in a later second than now. Volume times are whole seconds, and a
 * volume changed in the second of its last clone is dumped again the next night (the change may have
 * come after the clone); a test that wants a volume seen as unchanged waits this after its last write.
 */
export async function nextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
}

/** The volume's last change (seconds) and disk use (KiB), as its file server reports them now. */
function serverView(cell: CellInfo, volume: string): { updated: number; diskKb: number } {
  const vos = cellVos(cell);
  const r = spawnSync(vos.binary, vos.argv(['examine', volume, '-format']), {
    encoding: 'utf8',
    timeout: 30_000,
  });
  const updated = /^updateDate\s+(\d+)/m.exec(r.stdout ?? '')?.[1];
  const diskKb = /^diskused\s+(\d+)/m.exec(r.stdout ?? '')?.[1];
  if (r.status !== 0 || !updated || !diskKb)
    throw new Error(`vos examine ${volume}: ${r.stderr || r.error?.message || 'no updateDate/diskused'}`);
  return { updated: Number(updated), diskKb: Number(diskKb) };
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

/** Transactions the file server has open on a volume or its clone (a killed vos leaves one). */
export async function busyTransactions(cell: CellInfo, volume: string): Promise<number> {
  const vos = cellVos(cell);
  const e = await vos.listvldbEntry(volume);
  if (!e.ok || !e.entry) return 0;
  const ids = [e.entry.rw, e.entry.backup].filter(Boolean);
  return parseStatus(await vosOk(vos, ['status', '-server', cell.server])).filter((t) =>
    ids.includes(t.volumeId),
  ).length;
}

/**
 * Whether vos says the volume does not exist. Any other failure (a cell that does not answer, a busy
 * volume) is not "gone" and throws: a test that asserts a volume was removed must not pass on it.
 */
export async function isGone(vos: Vos, volume: string): Promise<boolean> {
  const r = await vos.examine(volume);
  if (r.ok) return false;
  if (!r.missing) throw new Error(`vos examine ${volume} failed, not for a missing volume: ${r.message}`);
  return true;
}
