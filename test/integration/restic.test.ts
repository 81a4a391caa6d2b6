// restic on a real repository: dumps go in as stdin with tags, come back byte-identical with
// `restic dump`, deduplicate across days, key slots per admin, and restic run as a backup user.
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Restic } from '../../actions/restic.ts';
import { parseEnv, repoRoot } from '../support/peers.ts';

const dir = mkdtempSync(join(tmpdir(), 'afsbot-restic-'));
const password = randomBytes(12).toString('hex');
const passwordFile = join(dir, 'password');
writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
const restic = new Restic({
  binary: 'restic',
  repository: join(dir, 'repo'),
  passwordFile,
  cacheDir: join(dir, 'cache'),
  timeoutMs: 120_000,
});
const data = randomBytes(5_000_000);
const dumpFile = join(dir, 'user.x.full.1.dump.zst');
writeFileSync(dumpFile, data);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function dumpBack(r: Restic, snapshot: string, name: string): Promise<Buffer> {
  const c = r.dumpCommand(snapshot, name);
  // every byte as it came: execa strips a final newline by default, which random data ends with once
  // in 256 runs
  const out = await execa(c.program, c.args, { env: c.env, encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(out.stdout);
}

describe('restic archive', () => {
  it('creates the repository once', async () => {
    expect(await restic.init()).toEqual({ ok: true, created: true });
    expect(await restic.init()).toEqual({ ok: true, created: false });
  });

  it('archives a dump file with tags and streams it back byte-identical', async () => {
    const seen: number[] = [];
    const r = await restic.backupFile(
      dumpFile,
      'user.x.full.1.dump.zst',
      ['date:2026.01.05', 'volume:user.x', 'level:full'],
      {
        onBytes: (n) => seen.push(n),
      },
    );
    if (!r.ok) throw new Error(r.message);
    expect(r.summary.total_bytes_processed).toBe(5_000_000);
    expect(r.summary.data_added).toBeGreaterThan(4_000_000);
    const snaps = await restic.snapshotList(['volume:user.x']);
    if (!snaps.ok) throw new Error(snaps.message);
    expect(snaps.snapshots).toHaveLength(1);
    expect(snaps.snapshots[0]).toMatchObject({
      paths: ['/user.x.full.1.dump.zst'],
      tags: ['date:2026.01.05', 'volume:user.x', 'level:full'],
    });
    expect(sha(await dumpBack(restic, r.summary.snapshot_id, 'user.x.full.1.dump.zst'))).toBe(sha(data));
  });

  it('deduplicates the same bytes on another day', async () => {
    const r = await restic.backupFile(dumpFile, 'user.x.full.2.dump.zst', [
      'date:2026.01.06',
      'volume:user.x',
      'level:full',
    ]);
    if (!r.ok) throw new Error(r.message);
    expect(r.summary.data_added).toBeLessThan(20_000);
    const byDay = await restic.snapshotList(['date:2026.01.06']);
    expect(byDay.ok && byDay.snapshots.map((s) => s.paths[0])).toEqual(['/user.x.full.2.dump.zst']);
  });

  it('keeps the password out of argv: only the name of its file, in the environment', () => {
    const c = restic.command(['snapshots']);
    expect(JSON.stringify(c)).not.toContain(password);
    expect(restic.env()).toEqual({
      RESTIC_PASSWORD_FILE: passwordFile,
      RESTIC_CACHE_DIR: join(dir, 'cache'),
    });
  });

  it('adds and removes a key slot for another admin', async () => {
    const other = join(dir, 'bob-password');
    writeFileSync(other, 'bob has his own password\n', { mode: 0o600 });
    expect((await restic.addKey(other)).ok).toBe(true);
    const keys = await restic.keys();
    if (!keys.ok) throw new Error(keys.message);
    expect(keys.keys).toHaveLength(2);
    const bob = new Restic({
      binary: 'restic',
      repository: join(dir, 'repo'),
      passwordFile: other,
      timeoutMs: 60_000,
    });
    const viaBob = await bob.snapshotList();
    expect(viaBob.ok && viaBob.snapshots.length).toBe(2);
    const added = keys.keys.find((k) => !k.current)!;
    expect((await restic.removeKey(added.id)).ok).toBe(true);
    // refused for the key alone: restic's own words, not any failure
    const refused = await bob.snapshots();
    expect(refused.ok).toBe(false);
    expect(refused.ok ? '' : refused.message).toMatch(/wrong password or no key found/);
  });

  it('runs as the backup user, not as root, when one is configured', async () => {
    const userDir = join(dir, 'as-nobody');
    mkdirSync(userDir);
    chmodSync(dir, 0o755);
    const pw = join(userDir, 'password');
    writeFileSync(pw, 'the backup user password\n', { mode: 0o600 });
    const file = join(userDir, 'x.dump');
    writeFileSync(file, randomBytes(100_000), { mode: 0o644 });
    for (const p of [userDir, pw]) chownSync(p, 65534, 65534);
    const asNobody = new Restic({
      binary: 'restic',
      repository: join(userDir, 'repo'),
      passwordFile: pw,
      runAs: 'nobody',
      cacheDir: join(userDir, 'cache'),
      timeoutMs: 60_000,
    });
    expect(asNobody.command(['init'])).toMatchObject({
      program: 'runuser',
      args: ['-u', 'nobody', '--', 'restic', '-r', join(userDir, 'repo'), 'init'],
    });
    expect(await asNobody.init()).toMatchObject({ ok: true, created: true });
    const r = await asNobody.backupFile(file, 'x.dump', ['volume:x']);
    if (!r.ok) throw new Error(r.message);
    // everything restic wrote belongs to nobody
    const owners = new Set(
      readdirSync(join(userDir, 'repo'), { recursive: true }).map(
        (f) => statSync(join(userDir, 'repo', String(f))).uid,
      ),
    );
    expect([...owners]).toEqual([65534]);
    expect(readFileSync(pw, 'utf8')).toBe('the backup user password\n');
  });
});

describe('restic over SFTP to a real OpenSSH server on loopback', () => {
  let sftp: Restic;
  const sshd = join(repoRoot, 'scripts/peers/sshd.sh');

  beforeAll(async () => {
    const env = parseEnv((await execa(sshd, ['up', '--name', 'restic'], { stderr: 'inherit' })).stdout);
    sftp = new Restic({
      binary: 'restic',
      repository: `sftp:${env.AFSBOT_SFTP_USER}@${env.AFSBOT_SFTP_HOST}:${env.AFSBOT_SFTP_REPOS}/offsite`,
      passwordFile,
      // its own key and known_hosts: the host key is checked, not waved through
      sftpCommand: `ssh -p ${env.AFSBOT_SFTP_PORT} -i ${env.AFSBOT_SFTP_KEY} -o UserKnownHostsFile=${env.AFSBOT_SFTP_KNOWN_HOSTS} -o StrictHostKeyChecking=yes ${env.AFSBOT_SFTP_USER}@${env.AFSBOT_SFTP_HOST} -s sftp`,
      cacheDir: join(dir, 'sftp-cache'),
      timeoutMs: 120_000,
    });
  }, 60_000);

  afterAll(async () => {
    if (process.env.AFSBOT_KEEP_PEERS !== '1')
      await execa(sshd, ['down', '--name', 'restic', '--wipe'], { stderr: 'inherit' });
  });

  it('archives a dump and streams it back, like the local repository', async () => {
    expect(await sftp.init()).toMatchObject({ ok: true });
    const r = await sftp.backupFile(dumpFile, 'user.x.full.1.dump.zst', [
      'date:2026.01.05',
      'volume:user.x',
      'level:full',
    ]);
    if (!r.ok) throw new Error(r.message);
    const snaps = await sftp.snapshotList(['volume:user.x']);
    if (!snaps.ok) throw new Error(snaps.message);
    expect(snaps.snapshots.map((s) => s.paths)).toEqual([['/user.x.full.1.dump.zst']]);
    expect(sha(await dumpBack(sftp, r.summary.snapshot_id, 'user.x.full.1.dump.zst'))).toBe(sha(data));
  });
});
