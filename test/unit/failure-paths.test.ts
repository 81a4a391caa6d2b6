// Failure paths, with the real code: a schedule entry that throws, a bad archive password file or
// archive.runAs, and an approval that loses the claim race or whose plan no longer holds.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Approvals } from '../../bot/approvals/approvals.ts';
import { ApprovalsTable } from '../../bot/approvals/table.ts';
import { Archive, passwordFileProblem } from '../../bot/backup/archive/archive.ts';
import { Catalog } from '../../bot/backup/catalog.ts';
import type { ApprovalDecision } from '../../bot/chat/adapter.ts';
import { Refusal, UserError } from '../../bot/chat/errors.ts';
import { type CommandContext, type CommandSpec, Registry } from '../../bot/chat/registry.ts';
import { Scheduler } from '../../bot/jobs/scheduler.ts';
import { loadConfig } from '../../bot/platform/config.ts';
import { parseCron } from '../../bot/platform/cron.ts';
import { Database } from '../../bot/platform/database.ts';
import { createLogger } from '../../bot/platform/log.ts';

let dir: string;
const open: Database[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'afsbot-failure-'));
});
afterEach(() => {
  for (const db of open.splice(0)) db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A real logger whose lines are kept, parsed. */
function keptLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'info', stream }) };
}

describe('a schedule entry that fails', () => {
  function scheduler() {
    let now = new Date('2026-03-02T02:00:00Z');
    const reports: string[] = [];
    const { lines, log } = keptLog();
    const s = new Scheduler({ clock: () => now, timeZone: 'UTC', log, report: (t) => reports.push(t) });
    s.add({
      name: 'nightly',
      cron: parseCron('0 2 * * *'),
      fire: () => {
        throw new Error('the dump store is full');
      },
    });
    s.add({ name: 'maintenance', cron: parseCron('1 2 * * *'), fire: () => 'started maintenance' });
    return { s, reports, lines, at: (iso: string) => (now = new Date(iso)) };
  }

  it('is reported with its name and error, and logged', async () => {
    const { s, reports, lines } = scheduler();
    const text = 'the schedule could not start nightly: the dump store is full';
    expect(await s.tick()).toEqual([text]);
    expect(reports).toEqual([text]);
    const error = lines.find((l) => l.level === 'error');
    expect(error).toMatchObject({
      msg: 'schedule fire failed',
      schedule: 'nightly',
      error: { message: 'the dump store is full' },
    });
  });

  it('is not retried within its minute, and the scheduler goes on to the next entry', async () => {
    const { s, reports, at } = scheduler();
    await s.tick();
    at('2026-03-02T02:00:40Z');
    expect(await s.tick()).toEqual([]);
    at('2026-03-02T02:01:00Z');
    expect(await s.tick()).toEqual(['started maintenance']);
    expect(reports).toEqual(['the schedule could not start nightly: the dump store is full']);
  });
});

const missing = (f: string) =>
  `the archive password file ${f} does not exist: create it with (umask 077; head -c 32 /dev/urandom | base64 > ${f}) and keep a copy somewhere safe, off this machine`;

describe('the archive password file', () => {
  it('missing: names the file and how to make it', () => {
    const f = join(dir, 'archive.password');
    expect(passwordFileProblem(f)).toBe(missing(f));
  });

  it.each([
    ['644', 0o644],
    ['640', 0o640],
  ])('mode 0%s: can be read by others, with the chmod that fixes it', (shown, mode) => {
    const f = join(dir, 'archive.password');
    writeFileSync(f, 'secret\n');
    chmodSync(f, mode);
    expect(passwordFileProblem(f)).toBe(
      `the archive password file ${f} can be read by others (mode ${shown}): chmod 600 ${f}`,
    );
  });

  it('mode 0600: no problem', () => {
    const f = join(dir, 'archive.password');
    writeFileSync(f, 'secret\n');
    chmodSync(f, 0o600);
    expect(passwordFileProblem(f)).toBeUndefined();
  });
});

describe('Archive.ready refuses before touching the repository', () => {
  function archive(env: Record<string, string>) {
    const config = loadConfig({
      env: {
        AFSBOT_DATABASE: join(dir, 'afsbot.db'),
        AFSBOT_ADMINS: 'alice irc:alice',
        AFSBOT_DUMP_DIR: join(dir, 'dumps'),
        AFSBOT_STAGING_DIR: join(dir, 'staging'),
        AFSBOT_NIGHTLY_SCHEDULE: 'never',
        AFSBOT_MAINTENANCE_SCHEDULE: 'never',
        AFSBOT_METRICS: '0',
        AFSBOT_ARCHIVE_ENGINE: 'borg',
        AFSBOT_ARCHIVE_REPOSITORY: join(dir, 'archive'),
        AFSBOT_ARCHIVE_PASSWORD_FILE: join(dir, 'archive.password'),
        ...env,
      },
    });
    const db = new Database(config.databasePath);
    open.push(db);
    return new Archive({ config, catalog: new Catalog(db.db), log: keptLog().log });
  }

  it('a missing password file is a UserError with its message', async () => {
    const f = join(dir, 'archive.password');
    const err = await archive({})
      .ready()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(missing(f));
  });

  it('archive.runAs naming no user here: says so, and makes nothing', async () => {
    writeFileSync(join(dir, 'archive.password'), 'secret\n', { mode: 0o600 });
    chmodSync(join(dir, 'archive.password'), 0o600);
    const user = 'afsbot-no-such-user';
    const err = await archive({ AFSBOT_ARCHIVE_RUN_AS: user })
      .ready()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      /^archive\.runAs is afsbot-no-such-user, but there is no such user here \(id afsbot-no-such-user: id exited with 1: .*no such user\)$/,
    );
    expect(existsSync(join(dir, 'borg'))).toBe(false); // borg's base directory
    expect(existsSync(join(dir, 'archive'))).toBe(false);
  });
});

describe('approving a destructive command', () => {
  /** What the test command did: who ran it, and how often it was planned. */
  const seen = { ran: [] as (string | null)[], plans: 0 };
  const replies: string[] = [];
  let inWindow: (() => void) | undefined;
  let planFails: string | undefined;
  const zap: CommandSpec<string[], null> = {
    name: 'zap',
    summary: 'removes a volume (test)',
    usage: 'zap <volume>',
    example: 'zap vol.a',
    permission: 'admin',
    // parsing the arguments is the last step before the claim: where another process's decision lands
    args: z
      .array(z.string())
      .min(1)
      .refine(() => {
        const f = inWindow;
        inWindow = undefined;
        f?.();
        return true;
      }),
    destructive: {
      async plan(ctx) {
        seen.plans++;
        if (ctx.approvalId !== undefined && planFails) throw new Error(planFails);
        return { summary: 'zap', lines: ['would remove vol.a'], facts: { volume: 'vol.a' } };
      },
    },
    async run(ctx) {
      seen.ran.push(ctx.person);
    },
  };
  beforeEach(() => {
    seen.ran = [];
    seen.plans = 0;
    replies.length = 0;
    inWindow = undefined;
    planFails = undefined;
  });

  /** The gate of one process (the bot, backup-manager) on its own connection to the one database file. */
  function gate() {
    const db = new Database(join(dir, 'afsbot.db'));
    open.push(db);
    const decided: ApprovalDecision[] = [];
    const clock = () => new Date();
    const approvals = new Approvals<null>({
      table: new ApprovalsTable(db.db, clock),
      registry: new Registry<null>([zap]),
      clock,
      prefix: '!',
      settings: { required: 1, ttlMinutes: 30, breakGlass: false },
      announce: () => {},
      report: () => {},
      decided: (d) => decided.push(d),
    });
    return { approvals, decided, db };
  }

  const ctx = (person: string): CommandContext<null> => ({
    actor: { backend: 'irc', id: person, name: person },
    conversation: { id: '#ops', kind: 'channel' },
    isAdmin: true,
    person,
    ref: 1,
    reply: async (t) => {
      replies.push(t);
    },
    services: null,
  });

  it('two admins at once: one runs it, the other is told it is already being run or decided', async () => {
    const bot = gate();
    const manager = gate();
    await bot.approvals.request(ctx('alice'), zap, ['vol.a'], ['vol.a'], undefined);
    let carol: Promise<void> | undefined;
    inWindow = () => {
      carol = manager.approvals.approve(ctx('carol'), 1);
    };
    const err = await bot.approvals.approve(ctx('bob'), 1).catch((e: unknown) => e);
    await carol;
    expect(err).toBeInstanceOf(Refusal);
    expect((err as Error).message).toBe('request 1 is already being run or decided');
    expect(seen.ran).toEqual(['carol']);
    expect(replies.at(-1)).toBe('request 1 approved by bob, carol; running it');
    expect(bot.approvals.get(1)).toMatchObject({ status: 'approved', decided_by: 'carol' });
    expect(manager.decided.map((d) => d.outcome)).toEqual(['approved']);
    expect(bot.decided).toEqual([]);
  });

  it('a plan that fails at approval time: refused, marked stale, not run', async () => {
    const { approvals, decided } = gate();
    await approvals.request(ctx('alice'), zap, ['vol.a'], ['vol.a'], undefined);
    planFails = 'vol.a is not on any server';
    const err = await approvals.approve(ctx('bob'), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Refusal);
    expect((err as Error).message).toBe(
      'request 1 can no longer run as planned (vol.a is not on any server); ask again for a new plan',
    );
    expect(seen).toEqual({ ran: [], plans: 2 });
    expect(approvals.get(1)).toMatchObject({ status: 'stale', decided_by: 'bob' });
    expect(decided).toMatchObject([{ requestId: 1, outcome: 'stale', by: { backend: 'irc', id: 'bob' } }]);
  });
});
