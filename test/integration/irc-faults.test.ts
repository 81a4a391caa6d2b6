// IRC going wrong at the bot's end, on the real server with services: a wrong SASL password, its nick
// taken, kicked from its channel, and the server unreachable when it starts.
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { describe, expect, inject, it } from 'vitest';
import { startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';
import { until } from '../support/wait.ts';

const irc = inject('irc');

describe('IRC faults', () => {
  it('a wrong SASL password: said once, it runs on without an account, and never offers it to NickServ', async () => {
    const chan = '#ops-badpw';
    // NickServ retries from 250 ms (default 2 s), so that the wait below for one that must not come
    // is short
    const h = await startIrcBot({
      irc,
      channels: [chan],
      saslPassword: 'not-the-password',
      env: { AFSBOT_IRC_IDENTIFY_RETRY_MS: '250' },
    });
    const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_badpw', chan);
    try {
      const failed = await until('the SASL failure in the log', () =>
        h.logs().find((l) => l.msg === 'irc SASL login failed; continuing without an account'),
      );
      expect(failed.reason).not.toBe('capability_missing');
      expect(h.adapter.status().detail).toMatch(/, not logged in/);
      // it still tells who is who: alice is verified by her own account, not by the bot's
      expect(await alice.ask(chan, '!whoami', /you are/)).toBe(
        'you are IRC services account alice (shown as alice_badpw); admin alice',
      );
      // a NickServ IDENTIFY would come 250 ms after registering, a second 500 ms later; a rejected
      // password is never sent again
      await new Promise((r) => setTimeout(r, 1500));
      expect(h.logs().filter((l) => String(l.msg).includes('identifying to NickServ'))).toEqual([]);
      expect(h.logs().filter((l) => l.msg === failed.msg)).toHaveLength(1);
    } finally {
      await alice.quit();
      await h.stop();
    }
  });

  it('its nick taken: it registers under another, joins, and answers there', async () => {
    const chan = '#ops-nickuse';
    const holder = await IrcUser.inChannel(irc, chan, 'afsbot-nickuse');
    const h = await startIrcBot({ irc, channels: [chan], nick: 'afsbot-nickuse' });
    const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_nickuse', chan);
    try {
      const actual = /as (\S+),/.exec(h.adapter.status().detail)![1]!;
      expect(actual).toMatch(/^afsbot-nickuse_\d+$/);
      expect(await alice.ask(chan, '!ping', /pong/, actual)).toBe('pong');
      // nothing was sent to the nick the bot asked for and did not get
      expect(holder.seen.filter((m) => m.target.toLowerCase() === 'afsbot-nickuse')).toEqual([]);
    } finally {
      await alice.quit();
      await holder.quit();
      await h.stop();
    }
  });

  it('kicked from its channel: it joins again by itself and answers there', async () => {
    const chan = '#ops-kicked';
    // the first in a channel is its operator: alice, who can kick
    const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_kick', chan);
    const h = await startIrcBot({ irc, channels: [chan] });
    try {
      alice.client.raw('KICK', chan, h.nick, 'testing the rejoin');
      await until('the kick', () => !h.adapter.status().channels.includes(chan));
      await until('the rejoin', () => h.adapter.status().channels.includes(chan), 30_000);
      expect(await alice.ask(chan, '!ping', /pong/)).toBe('pong');
    } finally {
      await alice.quit();
      await h.stop();
    }
  });

  it('the server unreachable at start: the bot starts anyway, says so, and connects once the server is there', async () => {
    const chan = '#ops-late';
    // a port nobody listens on yet; later a proxy there, in front of the test server
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const started = Date.now();
    const h = await startIrcBot({ irc, channels: [chan], port, noWait: true });
    let proxy: Server | undefined;
    try {
      expect(Date.now() - started).toBeLessThan(20_000); // not held by an IRC that is not there
      expect(h.adapter.status().connected).toBe(false);
      await until('the log line', () =>
        h.logs().find((l) => l.msg === 'irc: first connection failed; the bot runs on and keeps retrying'),
      );
      proxy = createServer((c) => {
        const up = tcpConnect(irc.port, irc.host);
        c.pipe(up).pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
      });
      await new Promise<void>((r) => proxy!.listen(port, '127.0.0.1', r));
      await until('the bot in its channel', () => h.adapter.status().channels.includes(chan), 90_000);
      const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_late', chan);
      try {
        expect(await alice.ask(chan, '!ping', /pong/)).toBe('pong');
      } finally {
        await alice.quit();
      }
    } finally {
      await h.stop();
      proxy?.close();
    }
  }, 120_000);
});
