// End to end: the real program, spawned, with the console adapter on stdin/stdout.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IrcUser } from '../support/irc-user.ts';
import { repoRoot } from '../support/peers.ts';

const cell = inject('cell');
const irc = inject('irc');
const bin = join(repoRoot, 'bin/afsbot');
const me = userInfo().username;

function env(extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'afsbot-e2e-'));
  return { AFSBOT_DATABASE: join(dir, 'afsbot.db'), AFSBOT_LOG_FILE: join(dir, 'afsbot.log'), ...extra };
}

describe('afsbot --console', () => {
  it('answers a scripted session in order and exits 0 at end of input', async () => {
    const r = await execa(bin, ['--console'], {
      input: '!whoami\n!help\n!status\nping\n!audit 3\n',
      env: env({
        AFSBOT_ADMINS: `${me} console:${me}`,
        AFSBOT_AFS_CONFIG_DIR: cell.configDir,
        AFSBOT_AFS_CELL: cell.cell,
      }),
      reject: false,
      timeout: 60_000,
    });
    expect(r.exitCode).toBe(0);
    const out = r.stdout.split('\n');
    expect(out[0]).toBe(`you are unix user ${me}; admin ${me}`);
    expect(out).toContain('!help <command> shows an example.');
    expect(r.stdout).toMatch(
      new RegExp(`AFS cell ${cell.cell.replace('.', '\\.')}: answers, \\d+ volumes in the VLDB`),
    );
    expect(out).toContain('pong');
    expect(r.stdout).toMatch(/#4 .* console .* "ping" ok/);
  });

  it('refuses a 10 KB line and goes on', async () => {
    const long = `!audit ${'9'.repeat(10_240)}`;
    const r = await execa(bin, ['--console'], {
      input: `${long}\n!ping\n`,
      env: env({ AFSBOT_ADMINS: `${me} console:${me}` }),
      timeout: 30_000,
    });
    expect(r.stdout.split('\n')).toEqual([
      `error: that command is ${long.length} characters long; the limit is 1000`,
      'pong',
    ]);
  });

  it('refuses admin commands to a unix user who is not on the list', async () => {
    const r = await execa(bin, ['--console'], {
      input: '!status\n',
      env: env({ AFSBOT_ADMINS: 'someone-else console:someone-else' }),
      timeout: 30_000,
    });
    expect(r.stdout.trim()).toBe(`refused: ${me} is not an afsbot admin on console`);
  });

  it('refuses everything admin-only when no admin list is configured', async () => {
    const r = await execa(bin, ['--console'], { input: '!audit\n', env: env(), timeout: 30_000 });
    expect(r.stdout.trim()).toBe(
      "refused: no admin has a console identity, so admin commands are refused here (add one to a person in the config's admins)",
    );
  });

  it('exits non-zero on a bad config, naming the key, the value and what is expected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'afsbot-e2e-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ irc: { enabled: true, port: 'six' } }));
    const r = await execa(bin, ['--config', file], { env: env(), reject: false, timeout: 30_000 });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      `irc.port = "six" (from ${file}): Invalid input: expected number, received string`,
    );
  });

  it('says which secret file is unreadable and how to fix it', async () => {
    const r = await execa(bin, [], {
      env: env({
        AFSBOT_IRC: '1',
        AFSBOT_IRC_ACCOUNT: 'afsbot',
        AFSBOT_IRC_PASSWORD_FILE: '/nonexistent/pw',
      }),
      reject: false,
      timeout: 30_000,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      'the IRC password file /nonexistent/pw is unreadable (ENOENT): set AFSBOT_IRC_PASSWORD_FILE to a readable file',
    );
  });

  it('refuses a secret file that others can read, and says how to fix it', async () => {
    const pw = join(mkdtempSync(join(tmpdir(), 'afsbot-e2e-')), 'pw');
    writeFileSync(pw, 'pw-7f3e9a\n', { mode: 0o644 });
    const r = await execa(bin, [], {
      env: env({ AFSBOT_IRC: '1', AFSBOT_IRC_ACCOUNT: 'afsbot', AFSBOT_IRC_PASSWORD_FILE: pw }),
      reject: false,
      timeout: 30_000,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(
      `the IRC password file ${pw} can be read by others (mode 644): chmod 600 ${pw}`,
    );
    expect(r.stderr).not.toContain('pw-7f3e9a');
  });
});

describe('the built program and the end of console input', () => {
  // `npm run build` into a directory of its own (under .state/, so node finds node_modules above it)
  const out = join(repoRoot, '.state', `dist-e2e-${process.pid}`);
  beforeAll(async () => {
    await execa('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json', '--outDir', out], {
      cwd: repoRoot,
      timeout: 120_000,
    });
  }, 150_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs compiled to JavaScript, with no TypeScript loader', async () => {
    const r = await execa('node', [join(out, 'bin/afsbot.js'), '--console'], {
      input: '!whoami\n!ping\n',
      env: env({ AFSBOT_ADMINS: `${me} console:${me}` }),
      timeout: 30_000,
    });
    expect(r.stdout.split('\n')).toEqual([`you are unix user ${me}; admin ${me}`, 'pong']);
    expect((await execa('node', [join(out, 'bin/afsbot.js'), '--version'])).stdout).toMatch(
      /^\d+\.\d+\.\d+$/,
    );
  });

  it('with a chat adapter, the end of console input does not stop the bot; --exit-at-eof does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'afsbot-e2e-'));
    const passwordFile = join(dir, 'irc-password');
    writeFileSync(passwordFile, `${irc.passwords.afsbot}\n`, { mode: 0o600 });
    const withIrc = env({
      AFSBOT_ADMINS: `${me} console:${me}`,
      AFSBOT_IRC: '1',
      AFSBOT_IRC_HOST: irc.host,
      AFSBOT_IRC_PORT: String(irc.port),
      AFSBOT_IRC_TLS: '0',
      AFSBOT_IRC_NICK: 'afsbot-eof',
      AFSBOT_IRC_ACCOUNT: 'afsbot',
      AFSBOT_IRC_PASSWORD_FILE: passwordFile,
      AFSBOT_IRC_CHANNELS: '#ops-eof',
    });
    // a service's stdin is /dev/null: the console says nothing, and IRC goes on working
    const bot = execa('node', [join(out, 'bin/afsbot.js'), '--console'], {
      stdin: 'ignore',
      env: withIrc,
      reject: false,
    });
    try {
      const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice_eof', '#ops-eof');
      let pong = '';
      for (let i = 0; i < 40 && !pong; i++)
        pong = await alice.ask('#ops-eof', '!ping', /pong/, 'afsbot-eof', 1000).catch(() => '');
      expect(pong).toBe('pong');
      expect(bot.exitCode).toBeNull();
      await alice.quit();
    } finally {
      bot.kill('SIGTERM');
    }
    expect((await bot).exitCode).toBe(0);
    const once = await execa('node', [join(out, 'bin/afsbot.js'), '--console', '--exit-at-eof'], {
      input: '!ping\n',
      env: withIrc,
      timeout: 30_000,
    });
    expect(once.stdout.trim()).toBe('pong');
  }, 60_000);
});
