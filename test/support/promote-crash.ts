// The promote crash kit: a bot process (the real bin/afsbot on a console) killed in or after a promote
// step, then started again; shared by the resume and the rollback files, which run side by side.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { STEPS } from '../../bot/backup/promote.ts';
import { sandboxEnv } from './bot-env.ts';
import { cellVos, freshVolume, readVolumeFile, removeIfThere, vosOk, writeVolumeFile } from './cell-tools.ts';
import { type CellInfo, repoRoot } from './peers.ts';

export function promoteCrashKit(cell: CellInfo) {
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
        `^BREAK-GLASS: root \\(console:root\\) runs "!promote ${vol.replace(/\./g, '\\.')}" with no second admin`,
        'm',
      ),
    );
    // its number, from what it said before it died ("job N started: promotion M, ...")
    const id = Number(/promotion (\d+)/.exec(crashed.stdout)![1]);
    return { copy, before, dir, run, id };
  }

  /**
   * Kills the promote after `step` (or, with `during`, after step `step - 1` and then again in the
   * middle of step `step`'s dump, once it is written and not yet named: for step 3, the safety dump),
   * restarts, and resumes or rolls back.
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
    // a write after the promote began, before the volume went off line, must not be lost
    const late = step === 1 ? `damaged ${vol}, and written to after the promote began\n` : damaged;
    if (step === 1) writeVolumeFile(cell, vol, 'notes.txt', late);

    // one start: it says what it found, then finishes or rolls back as asked
    const restarted = (await run(`!promote ${then} ${id}\n`)).stdout;
    const stopped = during
      ? `during step ${step} \\(${STEPS[step - 1]}\\), which started but did not finish`
      : `after step ${step} \\(${STEPS[step - 1]}\\)`;
    const m = new RegExp(
      `promotion (\\d+) of ${copy.replace(/\./g, '\\.')} to ${vol.replace(/\./g, '\\.')} stopped ${stopped}\\. Now: (.*)`,
    ).exec(restarted);
    expect(m, restarted).not.toBeNull();
    expect(Number(m![1])).toBe(id);
    const leftBehind = m![2]!;
    expect(restarted).toMatch(
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

  /** Someone removes `name` and makes a new, empty volume of that name: its ids before and after. */
  async function replaceVolume(name: string): Promise<{ was: string; now: string }> {
    const id = async () => {
      const ex = await vos.examine(name);
      if (!ex.ok) throw new Error(ex.message);
      return ex.fields.id!;
    };
    const was = await id();
    await vosOk(vos, ['remove', '-id', name]);
    await freshVolume(cell, name);
    return { was, now: await id() };
  }

  return { vos, bot, crashedPromote, scenario, replaceVolume };
}
