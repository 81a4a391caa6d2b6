// The nightly run's guards, on the real cell: a run missed while afsbot was down runs at start (once);
// a run that reaches nightly.deadlineHours stops cleanly and says so, while a rescan waits for the
// archive it holds; at most jobs.maxHeavy restores run at once, and the one that waits says why;
// staged files expire after dumps.stagingKeepDays.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listPartials } from '../../actions/dump-store.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  busyTransactions,
  cellVos,
  freshVolume,
  isGone,
  readVolumeFile,
  removeIfThere,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { waitForProcess } from '../support/spawned-bot.ts';

const cell = inject('cell');
const vos = cellVos(cell);

beforeAll(async () => {
  await freshVolume(cell, 'gd.a');
  writeVolumeFile(cell, 'gd.a', 'a.txt', 'guarded\n');
  await freshVolume(cell, 'gd.big');
  writeVolumeFile(cell, 'gd.big', 'big.bin', randomBytes(40_000_000));
}, 120_000);

afterAll(async () => {
  for (const v of ['gd.a', 'gd.big', 'gd.r1', 'gd.r2']) await removeIfThere(cell, v);
});

describe('a nightly run missed while afsbot was down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'afsbot-catchup-'));
  const env = { AFSBOT_NIGHTLY_PREFIXES: 'gd.a', AFSBOT_NIGHTLY_SCHEDULE: '15 2 * * *', AFSBOT_ARCHIVE: '0' };
  let h: MemoryHarness | undefined;
  afterAll(async () => {
    await h?.stop();
  });

  it('runs at start with a notice, within nightly.catchUpHours', async () => {
    // 02:15 passed with no afsbot; it starts at 05:00, inside the default 12 hours
    h = await startMemoryBot({ cell, dir, clock: () => new Date('2026-09-01T05:00:00Z'), env });
    const notice = await h.chat.waitFor(/the nightly run due at 2026-09-01 02:15 UTC was missed/, 10_000);
    expect(notice).toMatch(/\(afsbot was not running then\); it runs now as job (\d+)$/);
    const id = Number(/as job (\d+)$/.exec(notice)![1]);
    const done = await h.chat.waitFor(new RegExp(`^job ${id} \\(nightly run\\) done`), 120_000);
    expect(done).toMatch(/nightly 2026\.09\.01: OK\. 1 volume: 1 full/);
  }, 180_000);

  it('does not run it twice when afsbot starts again', async () => {
    await h!.stop();
    h = await startMemoryBot({ cell, dir, clock: () => new Date('2026-09-01T05:30:00Z'), env });
    // the catch-up check ran inside start(); whatever it said is written once the outbox is empty
    await h.bot.outbox.flush(30_000);
    expect(h.bot.outbox.pending()).toBe(0);
    expect(h.chat.said.join('\n')).not.toMatch(/was missed/);
    expect(h.bot.services.jobs.list(10).filter((j) => j.kind === 'nightly')).toHaveLength(1);
  }, 60_000);

  it('leaves a run missed longer ago than the window to the schedule and the dead man switch', async () => {
    await h!.stop();
    // 2026-09-02 02:15 was missed too, but it is now 16:00: past 12 hours
    h = await startMemoryBot({ cell, dir, clock: () => new Date('2026-09-02T16:00:00Z'), env });
    await h.bot.outbox.flush(30_000);
    expect(h.bot.outbox.pending()).toBe(0);
    expect(h.chat.said.join('\n')).not.toMatch(/was missed/);
    expect(h.bot.services.jobs.list(10).filter((j) => j.kind === 'nightly')).toHaveLength(1);
  }, 60_000);
});

describe('a nightly run that reaches its deadline', () => {
  let h: MemoryHarness;
  beforeAll(async () => {
    // 0.003 h is about 11 s; the stall watchdog is left at a minute, so the deadline comes first
    h = await startMemoryBot({
      cell,
      clock: () => new Date('2026-09-08T03:00:00Z'),
      env: {
        AFSBOT_NIGHTLY_PREFIXES: 'gd.',
        AFSBOT_NIGHTLY_DEADLINE_HOURS: '0.003',
        AFSBOT_JOBS_STALL_MS: '60000',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('stops what is going, says so in a NOT SAFE report, and a rescan waits for the archive it held', async () => {
    const since = h.chat.said.length;
    const t0 = Date.now();
    void h.chat.type('!nightly run');
    // gd.a is dumped first (alphabetical); then gd.big's dump hangs, as over a dying link
    const dump = await waitForProcess(process.pid, /vos dump -id gd\.big\.backup/);
    process.kill(dump, 'SIGSTOP');
    const rescan = await h.chat.type('!backup rescan');
    expect(rescan).toMatch(/^job \d+ started: .*; it waits for job \d+, which holds @archive$/);
    const rescanId = Number(/^job (\d+)/.exec(rescan)![1]);
    const report = await h.chat.waitFor(
      /^job \d+ \(nightly run\) done: nightly 2026\.09\.08: NOT SAFE/,
      120_000,
      since,
    );
    const took = (Date.now() - t0) / 1000;
    expect(took).toBeLessThan(60); // the deadline, not the watchdog (a minute) nor the hung dump, ended it
    expect(report).toMatch(/stopped at its deadline/);
    expect(report).toMatch(
      /^STOPPED: the run reached its deadline of 0\.003 h \(nightly\.deadlineHours\) in the phase dumping and was stopped$/m,
    );
    expect(report).toMatch(/^FAILED gd\.big: /m);
    expect(report).not.toMatch(/^FAILED gd\.a/m);
    // nothing half-written, and the hung dump's transaction ended
    expect(listPartials(join(h.dir, 'dumps'))).toEqual([]);
    expect(await busyTransactions(cell, 'gd.big')).toBe(0);
    // the rescan ran once the run let go of the archive
    expect(
      await h.chat.waitFor(new RegExp(`^job ${rescanId} \\(rescan of the dump store\\) done`), 60_000),
    ).toMatch(/done/);
    // gd.a's dump is whole and catalogued, gd.big has none
    expect(h.bot.services.catalog.forVolume('gd.a').map((r) => r.level)).toEqual(['full']);
    expect(h.bot.services.catalog.forVolume('gd.big')).toEqual([]);
  }, 180_000);
});

describe('at most jobs.maxHeavy restores at once', () => {
  let h: MemoryHarness;
  beforeAll(async () => {
    h = await startMemoryBot({ cell, env: { AFSBOT_JOBS_MAX_HEAVY: '1', AFSBOT_ARCHIVE: '0' } });
    await h.chat.job('!dump gd.big full', 120_000);
    await h.chat.job('!dump gd.a full', 120_000);
  }, 240_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('the second waits its turn, says why, and runs when the first is done', async () => {
    const since = h.chat.said.length;
    const first = await h.chat.type('!restore gd.big as gd.r1');
    const firstId = Number(/^job (\d+) started/.exec(first)![1]);
    const second = await h.chat.type('!restore gd.a as gd.r2');
    expect(second).toMatch(
      new RegExp(
        `^job \\d+ started: .*; it waits its turn: at most 1 restores, extractions or fetches run at once \\(jobs\\.maxHeavy\\), and job ${firstId} is running$`,
      ),
    );
    const secondId = Number(/^job (\d+) started/.exec(second)![1]);
    await h.chat.waitFor(new RegExp(`^job ${secondId} \\(.*\\) done`), 180_000, since);
    // the second began only after the first ended: its row says so
    const a = h.bot.services.jobs.get(firstId)!;
    const b = h.bot.services.jobs.get(secondId)!;
    expect(a.status).toBe('ok');
    expect(b.status).toBe('ok');
    expect(b.started_at! >= a.ended_at!).toBe(true);
    expect(readVolumeFile(cell, 'gd.r2', 'a.txt').toString()).toBe('guarded\n');
  }, 240_000);

  it('a target made by someone else while the job waited its turn is left alone', async () => {
    for (const v of ['gd.r5', 'gd.r6']) await removeIfThere(cell, v);
    const first = Number(/^job (\d+)/.exec(await h.chat.type('!restore gd.big as gd.r5'))![1]);
    const waiting = Number(/^job (\d+)/.exec(await h.chat.type('!restore gd.a as gd.r6'))![1]);
    await freshVolume(cell, 'gd.r6'); // an admin's own vos create, in the meantime
    const made = await vos.examine('gd.r6');
    if (!made.ok) throw new Error(made.message);
    expect(
      await h.chat.waitFor(new RegExp(`^job ${waiting} \\(.*\\) (done|failed|cancelled)`), 180_000),
    ).toMatch(
      /\) failed: gd\.r6 was made while this job waited; nothing was touched\. Restore as another name$/,
    );
    await h.chat.waitFor(new RegExp(`^job ${first} \\(.*\\) done`), 180_000);
    const after = await vos.examine('gd.r6');
    expect(after.ok && [after.fields.id, after.fields.filecount]).toEqual([
      made.fields.id,
      made.fields.filecount,
    ]);
    for (const v of ['gd.r5', 'gd.r6']) await removeIfThere(cell, v);
  }, 240_000);

  it('one cancelled while it waits its turn never runs, and makes nothing', async () => {
    for (const v of ['gd.r3', 'gd.r4']) await removeIfThere(cell, v);
    const first = Number(/^job (\d+)/.exec(await h.chat.type('!restore gd.big as gd.r3'))![1]);
    const waiting = Number(/^job (\d+)/.exec(await h.chat.type('!restore gd.a as gd.r4'))![1]);
    expect(await h.chat.type(`!cancel ${waiting}`)).toBe(`job ${waiting} was still waiting; it will not run`);
    await h.chat.waitFor(new RegExp(`^job ${first} \\(.*\\) done`), 180_000);
    expect(h.bot.services.jobs.get(waiting)).toMatchObject({
      status: 'cancelled',
      started_at: null,
      result: 'cancelled before it started',
    });
    expect(await isGone(vos, 'gd.r4')).toBe(true);
    for (const v of ['gd.r3', 'gd.r4']) await removeIfThere(cell, v);
  }, 240_000);
});

describe('staged files', () => {
  let h: MemoryHarness;
  beforeAll(async () => {
    h = await startMemoryBot({
      cell,
      clock: () => new Date('2026-09-15T03:00:00Z'),
      env: { AFSBOT_NIGHTLY_PREFIXES: 'gd.a', AFSBOT_ARCHIVE: '0', AFSBOT_DUMPS_STAGING_KEEP_DAYS: '7' },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('expire after dumps.stagingKeepDays; what afsbot did not make is left alone', async () => {
    const staging = join(h.dir, 'staging');
    const make = (name: string, ageDays: number) => {
      const p = join(staging, name);
      mkdirSync(p, { recursive: true });
      writeFileSync(join(p, 'x.dump'), 'x');
      const t = (Date.now() - ageDays * 86_400_000) / 1000;
      utimesSync(p, t, t);
      return p;
    };
    const old = make('job-11', 8);
    const fresh = make('job-12', 6);
    const someonesElse = make('handover', 30);
    const r = await h.chat.job('!nightly run', 120_000);
    expect(r.result).toMatch(
      /^retention: removed 0 local dumps .*; staging: removed 1 handed-over item older than 7 days$/m,
    );
    expect([existsSync(old), existsSync(fresh), existsSync(someonesElse)]).toEqual([false, true, true]);
  }, 180_000);
});
