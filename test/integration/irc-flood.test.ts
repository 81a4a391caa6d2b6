// A 30-line answer of over 8 KiB under InspIRCd's default connect class (threshold 10, commandrate
// 1000, fakelag on, recvq 8192: sent at once it would be killed with "RecvQ exceeded") arrives in full
// and in order, and the bot is not disconnected for flooding.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';

const irc = inject('irc');
const chan = '#ops-flood';
let h: Harness;
let alice: IrcUser;

beforeAll(async () => {
  // a page of 30 lines: the answer is one page, so that all of it is sent at once
  h = await startIrcBot({ irc, channels: [chan], env: { AFSBOT_CHAT_PAGE_LINES: '30' } });
  alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_flood', chan);
});

afterAll(async () => {
  await alice?.quit();
  await h?.stop();
});

describe('IRC send pacing', () => {
  it('delivers a 30-line answer of over 8 KiB in full, in order, without a disconnect', {
    timeout: 180_000,
  }, async () => {
    // real audit entries with long texts and long refusals, so that "!audit 30" has 30 long lines
    // to show (the audit view cuts a text at 120 characters and a detail at 100)
    for (let i = 0; i < 40; i++) {
      h.bot.services.audit.record({
        backend: 'irc',
        identity: 'bob',
        person: 'bob',
        name: 'bob',
        channel: chan,
        text: `!restore-file user.bob ${`projects/deep/path/${i}/`.repeat(8)}file-${i}.txt`,
        command: 'restore-file',
        outcome: 'refused',
        detail: `${`bob is not an afsbot admin on irc (entry ${i}); `.repeat(3)}ask an admin`,
      });
    }
    const expected = h.bot.services.audit.recent(30).map((e) => `#${e.id} `);

    const since = alice.seen.length;
    const started = Date.now();
    alice.say(chan, '!audit 30');
    const msgs = await alice.waitFor(h.nick, (m) => m.length >= 30, 150_000, since);
    const seconds = (Date.now() - started) / 1000;

    expect(msgs).toHaveLength(30);
    // what makes this a flood: more than the server's recvq of 8192 bytes, had it gone at once
    expect(
      msgs.reduce((n, m) => n + Buffer.byteLength(`PRIVMSG ${chan} :${m.message}\r\n`), 0),
    ).toBeGreaterThan(8192);
    expect(msgs.map((m) => m.message.slice(0, m.message.indexOf(' ') + 1))).toEqual(expected);
    expect(h.logs().filter((l) => l.msg === 'irc connection lost; reconnecting')).toEqual([]);
    expect(h.adapter.status().connected).toBe(true);
    process.stderr.write(`[irc-flood] 30 lines in ${seconds.toFixed(1)} s\n`);
    // and it still answers at once afterwards
    expect(await alice.ask(chan, '!ping', /pong/)).toBe('pong');
  });
});
