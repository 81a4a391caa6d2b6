// Identity on an IRC server that does not vouch for senders per message: Debian's ngIRCd linked to
// Atheme (scripts/peers/ngircd.sh). ngIRCd offers no account-tag, no account-notify and no SASL; it
// shows an account only in WHOIS, which answers for whoever holds the nick when the reply is made,
// not for who sent the message. So the bot refuses admin commands there, says why, and audits it,
// even for an admin who identified to NickServ; public commands still work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';
import { type IrcInfo, ngircdDown, ngircdUp } from '../support/peers.ts';

const chan = '#ops-ngircd';
let irc: IrcInfo;
let h: Harness;
const users: IrcUser[] = [];

/** A user on ngIRCd who identified to NickServ as `account` (the only login there is). */
async function identified(nick: string, account: 'alice' | 'bob'): Promise<IrcUser> {
  const u = await IrcUser.connect({ host: irc.host, port: irc.port, nick });
  users.push(u);
  const since = u.seen.length;
  u.say('NickServ', `IDENTIFY ${account} ${irc.passwords[account]}`);
  await u.waitFor('NickServ', (m) => m.some((x) => /You are now identified/.test(x.message)), 20_000, since);
  await u.join(chan);
  return u;
}

beforeAll(async () => {
  irc = await ngircdUp('identity');
  h = await startIrcBot({ irc, channels: [chan], registerTimeoutMs: 5000 });
}, 120_000);

afterAll(async () => {
  await Promise.all(users.map((u) => u.quit()));
  await h?.stop();
  await ngircdDown('identity');
});

describe('IRC identity on ngIRCd (no account-tag)', () => {
  it('the server really shows the account in WHOIS: the bot does not use it', async () => {
    const alice = await identified('alice_ng', 'alice');
    const whois = await new Promise<{ account?: string }>((r) => alice.client.whois('alice_ng', r));
    expect(whois.account).toBe('alice'); // what a WHOIS fallback would have trusted
    expect(h.adapter.status().detail).toMatch(/no account-tag/);
  });

  it('an identified admin is refused admin commands, told why, and it is audited', async () => {
    const alice = users[0]!;
    expect(await alice.ask(chan, '!status', /^refused/, h.nick)).toBe(
      'refused: I cannot verify who you are: this IRC server does not say which services account sent each message (it offers no account-tag capability), so admin commands are refused here; use the console, Slack, or an IRC server with account-tag',
    );
    expect(h.bot.services.audit.recent(1)[0]).toMatchObject({
      backend: 'irc',
      identity: null,
      person: null,
      name: 'alice_ng',
      text: '!status',
      outcome: 'refused',
    });
  });

  it('the nick swap of a WHOIS race gets nothing either: every message is judged by itself', async () => {
    // mallory sends on a nick, then changes it, and alice takes that nick: with a WHOIS after the fact
    // the answer would name alice's account for mallory's command
    const mallory = await IrcUser.connect({ host: irc.host, port: irc.port, nick: 'swap_ng' });
    users.push(mallory);
    await mallory.join(chan);
    const since = mallory.seen.length;
    mallory.say(chan, '!status');
    mallory.client.changeNick('mallory_ng');
    const alice = await identified('alice2_ng', 'alice');
    alice.client.changeNick('swap_ng');
    const answers = await mallory.waitFor(
      h.nick,
      (m) => m.some((x) => /^refused/.test(x.message)),
      20_000,
      since,
    );
    expect(answers.map((a) => a.message)).toEqual([
      expect.stringMatching(/^refused: I cannot verify who you are: this IRC server does not say/),
    ]);
    expect(
      h.bot.services.audit.recent(5).filter((e) => e.outcome !== 'refused' && e.text === '!status'),
    ).toEqual([]);
  });

  it('public commands still work, and whoami says why the sender is not verified', async () => {
    const bob = await identified('bob_ng', 'bob');
    expect(await bob.ask(chan, '!ping', /pong/, h.nick)).toBe('pong');
    expect(await bob.ask(chan, '!whoami', /^you are/, h.nick)).toMatch(
      /^you are bob_ng on irc, not verified \(this IRC server does not say which services account sent each message.*\); not an admin$/,
    );
  });
});
