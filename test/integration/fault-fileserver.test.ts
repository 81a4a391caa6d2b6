// The fault suite, part 4: a cell with two file servers (a second network namespace joined to the same
// VLDB, scripts/peers/afs-cell.sh fileserver2), the second one stopped in the middle of a nightly run.
// Its volumes fail with vos's reason, the others finish, the report is NOT SAFE and names the server,
// and the per-server limit holds on both servers.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import { cellVos, vosOk, writeVolumeFile } from '../support/cell-tools.ts';
import { type CellInfo, cellDown, cellUp, parseEnv, repoRoot } from '../support/peers.ts';
import { descendants } from '../support/spawned-bot.ts';

const script = join(repoRoot, 'scripts/peers/afs-cell.sh');
const NAME = 'faultfs'; // a cell of its own: the shared one is not re-wired under the other tests
let cell: CellInfo;
let server2 = '';
let h: MemoryHarness;
let now = new Date('2026-08-03T03:00:00Z'); // a Monday
const fs2 = (sub: string) => execa(script, ['fileserver2', sub, '--name', NAME], { stderr: 'inherit' });

/** Watches our vos dump processes: the most running at once, per server. */
function watchDumps(serverOf: (volume: string) => string) {
  const most = new Map<string, number>();
  let both = false;
  const timer = setInterval(() => {
    const now = new Map<string, number>();
    for (const d of descendants(process.pid)) {
      const m = /vos dump -id (\S+)\.backup/.exec(d.cmdline);
      if (m) now.set(serverOf(m[1]!), (now.get(serverOf(m[1]!)) ?? 0) + 1);
    }
    for (const [s, n] of now) most.set(s, Math.max(most.get(s) ?? 0, n));
    if (now.size === 2) both = true;
  }, 20);
  return { stop: () => clearInterval(timer), most, both: () => both };
}

beforeAll(async () => {
  cell = await cellUp(NAME);
  server2 = parseEnv((await fs2('up')).stdout).AFSBOT_AFS_SERVER2!;
  const vos = cellVos(cell);
  for (const [name, server] of [
    ['ff.a1', cell.server],
    ['ff.a2', cell.server],
    ['ff.b1', server2],
    ['ff.b2', server2],
  ] as const) {
    await vosOk(vos, ['create', '-server', server, '-partition', 'a', '-name', name, '-maxquota', '0']);
    writeVolumeFile(cell, name, 'blob.bin', randomBytes(15_000_000));
  }
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: { AFSBOT_NIGHTLY_PREFIXES: 'ff.', AFSBOT_NIGHTLY_PER_SERVER: '1', AFSBOT_JOBS_STALL_MS: '5000' },
  });
}, 180_000);

afterAll(async () => {
  await h?.stop();
  await cellDown(NAME);
});

const serverOf = (volume: string) => (volume.startsWith('ff.b') ? server2 : cell.server);

describe('two file servers', () => {
  it('both up: every volume dumped, one at a time per server, the two servers side by side', async () => {
    const w = watchDumps(serverOf);
    const r = await h.chat.job('!nightly run', 180_000);
    w.stop();
    expect(r.result).toMatch(/nightly 2026\.08\.03: OK\. 4 volumes: 4 full/);
    expect(Object.fromEntries(w.most)).toEqual({ [cell.server]: 1, [server2]: 1 });
    expect(w.both()).toBe(true);
  }, 240_000);

  it('the second stopped in the middle of the run: its volumes fail in vos words, the others finish', async () => {
    now = new Date('2026-08-04T03:00:00Z');
    for (const v of ['ff.a1', 'ff.a2', 'ff.b1', 'ff.b2'])
      writeVolumeFile(cell, v, 'more.bin', randomBytes(15_000_000));
    const since = h.chat.said.length;
    void h.chat.type('!nightly run');
    // the clones are made; then the second server goes, before any of its volumes is dumped
    await h.chat.waitFor(/^nightly 2026\.08\.04: vos backupsys done/, 60_000, since);
    await fs2('stop');
    try {
      const report = await h.chat.waitFor(
        /^job \d+ \(nightly run\) done: nightly 2026\.08\.04: NOT SAFE/,
        300_000,
        since,
      );
      // ff.b1 may have been dumped in the moment before the server went (on a loaded machine it
      // is); ff.b2, one at a time behind it on the same server, cannot have been
      const lost = new RegExp(
        `^FILE SERVER ${server2.replaceAll('.', '\\.')}: ([12]) of its 2 volumes failed as if it were down or hanging`,
        'm',
      ).exec(report);
      expect(lost, report).not.toBeNull();
      const failed = Number(lost![1]);
      // each of its volumes that failed did so with what vos (or the watchdog, for the dump it was in) said
      const inVosWords = (v: string) =>
        new RegExp(
          `^FAILED ${v.replace('.', '\\.')}: .*(Possible communication failure|stalled|Could not start transaction|Could not fetch|could not clone)`,
          'm',
        );
      expect(report).toMatch(inVosWords('ff.b2'));
      if (failed === 2) expect(report).toMatch(inVosWords('ff.b1'));
      else expect(report).not.toMatch(/^FAILED ff\.b1/m);
      expect(report).not.toMatch(/^FAILED ff\.a/m);
      expect(report).toContain(`0 full, ${4 - failed} incremental, 0 unchanged, ${failed} failed`);
    } finally {
      await fs2('start');
    }
    // back: the next night dumps what it missed
    now = new Date('2026-08-05T03:00:00Z');
    const next = await h.chat.job('!nightly run', 240_000);
    expect(next.result).toMatch(/nightly 2026\.08\.05: OK\./);
  }, 420_000);

  it('frozen (it takes calls and never answers): each kind of vos call gives up after its own timeout', async () => {
    const quick = await startMemoryBot({
      cell,
      clock: () => now,
      env: {
        AFSBOT_NIGHTLY_PREFIXES: 'ff.b',
        AFSBOT_AFS_TIMEOUT_MS: '3000',
        AFSBOT_AFS_LONG_TIMEOUT_MS: '8000',
      },
    });
    await fs2('freeze');
    try {
      // a short call (vos examine, before the job starts): afs.timeoutMs, and the admin is told
      expect(await quick.chat.type('!dump ff.b1 full')).toMatch(
        /^!dump failed: vos examine ff\.b1 failed: vos timed out after 3000 ms \(ref \d+; the details are in the log\)$/,
      );
      // a long one (vos backupsys, which may take hours in a big cell): afs.longTimeoutMs
      const r = await quick.chat.job('!nightly run', 120_000);
      expect(r.result).toMatch(/failed: vos backupsys failed: vos timed out after 8000 ms/);
    } finally {
      await fs2('thaw');
      await quick.stop();
    }
  }, 180_000);
});
