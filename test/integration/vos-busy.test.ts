// A volume that another operation holds: vos examine exits 0 and prints `status BUSY` with no dates
// or counts (seen on the shared test cell when a test's vos backupsys cloned a volume that a promote
// was examining: the promote read an update date of NaN). Here a real vos dump holds the volume,
// stalled on a pipe nobody reads, so its volserver transaction stays open until the test drains it.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Vos } from '../../actions/vos.ts';
import { busyTransactions, freshVolume, writeVolumeFile } from '../support/cell-tools.ts';

const cell = inject('cell');
const vol = 'vb.busy';
const vos = (busyWaitMs?: number) =>
  new Vos({
    binary: 'vos',
    localauth: true,
    configDir: cell.configDir,
    cell: cell.cell,
    timeoutMs: 60_000,
    ...(busyWaitMs !== undefined ? { busyWaitMs } : {}),
  });

let holder: ChildProcess | undefined;

/** Starts a vos dump of `vol` whose output nobody reads: it stalls with its transaction open. */
async function holdVolume(): Promise<ChildProcess> {
  const v = vos();
  holder = spawn(v.binary, v.argv(['dump', '-id', vol]), { stdio: ['ignore', 'pipe', 'pipe'] });
  holder.stdout!.pause();
  for (let i = 0; i < 200 && (await busyTransactions(cell, vol)) === 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(await busyTransactions(cell, vol)).toBeGreaterThan(0);
  return holder;
}

/** Lets the stalled dump finish: its output is read to the end, and the transaction ends. */
async function release(h: ChildProcess): Promise<void> {
  h.stdout!.resume();
  const [code] = await once(h, 'exit');
  expect(code).toBe(0);
}

afterEach(async () => {
  if (holder && holder.exitCode === null) await release(holder);
  holder = undefined;
});

describe('vos examine of a volume another operation holds', () => {
  it('says it stayed busy, and what holds it, when the operation outlasts the wait', async () => {
    await freshVolume(cell, vol);
    // more than a pipe's 64 KiB, so that the dump cannot finish into the pipe's buffer
    writeVolumeFile(cell, vol, 'big.bin', randomBytes(2 * 1024 * 1024));
    await holdVolume();
    const r = await vos(1500).examine(vol);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.missing).toBe(false);
    expect(r.message).toMatch(
      /^vb\.busy stayed busy for 2 s: another volume operation holds it \(vos status \S+ shows which\)$/,
    );
  });

  it('waits until the operation lets go, then answers with the real fields', async () => {
    const h = await holdVolume();
    let released = false;
    const answer = vos(60_000)
      .examine(vol)
      .then((r) => ({ r, released }));
    await new Promise((r) => setTimeout(r, 1500));
    released = true;
    await release(h);
    const { r, released: afterRelease } = await answer;
    expect(afterRelease).toBe(true);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.fields.status).toBe('OK');
    expect(r.fields.name).toBe(vol);
    expect(Number(r.fields.updateDate)).toBeGreaterThan(1_700_000_000);
    expect(Number(r.fields.diskused)).toBeGreaterThanOrEqual(2048); // KiB: the 2 MiB file
  });
});
