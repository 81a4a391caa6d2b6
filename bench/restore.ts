// Benchmark: `!restore` of a ~200 MB volume by the real bot (bin/afsbot --console), against the raw
// pipeline `zstd -d < file | vos restore` on the same dump file, in the same run, plus the bot's RSS;
// then the same from the archive alone (the local file moved away), against the shell pipeline
// `restic dump | zstd -d | vos restore` (or `borg extract --stdout | vos restore`).
// It prints figures and asserts nothing; it only stops when a step it depends on fails.
//
//   sudo npx tsx bench/restore.ts          (from the repo root; AFSBOT_KEEP_PEERS=1 keeps the cell up)
//   AFSBOT_BENCH_ENGINE=borg               the archive rounds from borg instead of restic
//   AFSBOT_BENCH_FILE_MIB=200              files of 200 MiB: a 2 GB volume, to show memory stays flat
//
// Targets: the bot's restore job takes under 10% more than the raw pipeline, 20% from the archive; its
// RSS stays under 120 MiB (the built program: the bench runs `npm run build` first).
// See bench/README.md for what each column means.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sandboxEnv } from '../test/support/bot-env.ts';
import { cellVos, freshVolume, removeIfThere, writeVolumeFile } from '../test/support/cell-tools.ts';
import { type CellInfo, cellDown, cellUp, repoRoot } from '../test/support/peers.ts';
import { textLike } from './data.ts';

const CELL_NAME = 'bench'; // never 'test': that one belongs to the test suite
const VOLUME = 'user.bench';
const RAW_TARGET = 'bench.raw';
const BOT_TARGET = 'bench.bot';
const ROUNDS = Number(process.env.AFSBOT_BENCH_ROUNDS ?? 3); // more rounds steady a noisy host
const FILES_EACH = 5; // this many random files and this many text-like files
const FILE_BYTES = Number(process.env.AFSBOT_BENCH_FILE_MIB ?? 20) * 1024 * 1024;
const ENGINE = process.env.AFSBOT_BENCH_ENGINE === 'borg' ? 'borg' : 'restic';
const TARGET_ARCHIVE_RATIO = 1.2;
const SAMPLE_MS = 50;
const TARGET_RATIO = 1.1;
const TARGET_RSS_MIB = 120;
const MiB = 1024 * 1024;
const MB = 1e6;

const bin = join(repoRoot, 'bin/afsbot');
const t0 = performance.now();
const say = (text: string) =>
  process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(1)}s] ${text}\n`);

// ------------------------------------------------------------------------------------------ children
// Everything this script starts is in here, so an interrupt stops exactly those and nothing else.
const running = new Set<ChildProcess>();
let interrupted = false;

function stopChildren(): void {
  for (const child of running) {
    if (child.pid === undefined) continue;
    // The raw pipeline is its own process group (bash, zstd, vos): stop the whole group it made.
    try {
      if (child.spawnargs[0] === 'bash') process.kill(-child.pid, 'SIGTERM');
      else child.kill('SIGTERM'); // the bot cancels its own job and removes the partial volume
    } catch {
      // already gone
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: stopping what this benchmark started, then cleaning up`);
    stopChildren();
  });
}

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

function run(
  program: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; ownGroup?: boolean; onSpawn?: (pid: number) => void },
): Promise<Finished> {
  if (interrupted) return Promise.reject(new Error('interrupted'));
  const started = performance.now();
  const child = spawn(program, args, {
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    detached: opts.ownGroup ?? false,
  });
  running.add(child);
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  child.stdin?.end(opts.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-16_384);
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      running.delete(child);
      reject(err);
    });
    child.once('close', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr, wallMs: performance.now() - started });
    });
  });
}

// ------------------------------------------------------------------------------------ the volume
async function fillVolume(cell: CellInfo): Promise<void> {
  await freshVolume(cell, VOLUME);
  for (let i = 0; i < FILES_EACH; i++) {
    writeVolumeFile(cell, VOLUME, `random/${i}.bin`, randomBytes(FILE_BYTES));
    writeVolumeFile(cell, VOLUME, `text/${i}.log`, textLike(FILE_BYTES, i + 1));
    say(`wrote ${(((i + 1) * 2 * FILE_BYTES) / MiB).toFixed(0)} MiB into ${VOLUME}`);
  }
}

// ------------------------------------------------------------------------------------------- the bot
function botEnv(cell: CellInfo, dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Only what is set here configures the bot: no AFSBOT_* from the caller's shell (e.g. AFSBOT_IRC=1).
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AFSBOT_')) env[k] = v;
  return {
    ...env,
    ...sandboxEnv(cell, dir),
    // the dump is made by a nightly run, which archives it too
    AFSBOT_NIGHTLY_PREFIXES: VOLUME,
    AFSBOT_ARCHIVE_ENGINE: ENGINE,
  };
}

async function botSession(env: NodeJS.ProcessEnv, input: string, onSpawn?: (pid: number) => void) {
  const r = await run(bin, ['--console'], { input, env, ...(onSpawn ? { onSpawn } : {}) });
  if (r.code !== 0) throw new Error(`afsbot --console exited ${r.code}: ${r.stdout}\n${r.stderr}`);
  return r;
}

interface DumpRow {
  location: string;
  raw_bytes: number;
  stored_bytes: number;
  archive_snapshot: string | null;
  archive_path: string | null;
}

interface JobRow {
  id: number;
  status: string;
  started_at: string;
  ended_at: string;
  error: string | null;
}

function readStore<T>(storePath: string, sql: string): T | undefined {
  const db = new Database(storePath, { readonly: true });
  try {
    return db.prepare(sql).get() as T | undefined;
  } finally {
    db.close();
  }
}

/** One sample of /proc/<pid>: resident set now, its high-water mark, and CPU seconds so far. */
interface Sample {
  at: number; // Date.now(), to compare with the job's ISO times in the store
  rssKiB: number;
  hwmKiB: number;
  cpuTicks: number;
}

function sampleProc(pid: number): Sample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (!rss || !hwm) return undefined; // gone, or a zombie whose memory is already released
    // Fields after "(comm)": state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      at: Date.now(),
      rssKiB: Number(rss[1]),
      hwmKiB: Number(hwm[1]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    return undefined;
  }
}

// -------------------------------------------------------------------------------------- the two sides
function vosRestoreArgv(cell: CellInfo, target: string): string[] {
  return cellVos(cell).argv([
    'restore',
    '-server',
    cell.server,
    '-partition',
    cell.partition,
    '-name',
    target,
    '-overwrite',
    'full',
  ]);
}

/** zstd -d -c < FILE | vos restore ..., in bash with pipefail; the seconds it took. */
async function rawRestore(cell: CellInfo, file: string): Promise<number> {
  const script = 'file=$1; shift; zstd -d -c < "$file" | vos "$@"';
  return timedShell(script, [file, ...vosRestoreArgv(cell, RAW_TARGET)]);
}

/** The archive's own extract into vos restore, in shell: what the bot's archive restore is measured against. */
async function rawArchiveRestore(cell: CellInfo, env: NodeJS.ProcessEnv, dump: DumpRow): Promise<number> {
  const vos = vosRestoreArgv(cell, RAW_TARGET);
  if (ENGINE === 'borg') {
    const script = 'repo=$1 path=$2; shift 2; borg extract --stdout "$repo" "$path" | vos "$@"';
    return timedShell(
      script,
      [`${env.AFSBOT_ARCHIVE_REPOSITORY}::${dump.archive_snapshot}`, dump.archive_path!, ...vos],
      {
        BORG_PASSCOMMAND: `cat ${env.AFSBOT_ARCHIVE_PASSWORD_FILE}`,
        BORG_BASE_DIR: env.AFSBOT_ARCHIVE_CACHE_DIR!,
      },
    );
  }
  const script =
    'repo=$1 snap=$2 path=$3; shift 3; restic -r "$repo" dump "$snap" "$path" | zstd -d -c | vos "$@"';
  return timedShell(
    script,
    [env.AFSBOT_ARCHIVE_REPOSITORY!, dump.archive_snapshot!, dump.archive_path!, ...vos],
    {
      RESTIC_PASSWORD_FILE: env.AFSBOT_ARCHIVE_PASSWORD_FILE!,
      RESTIC_CACHE_DIR: env.AFSBOT_ARCHIVE_CACHE_DIR!,
    },
  );
}

async function timedShell(script: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  const r = await run('bash', ['-o', 'pipefail', '-c', script, 'bench', ...args], {
    ownGroup: true,
    env: { ...process.env, ...env },
  });
  const seconds = (performance.now() - started) / 1000;
  if (r.code !== 0) throw new Error(`the raw pipeline exited ${r.code}: ${r.stderr}`);
  return seconds;
}

interface BotRound {
  jobSeconds: number;
  wallSeconds: number;
  /** Highest sampled VmRSS while the restore job ran, and the peak of the whole process (VmHWM). */
  rssJobMiB: number;
  hwmMiB: number;
  cpuSeconds: number;
}

async function botRestore(env: NodeJS.ProcessEnv, storePath: string, clkTck: number): Promise<BotRound> {
  const samples: Sample[] = [];
  let timer: NodeJS.Timeout | undefined;
  const r = await botSession(env, `!restore ${VOLUME} as ${BOT_TARGET}\n`, (pid) => {
    timer = setInterval(() => {
      const s = sampleProc(pid);
      if (s) samples.push(s);
    }, SAMPLE_MS);
  }).finally(() => clearInterval(timer));
  const job = readStore<JobRow>(
    storePath,
    `SELECT id, status, started_at, ended_at, error FROM jobs WHERE kind = 'restore' ORDER BY id DESC LIMIT 1`,
  );
  if (job?.status !== 'ok')
    throw new Error(
      `the bot's restore job ended ${job?.status ?? 'without a job row'}${job?.error ? `: ${job.error}` : ''}\n${r.stdout}`,
    );
  const start = Date.parse(job.started_at);
  const end = Date.parse(job.ended_at);
  const during = samples.filter((s) => s.at >= start && s.at <= end);
  const last = samples.at(-1);
  return {
    jobSeconds: (end - start) / 1000,
    wallSeconds: r.wallMs / 1000,
    rssJobMiB: Math.max(0, ...during.map((s) => s.rssKiB)) / 1024,
    // The kernel's RSS counters are approximate per CPU, so a sample can read a hair above VmHWM.
    hwmMiB: Math.max(last?.hwmKiB ?? 0, ...samples.map((s) => s.rssKiB)) / 1024,
    cpuSeconds: (last?.cpuTicks ?? 0) / clkTck,
  };
}

// ------------------------------------------------------------------------------------------ figures
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

function printReport(
  rows: { order: string; raw: number; bot: BotRound }[],
  dump: DumpRow,
  volumeBytes: number,
  loadBefore: number,
  from: { what: string; target: number },
): void {
  const cols = ['round', 'order', 'raw s', 'bot job s', 'bot wall s', 'RSS job MiB', 'HWM MiB', 'bot CPU s'];
  const widths = [5, 8, 8, 10, 11, 12, 8, 10];
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd : c.padStart).call(c, widths[i]!)).join('  ');
  const f = (x: number, d = 2) => x.toFixed(d);
  const out: string[] = [];
  out.push(
    `restore of ${VOLUME}: ${f(volumeBytes / MB, 1)} MB of files; dump ${f(dump.raw_bytes / MB, 1)} MB, ` +
      `stored ${f(dump.stored_bytes / MB, 1)} MB (zstd); ${ROUNDS} rounds each, alternating; ${from.what}`,
  );
  out.push(
    `host: ${availableParallelism()} CPUs, 1-min load average ${f(loadBefore)} before the rounds, ` +
      `${f(loadavg()[0]!)} after (other work on the host makes the figures noisy)`,
  );
  out.push(line(cols));
  for (const [i, r] of rows.entries()) {
    out.push(
      line([
        String(i + 1),
        r.order,
        f(r.raw),
        f(r.bot.jobSeconds),
        f(r.bot.wallSeconds),
        f(r.bot.rssJobMiB, 1),
        f(r.bot.hwmMiB, 1),
        f(r.bot.cpuSeconds),
      ]),
    );
  }
  const m = {
    raw: median(rows.map((r) => r.raw)),
    job: median(rows.map((r) => r.bot.jobSeconds)),
    wall: median(rows.map((r) => r.bot.wallSeconds)),
    rss: median(rows.map((r) => r.bot.rssJobMiB)),
    hwm: median(rows.map((r) => r.bot.hwmMiB)),
    cpu: median(rows.map((r) => r.bot.cpuSeconds)),
  };
  out.push(line(['med', '', f(m.raw), f(m.job), f(m.wall), f(m.rss, 1), f(m.hwm, 1), f(m.cpu)]));
  // Other load on the host only ever adds time, so the fastest round of each side is the least disturbed.
  const min = (xs: number[]) => Math.min(...xs);
  const minRaw = min(rows.map((r) => r.raw));
  const minJob = min(rows.map((r) => r.bot.jobSeconds));
  out.push(line(['min', '', f(minRaw), f(minJob), f(min(rows.map((r) => r.bot.wallSeconds))), '', '', '']));
  const ratio = m.job / m.raw;
  const maxRss = Math.max(...rows.map((r) => r.bot.rssJobMiB));
  const maxHwm = Math.max(...rows.map((r) => r.bot.hwmMiB));
  out.push('');
  out.push(
    `throughput (dump bytes): raw ${f(dump.raw_bytes / MB / m.raw, 1)} MB/s, ` +
      `bot job ${f(dump.raw_bytes / MB / m.job, 1)} MB/s, bot process ${f(dump.raw_bytes / MB / m.wall, 1)} MB/s`,
  );
  out.push(
    `bot job / raw (medians): ${f(ratio, 3)} (${ratio >= 1 ? '+' : ''}${f((ratio - 1) * 100, 1)}%), ` +
      `target < ${f(from.target)}: ${verdict(ratio < from.target)}`,
  );
  out.push(
    `for information: bot job / raw (minimums) ${f(minJob / minRaw, 3)}; ` +
      `bot process wall / raw (medians, start-up included) ${f(m.wall / m.raw, 3)}`,
  );
  out.push(
    `bot RSS during the restore job: median ${f(m.rss, 1)} MiB, max ${f(maxRss, 1)} MiB, ` +
      `target < ${TARGET_RSS_MIB} MiB: ${verdict(maxRss < TARGET_RSS_MIB)}`,
  );
  out.push(
    `bot VmHWM (whole process): median ${f(m.hwm, 1)} MiB, max ${f(maxHwm, 1)} MiB, ` +
      `target < ${TARGET_RSS_MIB} MiB: ${verdict(maxHwm < TARGET_RSS_MIB)}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}

// --------------------------------------------------------------------------------------------- main
async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench/restore.ts needs root (it brings up an OpenAFS cell)\n');
    return 1;
  }
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
    process.stderr.write(`AFSBOT_BENCH_ROUNDS must be a whole number of at least 1\n`);
    return 1;
  }
  const keep = process.env.AFSBOT_KEEP_PEERS === '1';
  // the built program (bin/afsbot runs dist/ when it is up to date), as a service would run it
  say('building dist/ (npm run build)');
  execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'afsbot-bench-'));
  const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  let cell: CellInfo | undefined;
  try {
    say(`bringing up cell "${CELL_NAME}"`);
    cell = await cellUp(CELL_NAME);
    for (const v of [RAW_TARGET, BOT_TARGET]) await removeIfThere(cell, v); // an interrupted run's
    say(
      `filling ${VOLUME} with ${FILES_EACH} random and ${FILES_EACH} text-like files of ${FILE_BYTES / MiB} MiB`,
    );
    await fillVolume(cell);
    const volumeBytes = 2 * FILES_EACH * FILE_BYTES;

    const env = botEnv(cell, dir);
    const storePath = env.AFSBOT_DATABASE!;
    say(`dumping ${VOLUME} with the bot, and archiving it with ${ENGINE}`);
    await botSession(env, '!nightly run\n');
    const dump = readStore<DumpRow>(
      storePath,
      `SELECT location, raw_bytes, stored_bytes, archive_snapshot, archive_path FROM dumps WHERE volume = '${VOLUME}' ORDER BY id DESC LIMIT 1`,
    );
    if (!dump?.archive_snapshot) throw new Error(`the bot's nightly run made no archived dump of ${VOLUME}`);
    say(`dump: ${dump.location} (${(statSync(dump.location).size / MB).toFixed(1)} MB)`);

    const clean = async () => {
      for (const v of [RAW_TARGET, BOT_TARGET]) await removeIfThere(cell!, v);
      execFileSync('sync'); // let neither side pay for the other's write-back
    };
    const rounds = async (raw: () => Promise<number>, label: string) => {
      const rows: { order: string; raw: number; bot: BotRound }[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const rawFirst = i % 2 === 0;
        let rawSeconds = 0;
        let bot: BotRound | undefined;
        for (const side of rawFirst ? ['raw', 'bot'] : ['bot', 'raw']) {
          await clean();
          if (side === 'raw') rawSeconds = await raw();
          else bot = await botRestore(env, storePath, clkTck);
          say(
            `${label} round ${i + 1} ${side}: ${side === 'raw' ? `${rawSeconds.toFixed(2)} s` : `job ${bot!.jobSeconds.toFixed(2)} s`}`,
          );
        }
        rows.push({ order: rawFirst ? 'raw,bot' : 'bot,raw', raw: rawSeconds, bot: bot! });
      }
      return rows;
    };
    const loadBefore = loadavg()[0]!;
    const local = await rounds(() => rawRestore(cell!, dump.location), 'local');
    // from the archive alone: the local file moved away, so the bot reads the archive as after retention
    const away = `${dump.location}.away`;
    renameSync(dump.location, away);
    let archived: Awaited<ReturnType<typeof rounds>>;
    try {
      archived = await rounds(() => rawArchiveRestore(cell!, env, dump), 'archive');
    } finally {
      renameSync(away, dump.location);
    }
    printReport(local, dump, volumeBytes, loadBefore, { what: 'from the local file', target: TARGET_RATIO });
    process.stdout.write('\n');
    printReport(archived, dump, volumeBytes, loadBefore, {
      what: `from the archive alone (${ENGINE}; raw side: ${ENGINE === 'borg' ? 'borg extract --stdout | vos restore' : 'restic dump | zstd -d | vos restore'})`,
      target: TARGET_ARCHIVE_RATIO,
    });
    const rssAll = Math.max(...[...local, ...archived].map((r) => r.bot.rssJobMiB));
    process.stdout.write(
      `summary: engine=${ENGINE} volume_mb=${(volumeBytes / MB).toFixed(0)} local/raw=${(median(local.map((r) => r.bot.jobSeconds)) / median(local.map((r) => r.raw))).toFixed(3)} archive/raw=${(median(archived.map((r) => r.bot.jobSeconds)) / median(archived.map((r) => r.raw))).toFixed(3)} rss_max_mib=${rssAll.toFixed(1)}\n`,
    );
    return 0;
  } finally {
    stopChildren();
    while (running.size > 0) await new Promise((r) => setTimeout(r, 100));
    if (cell) {
      const vos = cellVos(cell);
      for (const v of [RAW_TARGET, BOT_TARGET, VOLUME]) {
        const rm = await vos.removeAfterAbort(v).catch((err: Error) => ({ gone: false, why: err.message }));
        if (!rm.gone) say(`could not remove ${v}: ${rm.why}`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    if (!keep) {
      say(`taking cell "${CELL_NAME}" down`);
      await cellDown(CELL_NAME).catch((err: Error) => say(`cell down failed: ${err.message}`));
    }
    say('done');
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench/restore.ts: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
