// The schedule (a cron expression in the time zone, fired once per minute, a run still going reported
// instead of doubled) and restic's locks: a lock whose holder is provably dead is reported and
// removed, a live one makes maintenance wait and then give up saying who holds it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sandboxEnv } from '../support/bot-env.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import { freshVolume, nextSecond, removeIfThere, writeVolumeFile } from '../support/cell-tools.ts';
import { repoRoot } from '../support/peers.ts';
import { stoppedAtFault } from '../support/spawned-bot.ts';

const cell = inject('cell');
let now = new Date('2026-05-04T03:00:00Z');
let h: MemoryHarness;
const holders: ChildProcess[] = [];

/** Whether the repository holds a lock whose holder is `pid` (restic's own reading of its locks). */
function lockedBy(pid: number): boolean {
  const a = h.config.archive;
  const env = { ...process.env, RESTIC_PASSWORD_FILE: a.passwordFile, RESTIC_CACHE_DIR: a.cacheDir ?? '' };
  const restic = (args: string[]) =>
    spawnSync(a.restic, ['-r', a.repository, '--no-lock', ...args], { env, encoding: 'utf8' }).stdout ?? '';
  return restic(['list', 'locks'])
    .split('\n')
    .filter(Boolean)
    .some((id) => {
      try {
        return (JSON.parse(restic(['cat', 'lock', id])) as { pid?: number }).pid === pid;
      } catch {
        return false; // removed meanwhile
      }
    });
}

/**
 * A restic backup that holds a shared lock on the repository until its stdin is closed. Returns once
 * restic itself lists a lock of that process: any lock file that appears is not enough (the bot's own
 * restic may take one meanwhile, and then the holder would be killed before it locked).
 */
async function lockHolder(): Promise<ChildProcess> {
  const a = h.config.archive;
  const p = spawn(
    a.restic,
    ['-r', a.repository, 'backup', '--stdin', '--stdin-filename', 'held', '--quiet'],
    {
      env: { ...process.env, RESTIC_PASSWORD_FILE: a.passwordFile, RESTIC_CACHE_DIR: a.cacheDir ?? '' },
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  holders.push(p);
  // restic derives its key before it locks: seconds on a loaded machine
  const deadline = Date.now() + 60_000;
  while (!lockedBy(p.pid!)) {
    if (Date.now() > deadline || p.exitCode !== null)
      throw new Error(`restic (pid ${p.pid}) took no lock in the repository within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return p;
}

beforeAll(async () => {
  await freshVolume(cell, 'sch.a');
  writeVolumeFile(cell, 'sch.a', 'f.txt', 'scheduled\n');
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: {
      AFSBOT_NIGHTLY_PREFIXES: 'sch.',
      AFSBOT_NIGHTLY_SCHEDULE: '0 3 * * *',
      AFSBOT_ARCHIVE_ENGINE: 'restic', // the lock tests below hold restic's own locks
      AFSBOT_ARCHIVE_LOCK_WAIT_MS: '3000',
    },
  });
}, 60_000);

afterAll(async () => {
  for (const p of holders) p.kill('SIGKILL');
  await h?.stop();
  await removeIfThere(cell, 'sch.other');
});

describe('the schedule', () => {
  it('starts the run when the cron expression says, once per minute, and reports in the report channels', async () => {
    expect(await h.bot.services.schedule.tick()).toEqual([
      expect.stringMatching(/^started the nightly run as job \d+$/),
    ]);
    expect(await h.bot.services.schedule.tick()).toEqual([]); // the same minute again
    await h.chat.waitFor(/^nightly 2026\.05\.04: starting \(job \d+, scheduled\); one line per phase/);
    await h.chat.waitFor(/^nightly 2026\.05\.04: dumping done in/);
    const report = await h.chat.waitFor(/^nightly 2026\.05\.04: OK\. 1 volume: 1 full/, 120_000);
    expect(report).toMatch(/archived per night, last 1:/);
    now = new Date('2026-05-04T03:01:00Z');
    expect(await h.bot.services.schedule.tick()).toEqual([]); // not due
  }, 180_000);

  it('a run still going when the next is due is reported, not doubled', async () => {
    // another afsbot process holds sch.a, so tonight's run waits on it: a real backup-manager restore,
    // stopped (by its own fault point) right after it took the lock
    const other = spawn(
      join(repoRoot, 'bin/backup-manager'),
      ['restore', '2026.05.04', 'sch.a', 'sch.other'],
      {
        env: { ...process.env, ...sandboxEnv(cell, h.dir), AFSBOT_FAULT: 'lock:sch.a:stop' },
        stdio: 'ignore',
      },
    );
    holders.push(other);
    await stoppedAtFault(other, 'backup-manager restore (at its lock on sch.a)');
    const held = h.bot.database.db
      .prepare('SELECT job_id AS jobId, pid FROM locks WHERE name = ?')
      .get('sch.a') as { jobId: number; pid: number } | undefined;
    expect(held?.pid).toBe(other.pid);
    now = new Date('2026-05-05T03:00:00Z');
    await nextSecond(); // a new second: AFS times are whole seconds
    writeVolumeFile(cell, 'sch.a', 'f.txt', 'changed\n');
    const [started] = await h.bot.services.schedule.tick();
    const id = /job (\d+)/.exec(started!)![1];
    await h.chat.waitFor(
      new RegExp(`sch\\.a is busy with job ${held!.jobId} of process ${other.pid}; waiting for it`),
    );
    now = new Date('2026-05-06T03:00:00Z');
    const [skipped] = await h.bot.services.schedule.tick();
    expect(skipped).toMatch(
      new RegExp(
        `^the nightly run due now was not started: the previous one is still going as job ${id} \\(since `,
      ),
    );
    await h.chat.waitFor(/^the nightly run due now was not started/);
    expect(
      h.bot.services.jobs.list(0).filter((j) => j.kind === 'nightly' && j.status === 'running'),
    ).toHaveLength(1);
    other.kill('SIGKILL'); // the other process dies: its lock is taken over, and the run finishes
    await h.chat.waitFor(/^nightly 2026\.05\.05: OK\. 1 volume: 0 full, 1 incremental/, 120_000);
  }, 180_000);
});

describe('restic locks', () => {
  it('a stale lock (its restic was killed) is reported with its holder and removed', async () => {
    const dead = await lockHolder();
    dead.kill('SIGKILL');
    await new Promise((r) => dead.once('exit', r));
    const r = await h.chat.job('!nightly maintenance check', 120_000);
    expect(r.result).toMatch(
      new RegExp(
        `(^|done: )removed a stale shared lock [0-9a-f]{8} held by root@\\S+ pid ${dead.pid} since \\S+: that process is gone$`,
        'm',
      ),
    );
    expect(r.result).toMatch(/^check: ok: read data subset 1\/7, no errors$/m);
    expect(readdirSync(join(h.config.archive.repository, 'locks'))).toEqual([]);
  }, 120_000);

  it('a live lock makes maintenance wait, then give up naming the holder; once it is gone, it runs', async () => {
    const live = await lockHolder();
    const r = await h.chat.job('!nightly maintenance check', 120_000);
    expect(r.result).toMatch(
      new RegExp(
        `failed: the archive stayed locked: shared lock [0-9a-f]{8} held by root@\\S+ pid ${live.pid} since `,
      ),
    );
    expect(h.chat.said.join('\n')).toMatch(/the archive is locked: shared lock .* waiting up to 3s/);
    live.stdin!.end('some bytes\n'); // its backup finishes and it lets go
    await new Promise((res) => live.once('exit', res));
    expect((await h.chat.job('!nightly maintenance check', 120_000)).result).toMatch(
      /check: ok: read data subset 2\/7/,
    );
  }, 120_000);
});
