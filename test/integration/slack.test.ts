// The Slack adapter (Bolt) in a real bot on the real cell, against a local fake of Slack's Web API and
// Socket Mode that speaks the documented wire format; then HTTP mode with signed requests; then IRC
// and Slack in one process.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sandboxEnv } from '../support/bot-env.ts';
import { startIrcBot } from '../support/bot-harness.ts';
import { freshVolume, removeIfThere, writeVolumeFile } from '../support/cell-tools.ts';
import { IrcUser } from '../support/irc-user.ts';
import { BOT_USER, type FakeMessage, SlackFake } from '../support/slack-fake.ts';
import {
  ALICE,
  BOB,
  bareSlackAdapter,
  lastTs,
  MALLORY,
  OPS,
  SIGNING_SECRET,
  type SlackHarness,
  slackAdapter,
  startSlackBot,
} from '../support/slack-harness.ts';

const cell = inject('cell');
const irc = inject('irc');

/** Waits for a message the bot posted (or edited into) matching `re`, in `channel`. */
async function posted(
  fake: SlackFake,
  channel: string,
  re: RegExp,
  since = 0,
  timeoutMs = 30_000,
): Promise<FakeMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = [...fake.messages.values()].find(
      (m) => m.channel === channel && Number(m.ts) > since && re.test(m.text),
    );
    if (hit) return hit;
    if (Date.now() > deadline)
      throw new Error(
        `no message matching ${re} in ${channel}; the bot posted:\n${[...fake.messages.values()].map((m) => `${m.channel} ${m.text}`).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The bot's messages in `channel` after `since` matching `re`, counted once everything asked before
 * has been answered: a marker command is asked last, and one channel's posts go out in order.
 */
async function answersBefore(
  fake: SlackFake,
  channel: string,
  since: number,
  re: RegExp,
): Promise<FakeMessage[]> {
  const t = lastTs(fake);
  await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, channel, '!whoami')));
  const marker = await posted(fake, channel, new RegExp(`${ALICE}.*admin`), Math.max(t, since));
  return [...fake.messages.values()].filter(
    (m) =>
      m.channel === channel && Number(m.ts) > since && Number(m.ts) < Number(marker.ts) && re.test(m.text),
  );
}

// channels of their own, so that one test's answers (and Slack's per-channel limit) stay out of another's
const THREADS = 'C0THREADS';
const QUIET = 'C0IGNORED';
const MENTION = 'C0MENTION';
const JOBS = 'C0JOBS001';
const LIMITED = 'C0LIMITED';
const DROPS = 'C0DROPS01';

describe('Slack in Socket Mode', () => {
  const fake = new SlackFake();
  let h: SlackHarness;

  beforeAll(async () => {
    await fake.start();
    fake.join(THREADS, QUIET, MENTION, JOBS, LIMITED, DROPS);
    await freshVolume(cell, 'sl.big');
    writeVolumeFile(cell, 'sl.big', 'a.bin', Buffer.alloc(40 * 1024 * 1024, 7));
    await freshVolume(cell, 'sl.a');
    writeVolumeFile(cell, 'sl.a', 'f.txt', 'before\n');
    h = await startSlackBot({ fake, cell, mode: 'socket', env: { AFSBOT_NIGHTLY_PREFIXES: 'sl.' } });
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
    await fake.stop();
    for (const v of ['sl.a.restored', 'sl.a']) await removeIfThere(cell, v);
  });

  it('answers a channel message, a mention, a direct message and the slash command; envelopes are acknowledged', async () => {
    const before = fake.acks.length;
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, OPS, '!ping')));
    await posted(fake, OPS, /^pong/);
    await fake.envelope(
      'events_api',
      fake.eventBody({ ...fake.message(ALICE, OPS, `<@${BOT_USER}> whoami`), type: 'app_mention' }),
    );
    await posted(fake, OPS, new RegExp(`${ALICE}.*admin`));
    const dm = fake.im(BOB);
    await fake.envelope('events_api', fake.eventBody(fake.message(BOB, dm, 'whoami')));
    await posted(fake, dm, new RegExp(`${BOB}.*admin`));
    const t = lastTs(fake);
    await fake.envelope('slash_commands', fake.slashCommand(ALICE, OPS, 'backup list'));
    await posted(fake, OPS, /the catalog is empty|^\d{4}\.\d{2}\.\d{2}: /, t);
    expect(fake.acks.length - before).toBe(4);
    // every call carried the bot token
    expect(new Set(fake.calls.map((c) => c.token))).toEqual(
      new Set(['xoxb-fake-bot-token', 'xapp-fake-app-token']),
    );
  });

  it('answers in the thread a command was typed in; a thread reply sent to the channel too and a message with a file are commands, an edit is not', async () => {
    const thread = `${Math.floor(Date.now() / 1000)}.000042`;
    const t = lastTs(fake);
    await fake.envelope(
      'events_api',
      fake.eventBody(fake.message(ALICE, THREADS, '!ping', { thread_ts: thread })),
    );
    expect((await posted(fake, THREADS, /^pong/, t)).thread_ts).toBe(thread);
    const t2 = lastTs(fake);
    await fake.envelope(
      'events_api',
      fake.eventBody(
        fake.message(ALICE, THREADS, '!whoami', { subtype: 'thread_broadcast', thread_ts: thread }),
      ),
    );
    expect((await posted(fake, THREADS, new RegExp(`${ALICE}.*admin`), t2)).thread_ts).toBe(thread);
    const t3 = lastTs(fake);
    // an edit of an old message that now reads like a command: Slack sends it as message_changed
    await fake.envelope(
      'events_api',
      fake.eventBody({
        type: 'message',
        subtype: 'message_changed',
        channel: THREADS,
        ts: `${Date.now() / 1000}`,
        message: { type: 'message', user: ALICE, text: '!whoami', ts: '1.000001' },
      }),
    );
    await fake.envelope(
      'events_api',
      fake.eventBody(
        fake.message(ALICE, THREADS, '!ping', {
          subtype: 'file_share',
          files: [{ id: 'F0FAKE1', name: 'log.txt' }],
        }),
      ),
    );
    const pong = await posted(fake, THREADS, /^pong/, t3);
    expect(pong.thread_ts).toBeUndefined();
    // the edit was answered by nothing: the only answer since is the pong
    expect(
      [...fake.messages.values()]
        .filter((m) => m.channel === THREADS && Number(m.ts) > t3)
        .map((m) => m.text),
    ).toEqual([pong.text]);
  });

  it('refuses a non-admin, and a non-admin whose display name is an admin\u2019s; both audited', async () => {
    const t = lastTs(fake);
    await fake.envelope('events_api', fake.eventBody(fake.message(MALLORY, OPS, '!backup list')));
    await posted(fake, OPS, new RegExp(`^refused: ${MALLORY} is not an afsbot admin on slack`), t);
    const t2 = lastTs(fake);
    await fake.envelope(
      'events_api',
      fake.eventBody(
        fake.message(MALLORY, OPS, '!backup list', {
          username: 'alice',
          user_profile: { display_name: 'alice', real_name: ALICE, name: 'alice' },
        }),
      ),
    );
    // the answer to the spoof itself: refused by the user ID, whatever the display name says
    await posted(fake, OPS, new RegExp(`^refused: ${MALLORY} is not an afsbot admin on slack`), t2);
    const audit = h.bot.services.audit.recent(2);
    expect(audit.map((a) => [a.identity, a.outcome])).toEqual([
      [MALLORY, 'refused'],
      [MALLORY, 'refused'],
    ]);
  });

  it('ignores bots (itself too), edits and replays', async () => {
    const t = lastTs(fake);
    const ping = fake.message(ALICE, QUIET, '!ping');
    const body = fake.eventBody(ping);
    await fake.envelope('events_api', body);
    await fake.envelope('events_api', body); // a replay of the same event
    await fake.envelope('events_api', fake.eventBody(ping)); // same message, another event id
    await fake.envelope('events_api', fake.eventBody({ ...ping, type: 'app_mention' })); // and as a mention
    await fake.envelope(
      'events_api',
      fake.eventBody({ ...fake.message(ALICE, QUIET, '!ping'), bot_id: 'B0OTHER01', subtype: 'bot_message' }),
    );
    await fake.envelope(
      'events_api',
      fake.eventBody({ ...fake.message(BOT_USER, QUIET, '!ping'), bot_id: 'B0FAKE001' }),
    );
    await fake.envelope(
      'events_api',
      fake.eventBody({
        type: 'message',
        subtype: 'message_changed',
        channel: QUIET,
        message: { user: ALICE, text: '!ping' },
        ts: '1.2',
      }),
    );
    expect(await answersBefore(fake, QUIET, t, /^pong/)).toHaveLength(1);
  });

  it('a mention inside a channel message (Slack sends it as a message and as an app_mention) is answered once', async () => {
    const t = lastTs(fake);
    const said = fake.message(BOB, MENTION, `<@${BOT_USER}> ping`);
    await fake.envelope('events_api', fake.eventBody(said));
    await fake.envelope('events_api', fake.eventBody({ ...said, type: 'app_mention' }));
    expect(await answersBefore(fake, MENTION, t, /^pong/)).toHaveLength(1);
  });

  it('a job is one message, edited in place no more often than configured, with its result in the thread', async () => {
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, JOBS, '!dump sl.big full')));
    const job = await posted(fake, JOBS, /^job \d+ started: /);
    const id = /^job (\d+)/.exec(job.text)![1];
    const done = await posted(fake, JOBS, new RegExp(`^job ${id} \\(.*\\) done: `), 0, 120_000);
    expect(done.thread_ts).toBe(job.ts);
    await new Promise((r) => setTimeout(r, 300));
    const edits = job.edits;
    expect(edits.at(-1)!.text).toMatch(new RegExp(`^✅ job ${id} started: `));
    expect(edits.length).toBeGreaterThanOrEqual(2); // progress, then the final state
    // only the one message outside the thread for this job
    expect(
      [...fake.messages.values()].filter(
        (m) => m.channel === JOBS && !m.thread_ts && m.text.includes(`job ${id}`),
      ),
    ).toHaveLength(1);
  }, 180_000);

  it('Approve by the requester is refused, by a non-admin too, by another admin it runs the promote', async () => {
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, OPS, '!dump sl.a full')));
    await posted(fake, OPS, /^job \d+ \(full dump of sl\.a\) done/, 0, 60_000);
    writeVolumeFile(cell, 'sl.a', 'f.txt', 'after\n');
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, OPS, '!restore sl.a')));
    await posted(fake, OPS, /^job \d+ \(restore sl\.a .*\) done/, 0, 60_000);
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, OPS, '!promote sl.a')));
    const request = await posted(fake, OPS, /Request \d+: nothing happens until/);
    const rid = /Request (\d+)/.exec(request.text)![1]!;
    const actions = (request.blocks as { type: string; elements?: { action_id: string }[] }[]).find(
      (b) => b.type === 'actions',
    );
    expect(actions?.elements?.map((e) => e.action_id)).toEqual(['afsbot_approve', 'afsbot_deny']);

    await fake.envelope('interactive', fake.blockAction(ALICE, request, 'afsbot_approve', rid));
    const self = await posted(
      fake,
      OPS,
      /^refused: you \(alice\) asked for request \d+ yourself, as slack:U/,
    );
    expect(self.thread_ts).toBe(request.ts);
    const beforeMallory = lastTs(fake);
    await fake.envelope('interactive', fake.blockAction(MALLORY, request, 'afsbot_approve', rid));
    const refusedMallory = await posted(
      fake,
      OPS,
      new RegExp(`^refused: ${MALLORY} is not an afsbot admin on slack`),
      beforeMallory,
    );
    expect(refusedMallory.thread_ts).toBe(request.ts);
    expect(request.edits).toHaveLength(0); // the buttons are still there

    await fake.envelope('interactive', fake.blockAction(BOB, request, 'afsbot_approve', rid));
    await posted(fake, OPS, /^job \d+ \(promote sl\.a.*\) done/, 0, 120_000);
    const last = request.edits.at(-1)!;
    expect(last.text).toMatch(new RegExp(`✅ Approved by <@${BOB}> at \\d{2}:\\d{2} UTC$`));
    expect((last.blocks as { type: string }[]).some((b) => b.type === 'actions')).toBe(false);
    expect(
      h.bot.services.audit
        .recent(5)
        .some((a) => a.identity === BOB && a.text === `!approve ${rid}` && a.outcome === 'ok'),
    ).toBe(true);

    // a request denied by a typed !deny loses its buttons too (the restored copy is still there: a
    // promote leaves it for the admins to discard)
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, OPS, '!promote sl.a')));
    const second = await posted(fake, OPS, /Request \d+: nothing happens until/, Number(request.ts));
    const rid2 = /Request (\d+)/.exec(second.text)![1]!;
    await fake.envelope('events_api', fake.eventBody(fake.message(BOB, OPS, `!deny ${rid2} not today`)));
    await posted(fake, OPS, new RegExp(`^request ${rid2} .* denied by bob: not today`));
    for (let i = 0; i < 100 && second.edits.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(second.edits.at(-1)!.text).toMatch(
      new RegExp(`❌ Denied by <@${BOB}> at \\d{2}:\\d{2} UTC: not today$`),
    );
    expect((second.edits.at(-1)!.blocks as { type: string }[]).some((b) => b.type === 'actions')).toBe(false);
  }, 240_000);

  it('the nightly report goes to the report channel as blocks, with the whole text in its thread', async () => {
    const t = lastTs(fake);
    await fake.envelope('events_api', fake.eventBody(fake.message(BOB, fake.im(BOB), 'nightly run')));
    const report = await posted(fake, OPS, /^nightly \d{4}\.\d{2}\.\d{2}: OK/, t, 120_000);
    const blocks = report.blocks as { type: string; text?: { text: string }; fields?: { text: string }[] }[];
    expect(blocks[0]).toMatchObject({
      type: 'header',
      text: { text: expect.stringMatching(/^✅ nightly \d{4}\.\d{2}\.\d{2}: OK$/) },
    });
    expect(blocks[1]!.fields!.map((f) => f.text)).toEqual(
      expect.arrayContaining(['*failed*\n0', expect.stringMatching(/^\*volumes\*\n\d+$/)]),
    );
    const threadText = () =>
      [...fake.messages.values()]
        .filter((m) => m.thread_ts === report.ts)
        .map((m) => m.text)
        .join('\n');
    for (let i = 0; i < 100 && !/archived per night/.test(threadText()); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(threadText()).toMatch(/^nightly .*: OK\. \d+ volumes?: [\s\S]*^archived per night, last 1: /m);
  }, 180_000);

  it('a 429 on chat.postMessage delays the message as Retry-After says, and it arrives', async () => {
    fake.rateLimit('chat.postMessage', 1, 2);
    const t = lastTs(fake);
    const asked = Date.now();
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, LIMITED, '!ping')));
    await posted(fake, LIMITED, /^pong/, t);
    expect(Date.now() - asked).toBeGreaterThanOrEqual(2000);
  });

  it('after the socket drops it reconnects by itself; what was said meanwhile arrives after, in order', async () => {
    const before = fake.connections;
    const t = lastTs(fake);
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, DROPS, '!dump sl.big full')));
    fake.offline = true; // no Web API either: nothing can be posted
    const cut = fake.cutOff.length;
    fake.dropSockets();
    // the network stays down until the bot has tried to reconnect and been cut off
    const tried = Date.now() + 60_000;
    while (!fake.cutOff.slice(cut).includes('apps.connections.open')) {
      if (Date.now() > tried) throw new Error('the bot never tried to reconnect');
      await new Promise((r) => setTimeout(r, 50));
    }
    fake.offline = false;
    const deadline = Date.now() + 60_000;
    while (fake.connections === before) {
      if (Date.now() > deadline) throw new Error('the bot did not reconnect');
      await new Promise((r) => setTimeout(r, 100));
    }
    await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, DROPS, '!ping')));
    const pong = await posted(fake, DROPS, /^pong/, t, 60_000);
    const started = await posted(fake, DROPS, /^job \d+ started: full dump of sl\.big/, t);
    const id = /^job (\d+)/.exec(started.text)![1];
    const done = await posted(fake, DROPS, new RegExp(`^job ${id} \\(.*\\) done`), t, 120_000);
    expect(Number(started.ts)).toBeLessThan(Number(done.ts));
    expect(Number(started.ts)).toBeLessThan(Number(pong.ts));
  }, 180_000);
});

describe('Slack progress pacing', () => {
  it('edits a job message at most once per interval, the newest numbers winning, and never loses the final state', async () => {
    const fake = new SlackFake();
    await fake.start();
    fake.join(OPS);
    const adapter = bareSlackAdapter(fake, { progressIntervalMs: 500 });
    try {
      await adapter.start(async () => {});
      const to = { id: OPS, kind: 'channel' as const };
      await adapter.send(to, 'job 77 started: restore user.alice', { kind: 'job-started', jobId: 77 });
      const msg = await posted(fake, OPS, /^job 77 started/);
      const began = Date.now();
      for (let i = 1; i <= 30; i++) {
        adapter.progress(to, {
          jobId: 77,
          title: 'restore user.alice',
          phase: 'restoring',
          bytes: i * 1_000_000,
          total: 30_000_000,
          rate: 1e6,
          final: false,
        });
        await new Promise((r) => setTimeout(r, 100));
      }
      // the newest numbers (the 30th update's) arrive in a last edit at most an interval later
      const newest = /▓{10} restoring 99% /;
      const deadline = Date.now() + 10_000;
      while (!newest.test(msg.edits.at(-1)?.text ?? '')) {
        if (Date.now() > deadline)
          throw new Error(`no edit with the newest numbers: ${msg.edits.at(-1)?.text}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const elapsed = Date.now() - began; // about 3.5 s, more on a busy machine: the bound follows the clock
      const edits = msg.edits;
      expect(edits.length).toBeGreaterThanOrEqual(2);
      expect(edits.length).toBeLessThanOrEqual(Math.ceil(elapsed / 500) + 1);
      const gaps = edits.slice(1).map((e, i) => e.at - edits[i]!.at);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(450);
      expect(edits.at(-1)!.text).toMatch(/▓{10} restoring 99% /); // the 30th numbers, not an older one
      await adapter.send(to, 'job 77 (restore user.alice) done: restored', {
        kind: 'job',
        jobId: 77,
        final: 'ok',
      });
      expect(msg.edits.at(-1)!.text).toMatch(/^✅ job 77 started: restore user\.alice\ndone: restored$/);
    } finally {
      await adapter.stop();
      await fake.stop();
    }
  });
});

describe('Slack over HTTP (Events API), every request signed', () => {
  const fake = new SlackFake();
  let h: SlackHarness;
  let url = '';

  beforeAll(async () => {
    await fake.start();
    h = await startSlackBot({ fake, cell, mode: 'http' });
    url = `http://127.0.0.1:${h.adapter.httpPort}/slack/events`;
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await fake.stop();
  });

  const event = (text: string) => JSON.stringify(fake.eventBody(fake.message(ALICE, OPS, text)));

  it('runs a correctly signed command', async () => {
    expect(await fake.postSigned(url, event('!ping'), 'application/json', SIGNING_SECRET)).toBe(200);
    await posted(fake, OPS, /^pong/);
  });

  it('runs nothing for a bad signature, a stale timestamp, or a replay', async () => {
    const t = lastTs(fake);
    expect(
      await fake.postSigned(url, event('!ping'), 'application/json', SIGNING_SECRET, { badSignature: true }),
    ).toBe(401);
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    expect(
      await fake.postSigned(url, event('!ping'), 'application/json', SIGNING_SECRET, { timestamp: stale }),
    ).toBe(401);
    const once = event('!whoami');
    expect(await fake.postSigned(url, once, 'application/json', SIGNING_SECRET)).toBe(200);
    expect(await fake.postSigned(url, once, 'application/json', SIGNING_SECRET)).toBe(200); // Slack's retry, or a replay
    // a marker asked last: one channel's answers go out in order, so all before it are in by then
    expect(await fake.postSigned(url, event('!jobs'), 'application/json', SIGNING_SECRET)).toBe(200);
    const marker = await posted(fake, OPS, /^no jobs|^job \d+/, t);
    const answers = [...fake.messages.values()].filter(
      (m) => Number(m.ts) > t && Number(m.ts) < Number(marker.ts),
    );
    expect(answers.map((m) => m.text)).toEqual([`you are Slack user ${ALICE}; admin alice`]);
    expect(h.bot.services.audit.recent(5).filter((a) => a.text === '!ping')).toHaveLength(1); // only the first test's
  });
});

describe('IRC and Slack in one bot', () => {
  const fake = new SlackFake();

  it('a job started on one reports where it was started', async () => {
    await fake.start();
    fake.join(OPS);
    const h = await startIrcBot({
      irc,
      cell,
      channels: ['#both'],
      env: {
        ...sandboxEnv(cell, mkdtempSync(join(tmpdir(), 'afsbot-both-'))),
        AFSBOT_ADMINS: `alice irc:alice slack:${ALICE}`,
        AFSBOT_SLACK_REPORT_CHANNELS: OPS,
      },
      also: (config, log) => [slackAdapter(config, log, fake, 'socket')],
    });
    const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_both', '#both');
    try {
      const ircDone = await alice.ask(
        '#both',
        '!dump user.bob full',
        /^job \d+ \(full dump of user\.bob\) done/,
        IrcUser.bot,
        60_000,
      );
      await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, OPS, '!dump user.alice full')));
      await posted(fake, OPS, /^job \d+ \(full dump of user\.alice\) done/, 0, 60_000);
      // each result only where its job was asked for
      expect([...fake.messages.values()].some((m) => /full dump of user\.bob\) done/.test(m.text))).toBe(
        false,
      );
      expect(alice.seen.some((l) => /full dump of user\.alice\) done/.test(l.message))).toBe(false);
      expect(ircDone).toMatch(/done: full dump of user\.bob/);

      // one person, two identities: alice asks on IRC and cannot approve from her Slack ID
      await alice.ask('#both', '!restore user.bob as ub.both', /^job \d+ \(.*\) done/, IrcUser.bot, 60_000);
      const plan = await alice.ask('#both', '!promote user.bob from ub.both', /Request \d+: /, IrcUser.bot);
      const id = Number(/Request (\d+): /.exec(plan)![1]);
      const since = lastTs(fake);
      await fake.envelope('events_api', fake.eventBody(fake.message(ALICE, OPS, `!approve ${id}`)));
      const refused = await posted(fake, OPS, /^refused: /, since);
      expect(refused.text).toBe(
        `refused: you (alice) asked for request ${id} yourself, as irc:alice; an admin other than you must approve it`,
      );
      expect(h.bot.services.approvals.get(id)).toMatchObject({ status: 'pending', approvers: '[]' });
      expect(h.bot.services.audit.recent(1)[0]).toMatchObject({
        backend: 'slack',
        identity: ALICE,
        person: 'alice',
        outcome: 'refused',
      });
    } finally {
      await alice.quit();
      await h.stop();
      await fake.stop();
      await removeIfThere(cell, 'ub.both');
    }
  }, 180_000);
});
