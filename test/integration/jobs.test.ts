// Jobs on the real cell: progress from a real dump, cancel in the middle of one, and the volume locks.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseStatus } from '../../actions/vos.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import { cellVos, freshVolume, vosOk, writeVolumeFile } from '../support/cell-tools.ts';

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
});
