// vos backupsys and listvol on the real cell: the first two phases of the nightly run.
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { cellVos, freshVolume, writeVolumeFile } from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);

beforeAll(async () => {
  for (const v of ['user.t5a', 'user.t5b']) {
    await freshVolume(cell, v);
    writeVolumeFile(cell, v, 'x.txt', `${v}\n`);
  }
}, 60_000);

describe('vos backupsys', () => {
  it('a dry run names what it would clone, and clones nothing', async () => {
    const r = await vos.backupsys({ prefixes: ['user.t5'], dryRun: true });
    if (!r.ok) throw new Error(r.message);
    expect(r.volumes.sort()).toEqual(['user.t5a', 'user.t5b']);
    expect(r.backedUp).toBe(0);
    // no clone on the server (the VLDB reserves the .backup id from the start, so vos examine of the
    // name fails with "could not fetch" rather than "no such entry": the server's list is the truth)
    const list = await vos.listvol(cell.server, cell.partition);
    if (!list.ok) throw new Error(list.message);
    expect(list.volumes.map((v) => v.name)).toContain('user.t5a');
    expect(list.volumes.map((v) => v.name)).not.toContain('user.t5a.backup');
  });

  it('clones every volume with the prefixes, except the excluded ones, and says how many', async () => {
    const r = await vos.backupsys({ prefixes: ['user.t5'], xprefixes: ['user.t5b'] });
    expect(r).toMatchObject({ ok: true, backedUp: 1, failed: 0 });
    const list = await vos.listvol(cell.server, cell.partition);
    if (!list.ok) throw new Error(list.message);
    const clone = list.volumes.find((v) => v.name === 'user.t5a.backup');
    expect(clone).toMatchObject({ type: 'BK' });
    expect(Number(clone?.creationDate)).toBeGreaterThan(0);
    expect(list.volumes.find((v) => v.name === 'user.t5b.backup')).toBeUndefined();
  });

  it('a prefix that matches nothing is no failure', async () => {
    expect(await vos.backupsys({ prefixes: ['nosuch.'] })).toMatchObject({
      ok: true,
      backedUp: 0,
      failed: 0,
    });
  });
});
