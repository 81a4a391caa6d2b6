import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envExample, envOverrides, loadConfig } from '../../bot/platform/config.ts';

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
    expect(c.admins).toEqual([]);
    expect(c.irc.enabled).toBe(false);
    expect(c.irc.tls).toBe(true);
    expect(c.prefix).toBe('!');
  });

  it('reads a file and lets the environment override it', () => {
    const f = file('ok.json', {
      irc: { enabled: true, host: 'irc.example.org', port: 6697, channels: ['#ops'] },
    });
    const c = loadConfig({
      file: f,
      env: {
        AFSBOT_IRC_PORT: '6667',
        AFSBOT_ADMINS: 'alice irc:alice slack:U024BE7LH console:al; bob irc:bob',
      },
    });
    expect(c.irc.host).toBe('irc.example.org');
    expect(c.irc.port).toBe(6667);
    expect(c.admins).toEqual([
      { name: 'alice', irc: ['alice'], slack: ['U024BE7LH'], console: ['al'] },
      { name: 'bob', irc: ['bob'], slack: [], console: [] },
    ]);
  });

  it("admins are persons: an identity is one person's, a person has one", () => {
    const f = file('persons.json', {
      admins: [
        { name: 'alice', irc: ['alice'] },
        { name: 'bob', irc: ['alice'] },
        { name: 'carol' },
        { name: 'alice', console: ['x'] },
      ],
    });
    const msg = errorOf(() => loadConfig({ file: f, env: {} }));
    expect(msg).toContain('irc:alice belongs to both alice and bob');
    expect(msg).toMatch(/admins\.2 = .*a person needs at least one identity/);
    expect(msg).toContain('alice is listed twice');
    expect(errorOf(() => loadConfig({ env: { AFSBOT_ADMINS: 'alice alice' } }))).toMatch(
      /"alice" in "alice alice" is not backend:identity .*write persons as "alice irc:alice/,
    );
  });

  it('an old config (admins per backend) is refused with its conversion to persons', () => {
    const f = file('old.json', { admins: { irc: ['alice'], slack: ['U024BE7LH'], console: ['root'] } });
    const msg = errorOf(() => loadConfig({ file: f, env: {} }));
    expect(msg).toContain('admins are now persons');
    expect(msg).toContain(
      '"admins": [{"name":"alice","irc":["alice"]},{"name":"U024BE7LH","slack":["U024BE7LH"]},{"name":"root","console":["root"]}]',
    );
    expect(msg).toContain('AFSBOT_ADMINS="alice irc:alice; U024BE7LH slack:U024BE7LH; root console:root"');
    expect(errorOf(() => loadConfig({ env: { AFSBOT_ADMINS_IRC: 'alice' } }))).toContain(
      'AFSBOT_ADMINS="alice irc:alice"',
    );
  });

  it('names the key, the bad value, where it came from and what is expected', () => {
    const msg = errorOf(() => loadConfig({ env: { AFSBOT_IRC_PORT: 'abc' } }));
    expect(msg).toContain('irc.port = "abc" (from AFSBOT_IRC_PORT)');
    expect(msg).toMatch(/expected number/);
  });

  it('reports every bad key of a file at once', () => {
    const f = file('bad.json', {
      irc: { port: 70000, channels: ['ops'] },
      admins: [{ name: 'alice', slack: ['alice'] }],
    });
    const msg = errorOf(() => loadConfig({ file: f, env: {} }));
    expect(msg).toContain(`irc.port = 70000 (from ${f})`);
    expect(msg).toContain('irc.channels.0 = "ops"');
    expect(msg).toContain('expected an IRC channel name');
    expect(msg).toContain('admins.0.slack.0 = "alice"');
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

describe('the schema is the one list of keys', () => {
  it('refuses a key it does not know, so a typo is never silently ignored', () => {
    const f = file('typo.json', { nightly: { prefixs: ['user.'] }, irc: { enabled: false } });
    expect(errorOf(() => loadConfig({ file: f, env: {} }))).toContain(
      `nightly.prefixs (from ${f}): not a config key`,
    );
  });

  it('names what replaced a key of an earlier version', () => {
    const f = file('old.json', { storePath: '/var/lib/afsbot/afsbot.db' });
    expect(errorOf(() => loadConfig({ file: f, env: {} }))).toContain('storePath');
    expect(errorOf(() => loadConfig({ file: f, env: {} }))).toContain('use databasePath (AFSBOT_DATABASE)');
    expect(errorOf(() => loadConfig({ env: { AFSBOT_STORE: '/x.db' } }))).toContain('use AFSBOT_DATABASE');
  });

  it('gives every key a variable, derived from its path unless the schema names a shorter one', () => {
    const byPath = new Map(envOverrides.map((o) => [o.path.join('.'), o.env]));
    // keys the hand-kept table of earlier versions had missed
    expect(byPath.get('irc.registerTimeoutMs')).toBe('AFSBOT_IRC_REGISTER_TIMEOUT_MS');
    expect(byPath.get('dumps.zstdLevel')).toBe('AFSBOT_DUMPS_ZSTD_LEVEL');
    expect(byPath.get('jobs.whenBusy')).toBe('AFSBOT_JOBS_WHEN_BUSY');
    expect(byPath.get('archive.checkSubsets')).toBe('AFSBOT_ARCHIVE_CHECK_SUBSETS');
    expect(byPath.get('irc.enabled')).toBe('AFSBOT_IRC');
    expect(new Set(byPath.values()).size).toBe(byPath.size);
    const c = loadConfig({
      env: {
        AFSBOT_DUMPS_ZSTD_LEVEL: '7',
        AFSBOT_JOBS_WHEN_BUSY: 'refuse',
        AFSBOT_ARCHIVE_CHECK_SUBSETS: '3',
      },
    });
    expect([c.dumps.zstdLevel, c.jobs.whenBusy, c.archive.checkSubsets]).toEqual([7, 'refuse', 3]);
  });
});

describe('.env.example', () => {
  it('is what the schema generates (npm run env-example writes it)', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    expect(example).toBe(envExample());
    const documented = [...example.matchAll(/^#?\s*(AFSBOT_[A-Z_]+)=/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(['AFSBOT_CONFIG', ...envOverrides.map((o) => o.env)].sort());
  });
});
