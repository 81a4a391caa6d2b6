// The bot process killed (SIGKILL) right after each promote step in turn, or in the middle of one;
// after a restart, rollback puts the old volume back with nothing lost. And rollback's guards.
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { readVolumeFile, removeIfThere } from '../support/cell-tools.ts';
import { promoteCrashKit } from '../support/promote-crash.ts';

const cell = inject('cell');
const { vos, crashedPromote, scenario, replaceVolume } = promoteCrashKit(cell);

describe('promote rolled back after a crash', { timeout: 300_000 }, () => {
  for (const step of [1, 2, 3, 4]) {
    it(`killed after step ${step}: rollback puts the old volume back`, () => scenario(step, 'rollback'));
  }
  it('killed during step 3, its safety dump written and not named: rollback puts the old volume back', () =>
    scenario(3, 'rollback', true));
  it('rollback refuses with no usable safety dump, or when the live volume was replaced, and changes nothing', async () => {
    const vol = 'user.pcg3';
    const { run, id, dir } = await crashedPromote(vol, { after: 4 });
    const safety = readdirSync(join(dir, 'dumps'), { recursive: true })
      .map(String)
      .find((f) => f.endsWith('.live.dump.zst'))!;
    renameSync(join(dir, 'dumps', safety), join(dir, 'aside.zst'));
    expect((await run(`!promote rollback ${id}\n`)).stdout).toMatch(
      new RegExp(
        `promotion ${id} has no usable safety dump \\(\\S+\\.live\\.dump\\.zst\\), so it cannot be rolled back; nothing was changed`,
      ),
    );
    expect(readVolumeFile(cell, vol, 'notes.txt').toString()).toBe(`good ${vol}\n`); // as step 4 left it
    renameSync(join(dir, 'aside.zst'), join(dir, 'dumps', safety));
    const ids = await replaceVolume(vol);
    expect((await run(`!promote rollback ${id}\n`)).stdout).toContain(
      `${vol} has id ${ids.now}, not ${ids.was}: someone replaced it; look before rolling back`,
    );
    // the new volume of that name is left as it was, on line
    const still = await vos.examine(vol);
    expect(still.ok && [still.fields.id, still.fields.inUse]).toEqual([ids.now, 'Y']);
    await removeIfThere(cell, `${vol}.restored`);
  });
});
