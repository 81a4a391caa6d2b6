// The IRC server goes away mid-session and comes back: the bot reconnects by itself, logs in again,
// rejoins its channels and answers, within 15 s of the server being back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';
import { type IrcInfo, ircDown, ircRestart, ircUp } from '../support/peers.ts';

const chans = ['#ops-restart', '#backup-reports'];
let irc: IrcInfo;
let h: Harness;

beforeAll(async () => {
  irc = await ircUp('restart', ['--class', 'default']);
  h = await startIrcBot({ irc, channels: chans, env: { AFSBOT_IRC_SEND_BURST: '4' } });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await ircDown('restart');
});

describe('IRC reconnect', () => {
  it('is back in its channels and answering within 15 s after the server restarts', {
    timeout: 90_000,
  }, async () => {
    const before = await IrcUser.connect({
      host: irc.host,
      port: irc.port,
      nick: 'alice_r1',
      sasl: { account: 'alice', password: irc.passwords.alice! },
    });
    await before.join(chans[0]!);
    expect(await before.ask(chans[0]!, '!ping', /pong/)).toBe('pong');

    await ircRestart('restart');
    const back = Date.now();

    const deadline = back + 15_000;
    let answered: string | undefined;
    while (Date.now() < deadline && !answered) {
      try {
        const alice = await IrcUser.connect({
          host: irc.host,
          port: irc.port,
          nick: `alice_r${Date.now() % 1000}`,
          sasl: { account: 'alice', password: irc.passwords.alice! },
        });
        await alice.join(chans[0]!);
        answered = await alice.ask(
          chans[0]!,
          '!whoami',
          /you are/,
          'afsbot',
          Math.max(1000, deadline - Date.now()),
        );
        await alice.quit();
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const took = (Date.now() - back) / 1000;
    process.stderr.write(`[irc-restart] answering again ${took.toFixed(1)} s after the server came back\n`);
    expect(answered).toMatch(/^you are IRC services account alice .*an admin$/);
    expect(h.adapter.status().connected).toBe(true);
    expect(h.adapter.status().channels.sort()).toEqual([...chans].sort());
    // Services relink a moment after the server: the bot then logs in again by itself.
    const loginDeadline = Date.now() + 30_000;
    while (!/logged in as afsbot/.test(h.adapter.status().detail) && Date.now() < loginDeadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(h.adapter.status().detail).toMatch(/logged in as afsbot/);
  });
});
