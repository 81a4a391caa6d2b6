#!/usr/bin/env node
// Helper for scripts/peers/ngircd.sh. Uses only Node built-ins (raw IRC over net). ngIRCd has no SASL
// (its only capability is multi-prefix), so accounts are checked with NickServ IDENTIFY instead.
// (Free ports come from irc-helper.mjs's `ports`.)
//
//   node ngircd-helper.mjs register HOST PORT < accounts     (lines "acct:pass")
//       make sure every account exists with that password: connect as nick <acct>, try
//       /msg NickServ IDENTIFY <acct> <pass>; if the account is unknown, /msg NickServ REGISTER
//       <pass> <acct>@example.invalid, then verify with IDENTIFY from a fresh connection and a
//       throwaway nick. All accounts in parallel. Prints "acct existing|registered" per account.
//   node ngircd-helper.mjs probe HOST PORT [acct:pass]
//       connect, complete registration (and NickServ IDENTIFY if given), quit. Exit 0 on success.
//
// Only ever connects to 127.0.0.1 / localhost.

import { randomInt } from 'node:crypto';
import net from 'node:net';
import { registerFromStdin } from './irc-peer-lib.mjs';

const log = (...a) => process.stderr.write(`ngircd-helper: ${a.join(' ')}\n`);

function assertLocal(host) {
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    throw new Error(`refusing to connect to non-local host ${host}`);
  }
}

function parseLine(raw) {
  let line = raw;
  if (line.startsWith('@')) line = line.slice(line.indexOf(' ') + 1);
  let prefix = '';
  if (line.startsWith(':')) {
    const sp = line.indexOf(' ');
    prefix = line.slice(1, sp);
    line = line.slice(sp + 1);
  }
  const params = [];
  while (line.length) {
    if (line.startsWith(':')) {
      params.push(line.slice(1));
      break;
    }
    const sp = line.indexOf(' ');
    if (sp < 0) {
      params.push(line);
      break;
    }
    params.push(line.slice(0, sp));
    line = line.slice(sp + 1).replace(/^ +/, '');
  }
  const command = (params.shift() || '').toUpperCase();
  return { prefix, nick: prefix.split('!')[0], command, params };
}

// Atheme's NickServ answers (7.2).
const IDENTIFIED = /you are now identified for/i;
const BAD_PASSWORD = /invalid password/i;
const NOT_REGISTERED = /is not registered|is not a registered/i;
const REGISTERED = /is now registered/i;
const ALREADY = /is already registered/i;
const REFUSED = /invalid|error|not |must|too |cannot|denied|only|wait/i;

/**
 * One raw IRC session: registers with the server as opts.nick, then runs opts.steps against NickServ:
 * 'identify' (IDENTIFY account password) and, if the account is unknown and opts.register is set,
 * 'register' (REGISTER password email). Resolves {welcome, identify, register, nick, lines}:
 * identify: 'ok' | 'bad-password' | 'unknown' | text | null; register: 'registered' | 'exists' | text | null.
 */
function session(opts) {
  assertLocal(opts.host);
  return new Promise((resolve, reject) => {
    const res = { welcome: false, identify: null, register: null, nick: opts.nick, lines: [] };
    const sock = net.connect({ host: opts.host, port: opts.port });
    let buf = '';
    let finished = false;
    const send = (l) => sock.write(`${l}\r\n`);
    const finish = (err) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      try {
        send('QUIT :bye');
      } catch {}
      sock.end();
      setTimeout(() => sock.destroy(), 200).unref();
      if (err) reject(err);
      else resolve(res);
    };
    const timer = setTimeout(() => {
      const last = res.lines.slice(-5).join(' | ');
      finish(new Error(`timeout after ${opts.timeoutMs} ms (last lines: ${last || 'none'})`));
    }, opts.timeoutMs);
    sock.setEncoding('utf8');
    sock.on('error', (e) => finish(new Error(`connection error: ${e.message}`)));
    sock.on('close', () =>
      finish(new Error(`connection closed (last lines: ${res.lines.slice(-3).join(' | ')})`)),
    );
    sock.on('connect', () => {
      send(`NICK ${opts.nick}`);
      send(`USER ${opts.nick.slice(0, 10)} 0 * :afsbot ngircd-helper`);
    });
    sock.on('data', (d) => {
      buf += d;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const raw = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
        if (!raw) continue;
        res.lines.push(raw);
        if (res.lines.length > 50) res.lines.shift();
        handle(parseLine(raw));
      }
    });
    function nickservNotice(text) {
      if (res.identify === null && opts.identify) {
        if (IDENTIFIED.test(text)) res.identify = 'ok';
        else if (BAD_PASSWORD.test(text)) res.identify = 'bad-password';
        else if (NOT_REGISTERED.test(text)) res.identify = 'unknown';
        else if (REFUSED.test(text)) res.identify = `refused: ${text}`;
        else return; // some other notice
        if (res.identify === 'unknown' && opts.register) {
          send(`PRIVMSG NickServ :REGISTER ${opts.register.password} ${opts.register.email}`);
          return;
        }
        finish();
      } else if (res.register === null && opts.register) {
        if (REGISTERED.test(text)) res.register = 'registered';
        else if (ALREADY.test(text)) res.register = 'exists';
        else if (REFUSED.test(text)) res.register = `refused: ${text}`;
        else return;
        finish();
      }
    }
    function handle(m) {
      const p = m.params;
      switch (m.command) {
        case 'PING':
          send(`PONG :${p[0] ?? ''}`);
          break;
        case '433':
        case '432':
          if (!res.welcome) {
            if (opts.register) {
              finish(
                new Error(
                  `nick ${opts.nick} unavailable (${m.command} ${p.slice(2).join(' ')}); cannot register it`,
                ),
              );
              return;
            }
            res.nick = `h${randomInt(1e6, 1e7)}`;
            send(`NICK ${res.nick}`);
          }
          break;
        case '001':
          res.welcome = true;
          res.nick = p[0];
          if (opts.identify)
            send(`PRIVMSG NickServ :IDENTIFY ${opts.identify.account} ${opts.identify.password}`);
          else finish();
          break;
        case 'NOTICE':
          // (Atheme puts names in bold, \x02; the phrases matched above contain none)
          if (m.nick.toLowerCase() === 'nickserv') nickservNotice(p[1] || '');
          break;
        case '401':
          if (/nickserv/i.test(p[1] || '')) {
            finish(new Error('NickServ is not online (services not linked)'));
          }
          break;
        case 'ERROR':
          finish(new Error(`server closed the link: ${p.join(' ')}`));
          break;
      }
    }
  });
}

async function ensureAccount(host, port, account, password) {
  const t0 = Date.now();
  if (!/^[A-Za-z[\]\\`^{|}_][A-Za-z0-9[\]\\`^{|}_-]{0,29}$/.test(account)) {
    throw new Error(`invalid account name '${account}' (must be a valid IRC nick)`);
  }
  if (!password || /[\s,]/.test(password)) {
    throw new Error(`invalid password for '${account}' (must be non-empty, no spaces or commas)`);
  }
  const a = await session({
    host,
    port,
    nick: account,
    identify: { account, password },
    register: { password, email: `${account}@example.invalid` },
    timeoutMs: 20000,
  });
  if (a.identify === 'ok') return { account, how: 'existing', ms: Date.now() - t0 };
  if (a.identify === 'bad-password' || a.register === 'exists') {
    throw new Error(
      `account '${account}' is already registered with a different password (use 'down --wipe' to start afresh)`,
    );
  }
  if (a.identify !== 'unknown') throw new Error(`NickServ IDENTIFY for '${account}' failed: ${a.identify}`);
  if (a.register !== 'registered')
    throw new Error(`NickServ REGISTER for '${account}' failed: ${a.register}`);
  // verify with IDENTIFY on a fresh connection with a throwaway nick
  let b;
  for (let attempt = 0; ; attempt++) {
    b = await session({
      host,
      port,
      nick: `v${randomInt(1e6, 1e7)}`,
      identify: { account, password },
      timeoutMs: 20000,
    });
    if (b.identify === 'ok' || attempt >= 3) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (b.identify !== 'ok')
    throw new Error(`registered '${account}' but NickServ IDENTIFY fails (${b.identify})`);
  return { account, how: 'registered', ms: Date.now() - t0 };
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'register')
    return registerFromStdin(args[0], Number(args[1]), ensureAccount, 'NickServ IDENTIFY', log);
  if (cmd === 'probe') {
    const [host, port, cred] = [args[0], Number(args[1]), args[2]];
    let identify = null;
    if (cred) {
      const i = cred.indexOf(':');
      identify = { account: cred.slice(0, i), password: cred.slice(i + 1) };
    }
    const r = await session({
      host,
      port,
      nick: `p${randomInt(1e6, 1e7)}`,
      identify,
      timeoutMs: Number(process.env.PROBE_TIMEOUT_MS || 10000),
    });
    if (identify && r.identify !== 'ok') {
      log(`IDENTIFY ${r.identify}`);
      return 2;
    }
    return 0;
  }
  log('usage: ngircd-helper.mjs register HOST PORT <accounts | probe HOST PORT [acct:pass]');
  return 64;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(e.message);
    process.exit(1);
  },
);
