// A promote asked for and approved over IRC, end to end on the real IRC server with services and the
// real cell: alice asks, her own approval and an unidentified user on bob's nick are refused, bob (by
// his services account) approves, the promote runs, and the live volume holds the restored content.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import {
  freshVolume,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { IrcUser } from '../support/irc-user.ts';

const irc = inject('irc');
const cell = inject('cell');
const chan = '#ops-promote';
const VOL = 'irc.pv';
let h: Harness;
const users: IrcUser[] = [];

async function user(nick: string, account?: 'alice' | 'bob'): Promise<IrcUser> {
  const u = await IrcUser.inChannel(irc, chan, nick, account);
  users.push(u);
  return u;
}

beforeAll(async () => {
  for (const v of [`${VOL}.restored`]) await removeIfThere(cell, v);
  await freshVolume(cell, VOL);
  writeVolumeFile(cell, VOL, 'notes.txt', 'good\n');
  await nextSecond();
  h = await startIrcBot({ irc, cell, channels: [chan] });
}, 120_000);

afterAll(async () => {
  await Promise.all(users.map((u) => u.quit()));
  await h?.stop();
  for (const v of [`${VOL}.restored`, VOL]) await removeIfThere(cell, v);
});

describe('promote over IRC', () => {
  it('alice asks, bob approves by his account, and the live volume holds the restored content', async () => {
    const alice = await user('alice_pr', 'alice');
    const bob = await user('bob_pr', 'bob');
    const impostor = await user('bob_pr2'); // no services account

    // a dump of the good content, then a bad change, then the good content restored beside it
    expect(await alice.ask(chan, `!dump ${VOL} full`, /done|failed/, IrcUser.bot, 60_000)).toMatch(/done/);
    writeVolumeFile(cell, VOL, 'notes.txt', 'broken\n');
    expect(await alice.ask(chan, `!restore ${VOL}`, /done|failed/, IrcUser.bot, 60_000)).toMatch(
      /restored into irc\.pv\.restored/,
    );

    const plan = await alice.ask(
      chan,
      `!promote ${VOL}`,
      /^Request \d+: nothing happens/,
      IrcUser.bot,
      60_000,
    );
    const id = /^Request (\d+)/.exec(plan)![1]!;
    expect(await alice.ask(chan, `!approve ${id}`, /refused/)).toMatch(
      /refused: you \(alice\) asked for request \d+ yourself/,
    );
    expect(await impostor.ask(chan, `!approve ${id}`, /refused/)).toMatch(/refused: /);
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('broken\n'); // nothing done yet

    const since = bob.seen.length;
    bob.say(chan, `!approve ${id}`);
    const lines = await bob.waitFor(
      IrcUser.bot,
      (m) => m.some((x) => /holds the content of irc\.pv\.restored now|promotion .* failed/.test(x.message)),
      180_000,
      since,
    );
    const text = lines.map((l) => l.message).join('\n');
    expect(text).toMatch(new RegExp(`request ${id} approved by bob`));
    expect(text).toMatch(/irc\.pv holds the content of irc\.pv\.restored now/);
    expect(readVolumeFile(cell, VOL, 'notes.txt').toString()).toBe('good\n');

    // the audit names the persons, not only the nicks
    const audit = h.bot.services.audit.recent(50).filter((a) => a.command === 'approve');
    expect(audit.map((a) => [a.person ?? null, a.outcome])).toEqual(
      expect.arrayContaining([
        ['alice', 'refused'],
        [null, 'refused'],
        ['bob', 'ok'],
      ]),
    );
  }, 300_000);
});
