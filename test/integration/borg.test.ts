// borg as the archive engine, on a real repository: a dump goes in decompressed through a named pipe
// (no second copy on disk) and comes back byte-identical; the nightly run, archive-only restores,
// `!backup get` (compressed again to the very bytes the catalog's sha256 names), maintenance and the
// catalog's reconciliation on the real cell; a lock a killed borg left; a remote over SSH with the host
// key checked (`borg serve` on the test's own sshd).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Borg } from '../../actions/borg.ts';
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
const dir = mkdtempSync(join(tmpdir(), 'afsbot-borg-'));
const passwordFile = join(dir, 'password');
writeFileSync(passwordFile, `${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function borgAt(repository: string, more: Partial<ConstructorParameters<typeof Borg>[0]> = {}): Borg {
  return new Borg({
    binary: 'borg',
    repository,
    passwordFile,
    baseDir: join(dir, 'base'),
    compression: 'zstd,3',
    chunkerParams: 'buzhash,14,20,16,4095',
    timeoutMs: 120_000,
    stallMs: 60_000,
    lockWaitSeconds: 5,
    zstd: 'zstd',
    feedDir: join(dir, 'feed'),
    ...more,
  });
}

async function extract(b: Borg, snapshot: string, path: string): Promise<Buffer> {
  const c = b.dumpCommand(snapshot, path);
  const out = await execa(c.program, c.args, { env: c.env, encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(out.stdout);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the borg engine', () => {
  const borg = borgAt(join(dir, 'repo'));
  const raw = randomBytes(3_000_000);
  const zst = join(dir, '2026.01.05', 'user.x.full.1.dump.zst');

  beforeAll(async () => {
    await execa('mkdir', ['-p', join(dir, '2026.01.05')]);
    await execa('zstd', ['-q', '-3', '-o', zst], { input: raw });
    writeFileSync(`${zst}.json`, '{"volume":"user.x"}\n');
  });

  it('creates the repository once; a missing one is said to be missing', async () => {
    const missing = await borg.locks();
    expect(missing.ok).toBe(false);
    expect(!missing.ok && borg.isMissing(missing)).toBe(true);
    expect(await borg.init()).toEqual({ ok: true, created: true });
    expect(await borg.init()).toEqual({ ok: true, created: false });
  });

  it('archives a .zst dump decompressed (through a pipe) with its sidecar, and gives both back', async () => {
    const seen: number[] = [];
    const r = await borg.backup(
      [
        { file: zst, name: '2026.01.05/user.x.full.1.dump' },
        { file: `${zst}.json`, name: '2026.01.05/user.x.full.1.dump.json' },
      ],
      ['afsbot', 'date:2026.01.05'],
      { onBytes: (n) => seen.push(n) },
    );
    if (!r.ok) throw new Error(r.message);
    // what borg read: the two files, and its own few hundred bytes of item metadata
    expect(r.processed).toBeGreaterThanOrEqual(raw.length + 20);
    expect(r.processed).toBeLessThan(raw.length + 20 + 4096);
    expect(r.added).toBeGreaterThan(2_900_000); // random bytes: no compression, no duplicates yet
    expect(r.paths).toEqual(['2026.01.05/user.x.full.1.dump', '2026.01.05/user.x.full.1.dump.json']);
    expect(existsSync(join(dir, 'feed')) && readdirSync(join(dir, 'feed'))).toEqual([]); // the pipes went
    expect(sha(await extract(borg, r.snapshot, '2026.01.05/user.x.full.1.dump'))).toBe(sha(raw));
    const side = await borg.cat(r.snapshot, '2026.01.05/user.x.full.1.dump.json');
    expect(side).toEqual({ ok: true, text: '{"volume":"user.x"}\n' });
    const ls = await borg.ls(r.snapshot);
    expect(ls).toEqual({
      ok: true,
      files: [
        { path: '2026.01.05/user.x.full.1.dump', size: raw.length },
        { path: '2026.01.05/user.x.full.1.dump.json', size: 20 },
      ],
    });
    expect(seen.at(-1)).toBe(r.processed);
  });

  it('an incremental holding a big file whole with a small change costs about the change', async () => {
    const changed = Buffer.from(raw);
    randomBytes(100_000).copy(changed, 1_500_000);
    const z2 = join(dir, '2026.01.05', 'user.x.incr.2.dump.zst');
    await execa('zstd', ['-q', '-3', '-o', z2], { input: changed });
    const r = await borg.backup([{ file: z2, name: '2026.01.05/user.x.incr.2.dump' }], ['afsbot']);
    if (!r.ok) throw new Error(r.message);
    // 100 KB changed: the chunks around it and at the file's ends (64 KiB on average, but
    // content-defined: 300 KB usual, 600 KB now and then) and the archive's metadata, not 3 MB
    expect(r.added).toBeLessThan(raw.length / 2);
    expect(r.added).toBeGreaterThan(100_000);
  });

  it('lists only its own archives, forgets and frees them, and checks subsets that cover all', async () => {
    const list = await borg.snapshots();
    if (!list.ok) throw new Error(list.message);
    expect(list.snapshots).toHaveLength(2);
    for (let n = 1; n <= 3; n++) expect((await borg.check(n, 3)).ok).toBe(true);
    const first = list.snapshots.map((s) => s.id).sort()[0]!;
    expect((await borg.forget([first])).ok).toBe(true);
    expect((await borg.prune()).ok).toBe(true);
    const after = await borg.snapshots();
    expect(after.ok && after.snapshots.map((s) => s.id)).not.toContain(first);
    expect(after.ok && after.snapshots).toHaveLength(1);
  });

  it('a feed whose dump cannot be decoded fails naming it, and leaves no pipe behind', async () => {
    const bad = join(dir, '2026.01.05', 'user.y.full.3.dump.zst');
    writeFileSync(bad, 'not zstd at all');
    const r = await borg.backup([{ file: bad, name: '2026.01.05/user.y.full.3.dump' }], ['afsbot']);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/user\.y\.full\.3\.dump\.zst/);
    expect(readdirSync(join(dir, 'feed'))).toEqual([]);
    const list = await borg.snapshots();
    expect(list.ok && list.snapshots).toHaveLength(1); // no archive of a half-fed dump
  });

  it('a lock left by a borg killed with SIGKILL does not stop the next one', async () => {
    const holder = spawn('borg', ['with-lock', join(dir, 'repo'), 'sleep', '60'], {
      env: { ...process.env, ...borg.env() },
    });
    const roster = join(dir, 'repo', 'lock.roster');
    const deadline = Date.now() + 20_000;
    while (!(existsSync(roster) && readFileSync(roster, 'utf8').includes(String(holder.pid)))) {
      if (Date.now() > deadline) throw new Error('borg with-lock never took the lock');
      await new Promise((r) => setTimeout(r, 100));
    }
    const live = await borg.locks();
    expect(live.ok && live.locks.map((l) => [l.pid, l.exclusive])).toEqual([[holder.pid, true]]);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    expect(readFileSync(roster, 'utf8')).toContain(String(holder.pid)); // left behind
    const dead = await borg.locks();
    expect(dead.ok && dead.locks).toEqual([]); // a dead holder of this host is not a lock to wait for
    const r = await borg.backup([{ file: zst, name: '2026.01.05/user.x.full.1.dump' }], ['afsbot']);
    expect(r.ok, !r.ok ? r.message : '').toBe(true);
  });
});

describe("borg run as another user (the wiki's hcoopbackup split)", () => {
  it('reads the pipes root made for its group, in a directory of root\u2019s that it cannot change', async () => {
    const NOBODY = 65534;
    const top = mkdtempSync(join(tmpdir(), 'afsbot-borg-nobody-'));
    chmodSync(top, 0o755);
    const pw = join(top, 'password');
    writeFileSync(pw, 'the backup user password\n', { mode: 0o600 });
    chownSync(pw, NOBODY, NOBODY);
    for (const d of ['repo', 'base']) {
      mkdirSync(join(top, d));
      chownSync(join(top, d), NOBODY, NOBODY);
    }
    mkdirSync(join(top, 'dumps', '2026.01.08'), { recursive: true, mode: 0o755 });
    const file = join(top, 'dumps', '2026.01.08', 'n.full.1.dump.zst');
    const data = randomBytes(500_000);
    await execa('zstd', ['-q', '-3', '-o', file], { input: data });
    chownSync(file, 0, NOBODY);
    chmodSync(file, 0o640);
    const b = borgAt(join(top, 'repo'), {
      runAs: 'nobody',
      passwordFile: pw,
      baseDir: join(top, 'base'),
      feedDir: join(top, 'dumps', '.borg-feed'),
      feedGid: NOBODY,
    });
    try {
      expect(await b.init()).toEqual({ ok: true, created: true });
      const r = await b.backup([{ file, name: '2026.01.08/n.full.1.dump' }], ['afsbot']);
      if (!r.ok) throw new Error(r.message);
      expect(sha(await extract(b, r.snapshot, '2026.01.08/n.full.1.dump'))).toBe(sha(data));
      const feed = statSync(join(top, 'dumps', '.borg-feed'));
      expect([feed.uid, feed.gid, (feed.mode & 0o777).toString(8)]).toEqual([0, NOBODY, '750']);
      // the repository is the backup user's own
      expect(statSync(join(top, 'repo', 'config')).uid).toBe(NOBODY);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});

describe('the nightly run with archive.engine borg, archive-only, on the cell', () => {
  let h: MemoryHarness;
  let now = new Date('2026-05-03T03:00:00Z'); // a Sunday: the full day
  // 6 MB, so that what borg adds for a 50 KB change (the chunks around it and at
  // the file's two ends: about 250 KB on average, 520 KB the most in 71 tries of
  // the same layout, 820 KB once in CI) stays far below a quarter of the file
  const big = randomBytes(6_000_000);

  beforeAll(async () => {
    for (const v of ['bg.a', 'bg.b']) {
      await freshVolume(cell, v);
      writeVolumeFile(cell, v, 'f.txt', `${v} night 1\n`);
    }
    writeVolumeFile(cell, 'bg.a', 'big.bin', big);
    await nextSecond(); // so bg.b is unchanged after the first night's clone
    h = await startMemoryBot({
      cell,
      clock: () => now,
      env: {
        AFSBOT_NIGHTLY_PREFIXES: 'bg.',
        AFSBOT_NIGHTLY_FULL_WEEKDAY: '0',
        AFSBOT_ARCHIVE_ENGINE: 'borg',
        AFSBOT_LOCAL_KEEP_DAYS: '0',
      },
    });
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    for (const v of ['bgr.1', 'bgr.2', 'bgr.t']) await removeIfThere(cell, v);
  });

  it('archives two nights into borg and keeps nothing on local disk', async () => {
    const first = await h.chat.job('!nightly run', 180_000);
    expect(first.result).toMatch(/nightly 2026\.05\.03: OK\. 2 volumes: 2 full/);
    expect(first.result).toMatch(/^archive: created the borg repository /m);
    now = new Date('2026-05-04T03:00:00Z');
    await nextSecond();
    const changed = Buffer.from(big);
    randomBytes(50_000).copy(changed, 1_000_000);
    writeVolumeFile(cell, 'bg.a', 'big.bin', changed);
    writeVolumeFile(cell, 'bg.a', 'f.txt', 'bg.a night 2\n');
    const second = await h.chat.job('!nightly run', 180_000);
    expect(second.result).toMatch(/nightly 2026\.05\.04: OK\. 2 volumes: 0 full, 1 incremental, 1 unchanged/);
    // the incremental holds big.bin whole (6 MB); borg stores the chunks around the 50 KB that changed
    const added = /([\d.]+) (KiB|MiB) added to the archive/.exec(second.result);
    expect(added, second.result).not.toBeNull();
    const bytes = Number(added![1]) * (added![2] === 'MiB' ? 1024 ** 2 : 1024);
    expect(bytes).toBeLessThan(big.length / 4);
    const rows = h.bot.services.catalog
      .archivedRows()
      .sort((x, y) => `${x.date}${x.volume}`.localeCompare(`${y.date}${y.volume}`));
    expect(rows.map((r) => [r.volume, r.date, r.local, r.archive_path])).toEqual([
      ['bg.a', '2026.05.03', 0, expect.stringMatching(/^2026\.05\.03\/bg\.a\.full\.\d+\.dump$/)],
      ['bg.b', '2026.05.03', 0, expect.stringMatching(/^2026\.05\.03\/bg\.b\.full\.\d+\.dump$/)],
      ['bg.a', '2026.05.04', 0, expect.stringMatching(/^2026\.05\.04\/bg\.a\.incr\.\d+\.dump$/)],
    ]);
    expect(
      readdirSync(join(h.dir, 'dumps'), { recursive: true }).filter((f) => String(f).endsWith('.zst')),
    ).toEqual([]);
  });

  it('restores each date from borg alone, with that date content', async () => {
    await h.chat.job('!restore 2026.05.03 bg.a as bgr.1', 180_000);
    await h.chat.job('!restore 2026.05.04 bg.a as bgr.2', 180_000);
    expect(readVolumeFile(cell, 'bgr.1', 'f.txt').toString()).toBe('bg.a night 1\n');
    expect(readVolumeFile(cell, 'bgr.1', 'big.bin').equals(big)).toBe(true);
    expect(readVolumeFile(cell, 'bgr.2', 'f.txt').toString()).toBe('bg.a night 2\n');
  });

  it('backup get compresses each dump again to the very bytes the catalog recorded', async () => {
    const r = await h.chat.job('!backup get 2026.05.04 bg.a', 180_000);
    const where = /is in (\S+):/.exec(r.result)![1]!;
    const rows = h.bot.services.catalog.archivedRows().filter((x) => x.volume === 'bg.a');
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const f = join(where, row.location.split('/').at(-1)!);
      expect(sha(readFileSync(f)), f).toBe(row.sha256);
      expect(existsSync(`${f}.json`)).toBe(true);
    }
  });

  it('maintenance: forget keeps the chains, check reads subsets, a test restore matches', async () => {
    const fg = await h.chat.job('!nightly maintenance forget', 180_000);
    expect(fg.result).toMatch(/forget: ok: keep 14 daily.*nothing to forget/);
    const ck = await h.chat.job('!nightly maintenance check', 180_000);
    expect(ck.result).toMatch(/check: ok: read data subset 1\/7, no errors/);
    const tr = await h.chat.job('!nightly maintenance test-restore bg.a', 180_000);
    expect(tr.result).toMatch(/test-restore: ok: bg\.a of 2026\.05\.04 .* from the archive: .*matches/);
  });

  it('an archive made but never recorded is adopted, and its dumps restore', async () => {
    // what a crash between borg create and the catalog leaves: forget the rows, keep the archive
    const before = h.bot.services.catalog.archivedRows().length;
    h.bot.services.database.db.exec("DELETE FROM dumps WHERE date = '2026.05.04'");
    await h.chat.job('!nightly maintenance forget', 180_000); // reconciles with borg list first
    expect(h.bot.services.catalog.archivedRows()).toHaveLength(before);
    expect(h.bot.services.catalog.onDate('2026.05.04').map((x) => [x.volume, x.local, x.level])).toEqual([
      ['bg.a', 0, 'incremental'],
    ]);
    await h.chat.job('!restore 2026.05.04 bg.a as bgr.t', 180_000);
    expect(readVolumeFile(cell, 'bgr.t', 'f.txt').toString()).toBe('bg.a night 2\n');
  });

  it('an archive holding a dump shorter than its sidecar says (a decoder cut off) is never adopted', async () => {
    const a = h.bot.services.archive;
    const row = h.bot.services.catalog.archivedRows().find((x) => x.volume === 'bg.b')!;
    const side = await a.engine.cat(row.archive_snapshot!, `${row.archive_path}.json`);
    if (!side.ok) throw new Error(side.message);
    const sidecar = JSON.parse(side.text) as { volume: string; rawBytes: number };
    const cut = join(dir, 'cut', '2026.05.04');
    mkdirSync(cut, { recursive: true });
    const name = `bg.cut.full.${1_800_000_000}.dump.zst`;
    await execa('zstd', ['-q', '-o', join(cut, name)], { input: randomBytes(10_000) });
    writeFileSync(
      join(cut, `${name}.json`),
      JSON.stringify({ ...sidecar, volume: 'bg.cut', rawBytes: 20_000 }),
    );
    const r = await a.engine.backup(
      [
        { file: join(cut, name), name: `2026.05.04/${name.replace('.zst', '')}` },
        { file: join(cut, `${name}.json`), name: `2026.05.04/${name.replace('.zst', '')}.json` },
      ],
      ['afsbot'],
    );
    if (!r.ok) throw new Error(r.message);
    await h.chat.job('!nightly maintenance forget', 180_000);
    expect(h.bot.services.catalog.archivedRows().filter((x) => x.volume === 'bg.cut')).toEqual([]);
  });

  it('keys: borg has one key, and says so', async () => {
    expect(await h.chat.type('!keys')).toMatch(/borg, which has one key per repository/);
  });

  it('never makes a new empty repository where the one it archived to has gone (an unmounted disk)', async () => {
    const repo = h.config.archive.repository;
    renameSync(repo, `${repo}.away`);
    try {
      const r = await h.chat.job('!nightly maintenance check', 120_000);
      expect(r.result).toMatch(/is not there, but \d+ dumps were archived to it: is its disk mounted/);
      expect(existsSync(repo)).toBe(false);
    } finally {
      renameSync(`${repo}.away`, repo);
    }
    expect((await h.chat.job('!nightly maintenance check', 120_000)).result).toMatch(/check: ok/);
  });
});

describe('borg over SSH (borg serve on the test sshd, host key checked)', () => {
  const sshd = join(repoRoot, 'scripts/peers/sshd.sh');
  let env: Record<string, string>;

  beforeAll(async () => {
    env = parseEnv((await execa(sshd, ['up', '--name', 'borg'], { stderr: 'inherit' })).stdout);
    await execa('rm', ['-rf', join(env.AFSBOT_SFTP_REPOS!, 'borg')]);
  }, 60_000);

  afterAll(async () => {
    if (process.env.AFSBOT_KEEP_PEERS !== '1')
      await execa(sshd, ['down', '--name', 'borg', '--wipe'], { stderr: 'inherit' });
  });

  const rsh = () =>
    `ssh -i ${env.AFSBOT_SFTP_KEY} -o UserKnownHostsFile=${env.AFSBOT_SFTP_KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes`;
  const url = () =>
    `ssh://${env.AFSBOT_SFTP_USER}@${env.AFSBOT_SFTP_HOST}:${env.AFSBOT_SFTP_PORT}${env.AFSBOT_SFTP_REPOS}/borg`;

  it('archives and extracts like the local repository', async () => {
    const b = borgAt(url(), { rsh: rsh(), baseDir: join(dir, 'base-ssh') });
    expect(await b.init()).toEqual({ ok: true, created: true });
    const data = randomBytes(1_000_000);
    const z = join(dir, 'ssh.full.1.dump.zst');
    await execa('zstd', ['-q', '-3', '-o', z], { input: data });
    const r = await b.backup([{ file: z, name: '2026.01.07/ssh.full.1.dump' }], ['afsbot']);
    if (!r.ok) throw new Error(r.message);
    expect(sha(await extract(b, r.snapshot, '2026.01.07/ssh.full.1.dump'))).toBe(sha(data));
  });

  it('refuses a server whose host key is not the known one', async () => {
    const wrong = join(dir, 'wrong_known_hosts');
    writeFileSync(
      wrong,
      readFileSync(env.AFSBOT_SFTP_KNOWN_HOSTS!, 'utf8').replace(/AAAA\S{20}/, `AAAA${'B'.repeat(20)}`),
    );
    const b = borgAt(url(), {
      rsh: rsh().replace(env.AFSBOT_SFTP_KNOWN_HOSTS!, wrong),
      baseDir: join(dir, 'base-ssh2'),
    });
    const r = await b.snapshots();
    expect(r.ok).toBe(false);
    expect(!r.ok && `${r.stderr}`).toMatch(/host key|Host key verification failed|Connection closed/i);
  });
});
