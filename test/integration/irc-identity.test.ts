// Admins are recognised by services account, never by nick; everything refused is in the audit table.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Vos } from '../../actions/vos.ts';
import { ApprovalsTable } from '../../bot/approvals/table.ts';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';

const irc = inject('irc');
const cell = inject('cell');
const chan = '#ops-identity';
let h: Harness;
const users: IrcUser[] = [];

async function user(nick: string, account?: 'alice' | 'bob' | 'mallory'): Promise<IrcUser> {
  const u = await IrcUser.connect({
    host: irc.host,
    port: irc.port,
    nick,
    ...(account ? { sasl: { account, password: irc.passwords[account]! } } : {}),
  });
  users.push(u);
  await u.join(chan);
  return u;
}

beforeAll(async () => {
  h = await startIrcBot({ irc, cell, channels: [chan] });
});

afterAll(async () => {
  await Promise.all(users.map((u) => u.quit()));
  await h?.stop();
});

describe('IRC identity and admin commands', () => {
  it('an admin account runs !status and gets the real cell volume count', async () => {
    const alice = await user('alice_admin', 'alice');
    const vldb = await new Vos({
      binary: 'vos',
      localauth: true,
      configDir: cell.configDir,
      timeoutMs: 20_000,
    }).listvldb();
    if (!vldb.ok) throw new Error(vldb.message);
    expect(vldb.entries.length).toBeGreaterThanOrEqual(6); // root.afs, root.cell and the four seeded volumes
    const since = alice.seen.length;
    alice.say(chan, '!status');
    const lines = await alice.waitFor(
      h.nick,
      (m) => m.some((x) => /^database: /.test(x.message)),
      20_000,
      since,
    );
    const text = lines.map((l) => l.message).join('\n');
    expect(text).toContain(`AFS cell ${cell.cell}: answers, ${vldb.entries.length} volumes in the VLDB`);
    expect(text).toMatch(/^irc: connected \(.* logged in as afsbot\), channels #ops-identity/m);
    expect(text).toMatch(/^afsbot \d+\.\d+\.\d+, up \d+s/m);
  });

  it('whoami shows the account, not the nick', async () => {
    const bob = await user('bob_whoami', 'bob');
    expect(await bob.ask(chan, '!whoami', /you are/)).toBe(
      'you are IRC services account bob (shown as bob_whoami); admin bob',
    );
  });

  it('refuses the admin nick when it is not logged in, and audits it', async () => {
    const spoof = await user('alice');
    const answer = await spoof.ask(chan, '!audit 5', /^refused/);
    expect(answer).toBe(
      'refused: I cannot verify who you are: the nick alice is not logged in to a services account',
    );
    const entry = h.bot.services.audit.recent(20).find((e) => e.name === 'alice' && e.text === '!audit 5');
    expect(entry).toMatchObject({ backend: 'irc', identity: null, channel: chan, outcome: 'refused' });
    await spoof.quit();
  });

  it('refuses another account holding an admin nick, and audits it', async () => {
    const mallory = await user('bob', 'mallory');
    const answer = await mallory.ask(chan, '!status', /^refused/);
    expect(answer).toBe('refused: mallory is not an afsbot admin on irc');
    const entry = h.bot.services.audit.recent(20).find((e) => e.name === 'bob' && e.text === '!status');
    expect(entry).toMatchObject({ identity: 'mallory', outcome: 'refused' });
    // public commands stay open to everyone
    expect(await mallory.ask(chan, '!ping', /pong/)).toBe('pong');
    await mallory.quit();
  });

  it('an approval is checked like a command: a spoofed nick cannot approve', async () => {
    const approvals = new ApprovalsTable(h.bot.database.db, () => new Date());
    const req = approvals.create({
      command: 'promote',
      args: ['user.alice'],
      backend: 'irc',
      requester: 'alice',
      requesterPerson: 'alice',
      conversation: { id: chan, kind: 'channel' },
      plan: 'Plan: promote user.alice.restored to user.alice.',
      facts: {},
      required: 1,
      ttlMs: 30 * 60_000,
    });
    const spoof = await user('bob');
    expect(await spoof.ask(chan, `!approve ${req.id}`, /^refused/)).toBe(
      'refused: I cannot verify who you are: the nick bob is not logged in to a services account',
    );
    await spoof.quit();
    const mallory = await user('bob', 'mallory');
    expect(await mallory.ask(chan, `!approve ${req.id}`, /^refused/)).toBe(
      'refused: mallory is not an afsbot admin on irc',
    );
    await mallory.quit();
    const alice = await user('alice_self', 'alice');
    expect(await alice.ask(chan, `!approve ${req.id}`, /^refused/)).toBe(
      `refused: you (alice) asked for request ${req.id} yourself, as irc:alice; an admin other than you must approve it`,
    );
    expect(approvals.get(req.id)).toMatchObject({ status: 'pending', approvers: '[]' });
    const refused = h.bot.services.audit.recent(10).filter((e) => e.text === `!approve ${req.id}`);
    expect(refused.map((e) => [e.identity, e.outcome])).toEqual([
      [null, 'refused'],
      ['mallory', 'refused'],
      ['alice', 'refused'],
    ]);
  });

  it('answers in a private message too, and replies there', async () => {
    const alice = await user('alice_pm', 'alice');
    const since = alice.seen.length;
    alice.say(h.nick, 'whoami');
    const msgs = await alice.waitFor(h.nick, (m) => m.length > 0, 15_000, since);
    expect(msgs[0]).toMatchObject({
      target: 'alice_pm',
      message: 'you are IRC services account alice (shown as alice_pm); admin alice',
    });
  });
});
