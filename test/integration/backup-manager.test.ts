// backup-manager and `afsbot keys`, run as processes the way an admin runs them when chat is down, on
// the real cell, store and archive; and the locks every afsbot process shares through the store.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AuditLog } from '../../bot/chat/audit.ts';
import { Database } from '../../bot/platform/database.ts';
import { sandboxEnv } from '../support/bot-env.ts';
import {
  cellVos,
  freshVolume,
  isGone,
  readVolumeFile,
  removeIfThere,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { repoRoot } from '../support/peers.ts';
import { stoppedAtFault } from '../support/spawned-bot.ts';

const cell = inject('cell');
const dir = mkdtempSync(join(tmpdir(), 'afsbot-bm-'));
const env: Record<string, string> = {
  ...sandboxEnv(cell, dir),
  AFSBOT_TIME_ZONE: 'UTC',
  AFSBOT_NIGHTLY_PREFIXES: 'bm.',
  AFSBOT_ARCHIVE_ENGINE: 'restic', // its keys command manages restic's key slots
};
let today = '';

function bm(args: string[], opts: { env?: Record<string, string>; input?: string } = {}) {
  return execa(join(repoRoot, 'bin/backup-manager'), args, {
    env: { ...env, ...opts.env },
    reject: false,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

beforeAll(async () => {
  await freshVolume(cell, 'bm.a');
  writeVolumeFile(cell, 'bm.a', 'f.txt', 'backup-manager was here\n');
}, 60_000);

afterAll(async () => {
  await removeIfThere(cell, 'bmr.a');
});

describe('backup-manager', () => {
  it('--help, and each command its own', async () => {
    const all = await bm(['--help']);
    expect(all.exitCode).toBe(0);
    expect(all.stdout).toMatch(/^ {2}restore <date> <volume> <newname>$/m);
    const one = await bm(['restore', '--help']);
    expect(one.stdout).toMatch(/^usage: backup-manager restore <date> <volume> <newname>\nRestores a volume/);
    const bad = await bm(['restore', 'today']);
    expect([bad.exitCode, bad.stderr]).toEqual([
      2,
      'usage: backup-manager restore <date> <volume> <newname>',
    ]);
    const unknown = await bm(['frobnicate']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/^backup-manager: "frobnicate" is not a command/);
  });

  it('nightly: the whole run, its report on stdout, exit 0', async () => {
    const r = await bm(['nightly']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    today = /nightly (\d{4}\.\d{2}\.\d{2}): OK\. 1 volume: 1 full/.exec(r.stdout)![1]!;
    expect(r.stdout).toMatch(/added to the archive \(1 snapshot\)/);
  }, 120_000);

  it('list, list <date>, report', async () => {
    expect((await bm(['list'])).stdout).toMatch(
      new RegExp(`^${today.replaceAll('.', '\\.')}: 1 volume, 1 full`),
    );
    expect((await bm(['list', today])).stdout).toMatch(/^bm\.a {2}full, .*\[local \+ archive\]$/);
    expect((await bm(['report'])).stdout).toMatch(new RegExp(`^nightly ${today.replaceAll('.', '\\.')}: OK`));
    const none = await bm(['list', '2001.01.01']);
    expect([none.exitCode, none.stdout]).toEqual([
      1,
      expect.stringMatching(/^error: there are no dumps for 2001\.01\.01/),
    ]);
  });

  it('get <date> <vol> stages the chain; restore <date> <vol> <newname> makes the volume', async () => {
    const g = await bm(['get', today, 'bm.a']);
    expect(g.exitCode).toBe(0);
    const staged = /is in (\S+):/.exec(g.stdout)![1]!;
    expect(readdirSync(staged)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^bm\.a\.full\.\d+\.dump\.zst$/)]),
    );
    const r = await bm(['restore', today, 'bm.a', 'bmr.a']);
    expect(r.exitCode).toBe(0);
    expect(readVolumeFile(cell, 'bmr.a', 'f.txt').toString()).toBe('backup-manager was here\n');
    const again = await bm(['restore', today, 'bm.a', 'bmr.a']);
    expect([again.exitCode, again.stdout]).toEqual([1, expect.stringMatching(/bmr\.a already exists/)]);
  }, 120_000);

  it('never makes a new empty archive where the one it archived to has gone (an unmounted disk)', async () => {
    const repo = env.AFSBOT_ARCHIVE_REPOSITORY!;
    renameSync(repo, `${repo}.away`);
    try {
      const r = await bm(['keys', 'list']);
      expect([r.exitCode, r.stderr]).toEqual([
        1,
        expect.stringMatching(/is not there, but \d+ dumps were archived to it: is its disk mounted/),
      ]);
      expect(existsSync(repo)).toBe(false);
    } finally {
      renameSync(`${repo}.away`, repo);
    }
  });

  it('refuses a user who is not a console admin, and audits it', async () => {
    const r = await bm(['list'], { env: { AFSBOT_ADMINS: 'alice console:alice' } });
    expect([r.exitCode, r.stdout.trim()]).toEqual([1, 'refused: root is not an afsbot admin on console']);
    const store = new Database(env.AFSBOT_DATABASE!);
    const last = new AuditLog(store.db).recent(1)[0]!;
    store.close();
    expect([last.identity, last.text, last.outcome]).toEqual(['root', 'backup list', 'refused']);
  });

  it('keys: list, add for an admin with a password from stdin, remove; never the key in use', async () => {
    const list = await execa(join(repoRoot, 'bin/afsbot'), ['keys', 'list'], { env });
    expect(list.stdout).toMatch(/^\* [0-9a-f]{8} {2}root@/);
    const add = await bm(['keys', 'add', 'alice'], { input: 'alice has a long password\n' });
    expect([add.exitCode, add.stdout]).toEqual([
      0,
      expect.stringMatching(/^added key ([0-9a-f]{8}) for alice@/),
    ]);
    const id = /added key ([0-9a-f]{8})/.exec(add.stdout)![1]!;
    expect((await bm(['keys', 'list'])).stdout).toMatch(new RegExp(`^ {2}${id} {2}alice@`, 'm'));
    const short = await bm(['keys', 'add', 'bob'], { input: 'short\n' });
    expect([short.exitCode, short.stderr]).toEqual([
      1,
      expect.stringMatching(/shorter than 12 characters; nothing was changed/),
    ]);
    const current = /^\* ([0-9a-f]{8})/.exec(list.stdout)![1]!;
    const mine = await bm(['keys', 'remove', current]);
    expect([mine.exitCode, mine.stderr]).toEqual([
      1,
      expect.stringMatching(/is the one afsbot opens the archive with/),
    ]);
    const rm = await bm(['keys', 'remove', id]);
    expect([rm.exitCode, rm.stdout]).toEqual([
      0,
      expect.stringMatching(new RegExp(`^removed key ${id} \\(alice@`)),
    ]);
    expect((await bm(['keys', 'list'])).stdout).not.toMatch(/alice@/);
  }, 120_000);

  it('a volume made after vos backupsys ran is cloned on its own and dumped with the rest', async () => {
    await removeIfThere(cell, 'bm.new');
    // a real nightly run, stopped by its own fault point right after vos backupsys
    const run = spawn(join(repoRoot, 'bin/backup-manager'), ['nightly'], {
      env: { ...process.env, ...env, AFSBOT_FAULT: 'nightly:after-backupsys:stop' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    run.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)));
    try {
      await stoppedAtFault(run, 'the nightly run');
      await freshVolume(cell, 'bm.new'); // an admin's new volume, after the clones were made
      writeVolumeFile(cell, 'bm.new', 'n.txt', 'new\n');
      process.kill(run.pid!, 'SIGCONT');
      expect(await exited, out).toBe(0);
      expect(out).toMatch(/^archive: bm\.new had no clone after vos backupsys; cloned on its own$/m);
      expect(out).toMatch(/: OK\. 2 volumes: /);
      const list = await bm(['list', today]);
      expect(list.stdout).toMatch(/bm\.new/);
    } finally {
      run.kill('SIGKILL');
      await removeIfThere(cell, 'bm.new');
    }
  }, 120_000);

  it('waits for a volume another afsbot process holds, and refuses a nightly run another is doing', async () => {
    // another afsbot process: a real nightly run, stopped (SIGSTOP, by its own fault point) with a dump
    // of bm.a written and not yet named, so it holds bm.a's lock and the archive's
    writeVolumeFile(cell, 'bm.a', 'g.txt', 'a change, so the next night dumps bm.a\n');
    const holder = spawn(join(repoRoot, 'bin/backup-manager'), ['nightly'], {
      env: { ...process.env, ...env, AFSBOT_FAULT: 'dump:before-rename:stop' },
      stdio: 'ignore',
    });
    const store = new Database(env.AFSBOT_DATABASE!);
    try {
      await stoppedAtFault(holder, 'the holder');
      const held = store.db
        .prepare('SELECT name, job_id FROM locks WHERE pid = ? ORDER BY name')
        .all(holder.pid) as {
        name: string;
        job_id: number;
      }[];
      expect(held.map((l) => l.name)).toEqual(['@archive', 'bm.a']);
      const job = held[0]!.job_id;
      const second = await bm(['nightly']);
      expect([second.exitCode, second.stdout.trim()]).toEqual([
        1,
        `error: the nightly run is already going as job ${job}; !job ${job} shows where it is`,
      ]);
      // a restore of bm.a waits for the other process's lock, and runs once that process is gone
      let exited = false;
      let out = '';
      const restore = execa(join(repoRoot, 'bin/backup-manager'), ['restore', today, 'bm.a', 'bmr.b'], {
        env,
        reject: false,
        buffer: false,
      });
      restore.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      void restore.then(() => {
        exited = true;
      });
      // its answer says it waits for the other process's job; then it is still waiting, with nothing made
      const waiting = `it waits for job ${job} of afsbot process ${holder.pid}, which holds bm.a`;
      const said = Date.now() + 60_000;
      while (!out.includes(waiting) && !exited && Date.now() < said)
        await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain(waiting);
      expect(exited).toBe(false);
      expect(await isGone(cellVos(cell), 'bmr.b')).toBe(true);
      holder.kill('SIGKILL');
      const r = await restore;
      expect([r.exitCode, out]).toEqual([0, expect.stringMatching(/is restored into bmr\.b/)]);
      expect(readVolumeFile(cell, 'bmr.b', 'f.txt').toString()).toBe('backup-manager was here\n');
      // the dead process's nightly row is still 'running' (no bot started since to mark it): not a run
      const dry = await bm(['nightly', '--dry-run']);
      expect([dry.exitCode, dry.stdout]).toEqual([0, expect.stringMatching(/\(dry run\): OK\. 1 volume: /)]);
    } finally {
      holder.kill('SIGKILL');
      store.close();
      await removeIfThere(cell, 'bmr.b');
    }
  }, 120_000);
});
