// The bot process killed (SIGKILL) right after each promote step in turn, on a volume with a read-only
// site. After a restart the journal names the step, and resume (or rollback) ends with nothing lost:
// the restored content live under the same id and sites, the old content (with every write made
// before the volume went off line) in the safety dump; or, after a rollback, the old content back live.
import { mkdtempSync, readdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, inject, it } from 'vitest';
import { STEPS } from '../../bot/backup/promote.ts';
import { sandboxEnv } from '../support/bot-env.ts';
import {
  cellVos,
  freshVolume,
  readVolumeFile,
  removeIfThere,
  vosOk,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { repoRoot } from '../support/peers.ts';

const cell = inject('cell');
const vos = cellVos(cell);

function bot(dir: string, extra: Record<string, string> = {}) {
  const env = { ...sandboxEnv(cell, dir), AFSBOT_BREAK_GLASS: '1', ...extra };
  return (input: string) =>
    execa(join(repoRoot, 'bin/afsbot'), ['--console'], { env, input, reject: false, timeout: 200_000 });
}

/**
 * A replicated volume with a dump of good content, then damaged, restored as `<vol>.restored`, and a
 * break-glass promote of it killed right after a step, or at a fault point inside one.
 */
async function crashedPromote(vol: string, kill: { after: number } | { during: string }) {
  const copy = `${vol}.restored`;
  await removeIfThere(cell, copy);
  await freshVolume(cell, vol);
  await vosOk(vos, ['addsite', '-server', cell.server, '-partition', cell.partition, '-id', vol]);
  await vosOk(vos, ['release', '-id', vol]);
  const before = await vos.examine(vol);
  if (!before.ok) throw new Error(before.message);
  const dir = mkdtempSync(join(tmpdir(), `afsbot-${vol}-`));
  const run = bot(dir);
  writeVolumeFile(cell, vol, 'notes.txt', `good ${vol}\n`);
  expect((await run(`!dump ${vol} full\n`)).stdout).toMatch(/done: full dump/);
  writeVolumeFile(cell, vol, 'notes.txt', `damaged ${vol}\n`);
  expect((await run(`!restore ${vol}\n`)).stdout).toMatch(/is restored into/);
  const crashed = await bot(
    dir,
    'after' in kill
      ? { AFSBOT_FAULT_KILL_AFTER_PROMOTE_STEP: String(kill.after) }
      : { AFSBOT_FAULT: kill.during },
  )(`!promote ${vol} --break-glass "crash test"\n`);
  expect(crashed.signal).toBe('SIGKILL');
  expect(crashed.stdout).toMatch(
    new RegExp(
      `^BREAK-GLASS: root \\(console:root\\) runs "!promote ${vol.replace('.', '\\.')}" with no second admin`,
      'm',
    ),
  );
  const id = Number(/promotion (\d+) of /.exec((await run('')).stdout)![1]);
  return { copy, before, dir, run, id };
}

/**
 * Kills the promote after `step` (or, with `during`, after step 2 and then again in the middle of step
 * 3's safety dump, once it is written and not yet named), restarts, and resumes or rolls back.
 */
async function scenario(step: number, then: 'resume' | 'rollback', during = false) {
  const vol = `user.pc${step}${then[1]}${during ? 'd' : ''}`;
  const { copy, before, dir, run, id } = await crashedPromote(vol, { after: during ? step - 1 : step });
  const good = `good ${vol}\n`;
  const damaged = `damaged ${vol}\n`;

  if (during) {
    // resumed, it dies again in the middle of step `step`: its dump written, not yet named
    const again = await bot(dir, { AFSBOT_FAULT: 'dump:before-rename' })(`!promote resume ${id}\n`);
    expect(again.signal).toBe('SIGKILL');
  }
  const restarted = (await run('')).stdout;
  const stopped = during
    ? `during step ${step} \\(${STEPS[step - 1]}\\), which started but did not finish`
    : `after step ${step} \\(${STEPS[step - 1]}\\)`;
  const m = new RegExp(
    `promotion (\\d+) of ${copy.replace(/\./g, '\\.')} to ${vol.replace('.', '\\.')} stopped ${stopped}\\. Now: (.*)`,
  ).exec(restarted);
  expect(m, restarted).not.toBeNull();
  const leftBehind = m![2]!;
  // a write after the promote began, before the volume went off line, must not be lost
  const late = step === 1 ? `damaged ${vol}, and written to after the promote began\n` : damaged;
  if (step === 1) writeVolumeFile(cell, vol, 'notes.txt', late);

  const finished = (await run(`!promote ${then} ${m![1]}\n`)).stdout;
  expect(finished).toMatch(
    then === 'resume'
      ? /done: user\.pc\S+ holds the content of user\.pc\S+ now/
      : /done: promotion \d+ rolled back/,
  );
  // either way the live volume keeps its id, its VLDB entry and its read-only site, and is on line
  const after = await vos.examine(vol);
  expect(after.ok && [after.fields.id, after.fields.status]).toEqual([before.fields.id, 'OK']);
  const entry = await vos.listvldbEntry(vol);
  expect(entry.ok && entry.entry?.sites.map((x) => x.type).sort()).toEqual(['RO', 'RW']);
  if (then === 'resume') {
    expect(readVolumeFile(cell, vol, 'notes.txt').toString()).toBe(good);
    expect(readVolumeFile(cell, copy, 'notes.txt').toString()).toBe(good); // left as it was
    // the old content, the late write included, is in the safety dump
    expect((await run(`!restore ${vol} as pc.old${step}\n`)).stdout).toMatch(/is restored into/);
    expect(readVolumeFile(cell, `pc.old${step}`, 'notes.txt').toString()).toBe(late);
    await removeIfThere(cell, `pc.old${step}`);
  } else {
    expect(readVolumeFile(cell, vol, 'notes.txt').toString()).toBe(late);
    expect(readVolumeFile(cell, copy, 'notes.txt').toString()).toBe(good);
  }
  process.stderr.write(
    `[promote-crash] killed ${during ? 'during' : 'after'} step ${step}, then ${then}: the restart found: ${leftBehind}\n`,
  );
  // and nothing half-written is left in the dump store
  expect(
    readdirSync(join(dir, 'dumps'), { recursive: true })
      .map(String)
      .filter((f) => /partial|\.tmp/.test(f)),
  ).toEqual([]);
}

describe('promote survives a crash after every step', { timeout: 300_000 }, () => {
  for (const step of [1, 2, 3, 4, 5]) {
    it(`killed after step ${step}: resume finishes it`, () => scenario(step, 'resume'));
  }
  for (const step of [1, 2, 3, 4]) {
    it(`killed after step ${step}: rollback puts the old volume back`, () => scenario(step, 'rollback'));
  }
  it('resume: a restored copy replaced before step 1 dumped it is refused; after, what step 1 dumped is promoted', async () => {
    // killed in step 1 (its dump written, not named): the copy is checked again before anything
    const vol = 'user.pcg1';
    const { copy, run, id } = await crashedPromote(vol, { during: 'dump:before-rename' });
    const planned = await vos.examine(copy);
    if (!planned.ok) throw new Error(planned.message);
    await vosOk(vos, ['remove', '-id', copy]);
    await freshVolume(cell, copy);
    const replaced = await vos.examine(copy);
    if (!replaced.ok) throw new Error(replaced.message);
    expect((await run(`!promote resume ${id}\n`)).stdout).toContain(
      `${copy} is not the restored copy with id ${planned.fields.id} any more (it has id ${replaced.fields.id}): stopped before touching anything`,
    );
    expect(readVolumeFile(cell, vol, 'notes.txt').toString()).toBe(`damaged ${vol}\n`);

    // killed after step 1: its dump of the copy is what goes live, whatever became of the copy since
    const after = 'user.pcg4';
    const second = await crashedPromote(after, { after: 1 });
    await vosOk(vos, ['remove', '-id', `${after}.restored`]);
    await freshVolume(cell, `${after}.restored`);
    const done = (await second.run(`!promote resume ${second.id}\n`)).stdout;
    expect(done).toContain(
      `${after}.restored is not the restored copy any more (replaced or removed since step 1 dumped it), so its file count was not compared`,
    );
    expect(readVolumeFile(cell, after, 'notes.txt').toString()).toBe(`good ${after}\n`);
    for (const v of [copy, `${after}.restored`]) await removeIfThere(cell, v);
  });

  it('resume refuses when the live volume was replaced, and touches nothing', async () => {
    const vol = 'user.pcg2';
    const { run, id } = await crashedPromote(vol, { after: 1 });
    const live = await vos.examine(vol);
    if (!live.ok) throw new Error(live.message);
    await vosOk(vos, ['remove', '-id', vol]);
    await freshVolume(cell, vol);
    const now = await vos.examine(vol);
    if (!now.ok) throw new Error(now.message);
    expect((await run(`!promote resume ${id}\n`)).stdout).toContain(
      `${vol} now has id ${now.fields.id}, not ${live.fields.id} as planned: stopped before taking it off line`,
    );
    const still = await vos.examine(vol);
    expect(still.ok && [still.fields.id, still.fields.inUse]).toEqual([now.fields.id, 'Y']);
    await removeIfThere(cell, `${vol}.restored`);
  });

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
    const live = await vos.examine(vol);
    if (!live.ok) throw new Error(live.message);
    await vosOk(vos, ['remove', '-id', vol]);
    await freshVolume(cell, vol);
    const now = await vos.examine(vol);
    if (!now.ok) throw new Error(now.message);
    expect((await run(`!promote rollback ${id}\n`)).stdout).toContain(
      `${vol} has id ${now.fields.id}, not ${live.fields.id}: someone replaced it; look before rolling back`,
    );
    await removeIfThere(cell, `${vol}.restored`);
  });

  it('killed during step 3, its safety dump written and not named: resume finishes it', () =>
    scenario(3, 'resume', true));
  it('killed during step 3, its safety dump written and not named: rollback puts the old volume back', () =>
    scenario(3, 'rollback', true));
});
