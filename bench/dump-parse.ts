// What indexing a dump costs: the stored .zst of a synthetic dump (many directories and files, like a
// home volume) read three ways in one run, each timed by bash (wall, user and system CPU of the
// whole pipeline):
//   (z) zstd -dc file > /dev/null                     the decompression alone
//   (n) zstd -dc file | node, reading and dropping    every byte through Node, nothing parsed
//   (p) zstd -dc file | node, the dump parser          the index's parse
// Printed: each side, p/z and p/n CPU ratios, the parser's peak RSS, and vnodes per second.
// Run: npx tsx bench/dump-parse.ts   (AFSBOT_BENCH_DUMP_MIB=1024 by default; the dist/ build is used)
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type WrittenVnode, writeDump } from '../actions/dump-writer.ts';

const root = join(import.meta.dirname, '..');
const mib = Number(process.env.AFSBOT_BENCH_DUMP_MIB ?? 1024);
const dir = mkdtempSync(join(tmpdir(), 'afsbot-bench-parse-'));

/** A home-volume-like tree: 200 directories of 100 files, sizes from 1 KiB to ~1 MiB, to `mib` in all. */
function volume(): WrittenVnode[] {
  const dirs = 200;
  const perDir = 100;
  const files = dirs * perDir;
  const avg = Math.floor((mib * 2 ** 20) / files);
  const block = Buffer.alloc(1 << 16);
  for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24; // compresses somewhat
  const vnodes: WrittenVnode[] = [];
  const rootEntries: WrittenVnode['entries'] = [];
  vnodes.push({ vnode: 1, unique: 1, kind: 'dir', parent: 0, entries: rootEntries });
  let unique = 2;
  for (let d = 0; d < dirs; d++) {
    const dv = 3 + 2 * d;
    const entries: NonNullable<WrittenVnode['entries']> = [];
    rootEntries.push({ name: `dir-${d}`, vnode: dv, unique: unique });
    vnodes.push({ vnode: dv, unique: unique++, kind: 'dir', parent: 1, entries });
  }
  let fv = 2;
  for (let d = 0; d < dirs; d++) {
    const parentDir = vnodes[1 + d]!;
    for (let f = 0; f < perDir; f++) {
      const size = Math.max(1024, Math.floor(avg * (0.2 + ((f * 7919) % 160) / 100)));
      parentDir.entries!.push({ name: `file-${f}-${'x'.repeat(f % 30)}.dat`, vnode: fv, unique });
      vnodes.push({
        vnode: fv,
        unique: unique++,
        kind: 'file',
        parent: parentDir.vnode,
        data: {
          size,
          *chunks() {
            for (let left = size; left > 0; left -= block.length)
              yield left >= block.length ? block : block.subarray(0, left);
          },
        },
      });
      fv += 2;
    }
  }
  return vnodes;
}

function timed(script: string): { wall: number; cpu: number } {
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='%R %U %S'; time { ${script} ; }`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
  const [wall, user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall: wall!, cpu: user! + sys! };
}

async function main() {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  const raw = join(dir, 'synthetic.dump');
  const vnodes = volume();
  await pipeline(
    Readable.from(writeDump({ id: 536870912, name: 'bench.parse', toTime: 1_800_000_000, vnodes })),
    createWriteStream(raw),
  );
  execFileSync('zstd', ['-q', '-3', '--rm', raw, '-o', `${raw}.zst`]);
  const zst = `${raw}.zst`;
  const parser = join(root, 'dist/actions/dump-parser.js');
  const drop = `node -e 'process.stdin.on("data",()=>{}).on("end",()=>{})'`;
  const parse = `node -e 'import(${JSON.stringify(parser)}).then(async ({DumpParser})=>{let n=0;const {pipeline}=await import("node:stream/promises");await pipeline(process.stdin,new DumpParser({volume(){},vnode(){n++}}));console.error("vnodes "+n+" rss "+process.resourceUsage().maxRSS)})'`;
  const z = timed(`zstd -dc ${zst} > /dev/null`);
  const n = timed(`zstd -dc ${zst} | ${drop}`);
  const out = spawnSync('bash', ['-c', `TIMEFORMAT='%R %U %S'; time { zstd -dc ${zst} | ${parse} ; }`], {
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error(out.stderr);
  const lines = out.stderr.trim().split('\n');
  const [wall, user, sys] = lines.at(-1)!.split(' ').map(Number);
  const p = { wall: wall!, cpu: user! + sys! };
  const m = /vnodes (\d+) rss (\d+)/.exec(out.stderr)!;
  const rawBytes = mib * 2 ** 20;
  console.log(
    `dump: ${mib} MiB raw, ${(statSync(zst).size / 2 ** 20).toFixed(0)} MiB stored, ${m[1]} vnodes`,
  );
  for (const [k, v] of [
    ['(z) zstd -d alone', z],
    ['(n) through node', n],
    ['(p) parsed', p],
  ] as const)
    console.log(`${k.padEnd(20)} ${v.wall.toFixed(2)} s wall, ${v.cpu.toFixed(2)} CPU-s`);
  console.log(
    `parser peak RSS ${(Number(m[2]) / 1024).toFixed(1)} MiB; ${(Number(m[1]) / p.wall).toFixed(0)} vnodes/s; ${(rawBytes / 2 ** 20 / p.wall).toFixed(0)} MiB/s`,
  );
  console.log(
    `summary: p/z_cpu=${(p.cpu / z.cpu).toFixed(2)} p/n_cpu=${(p.cpu / n.cpu).toFixed(2)} parse_cpu_per_gib=${((p.cpu - z.cpu) / (rawBytes / 2 ** 30)).toFixed(2)}`,
  );
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  rmSync(dir, { recursive: true, force: true });
  console.error(err);
  process.exit(1);
});
