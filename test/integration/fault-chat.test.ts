// The fault suite, part 3: chat fails, the backups do not. IRC down for a whole nightly run; Slack
// down at start and for a whole run; four strangers flooding the bot with private messages during a
// run. The run takes its usual time, admins' answers stay prompt, and what the run said reaches chat
// once chat is back (in short, not line by line).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listPartials } from '../../actions/dump-store.ts';
import { sandboxEnv } from '../support/bot-env.ts';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { freshVolume, writeVolumeFile } from '../support/cell-tools.ts';
import { catalogRows } from '../support/invariants.ts';
import { IrcUser } from '../support/irc-user.ts';
import { type IrcInfo, ircDown, ircUp, repoRoot } from '../support/peers.ts';
import { SlackFake } from '../support/slack-fake.ts';
import { OPS, startSlackBot } from '../support/slack-harness.ts';
import { descendants } from '../support/spawned-bot.ts';

const cell = inject('cell');
const sharedIrc = inject('irc');
/** A schedule that exists but never fires by itself: the test fires it, as the clock would. */
const someDay = '0 3 1 1 *';

/** Fires the scheduled nightly run and waits for it; returns how long it took, in ms. */
async function scheduledRun(h: { bot: Harness['bot'] }): Promise<number> {
  const t = Date.now();
  const did = await h.bot.services.schedule.fire('nightly');
  expect(did).toMatch(/^started the nightly run as job \d+/);
  await h.bot.services.jobs.drain();
  return Date.now() - t;
}

describe('IRC down for a whole run', () => {
  let irc: IrcInfo;
  let h: Harness;
  beforeAll(async () => {
    irc = await ircUp('faultchat', ['--class', 'default']);
    await freshVolume(cell, 'fci.a');
    writeVolumeFile(cell, 'fci.a', 'a.bin', randomBytes(5_000_000));
    h = await startIrcBot({
      irc,
      cell,
      channels: ['#ops-fc'],
      env: {
        AFSBOT_NIGHTLY_PREFIXES: 'fci.',
        AFSBOT_NIGHTLY_SCHEDULE: someDay,
        AFSBOT_IRC_RECONNECT_MIN_MS: '3000',
        AFSBOT_IRC_RECONNECT_MAX_MS: '4000',
      },
    });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await ircDown('faultchat');
  });

  it('the run finishes in its usual time, and the report reaches the channel once IRC is back', async () => {
    const usual = await scheduledRun(h);
    await execa(join(repoRoot, 'scripts/peers/irc-server.sh'), ['down', '--name', 'faultchat'], {
      stderr: 'inherit',
    });
    writeVolumeFile(cell, 'fci.a', 'b.bin', randomBytes(5_000_000));
    const down = await scheduledRun(h);
    expect(h.adapter.status().connected).toBe(false);
    // no waiting for the chat: within noise of the run with IRC up
    expect(down).toBeLessThan(usual * 2 + 10_000);
    expect(h.bot.services.jobs.list(2)[0]).toMatchObject({ kind: 'nightly', status: 'ok' });
    expect(h.bot.outbox.pending('irc')).toBeGreaterThan(0);

    await ircUp('faultchat', ['--class', 'default']); // the same port and accounts
    const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_fc', '#ops-fc');
    try {
      // the report, in its short IRC form: the verdict, the counts, where the whole text is
      await alice.waitFor(
        h.nick,
        (m) => m.some((x) => /^nightly \d{4}\.\d{2}\.\d{2}: OK$/.test(x.message)),
        60_000,
      );
      // the outbox empties: every line it kept was written (paced, so give it a moment)
      await h.bot.outbox.flush(30_000);
      expect(h.bot.outbox.pending('irc')).toBe(0);
      // and all of it has arrived: the server relays the bot's lines in order, and the answer to a
      // ping asked now comes after them
      expect(await alice.ask('#ops-fc', '!ping', /^pong$/, h.nick, 30_000)).toBe('pong');
      const all = alice
        .from(h.nick)
        .map((m) => m.message)
        .filter((m) => m !== 'pong');
      expect(all).toContainEqual(
        expect.stringMatching(/^the whole report: !nightly report \d{4}\.\d{2}\.\d{2}$/),
      );
      expect(all.length).toBeLessThan(20); // a few lines, not the night replayed
    } finally {
      await alice.quit();
    }
  }, 240_000);
});

describe('Slack down at start and for a whole run', () => {
  const fake = new SlackFake();
  let h: Awaited<ReturnType<typeof startSlackBot>>;
  beforeAll(async () => {
    await fake.start();
    await freshVolume(cell, 'fcs.a');
    writeVolumeFile(cell, 'fcs.a', 'a.txt', 'slack down\n');
    fake.offline = true; // not even auth.test answers
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
    await fake.stop();
  });

  it('the bot starts anyway, the run happens, and Slack gets the report once it is back', async () => {
    const started = Date.now();
    h = await startSlackBot({
      fake,
      cell,
      mode: 'socket',
      env: { AFSBOT_NIGHTLY_PREFIXES: 'fcs.', AFSBOT_NIGHTLY_SCHEDULE: someDay },
    });
    expect(Date.now() - started).toBeLessThan(15_000); // not held by a Slack that does not answer
    expect(h.adapter.status().connected).toBe(false);
    await scheduledRun(h);
    expect(h.bot.services.jobs.list(1)[0]).toMatchObject({ kind: 'nightly', status: 'ok' });
    expect(h.bot.outbox.pending('slack')).toBeGreaterThan(0);
    fake.offline = false;
    const deadline = Date.now() + 90_000;
    const report = () =>
      [...fake.messages.values()].find(
        (m) => m.channel === OPS && /^nightly \d{4}\.\d{2}\.\d{2}: OK/.test(m.text),
      );
    while (!report()) {
      if (Date.now() > deadline) throw new Error('the report never reached Slack');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(h.adapter.status().connected).toBe(true);
  }, 180_000);
});

describe('four strangers flood the bot during a run', () => {
  let h: Harness;
  const strangers: IrcUser[] = [];
  let alice: IrcUser;
  beforeAll(async () => {
    await freshVolume(cell, 'fcf.a');
    writeVolumeFile(cell, 'fcf.a', 'a.bin', randomBytes(20_000_000));
    h = await startIrcBot({
      irc: sharedIrc,
      cell,
      channels: ['#ops-flood2'],
      env: { AFSBOT_NIGHTLY_PREFIXES: 'fcf.', AFSBOT_NIGHTLY_SCHEDULE: someDay },
    });
    alice = await IrcUser.loggedInAs(sharedIrc, 'alice', 'alice_fl2', '#ops-flood2');
    for (let i = 1; i <= 4; i++)
      strangers.push(
        await IrcUser.connect({ host: sharedIrc.host, port: sharedIrc.port, nick: `stranger${i}` }),
      );
  }, 120_000);
  afterAll(async () => {
    for (const u of [alice, ...strangers]) await u?.quit();
    await h?.stop();
  });

  it('the run takes its usual time, an admin is answered promptly, and the strangers get a small budget', async () => {
    const usual = await scheduledRun(h);
    writeVolumeFile(cell, 'fcf.a', 'b.bin', randomBytes(20_000_000));
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        for (const s of strangers) s.say(h.nick, 'help');
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const latencies: number[] = [];
    let pinging = true;
    const pings = (async () => {
      while (pinging) {
        const t = Date.now();
        await alice.ask('#ops-flood2', '!ping', /^pong$/, h.nick, 10_000);
        latencies.push(Date.now() - t);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    // the flood is well under way before the run starts, and goes on for a while after
    await new Promise((r) => setTimeout(r, 5000));
    const flooded = await scheduledRun(h);
    await new Promise((r) => setTimeout(r, 5000));
    flooding = false;
    pinging = false;
    await Promise.all([flood, pings]);
    process.stderr.write(
      `[fault-chat] run ${usual} ms alone, ${flooded} ms under the flood; ping ${latencies.length}x, worst ${Math.max(...latencies)} ms\n`,
    );
    expect(flooded).toBeLessThan(usual * 2 + 10_000);
    expect(latencies.length).toBeGreaterThan(0);
    // an admin's answer never waits behind the strangers' (the server's own fake lag aside)
    expect(Math.max(...latencies)).toBeLessThan(3000);
    // each stranger got a few answers, then silence; every line is in the audit
    const audit = h.bot.services.audit.recent(500).filter((e) => e.name.startsWith('stranger'));
    const refused = audit.filter((e) => e.outcome === 'refused' && /over the budget/.test(e.detail ?? ''));
    expect(refused.length).toBeGreaterThan(0);
    // 3 each at once, then one a minute each
    expect(audit.filter((e) => e.outcome !== 'refused').length).toBeLessThanOrEqual(
      12 + 4 * Math.ceil((flooded + 10_000) / 60_000),
    );
  }, 300_000);
});

describe('SIGTERM while IRC is gone and a job runs', () => {
  let irc: IrcInfo;
  beforeAll(async () => {
    irc = await ircUp('faultstop', ['--class', 'default']);
    await freshVolume(cell, 'fct.big');
    writeVolumeFile(cell, 'fct.big', 'big.bin', randomBytes(60_000_000));
  }, 120_000);
  afterAll(async () => {
    await ircDown('faultstop');
  });

  it('the bot stops within 30 s: the job is cancelled cleanly, unsent lines stay for the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'afsbot-stop-'));
    const pw = join(dir, 'irc-password');
    writeFileSync(pw, `${irc.passwords.afsbot}\n`, { mode: 0o600 });
    const env: Record<string, string> = {
      ...sandboxEnv(cell, dir),
      AFSBOT_ADMINS: 'alice irc:alice',
      AFSBOT_IRC: '1',
      AFSBOT_IRC_HOST: irc.host,
      AFSBOT_IRC_PORT: String(irc.port),
      AFSBOT_IRC_TLS: '0',
      AFSBOT_IRC_NICK: 'afsbot-stop',
      AFSBOT_IRC_ACCOUNT: 'afsbot',
      AFSBOT_IRC_PASSWORD_FILE: pw,
      AFSBOT_IRC_CHANNELS: '#ops-stop',
    };
    const bot = execa(join(repoRoot, 'bin/afsbot'), [], { env, reject: false, forceKillAfterDelay: false });
    const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_stop', '#ops-stop');
    let started = '';
    for (let i = 0; i < 40 && !started; i++)
      started = await alice
        .ask('#ops-stop', '!dump fct.big full', /^job \d+ started/, 'afsbot-stop', 1000)
        .catch(() => '');
    expect(started).toMatch(/^job \d+ started: full dump of fct\.big/);
    await alice.quit();
    // the dump hangs (its vos stopped), and the server goes away: its lines now only wait in the outbox
    let vosDump: number | undefined;
    for (let i = 0; i < 500 && !vosDump; i++) {
      vosDump = descendants(bot.pid!).find((d) => /vos dump -id fct\.big\.backup/.test(d.cmdline))?.pid;
      if (!vosDump) await new Promise((r) => setTimeout(r, 10));
    }
    expect(vosDump).toBeDefined();
    process.kill(vosDump!, 'SIGSTOP');
    await execa(join(repoRoot, 'scripts/peers/irc-server.sh'), ['down', '--name', 'faultstop'], {
      stderr: 'inherit',
    });
    await new Promise((r) => setTimeout(r, 1000));
    const t = Date.now();
    bot.kill('SIGTERM');
    const r = await bot;
    const took = Date.now() - t;
    process.stderr.write(`[fault-chat] stopped ${took} ms after SIGTERM\n`);
    expect(took).toBeLessThan(30_000);
    expect([r.exitCode, r.signal, r.stderr]).toEqual([0, undefined, '']);
    // cancelled cleanly: no dump, no partial; its result waits in the outbox for IRC
    expect(catalogRows(env)).toEqual([]);
    expect(listPartials(env.AFSBOT_DUMP_DIR!)).toEqual([]);
    const { Database } = await import('../../bot/platform/database.ts');
    const db = new Database(env.AFSBOT_DATABASE!);
    try {
      const job = db.db.prepare(`SELECT status FROM jobs ORDER BY id DESC LIMIT 1`).get() as {
        status: string;
      };
      expect(job.status).toBe('cancelled');
      const waiting = db.db.prepare(`SELECT text FROM outbox WHERE backend = 'irc'`).all() as {
        text: string;
      }[];
      expect(waiting.map((w) => w.text)).toContainEqual(
        expect.stringMatching(/^job \d+ \(full dump of fct\.big\) cancelled/),
      );
    } finally {
      db.close();
    }
  }, 120_000);
});
