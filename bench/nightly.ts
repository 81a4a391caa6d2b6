// Benchmark: afsbot's nightly run against the floor and against the seed's procedure done the obvious
// way, on one cell with the same data in one run (issue 5). 20 volumes of ~26 MB (half random, half
// log-like text), then a second night with 1% of the data changed.
//
//   (a) floor:  the same clones dumped raw with `vos dump -file`, two at a time (afsbot's perServer)
//   (b) shell:  for each clone, `vos dump | gzip > file`, one after another; then `restic backup DIR`
//   (c) afsbot: `backup-manager nightly` (backupsys, levels, dumps through zstd, the restic archive,
//               retention, the report), the whole process timed
//
//   npx tsx bench/nightly.ts      (as root, from the repo root; AFSBOT_KEEP_PEERS=1 keeps the cell up)
//
// Targets: (c) at least 1.5x faster than (b), and at most 1.2x the floor (a). It prints figures and
// asserts nothing; it stops only when a step it depends on fails.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxEnv } from '../test/support/bot-env.ts';
import { freshVolume, removeIfThere, volumePath, writeVolumeFile } from '../test/support/cell-tools.ts';
import { type CellInfo, cellDown, cellUp, repoRoot } from '../test/support/peers.ts';
import { textLike } from './data.ts';

const CELL_NAME = 'bench'; // never 'test': that one belongs to the test suite
const VOLUMES = Number(process.env.AFSBOT_BENCH_VOLUMES ?? 20);
const HALF = 13 * 1024 * 1024; // each volume: this much random data and this much text
const PARALLEL = 2; // afsbot's nightly.perServer default, and the floor's parallelism
const MB = 1e6;
const names = Array.from({ length: VOLUMES }, (_, i) => `bn.${String(i + 1).padStart(2, '0')}`);

const t0 = performance.now();
const say = (text: string) =>
  process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(1)}s] ${text}\n`);

const running = new Set<ChildProcess>();
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    interrupted = true;
    say(`${sig}: stopping what this benchmark started`);
    for (const c of running) if (c.pid) process.kill(-c.pid, 'SIGTERM');
  });

/** Runs a program in its own process group; resolves with its output and wall time, rejects on failure. */
function run(
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stdout: string; ms: number }> {
  if (interrupted) return Promise.reject(new Error('interrupted'));
  const started = performance.now();
  const child = spawn(program, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-8192);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      running.delete(child);
      if (code === 0) resolve({ stdout, ms: performance.now() - started });
      else reject(new Error(`${program} ${args.join(' ')} exited ${code}: ${stderr || stdout}`));
    });
  });
}

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

/** AFSBOT_BENCH_REUSE=1 keeps the volumes between runs (and reuses them), for iterating on the bot. */
const REUSE = process.env.AFSBOT_BENCH_REUSE === '1';

async function fill(cell: CellInfo): Promise<void> {
  if (REUSE) {
    const have = await run('vos', vosArgs(cell, ['listvldb', '-quiet'])).catch(() => ({ stdout: '' }));
    if (names.every((v) => new RegExp(`^${v.replace('.', '\\.')}\\s*$`, 'm').test(have.stdout))) {
      say('reusing the volumes of an earlier run (AFSBOT_BENCH_REUSE=1)');
      return;
    }
  }
  for (const [i, v] of names.entries()) {
    await freshVolume(cell, v);
    writeVolumeFile(cell, v, 'random.bin', randomBytes(HALF));
    writeVolumeFile(cell, v, 'text.log', textLike(HALF, i + 1));
  }
  say(`wrote ${((names.length * 2 * HALF) / MB).toFixed(0)} MB into ${names.length} volumes`);
}

/** Night 2: 1% of each volume's data rewritten in place (random bytes in the middle of random.bin). */
function changeOnePercent(): void {
  const n = Math.round(0.01 * 2 * HALF);
  for (const v of names) {
    const fd = openSync(volumePath(cell, v, 'random.bin'), 'r+');
    writeSync(fd, randomBytes(n), 0, n, Math.floor(HALF / 3));
    closeSync(fd);
  }
  say(`changed ${((names.length * n) / MB).toFixed(1)} MB (1%) in place`);
}

async function floor(dir: string): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  await pool(names, PARALLEL, async (v) => {
    await run('vos', vosArgs(cell, ['dump', '-id', `${v}.backup`, '-time', '0', '-file', join(dir, v)]));
  });
  return performance.now() - started;
}

async function shell(dir: string, repo: string, env: NodeJS.ProcessEnv): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const vos = `vos dump -id "$v.backup" -time 0 -localauth -noresolve -config ${cell.configDir}`;
  const script = `set -eo pipefail
for v in ${names.join(' ')}; do ${vos} | gzip > "${dir}/$v.dump.gz"; done
restic -r ${repo} backup ${dir} --quiet`;
  const r = await run('bash', ['-c', script], env);
  return r.ms;
}

// ------------------------------------------------------------------------------------------------ run
const cell = await cellUp(CELL_NAME);
const work = mkdtempSync(join(tmpdir(), 'afsbot-bench-nightly-'));
const botEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('AFSBOT_')),
);
Object.assign(botEnv, sandboxEnv(cell, join(work, 'bot')), {
  AFSBOT_NIGHTLY_PREFIXES: 'bn.',
  AFSBOT_NIGHTLY_PER_SERVER: String(PARALLEL),
  AFSBOT_TIME_ZONE: 'UTC',
});
const shellRepo = join(work, 'shell-repo');
const shellEnv = {
  ...process.env,
  RESTIC_PASSWORD_FILE: botEnv.AFSBOT_ARCHIVE_PASSWORD_FILE,
  RESTIC_CACHE_DIR: join(work, 'shell-cache'),
};
try {
  say(`cell up; ${availableParallelism()} cores`);
  await fill(cell);
  await run('vos', vosArgs(cell, ['backupsys', '-prefix', 'bn.']));
  await run('restic', ['-r', shellRepo, 'init', '--repository-version', '2', '--quiet'], shellEnv);
  const manager = join(repoRoot, 'bin/backup-manager');
  // both repositories exist before the timing starts, as on any night but the first
  await run(manager, ['keys', 'list'], botEnv);

  // night 1: the three, on the same clones, one after another (sync between them: same page cache state)
  await run('sync', []);
  const a = await floor(join(work, 'floor'));
  const rawBytes = bytesUnder(join(work, 'floor'));
  say(`(a) floor: ${(a / 1000).toFixed(2)} s for ${(rawBytes / MB).toFixed(0)} MB of dumps`);
  await run('sync', []);
  const b = await shell(join(work, 'shell'), shellRepo, shellEnv);
  const bRepo1 = bytesUnder(shellRepo);
  say(`(b) shell loop + restic: ${(b / 1000).toFixed(2)} s, repository ${(bRepo1 / MB).toFixed(0)} MB`);
  await run('sync', []);
  const c = await run(manager, ['nightly'], botEnv);
  const cRepo1 = bytesUnder(join(work, 'bot', 'archive'));
  say(`(c) afsbot nightly: ${(c.ms / 1000).toFixed(2)} s, repository ${(cRepo1 / MB).toFixed(0)} MB`);
  const report1 = c.stdout.slice(c.stdout.indexOf('nightly 2'));

  // night 2: 1% changed; (b) again as it is (full dumps through gzip), and afsbot (incrementals)
  changeOnePercent();
  await run('vos', vosArgs(cell, ['backupsys', '-prefix', 'bn.']));
  await run('sync', []);
  const b2 = await shell(join(work, 'shell'), shellRepo, shellEnv);
  const bGrew = bytesUnder(shellRepo) - bRepo1;
  await run('sync', []);
  const c2 = await run(manager, ['nightly'], botEnv);
  const cGrew = bytesUnder(join(work, 'bot', 'archive')) - cRepo1;
  const report2 = c2.stdout.slice(c2.stdout.indexOf('nightly 2'));

  const rows = [
    ['(a) floor: vos dump -file, 2 at a time', a],
    ['(b) shell: vos dump | gzip, one by one; restic backup', b],
    ['(c) afsbot: backup-manager nightly', c.ms],
  ] as const;
  process.stdout.write(
    [
      `night 1: ${names.length} volumes, ${(rawBytes / MB).toFixed(0)} MB of dumps, ${availableParallelism()} cores`,
      ...rows.map(([k, v]) => `  ${k.padEnd(56)} ${(v / 1000).toFixed(2)} s`),
      `  (b)/(c) = ${(b / c.ms).toFixed(2)}  (target >= 1.5)`,
      `  (c)/(a) = ${(c.ms / a).toFixed(2)}  (target <= 1.2)`,
      `  archive after night 1: (b) ${(bRepo1 / MB).toFixed(1)} MB, (c) ${(cRepo1 / MB).toFixed(1)} MB`,
      'night 2: 1% of the data changed',
      `  (b) again: ${(b2 / 1000).toFixed(2)} s, archive grew ${(bGrew / MB).toFixed(1)} MB`,
      `  (c) afsbot: ${(c2.ms / 1000).toFixed(2)} s, archive grew ${(cGrew / MB).toFixed(1)} MB`,
      '',
      "afsbot's report, night 1:",
      report1,
      "afsbot's report, night 2:",
      report2,
    ].join('\n'),
  );
} finally {
  if (!REUSE) for (const v of names) await removeIfThere(cell, v).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  if (process.env.AFSBOT_KEEP_PEERS !== '1') await cellDown(CELL_NAME);
}
