// A 200-line answer under InspIRCd's default connect class (threshold 10, commandrate 1000, fakelag
// on, recvq 8192) arrives in full and in order, and the bot is not disconnected for flooding.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';

const irc = inject('irc');
const chan = '#ops-flood';
let h: Harness;
let alice: IrcUser;

beforeAll(async () => {
  h = await startIrcBot({ irc, channels: [chan] });
  alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_flood', chan);
});

afterAll(async () => {
  await alice?.quit();
  await h?.stop();
});

describe('IRC send pacing', () => {
  it('delivers a 200-line answer in full, in order, without a disconnect', { timeout: 400_000 }, async () => {
    // 230 real audit entries, so that "!audit 200" has 200 lines to show.
    for (let i = 0; i < 230; i++) {
      h.bot.store.audit({
        backend: 'irc',
        identity: 'bob',
        name: 'bob',
        channel: chan,
        text: `!ping ${i}`,
        command: 'ping',
        outcome: 'ok',
      });
    }
    const expected = h.bot.store.recentAudit(200).map((e) => `#${e.id} `);

    const since = alice.seen.length;
    const started = Date.now();
    alice.say(chan, '!audit 200');
    const msgs = await alice.waitFor('afsbot', (m) => m.length >= 200, 380_000, since);
    const seconds = (Date.now() - started) / 1000;

    expect(msgs).toHaveLength(200);
    expect(msgs.map((m) => m.message.slice(0, m.message.indexOf(' ') + 1))).toEqual(expected);
    expect(h.logs().filter((l) => l.msg === 'irc connection lost; reconnecting')).toEqual([]);
    expect(h.adapter.status().connected).toBe(true);
    process.stderr.write(`[irc-flood] 200 lines in ${seconds.toFixed(1)} s\n`);
    // and it still answers at once afterwards
    expect(await alice.ask(chan, '!ping', /pong/)).toBe('pong');
  });
});
