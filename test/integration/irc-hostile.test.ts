// Hostile input gets a clear error and never crashes the bot.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { IrcUser } from '../support/irc-user.ts';

const irc = inject('irc');
const chan = '#ops-hostile';
let h: Harness;
let alice: IrcUser;

beforeAll(async () => {
  h = await startIrcBot({ irc, channels: [chan] });
  alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_hostile', chan);
});

afterAll(async () => {
  await alice?.quit();
  await h?.stop();
});

/** Waits until what the server sent matches `re` (events, not time: a busy machine is slow). */
async function serverSaid(buf: () => string, re: RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!re.test(buf())) {
    if (Date.now() > deadline) throw new Error(`the server never said ${what}; it said:\n${buf()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Sends raw bytes as a PRIVMSG from a bare TCP client (irc-framework would re-encode them), once it is
 * in the channel; waits for `until` in what the server says after (its ERROR), else for the answer to
 * a PING sent after the line (the server has taken the line by then), and quits.
 */
async function rawPrivmsg(nick: string, payload: Buffer, until?: RegExp): Promise<string> {
  const sock = connect(irc.port, irc.host);
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  let buf = '';
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    const ping = /^PING (.*?)\r?$/m.exec(buf);
    if (ping && !buf.includes(' 001 ')) sock.write(`PONG ${ping[1]}\r\n`);
  });
  sock.write(`NICK ${nick}\r\nUSER ${nick} 0 * :raw\r\n`);
  await serverSaid(() => buf, / 001 /, 'welcome (001)');
  sock.write(`JOIN ${chan}\r\n`);
  await serverSaid(() => buf, new RegExp(` 366 ${nick} ${chan} `), `the end of ${chan}'s names (366)`);
  sock.write(Buffer.concat([Buffer.from(`PRIVMSG ${chan} :`), payload, Buffer.from('\r\n')]));
  if (until) await serverSaid(() => buf, until, String(until));
  else {
    sock.write('PING :taken\r\n');
    await serverSaid(() => buf, /PONG .*:?taken/, 'PONG taken');
  }
  sock.end('QUIT\r\n');
  return buf;
}

describe('hostile input on IRC', () => {
  it('an empty command says what to type', async () => {
    expect(await alice.ask(chan, '!', /^error/)).toBe('error: no command given; try !help');
  });

  it('a 10 KB line: the server drops its sender, the bot carries on', async () => {
    // InspIRCd kills a client whose line overflows its 8 KB receive queue, so 10 KB never reaches the
    // bot over IRC (the console test sends it straight in). The bot must not notice.
    // rawPrivmsg fails unless the server says RecvQ exceeded
    await rawPrivmsg('rawlong', Buffer.from(`!audit ${'9'.repeat(10_240)}`), /RecvQ exceeded/);
    expect(await alice.ask(chan, '!ping', /pong/)).toBe('pong');
  });

  it('a 4 KB line, cut by the server to 512 bytes, gets a clear error', async () => {
    const since = alice.seen.length;
    await rawPrivmsg('rawmid', Buffer.from(`!help ${'x'.repeat(4096)}`));
    const msgs = await alice.waitFor(h.nick, (m) => m.length > 0, 15_000, since);
    // what arrived (the line as the server cut it) is answered clearly, and not echoed whole
    expect(msgs[0]?.message).toMatch(/^error: there is no command "x{20}/);
  });

  it('control characters are refused', async () => {
    expect(await alice.ask(chan, '!status \x02\x0304bold red', /^error/)).toBe(
      'error: that message contains control characters (colours, bold or raw bytes); send plain text',
    );
  });

  it('invalid UTF-8 is refused', async () => {
    const since = alice.seen.length;
    await rawPrivmsg('rawbytes', Buffer.from([0x21, 0x68, 0x65, 0x6c, 0x70, 0x20, 0xff, 0xfe, 0xc3]));
    const msgs = await alice.waitFor(h.nick, (m) => m.some((x) => /UTF-8/.test(x.message)), 15_000, since);
    expect(msgs.find((x) => /UTF-8/.test(x.message))?.message).toBe(
      'error: that message is not valid UTF-8; send plain text',
    );
  });

  it('shell metacharacters are plain text', async () => {
    expect(await alice.ask(chan, '!$(touch /tmp/pwned)', /^error/)).toBe(
      'error: "$(touch" is not a command name; try !help',
    );
    expect(await alice.ask(chan, '!help `id`;rm', /^error/)).toBe(
      'error: "`id`;rm" is not a command name. usage: !help [<command>] (e.g. !help audit)',
    );
  });

  it('is still alive and answering afterwards', async () => {
    expect(await alice.ask(chan, '!ping', /pong/)).toBe('pong');
    const rejected = h.bot.services.audit.recent(50).filter((e) => e.outcome === 'rejected');
    expect(rejected.length).toBeGreaterThanOrEqual(5);
  });
});
