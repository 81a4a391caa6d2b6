// The systemd unit in packaging/ is one systemd itself accepts, and it says what the README promises:
// restart on failure, the config path, no console, and the hardening a root daemon using -localauth
// can live with.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const unit = readFileSync(join(root, 'packaging/afsbot.service'), 'utf8');
const setting = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]);

describe('packaging/afsbot.service', () => {
  it('passes systemd-analyze verify (installed under /opt/afsbot, here pointed at this checkout)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'afsbot-unit-'));
    writeFileSync(join(dir, 'afsbot.service'), unit.replaceAll('/opt/afsbot', root));
    const r = await execa('systemd-analyze', ['verify', join(dir, 'afsbot.service')], { reject: false });
    // systemd also reviews every unit the file names (After=...); only what it says of ours counts
    const ours = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes('afsbot.service'));
    expect(ours).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('restarts on failure, runs the config in /etc/afsbot, and reads no console', () => {
    expect(setting('ExecStart')).toEqual(['/opt/afsbot/bin/afsbot --config /etc/afsbot/config.json']);
    expect(setting('Restart')).toEqual(['on-failure']);
    expect(setting('StandardInput')).toEqual(['null']);
  });

  it('is hardened, yet leaves what vos -localauth and runuser need', () => {
    expect(setting('ProtectSystem')).toEqual(['strict']);
    expect(setting('ReadWritePaths')[0]).toContain('/var/lib/afsbot');
    expect(setting('NoNewPrivileges')).toEqual(['yes']);
    const caps = setting('CapabilityBoundingSet')[0]!.split(' ');
    // reading the server key file, chowning dumps to the archive user, and switching to it
    expect(caps).toEqual(
      expect.arrayContaining(['CAP_DAC_READ_SEARCH', 'CAP_CHOWN', 'CAP_SETUID', 'CAP_SETGID']),
    );
    expect(caps).not.toContain('CAP_SYS_ADMIN');
  });
});
