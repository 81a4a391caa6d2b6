// Admins are recognised by services account, never by nick; everything refused is in the audit table.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApprovalsTable } from '../../bot/approvals/table.ts';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { cellVos, freshVolume, removeIfThere, writeVolumeFile } from '../support/cell-tools.ts';
import { IrcUser } from '../support/irc-user.ts';
import { until } from '../support/wait.ts';

const irc = inject('irc');
const cell = inject('cell');
const chan = '#ops-identity';
let h: Harness;
const users: IrcUser[] = [];

async function user(nick: string, account?: 'alice' | 'bob' | 'mallory'): Promise<IrcUser> {
  const u = await IrcUser.inChannel(irc, chan, nick, account);
  users.push(u);
  return u;
}

beforeAll(async () => {
  h = await startIrcBot({ irc, cell, channels: [chan] });
});

afterAll(async () => {
  await Promise.all(users.map((u) => u.quit()));
  await h?.stop();
  await removeIfThere(cell, 'irc.dm');
});

describe('IRC identity and admin commands', () => {
  it('an admin account runs !status and gets the real cell volume count', async () => {
    const alice = await user('alice_admin', 'alice');
    const vos = cellVos(cell);
    const count = async () => {
      const vldb = await vos.listvldb();
      if (!vldb.ok) throw new Error(vldb.message);
      return vldb.entries.length;
    };
    const before = await count();
    expect(before).toBeGreaterThanOrEqual(6); // root.afs, root.cell and the four seeded volumes
    const since = alice.seen.length;
    alice.say(chan, '!status');
    const lines = await alice.waitFor(
      h.nick,
      (m) => m.some((x) => /^database: /.test(x.message)),
      20_000,
      since,
    );
    const after = await count();
    const text = lines.map((l) => l.message).join('\n');
    // the real count, read while other tests may make or remove volumes on the same cell
    const said = new RegExp(
      `AFS cell ${cell.cell.replaceAll('.', '\\.')}: answers, (\\d+) volumes in the VLDB`,
    ).exec(text);
    expect(said, text).not.toBeNull();
    expect(Number(said![1])).toBeGreaterThanOrEqual(Math.min(before, after));
    expect(Number(said![1])).toBeLessThanOrEqual(Math.max(before, after));
    expect(text).toMatch(/^irc: connected \(.* logged in as afsbot\), channels #ops-identity/m);
    expect(text).toMatch(/^afsbot \d+\.\d+\.\d+, up \d+s/m);
  });

  it('whoami shows the account, not the nick', async () => {
    const bob = await user('bob_whoami', 'bob');
    expect(await bob.ask(chan, '!whoami', /you are/)).toBe(
      'you are IRC services account bob (shown as bob_whoami); admin bob',
    );
  });

  it('!help of one command says what it does, who may use it, its usage and an example', async () => {
    const bob = await user('bob_help', 'bob');
    const since = bob.seen.length;
    bob.say(chan, '!help !cancel');
    const lines = await bob.waitFor(
      h.nick,
      (m) => m.some((x) => x.message.startsWith('usage: ')),
      20_000,
      since,
    );
    expect(lines.map((l) => l.message)).toEqual([
      '!cancel: stop a job: its whole pipeline stops, partial output is cleaned up, and it reports what was left (admins only)',
      'usage: !cancel <id> (e.g. !cancel 12)',
    ]);
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

  it('a private reply follows its sender to a new nick, and never reaches whoever took the old one', async () => {
    await freshVolume(cell, 'irc.dm');
    // enough data that the dump outlasts a nick change
    writeVolumeFile(cell, 'irc.dm', 'big.bin', randomBytes(30_000_000));
    // alice shares a channel with the bot: her nick change is seen, and the job's result follows her
    const alice = await user('alice_dm', 'alice');
    alice.say(h.nick, '!dump irc.dm full');
    await alice.waitFor(h.nick, (m) => m.some((x) => /^job \d+ started/.test(x.message)), 15_000);
    alice.client.changeNick('alice_dm2');
    await until('alice as alice_dm2', () => alice.client.user.nick === 'alice_dm2', 10_000);
    const mallory = await IrcUser.connect({ host: irc.host, port: irc.port, nick: 'alice_dm' });
    users.push(mallory);
    const done = await alice.waitFor(
      h.nick,
      (m) => m.some((x) => /^job \d+ \(full dump of irc\.dm\) done/.test(x.message)),
      60_000,
    );
    expect(done.at(-1)!.target).toBe('alice_dm2');
    expect(mallory.seen.filter((x) => x.nick === h.nick)).toEqual([]);
  });

  it('where the nick change cannot be seen (no shared channel), the reply goes nowhere rather than to the new holder', async () => {
    const bob = await IrcUser.connect({
      host: irc.host,
      port: irc.port,
      nick: 'bob_dm',
      sasl: { account: 'bob', password: irc.passwords.bob! },
    });
    users.push(bob);
    bob.say(h.nick, '!dump irc.dm full');
    await bob.waitFor(h.nick, (m) => m.some((x) => /^job \d+ started/.test(x.message)), 15_000);
    bob.client.changeNick('bob_dm2');
    await until('bob as bob_dm2', () => bob.client.user.nick === 'bob_dm2', 10_000);
    const mallory = await IrcUser.connect({ host: irc.host, port: irc.port, nick: 'bob_dm' });
    users.push(mallory);
    const deadline = Date.now() + 60_000;
    while (
      !h.logs().some((l) => l.msg === 'irc: a private reply was not sent: its recipient left that nick')
    ) {
      if (Date.now() > deadline) throw new Error('the job result was never held back');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(mallory.seen.filter((x) => x.nick === h.nick)).toEqual([]);
  });
});
