import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envOverrides, loadConfig } from '../../bot/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'afsbot-config-'));
const file = (name: string, content: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
};

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives safe defaults: no admins, nothing enabled', () => {
    const c = loadConfig({ env: {} });
    expect(c.admins).toEqual({ irc: [], slack: [], console: [] });
    expect(c.irc.enabled).toBe(false);
    expect(c.irc.tls).toBe(true);
    expect(c.prefix).toBe('!');
  });

  it('reads a file and lets the environment override it', () => {
    const f = file('ok.json', {
      irc: { enabled: true, host: 'irc.example.org', port: 6697, channels: ['#ops'] },
    });
    const c = loadConfig({ file: f, env: { AFSBOT_IRC_PORT: '6667', AFSBOT_ADMINS_IRC: 'alice, bob' } });
    expect(c.irc.host).toBe('irc.example.org');
    expect(c.irc.port).toBe(6667);
    expect(c.admins.irc).toEqual(['alice', 'bob']);
  });

  it('names the key, the bad value, where it came from and what is expected', () => {
    const msg = errorOf(() => loadConfig({ env: { AFSBOT_IRC_PORT: 'abc' } }));
    expect(msg).toContain('irc.port = "abc" (from AFSBOT_IRC_PORT)');
    expect(msg).toMatch(/expected number/);
  });

  it('reports every bad key of a file at once', () => {
    const f = file('bad.json', { irc: { port: 70000, channels: ['ops'] }, admins: { slack: ['alice'] } });
    const msg = errorOf(() => loadConfig({ file: f, env: {} }));
    expect(msg).toContain(`irc.port = 70000 (from ${f})`);
    expect(msg).toContain('irc.channels.0 = "ops"');
    expect(msg).toContain('expected an IRC channel name');
    expect(msg).toContain('admins.slack.0 = "alice"');
    expect(msg).toContain('expected a Slack user ID');
  });

  it('rejects unreadable files and bad JSON with what to do', () => {
    expect(errorOf(() => loadConfig({ file: join(dir, 'missing.json'), env: {} }))).toMatch(
      /cannot read the config file .*AFSBOT_CONFIG/,
    );
    expect(errorOf(() => loadConfig({ file: file('x.json', '{ nope'), env: {} }))).toMatch(
      /is not valid JSON/,
    );
    expect(errorOf(() => loadConfig({ file: file('arr.json', '[1]'), env: {} }))).toMatch(
      /top level must be a JSON object/,
    );
  });

  it('wants the SASL password from a file when an account is set', () => {
    const msg = errorOf(() => loadConfig({ env: { AFSBOT_IRC: '1', AFSBOT_IRC_ACCOUNT: 'afsbot' } }));
    expect(msg).toMatch(/irc.passwordFile .*AFSBOT_IRC_PASSWORD_FILE/);
  });

  it('rejects a boolean it cannot read', () => {
    expect(errorOf(() => loadConfig({ env: { AFSBOT_IRC_TLS: 'maybe' } }))).toContain(
      'irc.tls = "maybe" (from AFSBOT_IRC_TLS)',
    );
  });
});

describe('.env.example', () => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  it('documents every environment variable the config reads, and no others', () => {
    const documented = [...example.matchAll(/^#?\s*(AFSBOT_[A-Z_]+)=/gm)].map((m) => m[1]).sort();
    const read = ['AFSBOT_CONFIG', ...envOverrides.map((o) => o.env)].sort();
    expect(documented).toEqual(read);
  });
});
