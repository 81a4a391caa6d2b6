#!/usr/bin/env node
// Helper for scripts/peers/irc-server.sh. Uses only Node built-ins (raw IRC over net),
// so it behaves the same whatever irc-framework version is installed.
//
//   node irc-helper.mjs ports N
//       print N distinct free TCP ports on 127.0.0.1 (one per line), from 20000-32767
//       (below the kernel's ephemeral range, so outgoing connections never take them)
//   node irc-helper.mjs register HOST PORT < accounts     (lines "acct:pass")
//       make sure every account exists with that password: try SASL PLAIN, else
//       /msg NickServ REGISTER <pass> <acct>@example.invalid, then verify by SASL PLAIN.
//       All accounts in parallel. A SASL check ends right after 903/904 (no need to wait
//       for InspIRCd's welcome, which comes on its next one-second tick). Prints "acct existing|registered" per account on stdout.
//   node irc-helper.mjs probe HOST PORT [acct:pass]
//       connect, complete registration (and SASL PLAIN login if given), quit. Exit 0 on success.
//
// Only ever connects to 127.0.0.1 / localhost.

import { randomInt } from 'node:crypto';
import net from 'node:net';
import { registerFromStdin } from './irc-peer-lib.mjs';

const log = (...a) => process.stderr.write(`irc-helper: ${a.join(' ')}\n`);

function assertLocal(host) {
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    throw new Error(`refusing to connect to non-local host ${host}`);
  }
}

async function freePorts(n) {
  const held = [];
  const ports = [];
  try {
    for (let tries = 0; ports.length < n && tries < 500; tries++) {
      const p = randomInt(20000, 32768);
      if (ports.includes(p)) continue;
      const srv = net.createServer();
      const ok = await new Promise((resolve) => {
        srv.once('error', () => resolve(false));
        srv.listen({ port: p, host: '127.0.0.1', exclusive: true }, () => resolve(true));
      });
      if (ok) {
        held.push(srv);
        ports.push(p);
      }
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
  if (ports.length < n) throw new Error('could not find free ports on 127.0.0.1');
  return ports;
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

/**
 * One raw IRC session. opts: host, port, nick, sasl ({account,password}) or null,
 * register ({password,email}) or null, timeoutMs.
 * Resolves {welcome, sasl: 'ok'|'failed'|'unavailable'|null, register: 'registered'|'exists'|text|null, nick}.
 */
function session(opts) {
  assertLocal(opts.host);
  return new Promise((resolve, reject) => {
    const res = { welcome: false, sasl: null, register: null, nick: opts.nick, lines: [] };
    const sock = net.connect({ host: opts.host, port: opts.port });
    let buf = '';
    let finished = false;
    let capDone = false;
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
    const capEnd = () => {
      if (!capDone) {
        capDone = true;
        send('CAP END');
      }
    };
    sock.setEncoding('utf8');
    sock.on('error', (e) => finish(new Error(`connection error: ${e.message}`)));
    sock.on('close', () =>
      finish(new Error(`connection closed (last lines: ${res.lines.slice(-3).join(' | ')})`)),
    );
    sock.on('connect', () => {
      send('CAP LS 302');
      send(`NICK ${opts.nick}`);
      send(`USER ${opts.nick.slice(0, 10)} 0 * :afsbot irc-helper`);
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
    const maybeDone = () => {
      if (!res.welcome) return;
      if (opts.register && res.register === null) return;
      finish();
    };
    function handle(m) {
      const p = m.params;
      switch (m.command) {
        case 'PING':
          send(`PONG :${p[0] ?? ''}`);
          break;
        case 'CAP': {
          const sub = (p[1] || '').toUpperCase();
          if (sub === 'LS') {
            // multi-line LS: "CAP * LS * :caps" then final "CAP * LS :caps"
            const more = p[2] === '*';
            const caps = (more ? p[3] : p[2]) || '';
            res.caps = `${res.caps || ''} ${caps}`;
            if (more) break;
            const hasSasl = /(^|\s)sasl(=|\s|$)/.test(res.caps);
            if (opts.sasl && hasSasl) send('CAP REQ :sasl');
            else {
              if (opts.sasl) res.sasl = 'unavailable';
              capEnd();
            }
          } else if (sub === 'ACK' && /(^|\s)sasl(\s|$)/.test(p[2] || '')) {
            send('AUTHENTICATE PLAIN');
          } else if (sub === 'NAK') {
            res.sasl = 'unavailable';
            capEnd();
          }
          break;
        }
        case 'AUTHENTICATE':
          if (p[0] === '+' && opts.sasl) {
            const { account, password } = opts.sasl;
            send(`AUTHENTICATE ${Buffer.from(`${account}\0${account}\0${password}`).toString('base64')}`);
          }
          break;
        case '903':
          res.sasl = 'ok';
          // logged in: enough for a SASL check, and for registering (the account exists)
          if (opts.saslOnly || opts.register) finish();
          else capEnd();
          break;
        case '902':
        case '904':
        case '905':
        case '906':
        case '908':
          res.sasl = 'failed';
          res.saslText = p.slice(1).join(' ');
          if (opts.saslOnly) finish();
          else capEnd();
          break;
        case '433':
        case '432':
          if (!res.welcome) {
            if (opts.register && res.sasl !== 'ok') {
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
          if (opts.register && res.sasl !== 'ok') {
            send(`PRIVMSG NickServ :REGISTER ${opts.register.password} ${opts.register.email}`);
          } else if (opts.register) {
            res.register = 'exists';
          }
          maybeDone();
          break;
        case 'NOTICE':
          if (opts.register && res.register === null && m.nick.toLowerCase() === 'nickserv') {
            const text = p[1] || '';
            if (/is now registered/i.test(text)) res.register = 'registered';
            else if (/already registered/i.test(text)) res.register = 'exists';
            else if (/invalid|error|not |must|too |cannot|denied|only|wait/i.test(text))
              res.register = `refused: ${text}`;
            maybeDone();
          }
          break;
        case '401':
          if (opts.register && res.register === null && /nickserv/i.test(p[1] || '')) {
            res.register = 'refused: NickServ is not online (services not linked)';
            maybeDone();
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
    sasl: { account, password },
    register: { password, email: `${account}@example.invalid` },
    timeoutMs: 15000,
  });
  if (a.sasl === 'unavailable') throw new Error('server does not offer SASL (services not linked?)');
  if (a.sasl === 'ok') return { account, how: 'existing', ms: Date.now() - t0 };
  if (a.register === 'exists') {
    throw new Error(
      `account '${account}' is already registered with a different password (use 'down --wipe' to start afresh)`,
    );
  }
  if (a.register !== 'registered')
    throw new Error(`NickServ REGISTER for '${account}' failed: ${a.register}`);
  // verify by SASL PLAIN on a fresh connection with a throwaway nick
  let b;
  for (let attempt = 0; ; attempt++) {
    b = await session({
      host,
      port,
      nick: `v${randomInt(1e6, 1e7)}`,
      sasl: { account, password },
      saslOnly: true,
      timeoutMs: 15000,
    });
    if (b.sasl === 'ok' || attempt >= 3) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (b.sasl !== 'ok')
    throw new Error(`registered '${account}' but SASL PLAIN login fails (${b.sasl} ${b.saslText || ''})`);
  return { account, how: 'registered', ms: Date.now() - t0 };
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'ports') {
    const ports = await freePorts(Number(args[0] || 1));
    process.stdout.write(`${ports.join('\n')}\n`);
    return 0;
  }
  if (cmd === 'register')
    return registerFromStdin(args[0], Number(args[1]), ensureAccount, 'SASL PLAIN', log);
  if (cmd === 'probe') {
    const [host, port, cred] = [args[0], Number(args[1]), args[2]];
    let sasl = null;
    if (cred) {
      const i = cred.indexOf(':');
      sasl = { account: cred.slice(0, i), password: cred.slice(i + 1) };
    }
    const r = await session({
      host,
      port,
      nick: `p${randomInt(1e6, 1e7)}`,
      sasl,
      timeoutMs: Number(process.env.PROBE_TIMEOUT_MS || 10000),
    });
    if (sasl && r.sasl !== 'ok') {
      log(`SASL ${r.sasl} ${r.saslText || ''}`);
      return 2;
    }
    return 0;
  }
  log('usage: irc-helper.mjs ports N | register HOST PORT <accounts | probe HOST PORT [acct:pass]');
  return 64;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(e.message);
    process.exit(1);
  },
);
