// The nightly run into a restic repository on a real OpenSSH server that the test starts on loopback
// (its own config, host key and client key; the host key is checked): the same as the local one,
// down to restoring a date from the archive alone.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  freshVolume,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { parseEnv, repoRoot } from '../support/peers.ts';

const cell = inject('cell');
const sshd = join(repoRoot, 'scripts/peers/sshd.sh');
let now = new Date('2026-04-05T03:00:00Z'); // a Sunday
let h: MemoryHarness;

beforeAll(async () => {
  const env = parseEnv((await execa(sshd, ['up', '--name', 'nightly'], { stderr: 'inherit' })).stdout);
  await execa('rm', ['-rf', join(env.AFSBOT_SFTP_REPOS!, 'afsbot')]);
  await freshVolume(cell, 'sf.a');
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: {
      AFSBOT_NIGHTLY_PREFIXES: 'sf.',
      AFSBOT_ARCHIVE_ENGINE: 'restic', // plain SFTP is restic's (borg needs borg serve)
      AFSBOT_ARCHIVE_REPOSITORY: `sftp:${env.AFSBOT_SFTP_USER}@${env.AFSBOT_SFTP_HOST}:${env.AFSBOT_SFTP_REPOS}/afsbot`,
      AFSBOT_ARCHIVE_SFTP_COMMAND: `ssh -p ${env.AFSBOT_SFTP_PORT} -i ${env.AFSBOT_SFTP_KEY} -o UserKnownHostsFile=${env.AFSBOT_SFTP_KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes ${env.AFSBOT_SFTP_USER}@${env.AFSBOT_SFTP_HOST} -s sftp`,
    },
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  for (const v of ['sfr.1', 'sfr.2']) await removeIfThere(cell, v);
  if (process.env.AFSBOT_KEEP_PEERS !== '1')
    await execa(sshd, ['down', '--name', 'nightly', '--wipe'], { stderr: 'inherit' });
});

describe('the archive on an SFTP server', () => {
  it('archives two nights, and restores both from the archive alone', async () => {
    writeVolumeFile(cell, 'sf.a', 'f.txt', 'first night\n');
    const first = await h.chat.job('!nightly run', 180_000);
    expect(first.result).toMatch(/nightly 2026\.04\.05: OK\. 1 volume: 1 full, 0 incremental/);
    expect(first.result).toMatch(/^archive: created the restic repository sftp:/m);
    now = new Date('2026-04-06T03:00:00Z');
    await nextSecond(); // a new second: AFS times are whole seconds
    writeVolumeFile(cell, 'sf.a', 'f.txt', 'second night\n');
    const second = await h.chat.job('!nightly run', 180_000);
    expect(second.result).toMatch(/nightly 2026\.04\.06: OK\. 1 volume: 0 full, 1 incremental/);
    expect(second.result).toMatch(/added to the archive \(1 snapshot\)/);

    // nothing left on local disk: every byte comes back over SFTP
    rmSync(join(h.dir, 'dumps'), { recursive: true, force: true });
    await h.chat.job('!backup rescan');
    expect(await h.chat.type('!backup list 2026.04.06')).toMatch(
      /^sf\.a {2}incremental, .*\[archive only\]$/m,
    );
    await h.chat.job('!restore 2026.04.05 sf.a as sfr.1', 180_000);
    await h.chat.job('!restore 2026.04.06 sf.a as sfr.2', 180_000);
    expect(readVolumeFile(cell, 'sfr.1', 'f.txt').toString()).toBe('first night\n');
    expect(readVolumeFile(cell, 'sfr.2', 'f.txt').toString()).toBe('second night\n');
  }, 300_000);

  it('!keys lists the key slots and refuses to change them through chat', async () => {
    expect(await h.chat.type('!keys')).toMatch(/^\* [0-9a-f]{8} {2}root@\S+ {2}created \d{4}-\d{2}-\d{2} /);
    expect(await h.chat.type('!keys add alice')).toMatch(/passwords never go through chat/);
  });
});
