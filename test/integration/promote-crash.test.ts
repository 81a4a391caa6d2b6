// A promote killed in or after each of its steps, then resumed by the next start: nothing is lost and
// the restored content ends up live (the rollback side is promote-rollback.test.ts, with the same kit).
import { describe, expect, inject, it } from 'vitest';
import { readVolumeFile, removeIfThere } from '../support/cell-tools.ts';
import { promoteCrashKit } from '../support/promote-crash.ts';

const cell = inject('cell');
const { vos, crashedPromote, scenario, replaceVolume } = promoteCrashKit(cell);

describe('promote resumed after a crash', { timeout: 300_000 }, () => {
  for (const step of [1, 2, 3, 4, 5]) {
    it(`killed after step ${step}: resume finishes it`, () => scenario(step, 'resume'));
  }
  it('killed during step 3, its safety dump written and not named: resume finishes it', () =>
    scenario(3, 'resume', true));
  it('resume: a restored copy replaced before step 1 dumped it is refused; after, what step 1 dumped is promoted', async () => {
    // killed in step 1 (its dump written, not named): the copy is checked again before anything
    const vol = 'user.pcg1';
    const { copy, run, id } = await crashedPromote(vol, { during: 'dump:before-rename' });
    const copyIds = await replaceVolume(copy);
    expect((await run(`!promote resume ${id}\n`)).stdout).toContain(
      `${copy} is not the restored copy with id ${copyIds.was} any more (it has id ${copyIds.now}): stopped before touching anything`,
    );
    expect(readVolumeFile(cell, vol, 'notes.txt').toString()).toBe(`damaged ${vol}\n`);

    // killed after step 1: its dump of the copy is what goes live, whatever became of the copy since
    const after = 'user.pcg4';
    const second = await crashedPromote(after, { after: 1 });
    await replaceVolume(`${after}.restored`);
    const done = (await second.run(`!promote resume ${second.id}\n`)).stdout;
    expect(done).toContain(
      `${after}.restored is not the restored copy any more (replaced since step 1 dumped it), so its file count was not compared`,
    );
    expect(readVolumeFile(cell, after, 'notes.txt').toString()).toBe(`good ${after}\n`);
    for (const v of [copy, `${after}.restored`]) await removeIfThere(cell, v);
  });

  it('resume refuses when the live volume was replaced, and touches nothing', async () => {
    const vol = 'user.pcg2';
    const { run, id } = await crashedPromote(vol, { after: 1 });
    const ids = await replaceVolume(vol);
    expect((await run(`!promote resume ${id}\n`)).stdout).toContain(
      `${vol} now has id ${ids.now}, not ${ids.was} as planned: stopped before taking it off line`,
    );
    const still = await vos.examine(vol);
    expect(still.ok && [still.fields.id, still.fields.inUse]).toEqual([ids.now, 'Y']);
    await removeIfThere(cell, `${vol}.restored`);
  });
});
