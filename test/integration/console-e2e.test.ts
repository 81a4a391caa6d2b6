// End to end: the real program, spawned, with the console adapter on stdin/stdout.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../support/peers.ts';

const cell = inject('cell');
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
        AFSBOT_ADMINS_CONSOLE: me,
        AFSBOT_AFS_CONFIG_DIR: cell.configDir,
        AFSBOT_AFS_CELL: cell.cell,
      }),
      reject: false,
      timeout: 60_000,
    });
    expect(r.exitCode).toBe(0);
    const out = r.stdout.split('\n');
    expect(out[0]).toBe(`you are unix user ${me}; an admin`);
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
      env: env({ AFSBOT_ADMINS_CONSOLE: me }),
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
      env: env({ AFSBOT_ADMINS_CONSOLE: 'someone-else' }),
      timeout: 30_000,
    });
    expect(r.stdout.trim()).toBe(`refused: ${me} is not an afsbot admin on console`);
  });

  it('refuses everything admin-only when no admin list is configured', async () => {
    const r = await execa(bin, ['--console'], { input: '!audit\n', env: env(), timeout: 30_000 });
    expect(r.stdout.trim()).toBe(
      'refused: no admins are configured for console, so admin commands are refused (set admins.console in the config)',
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
});
