// Benchmark: afsbot's nightly run against the pipeline's floor and against the seed's procedure done
// the obvious way, on one cell with the same data in one run (issues 5 and 13), over three nights and
// two ways data changes, with both archive engines.
//
//   data:  20 volumes bn.* of ~26 MB (half random, half log-like text), and 10 home volumes bh.* (a
//          maildir of 100 small files, an mbox, a photo)
//   (a)  floor:  the clones dumped raw with `vos dump -file`, two at a time (afsbot's perServer)
//   (a2) floor with compression: `vos dump | zstd -3 --rsyncable -T1 > file`, two at a time, in shell
//   (b)  shell:  for each clone, `vos dump | gzip > file`, one after another; then `restic backup DIR`
//   (c)  afsbot with restic: `backup-manager nightly`, the whole process timed
//   (d)  afsbot with borg (archive.engine borg), archive-only (archive.localKeepDays 0)
//
//   night 1: every volume full.
//   night 2: first 1% of each bn.* rewritten in place (130 KiB in the middle of its random file: an
//            AFS incremental holds that file whole); then, as a second run, each home volume gets new
//            mail (about 1%), an append to its mbox (1%), and two mails deleted.
//   night 3: the weekly full, of data unchanged but for one new 10-byte file per volume.
//
//   npx tsx bench/nightly.ts      (as root, from the repo root; AFSBOT_KEEP_PEERS=1 keeps the cell up)
//
// The last line is one summary a script can read. It prints figures and asserts nothing; it stops only
// when a step it depends on fails.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxEnv } from '../test/support/bot-env.ts';
import {
  cellVos,
  freshVolume,
  removeIfThere,
  volumePath,
  writeVolumeFile,
} from '../test/support/cell-tools.ts';
import { type CellInfo, cellDown, cellUp, repoRoot } from '../test/support/peers.ts';
import { prng, textLike } from './data.ts';
import { run, stopChildrenOnSignal } from './proc.ts';

const CELL_NAME = 'bench'; // never 'test': that one belongs to the test suite
const VOLUMES = Number(process.env.AFSBOT_BENCH_VOLUMES ?? 20);
const HOMES = Number(process.env.AFSBOT_BENCH_HOMES ?? 10);
const MAILS = 100; // small files in each home volume's maildir
const HALF = 13 * 1024 * 1024; // each bn.* volume: this much random data and this much text
const PARALLEL = 2; // afsbot's nightly.perServer default, and the floor's parallelism
const MB = 1e6;
const pad = (i: number) => String(i + 1).padStart(2, '0');
const names = Array.from({ length: VOLUMES }, (_, i) => `bn.${pad(i)}`);
const homes = Array.from({ length: HOMES }, (_, i) => `bh.${pad(i)}`);
const all = [...names, ...homes];

const t0 = performance.now();
const say = (text: string) =>
  process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(1)}s] ${text}\n`);

stopChildrenOnSignal(say);

function vosArgs(cell: CellInfo, args: string[]): string[] {
  return [...args, '-localauth', '-noresolve', '-config', cell.configDir];
}

function bytesUnder(dir: string): number {
  return readdirSync(dir, { recursive: true })
    .map((f) => statSync(join(dir, String(f))))
    .filter((st) => st.isFile())
    .reduce((a, st) => a + st.size, 0);
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await work(x);
    }),
  );
}

/** CPU seconds the whole machine spent busy (all cores, /proc/stat), to compare sides by work. */
function busySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!; // idle + iowait
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - idle) / 100; // USER_HZ
}

/** Runs `work`, returning its wall ms and the machine's busy CPU seconds meanwhile. */
async function measured(work: () => Promise<unknown>): Promise<{ ms: number; cpu: number }> {
  const cpu0 = busySeconds();
  const t = performance.now();
  await work();
  return { ms: performance.now() - t, cpu: busySeconds() - cpu0 };
}

/** Waits until the file server's disk use of a volume stops moving (FUSE stores at release, later). */
async function settle(v: string): Promise<void> {
  const vos = cellVos(cell);
  let last = -1;
  for (let stable = 0; stable < 3; ) {
    const r = await run(vos.binary, vos.argv(['examine', v, '-format']));
    const kb = Number(/^diskused\s+(\d+)/m.exec(r.stdout)?.[1] ?? -1);
    stable = kb === last ? stable + 1 : 0;
    last = kb;
    await new Promise((res) => setTimeout(res, 300));
  }
}

/** AFSBOT_BENCH_REUSE=1 keeps the volumes between runs (and reuses them), for iterating on the bot. */
const REUSE = process.env.AFSBOT_BENCH_REUSE === '1';

/** Home volume `h`: a maildir of small text files, an mbox, a photo. */
function fillHome(h: string, seed: number): void {
  const next = prng(seed);
  for (let m = 0; m < MAILS; m++) {
    const size = 2048 + (next() % (48 * 1024));
    writeFileSync(volumePath(cell, h, `Maildir/cur/${m}.mail`), textLike(size, seed * 1000 + m));
  }
  writeFileSync(volumePath(cell, h, 'mbox'), textLike(6 * 1024 * 1024, seed + 500));
  writeVolumeFile(cell, h, 'photo.jpg', randomBytes(4 * 1024 * 1024));
}

async function fill(): Promise<void> {
  if (REUSE) {
    const have = await run('vos', vosArgs(cell, ['listvldb', '-quiet'])).catch(() => ({ stdout: '' }));
    if (all.every((v) => new RegExp(`^${v.replace('.', '\\.')}\\s*$`, 'm').test(have.stdout))) {
      say('reusing the volumes of an earlier run (AFSBOT_BENCH_REUSE=1)');
      return;
    }
  }
  for (const [i, v] of names.entries()) {
    await freshVolume(cell, v);
    writeVolumeFile(cell, v, 'random.bin', randomBytes(HALF));
    writeVolumeFile(cell, v, 'text.log', textLike(HALF, i + 1));
  }
  for (const [i, h] of homes.entries()) {
    await freshVolume(cell, h);
    mkdirSync(volumePath(cell, h, 'Maildir/cur'), { recursive: true });
    fillHome(h, 100 + i);
    await settle(h);
  }
  say(`wrote ${names.length} volumes of ${((2 * HALF) / MB).toFixed(0)} MB and ${homes.length} home volumes`);
}

/** Night 2, first part: 1% of each bn.* volume rewritten in place. Returns the bytes changed. */
function changeOnePercent(): number {
  const n = Math.round(0.01 * 2 * HALF);
  for (const v of names) {
    const fd = openSync(volumePath(cell, v, 'random.bin'), 'r+');
    writeSync(fd, randomBytes(n), 0, n, Math.floor(HALF / 3));
    closeSync(fd);
  }
  return names.length * n;
}

/** Night 2, second part: new mail (about 1%), 1% appended to the mbox, two mails deleted. Returns the new bytes. */
async function homeNight(): Promise<number> {
  let bytes = 0;
  for (const [i, h] of homes.entries()) {
    const size = statSync(volumePath(cell, h, 'mbox')).size + bytesUnder(volumePath(cell, h, 'Maildir'));
    const target = Math.round(0.01 * (size + 4 * 1024 * 1024));
    const next = prng(900 + i);
    mkdirSync(volumePath(cell, h, 'Maildir/new'), { recursive: true });
    let added = 0;
    for (let m = 0; added < target / 2; m++) {
      const mail = textLike(4096 + (next() % (28 * 1024)), 7000 + i * 100 + m);
      writeFileSync(volumePath(cell, h, `Maildir/new/${m}.mail`), mail, { flag: 'w' });
      added += mail.length;
    }
    const append = textLike(Math.round(target / 2), 8000 + i);
    writeFileSync(volumePath(cell, h, 'mbox'), append, { flag: 'a' });
    added += append.length;
    rmSync(volumePath(cell, h, 'Maildir/cur/0.mail'), { force: true }); // gone already in a reused volume
    rmSync(volumePath(cell, h, 'Maildir/cur/1.mail'), { force: true });
    bytes += added;
    await settle(h);
  }
  return bytes;
}

async function floorRaw(dir: string): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  await pool(all, PARALLEL, async (v) => {
    await run('vos', vosArgs(cell, ['dump', '-id', `${v}.backup`, '-time', '0', '-file', join(dir, v)]));
  });
  return performance.now() - started;
}

/** (a2): the dumps through the compression afsbot uses, into files, two at a time, in shell. */
async function floorZstd(dir: string): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const vos = `vos dump -id "$1.backup" -time 0 -localauth -noresolve -config ${cell.configDir}`;
  const started = performance.now();
  await pool(all, PARALLEL, async (v) => {
    await run('bash', [
      '-o',
      'pipefail',
      '-c',
      `${vos} | zstd -3 --rsyncable -T1 -q > "${dir}/$1.zst"`,
      'sh',
      v,
    ]);
  });
  return performance.now() - started;
}

async function shell(dir: string, repo: string, env: NodeJS.ProcessEnv): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const vos = `vos dump -id "$v.backup" -time 0 -localauth -noresolve -config ${cell.configDir}`;
  const script = `set -eo pipefail
for v in ${all.join(' ')}; do ${vos} | gzip > "${dir}/$v.dump.gz"; done
restic -r ${repo} backup ${dir} --quiet`;
  const r = await run('bash', ['-c', script], env);
  return r.ms;
}

interface Side {
  label: string;
  env: NodeJS.ProcessEnv;
  repo: string;
  size: number[];
  ms: number[];
  cpu: number[];
  reports: string[];
}

function botSide(label: string, dir: string, more: Record<string, string>): Side {
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AFSBOT_')),
  );
  Object.assign(env, sandboxEnv(cell, dir), {
    AFSBOT_NIGHTLY_PREFIXES: 'bn.,bh.',
    AFSBOT_NIGHTLY_PER_SERVER: String(PARALLEL),
    AFSBOT_TIME_ZONE: 'UTC',
    // nights 1 and 2 are not the full day; night 3 is (see weeklyFull)
    AFSBOT_NIGHTLY_FULL_WEEKDAY: String((new Date().getUTCDay() + 1) % 7),
    ...more,
  });
  return { label, env, repo: join(dir, 'archive'), size: [], ms: [], cpu: [], reports: [] };
}

const manager = join(repoRoot, 'bin/backup-manager');

/** One night of one afsbot side: its time, and its repository's size after. */
async function night(side: Side, fullDay = false): Promise<void> {
  await run('sync', []);
  const env = fullDay
    ? { ...side.env, AFSBOT_NIGHTLY_FULL_WEEKDAY: String(new Date().getUTCDay()) }
    : side.env;
  const cpu0 = busySeconds();
  const r = await run(manager, ['nightly'], env);
  side.cpu.push(busySeconds() - cpu0);
  side.ms.push(r.ms);
  side.size.push(bytesUnder(side.repo));
  side.reports.push(r.stdout.slice(r.stdout.indexOf('nightly 2')));
  say(
    `${side.label}: ${(r.ms / 1000).toFixed(2)} s, repository ${(bytesUnder(side.repo) / MB).toFixed(1)} MB`,
  );
}

const localLine = (report: string) => /^local space: .*$/m.exec(report)?.[0] ?? '(no local space line)';
const peakOf = (report: string): number | undefined => {
  const m = /^local space: at most ([\d.]+) (B|KiB|MiB|GiB) of tonight's ([\d.]+) (B|KiB|MiB|GiB)/m.exec(
    report,
  );
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as Record<string, number>;
  return m ? (Number(m[1]) * unit[m[2]!]!) / (Number(m[3]) * unit[m[4]!]!) : undefined;
};

// ------------------------------------------------------------------------------------------------ run
// the built program, as the service runs it (bin/ runs dist/ when it is newer than every source file;
// from the TypeScript, tsx would add seconds of CPU to every afsbot run)
say('building dist/ (npm run build)');
await run('npm', ['run', 'build']);
const cell = await cellUp(CELL_NAME);
const work = mkdtempSync(join(tmpdir(), 'afsbot-bench-nightly-'));
const shellRepo = join(work, 'shell-repo');
const shellEnv = {
  ...process.env,
  RESTIC_PASSWORD_FILE: join(work, 'shell.password'),
  RESTIC_CACHE_DIR: join(work, 'shell-cache'),
};
writeFileSync(join(work, 'shell.password'), `${randomBytes(24).toString('base64')}\n`, { mode: 0o600 });
try {
  say(`cell up; ${availableParallelism()} cores`);
  await fill();
  await run('vos', vosArgs(cell, ['backupsys', '-prefix', 'bn.', '-prefix', 'bh.']));
  await run('restic', ['-r', shellRepo, 'init', '--repository-version', '2', '--quiet'], shellEnv);
  const c = botSide('(c) afsbot, restic', join(work, 'restic'), { AFSBOT_ARCHIVE_ENGINE: 'restic' });
  const d = botSide('(d) afsbot, borg, archive-only', join(work, 'borg'), {
    AFSBOT_ARCHIVE_ENGINE: 'borg',
    AFSBOT_LOCAL_KEEP_DAYS: '0',
    // batches of 64 MiB: archiving overlaps the dumps, and each batch leaves the disk early
    AFSBOT_ARCHIVE_BATCH_BYTES: String(64 * 1024 * 1024),
  });
  // each repository exists before the timing starts, as on any night but the first
  await run(manager, ['keys', 'list'], c.env);
  await run('borg', ['init', '--encryption', 'repokey', d.repo], {
    ...d.env,
    BORG_PASSCOMMAND: `cat ${d.env.AFSBOT_ARCHIVE_PASSWORD_FILE}`,
    BORG_BASE_DIR: d.env.AFSBOT_ARCHIVE_CACHE_DIR,
  });
  // (d) without the file index, night 1 only: what indexing every dump costs
  // run once before (d) and once after, so that what runs first (a cold cache) counts for neither
  const noIndex = (n: string) =>
    botSide(`(d0) as (d), without the file index (${n})`, join(work, `borg-noindex-${n}`), {
      AFSBOT_ARCHIVE_ENGINE: 'borg',
      AFSBOT_LOCAL_KEEP_DAYS: '0',
      AFSBOT_ARCHIVE_BATCH_BYTES: String(64 * 1024 * 1024),
      AFSBOT_FILE_INDEX: '0',
    });
  const d0 = noIndex('before');
  const d0b = noIndex('after');
  for (const x of [d0, d0b])
    await run('borg', ['init', '--encryption', 'repokey', x.repo], {
      ...x.env,
      BORG_PASSCOMMAND: `cat ${x.env.AFSBOT_ARCHIVE_PASSWORD_FILE}`,
      BORG_BASE_DIR: x.env.AFSBOT_ARCHIVE_CACHE_DIR,
    });
  const emptyC = bytesUnder(c.repo);
  const emptyD = bytesUnder(d.repo);

  // night 1: every side on the same clones, one after another (sync between them)
  await run('sync', []);
  let a = 0;
  const aCpu = (await measured(async () => (a = await floorRaw(join(work, 'floor'))))).cpu;
  const rawBytes = bytesUnder(join(work, 'floor'));
  say(`(a) floor: ${(a / 1000).toFixed(2)} s for ${(rawBytes / MB).toFixed(0)} MB of dumps`);
  rmSync(join(work, 'floor'), { recursive: true, force: true });
  await run('sync', []);
  let a2 = 0;
  const a2Cpu = (await measured(async () => (a2 = await floorZstd(join(work, 'floor-zstd'))))).cpu;
  say(
    `(a2) floor through zstd: ${(a2 / 1000).toFixed(2)} s, ${(bytesUnder(join(work, 'floor-zstd')) / MB).toFixed(0)} MB`,
  );
  rmSync(join(work, 'floor-zstd'), { recursive: true, force: true });
  await run('sync', []);
  let b = 0;
  const bCpu = (await measured(async () => (b = await shell(join(work, 'shell'), shellRepo, shellEnv)))).cpu;
  const bRepo1 = bytesUnder(shellRepo);
  say(`(b) shell loop + restic: ${(b / 1000).toFixed(2)} s, repository ${(bRepo1 / MB).toFixed(0)} MB`);
  await night(c);
  await night(d0);
  await night(d);
  await night(d0b);
  const d0cpu = (d0.cpu[0]! + d0b.cpu[0]!) / 2;

  // night 2, first part: 1% of bn.* rewritten
  const changedA = changeOnePercent();
  await Promise.all(names.map((v) => settle(v)));
  await run('vos', vosArgs(cell, ['backupsys', '-prefix', 'bn.', '-prefix', 'bh.']));
  await run('sync', []);
  const b2 = await shell(join(work, 'shell'), shellRepo, shellEnv);
  const bGrew = bytesUnder(shellRepo) - bRepo1;
  await night(c);
  await night(d);
  // night 2, second part: the home volumes' night
  const changedB = await homeNight();
  await run('vos', vosArgs(cell, ['backupsys', '-prefix', 'bn.', '-prefix', 'bh.']));
  await night(c);
  await night(d);
  // night 3: the weekly full, of data unchanged but for one small file each
  for (const v of all) writeVolumeFile(cell, v, 'touch.txt', 'night 3\n');
  await run('vos', vosArgs(cell, ['backupsys', '-prefix', 'bn.', '-prefix', 'bh.']));
  await night(c, true);
  await night(d, true);

  const grew = (s: Side, i: number) => s.size[i]! - (i === 0 ? (s === c ? emptyC : emptyD) : s.size[i - 1]!);
  const ratio = (x: number, y: number) => (x / y).toFixed(2);
  const mb = (x: number) => `${(x / MB).toFixed(1)} MB`;
  const rows = [
    ['(a) floor: vos dump -file, 2 at a time', a, aCpu],
    ['(a2) floor: vos dump | zstd -3 --rsyncable, 2 at a time', a2, a2Cpu],
    ['(b) shell: vos dump | gzip, one by one; restic backup', b, bCpu],
    [c.label, c.ms[0]!, c.cpu[0]!],
    [d.label, d.ms[0]!, d.cpu[0]!],
    [d0.label, d0.ms[0]!, d0.cpu[0]!],
    [d0b.label, d0b.ms[0]!, d0b.cpu[0]!],
  ] as const;
  const cores = availableParallelism();
  const summary = {
    'b/c': ratio(b, c.ms[0]!),
    'c/a': ratio(c.ms[0]!, a),
    'c/a2': ratio(c.ms[0]!, a2),
    'd/a2': ratio(d.ms[0]!, a2),
    'growth2/changed': ratio(grew(d, 1), changedA),
    'home2/changed': ratio(grew(d, 2), changedB),
    'full3/size': ratio(grew(d, 3), rawBytes),
    'restic_growth2/changed': ratio(grew(c, 1), changedA),
    'restic_home2/changed': ratio(grew(c, 2), changedB),
    'restic_full3/size': ratio(grew(c, 3), rawBytes),
    'peak/total': (peakOf(d.reports[0]!) ?? Number.NaN).toFixed(2),
    'index_cpu/d_cpu': ratio(d.cpu[0]! - d0cpu, d.cpu[0]!),
  };
  process.stdout.write(
    [
      `${names.length} volumes bn.* and ${homes.length} home volumes bh.*, ${mb(rawBytes)} of dumps, ${availableParallelism()} cores`,
      'night 1 (all full):',
      `  ${'side'.padEnd(58)} ${'wall s'.padStart(7)} ${'CPU s'.padStart(7)}  (CPU: the whole machine busy, ${cores} cores)`,
      ...rows.map(
        ([k, v, cpu]) =>
          `  ${k.padEnd(58)} ${(v / 1000).toFixed(2).padStart(7)} ${cpu.toFixed(1).padStart(7)}`,
      ),
      `  CPU floor: (c) kept the machine busy ${c.cpu[0]!.toFixed(1)} CPU s, so on ${cores} cores it needs at least ${(c.cpu[0]! / cores).toFixed(1)} s ((c)/(a2) >= ${(c.cpu[0]! / cores / (a2 / 1000)).toFixed(2)}); (d): ${d.cpu[0]!.toFixed(1)} CPU s, >= ${(d.cpu[0]! / cores / (a2 / 1000)).toFixed(2)}`,
      `  the file index: (d) ${d.cpu[0]!.toFixed(1)} CPU s, (d0) ${d0cpu.toFixed(1)} (mean of before and after): indexing is ${ratio(d.cpu[0]! - d0cpu, d.cpu[0]!)} of (d)'s CPU`,
      `  (b)/(c) = ${ratio(b, c.ms[0]!)}   (c)/(a) = ${ratio(c.ms[0]!, a)}   (c)/(a2) = ${ratio(c.ms[0]!, a2)}   (d)/(a2) = ${ratio(d.ms[0]!, a2)}`,
      `  archive after night 1: (b) ${mb(bRepo1)}, (c) ${mb(grew(c, 0))}, (d) ${mb(grew(d, 0))}`,
      `  local space, (c): ${localLine(c.reports[0]!)}`,
      `  local space, (d): ${localLine(d.reports[0]!)}`,
      `night 2a: 1% of bn.* rewritten, ${mb(changedA)} changed`,
      `  (b) again: ${(b2 / 1000).toFixed(2)} s, archive grew ${mb(bGrew)}`,
      `  (c): ${(c.ms[1]! / 1000).toFixed(2)} s, archive grew ${mb(grew(c, 1))} (${ratio(grew(c, 1), changedA)} x changed)`,
      `  (d): ${(d.ms[1]! / 1000).toFixed(2)} s, archive grew ${mb(grew(d, 1))} (${ratio(grew(d, 1), changedA)} x changed)`,
      `night 2b: the home volumes' night (new mail, mbox appends, two mails deleted), ${mb(changedB)} new`,
      `  (c): ${(c.ms[2]! / 1000).toFixed(2)} s, archive grew ${mb(grew(c, 2))} (${ratio(grew(c, 2), changedB)} x new)`,
      `  (d): ${(d.ms[2]! / 1000).toFixed(2)} s, archive grew ${mb(grew(d, 2))} (${ratio(grew(d, 2), changedB)} x new)`,
      'night 3: the weekly full of unchanged data (one 8-byte file new per volume)',
      `  (c): ${(c.ms[3]! / 1000).toFixed(2)} s, archive grew ${mb(grew(c, 3))} (${ratio(grew(c, 3), rawBytes)} of the dumps' size)`,
      `  (d): ${(d.ms[3]! / 1000).toFixed(2)} s, archive grew ${mb(grew(d, 3))} (${ratio(grew(d, 3), rawBytes)} of the dumps' size)`,
      '',
      "afsbot's reports, (d), nights 1 to 3:",
      ...d.reports.map((r, i) => `--- night ${i === 0 ? '1' : i === 1 ? '2a' : i === 2 ? '2b' : '3'}\n${r}`),
      `summary: ${Object.entries(summary)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
      '',
    ].join('\n'),
  );
} finally {
  if (!REUSE) for (const v of all) await removeIfThere(cell, v).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  if (process.env.AFSBOT_KEEP_PEERS !== '1') await cellDown(CELL_NAME);
}
