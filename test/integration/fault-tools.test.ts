// The fault suite, part 2: tools and peers that fail under a nightly run, on the real peers. The SFTP
// server of the archive killed in the middle of an upload, and one stopped with SIGSTOP (it stalls);
// a dump store on a small file system that fills; a vos dump stopped with SIGSTOP. Each time the bot
// says what happened with the tool's own words, keeps or cleans what it must, and nothing is lost.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listDumpFiles, listPartials } from '../../actions/dump-store.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  busyTransactions,
  cellVos,
  freshVolume,
  removeIfThere,
  removeVolumeFile,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { agreement } from '../support/invariants.ts';
import { parseEnv, repoRoot } from '../support/peers.ts';
import { waitForProcess } from '../support/spawned-bot.ts';

const cell = inject('cell');
const _vos = cellVos(cell);
const sshd = join(repoRoot, 'scripts/peers/sshd.sh');

/**
 * Each engine over its own remote: restic over plain SFTP, borg over SSH to `borg serve`. What differs
 * between them is only how their processes are named and how a snapshot is named.
 */
const remotes = [
  {
    engine: 'restic',
    vol: 'fts.a',
    backup: /restic .* backup /,
    fetch: /restic .* dump /,
    stalled: 'restic backup stalled',
    snapshot: '[0-9a-f]{8}',
    env: (r: Record<string, string>) => ({
      AFSBOT_ARCHIVE_ENGINE: 'restic',
      AFSBOT_ARCHIVE_REPOSITORY: `sftp:${r.AFSBOT_SFTP_USER}@${r.AFSBOT_SFTP_HOST}:${r.AFSBOT_SFTP_REPOS}/afsbot`,
      AFSBOT_ARCHIVE_SFTP_COMMAND: `ssh -p ${r.AFSBOT_SFTP_PORT} -i ${r.AFSBOT_SFTP_KEY} -o UserKnownHostsFile=${r.AFSBOT_SFTP_KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ServerAliveInterval=60 ${r.AFSBOT_SFTP_USER}@${r.AFSBOT_SFTP_HOST} -s sftp`,
    }),
  },
  {
    engine: 'borg',
    vol: 'ftb.a',
    backup: /borg .*create /,
    fetch: /borg .*extract /,
    stalled: 'borg create stalled',
    snapshot: '\\S+',
    env: (r: Record<string, string>) => ({
      AFSBOT_ARCHIVE_ENGINE: 'borg',
      AFSBOT_ARCHIVE_REPOSITORY: `ssh://${r.AFSBOT_SFTP_USER}@${r.AFSBOT_SFTP_HOST}:${r.AFSBOT_SFTP_PORT}${r.AFSBOT_SFTP_REPOS}/afsbot`,
      AFSBOT_BORG_RSH: `ssh -i ${r.AFSBOT_SFTP_KEY} -o UserKnownHostsFile=${r.AFSBOT_SFTP_KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ServerAliveInterval=60`,
    }),
  },
] as const;

describe.each(remotes)('the $engine archive server fails in the middle of a run', (remote) => {
  const { engine, vol } = remote;
  const v = vol.replace('.', '\\.');
  const name = `faults-${engine}`;
  let h: MemoryHarness;
  let sftp: Record<string, string>;
  let now = new Date('2026-06-01T03:00:00Z');
  const env = () => ({
    AFSBOT_NIGHTLY_PREFIXES: `${vol.split('.')[0]}.`,
    AFSBOT_JOBS_STALL_MS: '3000',
    ...remote.env(sftp),
  });
  const up = async () => {
    sftp = parseEnv((await execa(sshd, ['up', '--name', name], { stderr: 'inherit' })).stdout);
  };
  const daemonPid = () => Number(readFileSync(join(sftp.AFSBOT_SFTP_STATE!, 'daemon.pid'), 'utf8').trim());

  beforeAll(async () => {
    await up();
    await execa('rm', ['-rf', join(sftp.AFSBOT_SFTP_REPOS!, 'afsbot')]);
    await freshVolume(cell, vol);
    writeVolumeFile(cell, vol, 'big.bin', randomBytes(30_000_000));
    h = await startMemoryBot({ cell, clock: () => now, env: env() });
    // the first night makes the repository; the faults come on the nights after
    expect((await h.chat.job('!nightly run', 180_000)).result).toMatch(/: OK\./);
  }, 240_000);

  afterAll(async () => {
    await h?.stop();
    await execa(sshd, ['down', '--name', name, '--wipe'], { stderr: 'inherit', reject: false });
  });

  it('killed while it uploads: ARCHIVE FAILED, the dump stays local, the next night archives it', async () => {
    now = new Date('2026-06-02T03:00:00Z');
    writeVolumeFile(cell, vol, 'more.bin', randomBytes(20_000_000));
    const since = h.chat.said.length;
    void h.chat.type('!nightly run');
    await waitForProcess(process.pid, remote.backup);
    // freeze the session serving the upload at once, so the upload cannot finish before the server goes
    // down (stopping sshd takes a while on a busy machine); `down` then kills the session, frozen or not
    const session = await waitForProcess(daemonPid(), /sshd/);
    process.kill(session, 'SIGSTOP');
    await execa(sshd, ['down', '--name', name], { stderr: 'inherit' });
    const report = await h.chat.waitFor(
      /^job \d+ \(nightly run\) done: nightly 2026\.06\.02: NOT SAFE/,
      180_000,
      since,
    );
    expect(report).toMatch(
      new RegExp(`^ARCHIVE FAILED ${v} \\(2026\\.06\\.02\\): ${engine} backup failed: `, 'm'),
    );
    expect(report).toMatch(/^not archived yet: 1 dumps \(they stay on disk and go in next night\)$/m);
    const pending = h.bot.services.catalog.unarchived();
    expect(pending.map((r) => r.date)).toEqual(['2026.06.02']);
    expect(existsSync(pending[0]!.location)).toBe(true);

    await up(); // the same port, keys and repository
    now = new Date('2026-06-03T03:00:00Z');
    const next = await h.chat.job('!nightly run', 180_000);
    expect(next.result).toMatch(/nightly 2026\.06\.03: OK\./);
    expect(h.bot.services.catalog.unarchived()).toEqual([]);
  }, 300_000);

  it('stopped with SIGSTOP while it uploads: the stall is found, the archiver stopped, the run goes on', async () => {
    now = new Date('2026-06-04T03:00:00Z');
    writeVolumeFile(cell, vol, 'again.bin', randomBytes(20_000_000));
    const since = h.chat.said.length;
    const started = Date.now();
    void h.chat.type('!nightly run');
    await waitForProcess(process.pid, remote.backup);
    // the sshd session serving the archiver (sshd forks one per connection) hangs: the link stalls
    const session = await waitForProcess(daemonPid(), /sshd/);
    process.kill(session, 'SIGSTOP');
    try {
      const report = await h.chat.waitFor(
        /^job \d+ \(nightly run\) done: nightly 2026\.06\.04: NOT SAFE/,
        180_000,
        since,
      );
      expect(report).toMatch(
        new RegExp(
          `^ARCHIVE FAILED ${v} \\(2026\\.06\\.04\\): ${engine} backup failed: ${remote.stalled}: nothing was read or written for 3 s`,
          'm',
        ),
      );
      expect(Date.now() - started).toBeLessThan(120_000); // not waiting on the link for ever
    } finally {
      process.kill(session, 'SIGCONT');
    }
    await execa(sshd, ['down', '--name', name], { stderr: 'inherit' });
    await up();
    now = new Date('2026-06-05T03:00:00Z');
    expect((await h.chat.job('!nightly maintenance check', 120_000)).result).toMatch(/check: ok/);
    const next = await h.chat.job('!nightly run', 180_000);
    expect(next.result).toMatch(/nightly 2026\.06\.05: OK\./);
    expect(h.bot.services.catalog.unarchived()).toEqual([]);
  }, 300_000);

  it('a fetch from the archive over a stalled link: stopped by the watchdog, the volume let go, and it works once the link does', async () => {
    // the first night's full is only in the archive now (as after retention)
    const full = h.bot.services.catalog.forVolume(vol).find((r) => r.date === '2026.06.01')!;
    expect(full.archive_snapshot).toBeTruthy();
    rmSync(full.location);
    rmSync(`${full.location}.json`, { force: true });
    const since = h.chat.said.length;
    void h.chat.type(`!backup get 2026.06.01 ${vol}`);
    await waitForProcess(process.pid, remote.fetch);
    const session = await waitForProcess(daemonPid(), /sshd/);
    process.kill(session, 'SIGSTOP');
    try {
      const failed = await h.chat.waitFor(
        new RegExp(`^job \\d+ \\(get ${v} of 2026\\.06\\.01\\) failed`),
        120_000,
        since,
      );
      expect(failed).toMatch(/stalled: nothing was read or written for 3 s/);
      expect(h.bot.services.jobs.holder(vol)).toBeUndefined();
      // nothing half-fetched is left to be taken for a dump: the failed job's directory is gone
      const failedId = /^job (\d+)/.exec(failed)![1];
      const staged = readdirSync(join(h.dir, 'staging'), { recursive: true }).map(String);
      expect(staged.filter((f) => f.startsWith(`job-${failedId}-`))).toEqual([]);
    } finally {
      process.kill(session, 'SIGCONT');
    }
    const again = await h.chat.job(`!backup get 2026.06.01 ${vol}`, 120_000);
    expect(again.result).toMatch(/done: /);
    expect(again.result).toMatch(
      new RegExp(`, from archive snapshot ${remote.snapshot}, checksum verified\\)$`, 'm'),
    );
  }, 240_000);
});

describe('a vos dump stopped with SIGSTOP', () => {
  let h: MemoryHarness;
  beforeAll(async () => {
    await freshVolume(cell, 'ftv.big');
    writeVolumeFile(cell, 'ftv.big', 'big.bin', randomBytes(40_000_000));
    h = await startMemoryBot({ cell, env: { AFSBOT_JOBS_STALL_MS: '2000' } });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('the watchdog stops it, names the stage, leaves no file and no busy volume', async () => {
    const since = h.chat.said.length;
    void h.chat.type('!dump ftv.big full');
    const dump = await waitForProcess(process.pid, /vos dump -id ftv\.big\.backup/);
    process.kill(dump, 'SIGSTOP');
    const result = await h.chat.waitFor(/^job \d+ \(full dump of ftv\.big\) failed/, 60_000, since);
    expect(result).toMatch(
      /vos dump stalled: nothing was read or written for 2 s \(it was stopped by a signal\)/,
    );
    expect(listPartials(join(h.dir, 'dumps'))).toEqual([]);
    expect(listDumpFiles(join(h.dir, 'dumps'))).toEqual([]);
    expect(await busyTransactions(cell, 'ftv.big')).toBe(0);
    // and the volume dumps again at once
    expect((await h.chat.job('!dump ftv.big full', 120_000)).result).toMatch(/done: full dump of ftv\.big/);
  }, 180_000);
});

describe('a dump store on a small file system that fills', () => {
  const mnt = mkdtempSync(join(tmpdir(), 'afsbot-small-'));
  let h: MemoryHarness;
  let mounted = false;
  let now = new Date('2026-06-08T03:00:00Z'); // a Monday: no weekly full
  beforeAll(async () => {
    // 20 MiB, the database on it too (as /var/lib/afsbot holds both)
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=20m,mode=0700', 'tmpfs', mnt]);
    mounted = true;
    await freshVolume(cell, 'ftf.a');
    writeVolumeFile(cell, 'ftf.a', 'small.txt', 'small\n');
    h = await startMemoryBot({
      cell,
      clock: () => now,
      env: {
        AFSBOT_NIGHTLY_PREFIXES: 'ftf.',
        AFSBOT_DATABASE: join(mnt, 'afsbot.db'),
        AFSBOT_DUMP_DIR: join(mnt, 'dumps'),
        AFSBOT_DUMPS_RESERVE_BYTES: '0',
        AFSBOT_ARCHIVE: '0',
      },
    });
    expect((await h.chat.job('!nightly run', 120_000)).result).toMatch(/: OK\. 1 volume: 1 full/);
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    if (mounted) await execa('umount', [mnt], { reject: false });
    await removeIfThere(cell, 'ftf.a');
  });

  it('a dump too big for the free space is not started: its size is known before (vos size)', async () => {
    now = new Date('2026-06-09T03:00:00Z');
    writeVolumeFile(cell, 'ftf.a', 'big.bin', randomBytes(30_000_000));
    const r = await h.chat.job('!nightly run', 180_000);
    expect(r.result).toMatch(/NOT SAFE \(1 failed/);
    expect(r.result).toMatch(
      /^FAILED ftf\.a: not started: tonight's 1 dumps needs about 29 MiB, and the dump store .* has [\d.]+ MiB free/m,
    );
    expect(listPartials(join(mnt, 'dumps'))).toEqual([]);
    removeVolumeFile(cell, 'ftf.a', 'big.bin');
  }, 240_000);

  it('the disk filled by another writer during a dump: the run ends saying so, nothing half-written, the database intact', async () => {
    now = new Date('2026-06-10T03:00:00Z');
    writeVolumeFile(cell, 'ftf.a', 'mid.bin', randomBytes(12_000_000));
    const filler = join(mnt, 'other-writer');
    const run = h.chat.job('!nightly run', 180_000);
    // the moment the dump's file appears, something else takes all the space left
    const deadline = Date.now() + 60_000;
    while (listPartials(join(mnt, 'dumps')).length === 0) {
      if (Date.now() > deadline) throw new Error('the dump never started');
      await new Promise((res) => setTimeout(res, 2));
    }
    fillUp(filler);
    try {
      // the database shares the disk: the run cannot even write its report, and says why; it ends (it
      // does not hang on its locks or its job row), and the dump's partial file is gone
      const r = await run;
      expect(r.result).toMatch(/(No space left on device|database or disk is full)/);
      expect(listPartials(join(mnt, 'dumps'))).toEqual([]);
      expect(listDumpFiles(join(mnt, 'dumps'))).toHaveLength(1); // the first night's, whole and catalogued
      expect(h.bot.database.db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      rmSync(filler, { force: true });
    }
    // once there is room, the next night dumps it, and the catalog agrees with the files
    now = new Date('2026-06-11T03:00:00Z');
    expect((await h.chat.job('!nightly run', 180_000)).result).toMatch(
      /: OK\. 1 volume: 0 full, 1 incremental/,
    );
    expect(await agreement(h.env)).toEqual([]);
    removeVolumeFile(cell, 'ftf.a', 'mid.bin');
  }, 240_000);

  it('a dump that cannot fit is not started, and the answer says what to do', async () => {
    writeVolumeFile(cell, 'ftf.a', 'big.bin', randomBytes(30_000_000));
    const r = await h.chat.job('!dump ftf.a full', 60_000);
    expect(r.result).toMatch(
      /failed: not started: the full dump of ftf\.a needs about \d+ MiB, and the dump store .* has [\d.]+ MiB free .*; free some space/,
    );
    expect(
      readdirSync(join(mnt, 'dumps'), { recursive: true }).filter((f) => String(f).endsWith('.partial')),
    ).toEqual([]);
  }, 120_000);

  it('the database cannot be written either: commands fail saying so, the bot lives on, and works once there is room', async () => {
    const filler = join(mnt, 'filler');
    const jobsBefore = h.bot.services.jobs.list(100).length;
    expect(jobsBefore).toBeGreaterThan(0);
    fillUp(filler);
    try {
      // (a few commands: SQLite first fills the free pages its files already have)
      const cannot = new RegExp(
        `^error: afsbot cannot write its database \\(${join(mnt, 'afsbot.db').replaceAll('.', '\\.')}\\): database or disk is full\\. Nothing was done; free some space on its file system and ask again\\.$`,
      );
      let answer = '';
      for (let i = 0; i < 50 && !cannot.test(answer); i++) answer = await h.chat.type('!ping');
      expect(answer).toMatch(cannot);
      expect(await h.chat.type('!dump ftf.a full')).toMatch(cannot);
      expect(h.bot.services.jobs.list(100)).toHaveLength(jobsBefore); // no job was started
    } finally {
      rmSync(filler, { force: true });
    }
    expect(h.bot.database.db.pragma('integrity_check', { simple: true })).toBe('ok');
    // with room again: answered, and jobs run and are recorded
    expect(await h.chat.type('!ping')).toBe('pong');
    expect((await h.chat.job('!nightly run --dry-run', 60_000)).result).toMatch(/\(dry run\): /);
    expect(h.bot.services.jobs.list(100)).toHaveLength(jobsBefore + 1);
  }, 120_000);
});

/** Writes `path` until its file system has no byte left. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
