// The IRC server goes away mid-session and comes back: the bot reconnects by itself, logs in again,
// rejoins its channels and answers. (How soon is printed; on an idle machine it is about a second. The
// bound here is a minute, for a loaded CI machine: this checks that it comes back, not how fast.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';
import { type IrcInfo, ircDown, ircRestart, ircUp } from '../support/peers.ts';

const chans = ['#ops-restart', '#backup-reports'];
let irc: IrcInfo;
let h: Harness;

beforeAll(async () => {
  irc = await ircUp('restart', ['--class', 'default']);
  // NickServ retries from 250 ms (default 2 s, doubling): the login after services relink is what is
  // checked here, not how long the default backoff waits
  h = await startIrcBot({
    irc,
    channels: chans,
    env: { AFSBOT_IRC_SEND_BURST: '4', AFSBOT_IRC_IDENTIFY_RETRY_MS: '250' },
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await ircDown('restart');
});

describe('IRC reconnect', () => {
  it('is back in its channels and answering after the server restarts', {
    timeout: 120_000,
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

    const deadline = back + 60_000;
    let answered: string | undefined;
    let lastError = '';
    let alice: IrcUser | undefined;
    let joined = false;
    while (Date.now() < deadline && !answered) {
      try {
        alice ??= await IrcUser.connect({
          host: irc.host,
          port: irc.port,
          nick: `alice_r${Date.now() % 1000}`,
          sasl: { account: 'alice', password: irc.passwords.alice! },
          // while services relink, a SASL attempt can hang: try again rather than wait it out
          registerTimeoutMs: 3000,
        });
        if (!joined) await alice.join(chans[0]!);
        joined = true;
        // asked again every few seconds: a question asked before the bot is back in the channel is
        // one it never sees (on a loaded machine alice can be back first)
        answered = await alice.ask(chans[0]!, '!whoami', /you are/, h.nick, 3000);
      } catch (err) {
        lastError = (err as Error).message;
        if (!joined) {
          await alice?.quit(); // a connection that did not get in: a new one next time
          alice = undefined;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await alice?.quit();
    const took = (Date.now() - back) / 1000;
    process.stderr.write(`[irc-restart] answering again ${took.toFixed(1)} s after the server came back\n`);
    if (!answered) {
      const log = h
        .logs()
        .slice(-15)
        .map((l) => JSON.stringify(l))
        .join('\n');
      throw new Error(`the bot did not answer within 60 s; last attempt: ${lastError}; its log:\n${log}`);
    }
    expect(answered).toMatch(/^you are IRC services account alice .*admin alice$/);
    expect(h.adapter.status().connected).toBe(true);
    expect(h.adapter.status().channels.sort()).toEqual([...chans].sort());
    // Services relink a moment after the server: the bot then logs in again by itself.
    const loginDeadline = Date.now() + 30_000;
    while (!/logged in as afsbot/.test(h.adapter.status().detail) && Date.now() < loginDeadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(h.adapter.status().detail).toMatch(/logged in as afsbot/);
  });

  it('does not hang when services stop answering SASL, and logs in once they are back', {
    timeout: 90_000,
  }, async () => {
    // A frozen Atheme: the IRC server still offers SASL but nobody answers the exchange, which
    // irc-framework would wait on forever.
    const atheme = Number(readFileSync(join(irc.state, 'atheme.pid'), 'utf8').trim());
    process.kill(atheme, 'SIGSTOP');
    let frozen: Harness | undefined;
    let user: IrcUser | undefined;
    try {
      frozen = await startIrcBot({
        irc,
        channels: ['#ops-frozen'],
        nick: 'afsbot2',
        env: { AFSBOT_IRC_IDENTIFY_RETRY_MS: '250' },
        registerTimeoutMs: 3000,
      });
      expect(
        frozen.logs().some((l) => l.msg === 'irc registration timed out; reconnecting' && l.sasl === true),
      ).toBe(true);
      expect(frozen.adapter.status().detail).toMatch(/not logged in/);
      user = await IrcUser.connect({ host: irc.host, port: irc.port, nick: 'anon_frozen' });
      await user.join('#ops-frozen');
      expect(await user.ask('#ops-frozen', '!ping', /pong/, frozen.nick)).toBe('pong');
    } finally {
      process.kill(atheme, 'SIGCONT');
    }
    const deadline = Date.now() + 45_000;
    while (!/logged in as afsbot/.test(frozen.adapter.status().detail) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(frozen.adapter.status().detail).toMatch(/logged in as afsbot/);
    await user?.quit();
    await frozen.stop();
  });

  it('with services gone and a user on the nick NickServ, the password goes to nobody', {
    timeout: 120_000,
  }, async () => {
    // services die: the nick NickServ is free, and an impostor takes it and listens
    const atheme = Number(readFileSync(join(irc.state, 'atheme.pid'), 'utf8').trim());
    process.kill(atheme, 'SIGKILL');
    let impostor: IrcUser | undefined;
    const deadline = Date.now() + 30_000;
    while (!impostor) {
      const u = await IrcUser.connect({ host: irc.host, port: irc.port, nick: 'NickServ' }).catch(
        () => undefined,
      );
      if (u?.client.user.nick === 'NickServ') impostor = u;
      else await u?.quit();
      if (!impostor && Date.now() > deadline) throw new Error('the nick NickServ never came free');
      if (!impostor) await new Promise((r) => setTimeout(r, 250));
    }
    const bot = await startIrcBot({
      irc,
      channels: ['#ops-impostor'],
      nick: 'afsbot3',
      env: { AFSBOT_IRC_IDENTIFY_RETRY_MS: '250' },
      registerTimeoutMs: 3000,
    });
    try {
      // the first two IDENTIFY attempts come 250 ms and 750 ms after registration
      const tried = Date.now() + 30_000;
      while (
        bot.logs().filter((l) => l.msg === 'irc: not logged in to services; identifying to NickServ').length <
        2
      ) {
        if (Date.now() > tried) throw new Error('the bot never tried to identify');
        await new Promise((r) => setTimeout(r, 200));
      }
      // The server relays one client's lines in order: once the impostor sees the bot's answer to a
      // ping it asked after both attempts, anything those attempts sent it would have arrived first.
      await impostor.join('#ops-impostor');
      expect(await impostor.ask('#ops-impostor', '!ping', /pong/, bot.nick)).toBe('pong');
      const attempts = bot
        .logs()
        .filter((l) => l.msg === 'irc: not logged in to services; identifying to NickServ');
      expect(attempts.every((l) => l.target === `NickServ@${irc.servicesServer}`)).toBe(true);
      // nothing reached the impostor: the server delivers NickServ@<services server> to services alone
      expect(
        impostor.seen.filter((m) => m.nick.toLowerCase().startsWith('afsbot') && !m.target.startsWith('#')),
      ).toEqual([]);
      expect(impostor.seen.some((m) => m.message.includes(irc.passwords.afsbot!))).toBe(false);
      expect(bot.adapter.status().detail).toMatch(/not logged in/);
    } finally {
      await impostor.quit();
      await bot.stop();
      irc = await ircUp('restart', ['--class', 'default']); // services back, for what follows
    }
  });
});
