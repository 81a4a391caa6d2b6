// Jobs on the real cell: progress from a real dump, cancel in the middle of one, and the volume locks.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseStatus } from '../../actions/vos.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  cellVos,
  freshVolume,
  isGone,
  removeIfThere,
  vosOk,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const BIG = 'user.t3big';
const SMALL = 'user.t3small';
let h: MemoryHarness;

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true }).map(String);
  } catch {
    return [];
  }
}

beforeAll(async () => {
  await freshVolume(cell, BIG);
  await freshVolume(cell, SMALL);
  // 160 MB of incompressible data: a dump that takes a few seconds.
  for (let i = 0; i < 4; i++) writeVolumeFile(cell, BIG, `blob${i}.bin`, randomBytes(40_000_000));
  writeVolumeFile(cell, SMALL, 'a.txt', 'small\n');
  h = await startMemoryBot({ cell });
}, 180_000);

afterAll(async () => {
  await h?.stop();
});

describe('jobs', () => {
  it('reports progress of a dump: bytes against the expected size, a rate and an ETA', async () => {
    const seenBefore = h.chat.progressSeen.length;
    const r = await h.chat.job(`!dump ${BIG} full`);
    expect(r.result).toMatch(/done: full dump of user\.t3big/);
    const updates = h.chat.progressSeen.slice(seenBefore).filter((u) => u.jobId === r.id);
    const dumping = updates.filter((u) => u.phase === 'dumping' && !u.final);
    expect(dumping.length).toBeGreaterThan(0);
    const u = dumping.at(-1)!;
    // the expected size is what vos examine says the clone uses
    const clone = await vos.examine(`${BIG}.backup`);
    if (!clone.ok) throw new Error(clone.message);
    expect(u.total).toBe(Number(clone.fields.diskused) * 1024);
    expect(u.bytes).toBeGreaterThan(0);
    expect(u.rate).toBeGreaterThan(0);
    // an ETA while bytes are short of the estimate; none once a dump outgrows it (it may: the estimate
    // is the clone's disk use, and the dump also holds the vnode metadata)
    for (const x of dumping)
      if (x.rate && x.total && x.bytes < x.total)
        expect(x.etaSeconds, JSON.stringify(x)).toBeGreaterThanOrEqual(0);
      else expect(x.etaSeconds, JSON.stringify(x)).toBeUndefined();
    expect(updates.at(-1)?.final).toBe(true);
    const row = h.bot.services.jobs.get(r.id)!;
    expect(JSON.parse(row.progress!)).toMatchObject({ final: true, phase: 'dumping' });
  });

  // The cancel is reported once the volserver has let go of the clone, which can take it a minute.
  it('cancel during a dump of a large volume leaves no partial file and no catalog row', {
    timeout: 180_000,
  }, async () => {
    const rowsBefore = h.bot.services.catalog.forVolume(BIG).length;
    const started = await h.chat.type(`!dump ${BIG} full`);
    const id = Number(/^job (\d+)/.exec(started)![1]);
    // wait until bytes are flowing, then cancel
    const deadline = Date.now() + 30_000;
    while (!h.chat.progressSeen.some((u) => u.jobId === id && u.phase === 'dumping' && u.bytes > 0)) {
      if (Date.now() > deadline) throw new Error('the dump never started moving bytes');
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await h.chat.type(`!cancel ${id}`)).toBe(
      `cancelling job ${id} (full dump of ${BIG}); its result follows`,
    );
    const result = await h.chat.waitFor(new RegExp(`^job ${id} \\(.*\\) (done|failed|cancelled)`), 170_000);
    expect(result).toBe(
      `job ${id} (full dump of ${BIG}) cancelled. The partial dump file was removed; the catalog is unchanged.`,
    );
    expect(filesUnder(join(h.dir, 'dumps')).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(h.bot.services.catalog.forVolume(BIG).length).toBe(rowsBefore);
    expect(h.bot.services.jobs.get(id)?.status).toBe('cancelled');
    // and the killed vos dump left no transaction holding the clone busy on the volserver
    const clone = await vos.examine(`${BIG}.backup`);
    if (!clone.ok) throw new Error(clone.message);
    const open = parseStatus(await vosOk(vos, ['status', '-server', cell.server]));
    expect(open.filter((t) => t.volumeId === Number(clone.fields.id))).toEqual([]);
  });

  it('serializes two jobs on one volume, and runs jobs on different volumes side by side', {
    timeout: 180_000,
  }, async () => {
    const first = await h.chat.type(`!dump ${BIG} full`);
    const second = await h.chat.type(`!dump ${BIG} full`);
    const other = await h.chat.type(`!dump ${SMALL} full`);
    const [a, b, c] = [first, second, other].map((t) => Number(/^job (\d+)/.exec(t)![1]));
    expect(second).toBe(`job ${b} started: full dump of ${BIG}; it waits for job ${a}, which holds ${BIG}`);
    expect(other).toBe(`job ${c} started: full dump of ${SMALL}`);
    for (const id of [a, b, c]) await h.chat.waitFor(new RegExp(`^job ${id} \\(.*\\) done`), 170_000);
    const [ja, jb, jc] = [a, b, c].map((id) => h.bot.services.jobs.get(id!)!);
    expect(jb!.started_at! >= ja!.ended_at!).toBe(true); // one after the other
    expect(jc!.started_at! < ja!.ended_at!).toBe(true); // alongside
    expect(await h.chat.type('!jobs')).toMatch(new RegExp(`job ${b} ok full dump of ${BIG}`));
  });

  it("a job cancelled while it waits for another's volume makes nothing; a finished or unknown job cannot be cancelled; !job shows one", {
    timeout: 180_000,
  }, async () => {
    const rowsBefore = h.bot.services.catalog.forVolume(BIG).length;
    const a = Number(/^job (\d+)/.exec(await h.chat.type(`!dump ${BIG} full`))![1]);
    const waiting = await h.chat.type(`!dump ${BIG} full`);
    const b = Number(/^job (\d+)/.exec(waiting)![1]);
    expect(waiting).toMatch(new RegExp(`it waits for job ${a}, which holds ${BIG}$`));
    expect(await h.chat.type(`!cancel ${b}`)).toBe(`job ${b} was still waiting; it will not run`);
    expect(h.bot.services.jobs.get(b)).toMatchObject({ status: 'cancelled', started_at: null });
    await h.chat.waitFor(new RegExp(`^job ${a} \\(.*\\) done`), 170_000);
    expect(h.bot.services.catalog.forVolume(BIG).length).toBe(rowsBefore + 1); // a's dump only
    expect(await h.chat.type(`!cancel ${a}`)).toBe(
      `error: job ${a} is not running (it is ok). usage: !cancel <id> (e.g. !cancel 12)`,
    );
    expect(await h.chat.type(`!cancel ${b}`)).toBe(
      `error: job ${b} is not running (it is cancelled). usage: !cancel <id> (e.g. !cancel 12)`,
    );
    expect(await h.chat.type('!cancel 99999')).toBe(
      'error: there is no job 99999; !jobs lists them. usage: !cancel <id> (e.g. !cancel 12)',
    );
    expect(await h.chat.type('!job 99999')).toBe(
      'error: there is no job 99999; !jobs lists them. usage: !job <id> (e.g. !job 12)',
    );
    const one = (await h.chat.type(`!job ${a}`)).split('\n');
    expect(one[0]).toMatch(new RegExp(`^job ${a} ok full dump of ${BIG}`));
    expect(one).toHaveLength(2); // no progress line once it has ended: its result says it
    expect(one[1]).toMatch(new RegExp(`^result: full dump of ${BIG} .* for \\d{4}\\.\\d{2}\\.\\d{2}: `));
  });

  it('cancel during a restore removes the half-made volume', { timeout: 180_000 }, async () => {
    const target = 't3big.cx';
    await removeIfThere(cell, target);
    const started = await h.chat.type(`!restore ${BIG} as ${target}`);
    const id = Number(/^job (\d+)/.exec(started)![1]);
    const deadline = Date.now() + 60_000;
    while (!h.chat.progressSeen.some((u) => u.jobId === id && /^restoring/.test(u.phase) && u.bytes > 0)) {
      if (Date.now() > deadline) throw new Error('the restore never started moving bytes');
      await new Promise((r) => setTimeout(r, 10));
    }
    // while it runs, !job shows where it is
    expect(await h.chat.type(`!job ${id}`)).toMatch(
      new RegExp(`\\njob ${id} restore ${BIG} .*: restoring the full dump \\d+% `),
    );
    expect(await h.chat.type(`!cancel ${id}`)).toMatch(
      new RegExp(`^cancelling job ${id} \\(restore ${BIG} `),
    );
    const result = await h.chat.waitFor(new RegExp(`^job ${id} \\(.*\\) (done|failed|cancelled)`), 170_000);
    expect(result).toMatch(
      new RegExp(
        `^job ${id} \\(restore ${BIG} .*\\) cancelled\\. Nothing of ${target.replace('.', '\\.')} is left\\.$`,
      ),
    );
    expect(await isGone(vos, target)).toBe(true);
    expect(h.bot.services.jobs.get(id)?.status).toBe('cancelled');
  });
});
