// Benchmark: which archive engine for the nightly dumps. restic (what afsbot uses today) against borg
// with several chunker settings, on synthetic AFS-dump-like files, three nights, two change patterns,
// every engine into its own fresh repository, all in one run. No cell is needed.
//
//   npx tsx bench/engines.ts > report.md      (as root or not, from the repo root; progress on stderr)
//
// Pattern A ("benchmark"): 20 volumes of 13 MiB random + 13 MiB log-like text. Night 1 full dumps;
// night 2 incrementals (each random file whole, 130 KiB rewritten in its middle); night 3 weekly fulls.
// Pattern B ("home volume"): 20 volumes of ~26 MiB, a maildir of ~900 mails of 2..50 KiB and four large
// files. Night 2: ~1% new mails, ~1% appended to two large files, five mails deleted; night 3 fulls.
//
// For each engine, pattern and night: wall and CPU seconds and peak RSS of the engine's processes
// (through /usr/bin/time), and the repository's growth. Then its index size, and the time to read one
// volume's night-2 chain (full + incremental) back out, against cat / zstd -dc of the local files.
// It prints figures and asserts nothing; it stops only when a step it depends on fails.
import { createCipheriv, createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
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
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { prng, textLike } from './data.ts';
import { run, stopChildrenOnSignal } from './proc.ts';

const VOLUMES = Number(process.env.AFSBOT_BENCH_VOLUMES ?? 20);
const ROUNDS = Number(process.env.AFSBOT_BENCH_ROUNDS ?? 3); // restore rounds per side
const ONLY = process.env.AFSBOT_BENCH_ENGINES?.split(',').filter(Boolean); // a subset, by key
const KEEP = process.env.AFSBOT_BENCH_KEEP === '1'; // leave the temp dir (repositories, dumps) behind
const PARALLEL = 2; // zstd compressions at once, as afsbot's nightly.perServer

const KiB = 1024;
const MiB = KiB * KiB;
const MB = 1e6;
const HALF = 13 * MiB; // pattern A: this much random data and this much text per volume
const CHANGE = 130 * KiB; // pattern A, night 2: rewritten in the middle of each random file
const ZSTD = ['-3', '--rsyncable', '-T1', '-q']; // afsbot's dump compression (actions/dump.ts)

const t0 = performance.now();
const say = (text: string) =>
  process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(1)}s] ${text}\n`);

// ------------------------------------------------------------------------------------------- engines
interface Engine {
  key: string;
  /** For the summary line. */
  short: string;
  tool: 'restic' | 'borg';
  /** zst: the zstd --rsyncable files; raw: the uncompressed dumps; fifo: `zstd -dc` into named pipes. */
  input: 'zst' | 'raw' | 'fifo';
  chunker?: string;
  what: string;
}

const C64K = 'buzhash,14,20,16,4095';
const ALL_ENGINES: Engine[] = [
  {
    key: 'restic-zst',
    short: 'restic',
    tool: 'restic',
    input: 'zst',
    what: "today's afsbot: the .zst files, --compression auto",
  },
  {
    key: 'restic-raw',
    short: 'resticraw',
    tool: 'restic',
    input: 'raw',
    what: 'raw dumps, --compression auto',
  },
  {
    key: 'borg-2m',
    short: 'borg2m',
    tool: 'borg',
    input: 'raw',
    chunker: 'buzhash,19,23,21,4095',
    what: "borg's default chunker (2 MiB average), raw, zstd,3",
  },
  {
    key: 'borg-256k',
    short: 'borg256k',
    tool: 'borg',
    input: 'raw',
    chunker: 'buzhash,16,22,18,4095',
    what: '256 KiB average, raw, zstd,3',
  },
  {
    key: 'borg-64k',
    short: 'borg64k',
    tool: 'borg',
    input: 'raw',
    chunker: C64K,
    what: '64 KiB average, raw, zstd,3',
  },
  {
    key: 'borg-64k-zst',
    short: 'borg64kzst',
    tool: 'borg',
    input: 'zst',
    chunker: C64K,
    what: '64 KiB average, the .zst files, zstd,3',
  },
  {
    key: 'borg-64k-fifo',
    short: 'borg64kfifo',
    tool: 'borg',
    input: 'fifo',
    chunker: C64K,
    what: '64 KiB average, `zstd -dc` of the .zst files into FIFOs, --read-special',
  },
  {
    key: 'borg-16k',
    short: 'borg16k',
    tool: 'borg',
    input: 'raw',
    chunker: 'buzhash,12,20,14,4095',
    what: '16 KiB average, raw, zstd,3',
  },
];
const ENGINES = ONLY ? ALL_ENGINES.filter((e) => ONLY.includes(e.key)) : ALL_ENGINES;

stopChildrenOnSignal(say);

interface Cost {
  wall: number;
  cpu: number;
  rssMiB: number;
}

/** Reads what `/usr/bin/time -f '%e %U %S %M' -o FILE` wrote: CPU (user+sys) and peak RSS. */
function readTime(file: string): { cpu: number; rssMiB: number } {
  const last = readFileSync(file, 'utf8').trim().split('\n').at(-1) ?? '';
  const [, user = 0, sys = 0, rssKiB = 0] = last.split(/\s+/).map(Number);
  return { cpu: user + sys, rssMiB: rssKiB / 1024 };
}

let timeFiles = 0;
/**
 * Runs a program under /usr/bin/time: wall seconds (performance.now around it), user+sys CPU of it and
 * every descendant it waited for, and the peak RSS of the largest of them.
 */
async function timed(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<Cost> {
  const tf = join(work, `time.${++timeFiles}`);
  const started = performance.now();
  await run('/usr/bin/time', ['-f', '%e %U %S %M', '-o', tf, program, ...args], env);
  const wall = (performance.now() - started) / 1000;
  const t = readTime(tf);
  rmSync(tf);
  return { wall, ...t };
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await work(x);
    }),
  );
}

function bytesUnder(dir: string, match: (name: string) => boolean = () => true): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => match(f.split('/').at(-1) ?? f))
    .map((f) => statSync(join(dir, f)))
    .filter((st) => st.isFile())
    .reduce((a, st) => a + st.size, 0);
}

const sq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

// --------------------------------------------------------------------------------------- dump model
/** Pseudo-random bytes from a label (AES-CTR of zeros): incompressible and the same on every run. */
function seeded(label: string, n: number): Buffer {
  const key = createHash('sha256').update(label).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

interface Vnode {
  vnode: number;
  uniq: number;
  dir: boolean;
  parent: number;
  name: string;
  dataVersion: number;
  mtime: number;
  data: Buffer; // files only; a directory's contents are made from its entries when it is dumped
  dirty: boolean; // changed since the last dump
}

/**
 * A volume, enough like AFS's to make dump files with its layout: directories are the odd (large)
 * vnodes and files the even (small) ones; a freed file vnode is reused by the next file created; a
 * dump is the volume header, then the directory vnodes, then the file vnodes, each in vnode order.
 */
class Volume {
  readonly nodes = new Map<number, Vnode>();
  private nextDir = 1;
  private nextFile = 2;
  private free: number[] = [];
  private nextUniq = 1;

  constructor(
    readonly name: string,
    readonly id: number,
  ) {}

  private touchDir(dir: number, t: number): void {
    const d = this.nodes.get(dir)!;
    d.dataVersion++;
    d.mtime = t;
    d.dirty = true;
  }

  mkdir(parent: number, name: string, t: number): number {
    const vnode = this.nextDir;
    this.nextDir += 2;
    this.nodes.set(vnode, {
      vnode,
      uniq: this.nextUniq++,
      dir: true,
      parent: parent || vnode,
      name,
      dataVersion: 1,
      mtime: t,
      data: Buffer.alloc(0),
      dirty: true,
    });
    if (parent) this.touchDir(parent, t);
    return vnode;
  }

  create(parent: number, name: string, data: Buffer, t: number): number {
    let vnode = this.free.shift();
    if (vnode === undefined) {
      vnode = this.nextFile;
      this.nextFile += 2;
    }
    this.nodes.set(vnode, {
      vnode,
      uniq: this.nextUniq++,
      dir: false,
      parent,
      name,
      dataVersion: 1,
      mtime: t,
      data,
      dirty: true,
    });
    this.touchDir(parent, t);
    return vnode;
  }

  remove(vnode: number, t: number): void {
    const v = this.nodes.get(vnode)!;
    this.nodes.delete(vnode);
    this.free.push(vnode);
    this.free.sort((a, b) => a - b);
    this.touchDir(v.parent, t);
  }

  write(vnode: number, data: Buffer, t: number): void {
    const v = this.nodes.get(vnode)!;
    v.data = data;
    v.dataVersion++;
    v.mtime = t;
    v.dirty = true;
  }

  fileBytes(): number {
    let n = 0;
    for (const v of this.nodes.values()) n += v.data.length;
    return n;
  }

  /** A directory's contents: a 2 KiB header page (entry count, hash buckets), then 32-byte entry slots. */
  private dirData(dir: number): Buffer {
    const entries = [...this.nodes.values()]
      .filter((v) => v.parent === dir && v.vnode !== dir)
      .sort((a, b) => a.vnode - b.vnode);
    const header = Buffer.alloc(2048);
    header.writeUInt32BE(entries.length, 0);
    const slots: Buffer[] = [header];
    for (const [i, e] of entries.entries()) {
      const name = Buffer.from(`${e.name}\0`);
      const slot = Buffer.alloc(Math.ceil((8 + name.length) / 32) * 32);
      slot.writeUInt32BE(e.vnode, 0);
      slot.writeUInt32BE(e.uniq, 4);
      name.copy(slot, 8);
      slots.push(slot);
      const bucket = createHash('md5').update(e.name).digest().readUInt16BE(0) % 1000;
      header.writeUInt16BE(i + 1, 8 + bucket * 2);
    }
    const body = Buffer.concat(slots);
    return Buffer.concat([body, Buffer.alloc((2048 - (body.length % 2048)) % 2048)]);
  }

  /** A 64-byte vnode header, as a dump has before each vnode. */
  private vnodeHeader(v: Vnode, length: number, withData: boolean): Buffer {
    const h = Buffer.alloc(64);
    h.write('V', 0);
    h.writeUInt32BE(v.vnode, 1);
    h.writeUInt32BE(v.uniq, 5);
    h.writeUInt8(v.dir ? 2 : 1, 9);
    h.writeUInt16BE(1, 10); // link count
    h.writeUInt32BE(v.dataVersion, 12);
    h.writeUInt32BE(v.mtime, 16); // unix modify time
    h.writeUInt32BE(1000 + (v.uniq % 7), 20); // author
    h.writeUInt32BE(1000 + (v.uniq % 7), 24); // owner
    h.writeUInt32BE(100, 28); // group
    h.writeUInt32BE(v.parent, 32);
    h.writeUInt32BE(v.mtime, 36); // server modify time
    h.writeUInt16BE(v.dir ? 0o755 : 0o644, 40);
    h.writeBigUInt64BE(BigInt(length), 42);
    h.write(withData ? 'f' : '-', 50);
    return h;
  }

  /**
   * Writes a dump: a full holds every vnode with its contents; an incremental, like `vos dump -time`,
   * holds every directory vnode's header but only the changed directories' contents, and the changed
   * files whole. Afterwards nothing is dirty. Returns the dump's size.
   */
  dump(file: string, level: 'full' | 'incremental', fromTime: number, dumpTime: number): number {
    const fd = openSync(file, 'w');
    let size = 0;
    const put = (b: Buffer) => {
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
      size += b.length;
    };
    const head = Buffer.alloc(256);
    head.write('AFSDUMP\0', 0);
    head.writeUInt32BE(this.id, 8);
    head.write(level === 'full' ? 'F' : 'I', 12);
    head.writeUInt32BE(fromTime, 13);
    head.writeUInt32BE(dumpTime, 17);
    head.write(this.name, 21);
    head.writeUInt32BE(this.nodes.size, 96);
    head.writeBigUInt64BE(BigInt(this.fileBytes()), 100);
    seeded(`header/${this.name}`, 128).copy(head, 128); // the volume header's other fields
    put(head);
    const ordered = [...this.nodes.values()].sort((a, b) => a.vnode - b.vnode);
    for (const v of ordered.filter((x) => x.dir)) {
      const withData = level === 'full' || v.dirty;
      const data = withData ? this.dirData(v.vnode) : Buffer.alloc(0);
      put(this.vnodeHeader(v, data.length, withData));
      put(data);
    }
    for (const v of ordered.filter((x) => !x.dir && (level === 'full' || x.dirty))) {
      put(this.vnodeHeader(v, v.data.length, true));
      put(v.data);
    }
    const end = Buffer.alloc(16);
    end.write('ENDDUMP\0', 0);
    end.writeBigUInt64BE(BigInt(size), 8);
    put(end);
    closeSync(fd);
    for (const v of this.nodes.values()) v.dirty = false;
    return size;
  }
}

// ------------------------------------------------------------------------------------- the data set
type PatternKey = 'A' | 'B';
const PATTERNS: { key: PatternKey; what: string }[] = [
  { key: 'A', what: 'benchmark: 13 MiB random + 13 MiB text; 130 KiB rewritten per volume' },
  { key: 'B', what: 'home volume: maildir + 4 large files; new mails, appends, deletes' },
];
const NIGHTS = [
  { night: 1, date: '2025.03.01', level: 'full' as const, time: 1_740_794_400 },
  { night: 2, date: '2025.03.02', level: 'incremental' as const, time: 1_740_880_800 },
  { night: 3, date: '2025.03.03', level: 'full' as const, time: 1_740_967_200 },
];

interface DumpItem {
  volume: string;
  raw: string;
  zst: string;
  json: string;
  rawBytes: number;
  zstBytes: number;
}
interface NightSet {
  items: DumpItem[];
  /** Bytes of file contents that were not there the night before: new, rewritten or appended. */
  changed: number;
  /** The same bytes (all volumes' in one stream) through zstd -3: what an ideal archive would store. */
  changedZst: number;
  zstd: Cost;
}
const nightSets = new Map<string, NightSet>(); // `${pattern}${night}`
const setOf = (p: PatternKey, night: number) => nightSets.get(`${p}${night}`)!;

function addDump(p: PatternKey, night: number, vol: Volume, size: number, file: string): void {
  let s = nightSets.get(`${p}${night}`);
  if (!s) {
    s = { items: [], changed: 0, changedZst: 0, zstd: { wall: 0, cpu: 0, rssMiB: 0 } };
    nightSets.set(`${p}${night}`, s);
  }
  s.items.push({
    volume: vol.name,
    raw: file,
    zst: `${file}.zst`,
    json: `${file}.json`,
    rawBytes: size,
    zstBytes: 0,
  });
}

/** Night 2's changed bytes go to this file too, so that compress() can measure them through zstd. */
const changedFile = (p: PatternKey) => join(work, `changed.${p}`);
function noteChanged(p: PatternKey, b: Buffer): void {
  appendFileSync(changedFile(p), b);
  setOf(p, 2).changed += b.length;
}

function dumpNight(p: PatternKey, vol: Volume, night: (typeof NIGHTS)[number], from: number): void {
  const dir = join(work, 'dumps', p, night.date);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${vol.name}.${night.level}.dump`);
  addDump(p, night.night, vol, vol.dump(file, night.level, from, night.time), file);
}

/** Pattern A: random.bin and text.log; night 2 rewrites 130 KiB in the middle of random.bin. */
function patternA(i: number): void {
  const [n1, n2, n3] = NIGHTS as [(typeof NIGHTS)[0], (typeof NIGHTS)[1], (typeof NIGHTS)[2]];
  const vol = new Volume(`bn.${String(i + 1).padStart(2, '0')}`, 536_870_912 + i * 3);
  const root = vol.mkdir(0, '.', n1.time - 86_400);
  const random = vol.create(root, 'random.bin', seeded(`A/${i}/random`, HALF), n1.time - 86_400);
  vol.create(root, 'text.log', textLike(HALF, i + 1), n1.time - 86_400);
  dumpNight('A', vol, n1, 0);
  const data = Buffer.from(vol.nodes.get(random)!.data);
  const change = seeded(`A/${i}/night2`, CHANGE);
  change.copy(data, Math.floor(HALF / 2));
  vol.write(random, data, n2.time - 3600);
  dumpNight('A', vol, n2, n1.time);
  noteChanged('A', change);
  dumpNight('A', vol, n3, 0);
}

/** Log-like text handed out in order, so no two mails or appends share a byte sequence. */
class TextPool {
  private buf: Buffer;
  private at = 0;
  private refills = 0;
  constructor(private readonly seed: number) {
    this.buf = textLike(12 * MiB, seed);
  }
  take(n: number): Buffer {
    if (this.at + n > this.buf.length) {
      this.buf = textLike(Math.max(n, 4 * MiB), this.seed * 1000 + ++this.refills);
      this.at = 0;
    }
    this.at += n;
    return this.buf.subarray(this.at - n, this.at);
  }
}

const SUBJECTS = 'quota restore release volume meeting thesis draft review backup cell lunch report'.split(
  ' ',
);

/** A mail of `size` bytes: headers, a text body, and a base64 attachment in one mail of four. */
function mail(next: () => number, pool: TextPool, size: number, label: string, t: number): Buffer {
  const id = `${next().toString(16)}${next().toString(16)}`;
  const head =
    `Return-Path: <u${next() % 400}@example.org>\nDate: ${new Date(t * 1000).toUTCString()}\n` +
    `From: user${next() % 400} <u${next() % 400}@example.org>\nTo: <owner@example.edu>\n` +
    `Subject: ${SUBJECTS[next() % SUBJECTS.length]} ${SUBJECTS[next() % SUBJECTS.length]} ${next() % 1000}\n` +
    `Message-ID: <${id}@mail.example.org>\nMIME-Version: 1.0\n\n`;
  const parts: Buffer[] = [Buffer.from(head)];
  let left = size - parts[0]!.length;
  if (next() % 4 === 0 && left > 4 * KiB) {
    const b64 = Buffer.from(seeded(label, Math.floor((left / 2) * 0.75)).toString('base64'));
    parts.push(b64);
    left -= b64.length;
  }
  if (left > 0) parts.push(pool.take(left));
  return Buffer.concat(parts).subarray(0, size);
}

/** Pattern B: a home volume. Night 2: new mails (~1%), appends (~1%) to two large files, 5 deletes. */
function patternB(i: number): void {
  const [n1, n2, n3] = NIGHTS as [(typeof NIGHTS)[0], (typeof NIGHTS)[1], (typeof NIGHTS)[2]];
  const vol = new Volume(`home.${String(i + 1).padStart(2, '0')}`, 536_880_000 + i * 3);
  const next = prng(30_000 + i);
  const pool = new TextPool(20_000 + i);
  let t = n1.time - 90 * 86_400;
  const root = vol.mkdir(0, '.', t);
  const maildir = vol.mkdir(root, 'Maildir', t);
  const cur = vol.mkdir(maildir, 'cur', t);
  const docs = vol.mkdir(root, 'Documents', t);
  const sent = vol.create(maildir, 'Sent.mbox', textLike(3.5 * MiB, 10_000 + i * 4), t);
  vol.create(docs, 'photos.tar', seeded(`B/${i}/photos`, 4 * MiB), t);
  vol.create(docs, 'thesis.pdf', seeded(`B/${i}/thesis`, 2.5 * MiB), t);
  const notes = vol.create(docs, 'notes.log', textLike(3 * MiB, 10_001 + i * 4), t);
  const mails: number[] = [];
  let m = 0;
  const newMail = (when: number) => {
    const size = Math.round(2 * KiB * 25 ** (next() / 2 ** 32)); // log-uniform, 2..50 KiB
    const body = mail(next, pool, size, `B/${i}/mail/${m}`, when);
    mails.push(vol.create(cur, `${when}.M${m++}P${next() % 30_000}.mail,S=${size}:2,S`, body, when));
    return body;
  };
  for (let mailBytes = 0; mailBytes < 13 * MiB; ) {
    t += 1 + (next() % 9000);
    mailBytes += newMail(t).length;
  }
  dumpNight('B', vol, n1, 0);

  const t2 = n2.time - 7200;
  for (let k = 0; k < 5; k++) vol.remove(mails.splice(next() % mails.length, 1)[0]!, t2);
  const onePercent = Math.round(0.01 * vol.fileBytes());
  const changed: Buffer[] = [];
  for (let k = 1, n = 0; n < onePercent; k++) {
    changed.push(newMail(t2 + k * 60));
    n += changed.at(-1)!.length;
  }
  for (const f of [sent, notes]) {
    const add = pool.take(Math.round(onePercent / 2));
    vol.write(f, Buffer.concat([vol.nodes.get(f)!.data, add]), t2);
    changed.push(add);
  }
  dumpNight('B', vol, n2, n1.time);
  for (const b of changed) noteChanged('B', b);
  dumpNight('B', vol, n3, 0);
}

/** zstd -3 --rsyncable of every dump, two at a time, and the JSON sidecars. */
async function compress(): Promise<void> {
  for (const [key, s] of nightSets) {
    const started = performance.now();
    let cpu = 0;
    await pool(s.items, PARALLEL, async (it) => {
      const c = await timed('zstd', [...ZSTD, '-f', it.raw, '-o', it.zst], process.env);
      cpu += c.cpu;
      it.zstBytes = statSync(it.zst).size;
      const [p, n] = [key[0], Number(key[1])];
      const night = NIGHTS[n - 1]!;
      writeFileSync(
        it.json,
        `${JSON.stringify({ volume: it.volume, pattern: p, level: night.level, date: night.date, raw_bytes: it.rawBytes, zst_bytes: it.zstBytes, clone_time: night.time })}\n`,
      );
    });
    s.zstd = { wall: (performance.now() - started) / 1000, cpu, rssMiB: 0 };
  }
  for (const p of ['A', 'B'] as const) {
    await run('zstd', ['-3', '-T1', '-q', '-f', changedFile(p), '-o', `${changedFile(p)}.zst`]);
    setOf(p, 2).changedZst = statSync(`${changedFile(p)}.zst`).size;
  }
}

// ------------------------------------------------------------------------------------ repositories
interface Repo {
  engine: Engine;
  pattern: PatternKey;
  path: string;
  env: NodeJS.ProcessEnv;
  cache: string;
  nights: { cost: Cost; growth: number; engineCpu?: number }[];
}

const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('RESTIC_') && !k.startsWith('BORG_')),
);

function repoFor(engine: Engine, pattern: PatternKey, pwFile: string): Repo {
  const name = `${engine.key}.${pattern}`;
  const cache = join(work, 'cache', name);
  const env: NodeJS.ProcessEnv =
    engine.tool === 'restic'
      ? { ...cleanEnv, RESTIC_PASSWORD_FILE: pwFile, RESTIC_CACHE_DIR: cache }
      : {
          ...cleanEnv,
          BORG_PASSCOMMAND: `cat ${pwFile}`,
          BORG_BASE_DIR: cache,
          BORG_DISPLAY_PASSPHRASE: 'n',
        };
  return { engine, pattern, path: join(work, 'repos', name), env, cache, nights: [] };
}

async function init(r: Repo): Promise<void> {
  if (r.engine.tool === 'restic')
    await run('restic', ['init', '-r', r.path, '--repository-version', '2', '--quiet'], r.env);
  // repokey: AES-CTR + HMAC-SHA256. This CPU has SHA extensions, where SHA-256 beats BLAKE2b.
  else await run('borg', ['init', '--encryption', 'repokey', r.path], r.env);
}

const fifoOf = (it: DumpItem) => it.raw.replace(`${join(work, 'dumps')}/`, `${join(work, 'fifo')}/`);

/** One night's batch into one repository: one `restic backup` or one `borg create`. */
async function backup(r: Repo, night: (typeof NIGHTS)[number]): Promise<{ cost: Cost; engineCpu?: number }> {
  const items = setOf(r.pattern, night.night).items;
  const e = r.engine;
  const dumps = items.map((it) => (e.input === 'zst' ? it.zst : e.input === 'raw' ? it.raw : fifoOf(it)));
  const paths = items.flatMap((it, k) => [dumps[k]!, it.json]);
  if (e.tool === 'restic') {
    const list = join(work, 'files-from');
    writeFileSync(list, `${paths.join('\n')}\n`);
    const tags = [
      'afsbot',
      `date:${night.date}`,
      `level:${night.level}`,
      ...items.map((it) => `volume:${it.volume}`),
    ];
    const args = ['-r', r.path, '--compression', 'auto', 'backup', '--files-from-verbatim', list];
    const cost = await timed(
      'restic',
      [...args, '--host', 'afsbot', ...tags.flatMap((t) => ['--tag', t]), '-q'],
      r.env,
    );
    return { cost };
  }
  const create = [
    'create',
    '--compression',
    'zstd,3',
    '--chunker-params',
    e.chunker!,
    ...(e.input === 'fifo' ? ['--read-special'] : []),
    `${r.path}::afsbot-${night.date}`,
    ...paths,
  ];
  if (e.input !== 'fifo') return { cost: await timed('borg', create, r.env) };
  // FIFO feeding: one `zstd -dc` per dump, each blocked on opening its FIFO until borg opens it. If borg
  // fails, the writers still waiting are stopped (they are this script's children, in its group).
  const fifos = items.map(fifoOf);
  mkdirSync(join(fifos[0]!, '..'), { recursive: true });
  await run('mkfifo', fifos);
  const borgTime = join(work, 'time.borg');
  const script = [
    ...items.map((it, k) => `zstd -dcq -- ${sq(it.zst)} > ${sq(fifos[k]!)} &`),
    `/usr/bin/time -f '%e %U %S %M' -o ${sq(borgTime)} borg ${create.map(sq).join(' ')}`,
    'rc=$?',
    '[ $rc -eq 0 ] || kill $(jobs -p) 2>/dev/null',
    'wait',
    'exit $rc',
  ].join('\n');
  const cost = await timed('bash', ['-c', script], r.env);
  const engineCpu = readTime(borgTime).cpu;
  rmSync(borgTime);
  rmSync(join(fifos[0]!, '..'), { recursive: true, force: true });
  return { cost, engineCpu };
}

interface After {
  index: number;
  chunks: number;
  /** Unique chunks' bytes before compression. */
  uniqueRaw: number;
  clientCache: number;
  chunksCache: number;
}

/** After night 3: the repository's index, its unique chunks and the client-side cache. */
async function inspect(r: Repo): Promise<After> {
  if (r.engine.tool === 'restic') {
    // restic 0.14's stats has no uncompressed total: the index files list each blob's sizes
    let chunks = 0;
    let uniqueRaw = 0;
    const ids = (await run('restic', ['-r', r.path, 'list', 'index', '--no-lock'], r.env)).stdout.split('\n');
    for (const id of ids.filter(Boolean)) {
      const idx = JSON.parse(
        (await run('restic', ['-r', r.path, 'cat', 'index', id, '--no-lock'], r.env)).stdout,
      ) as {
        packs: { blobs: { length: number; uncompressed_length?: number }[] }[];
      };
      for (const b of idx.packs.flatMap((pk) => pk.blobs)) {
        chunks++;
        uniqueRaw += b.uncompressed_length ?? b.length;
      }
    }
    return {
      index: bytesUnder(join(r.path, 'index')),
      chunks,
      uniqueRaw,
      clientCache: bytesUnder(r.cache),
      chunksCache: 0,
    };
  }
  const info = JSON.parse((await run('borg', ['info', '--json', r.path], r.env)).stdout) as {
    cache?: { stats?: { total_unique_chunks?: number; unique_size?: number } };
  };
  return {
    index: bytesUnder(r.path, (n) => /^(index|hints)\.\d+$/.test(n)),
    chunks: info.cache?.stats?.total_unique_chunks ?? 0,
    uniqueRaw: info.cache?.stats?.unique_size ?? 0,
    clientCache: bytesUnder(r.cache),
    chunksCache: bytesUnder(r.cache, (n) => n === 'chunks'),
  };
}

/** Reads volume 1's night-2 chain (night-1 full, night-2 incremental) out as a raw dump stream. */
async function restoreChain(r: Repo, pattern: PatternKey): Promise<Cost> {
  const chain = [setOf(pattern, 1).items[0]!, setOf(pattern, 2).items[0]!];
  const e = r.engine;
  const sink = e.input === 'zst' ? '| zstd -dcq > /dev/null' : '> /dev/null';
  let cmds: string[];
  if (e.tool === 'restic') {
    const snaps = JSON.parse(
      (await run('restic', ['-r', r.path, 'snapshots', '--json', '--no-lock'], r.env)).stdout,
    ) as { short_id: string; tags?: string[] }[];
    cmds = chain.map((it, k) => {
      const snap = snaps.find((s) => s.tags?.includes(`date:${NIGHTS[k]!.date}`))!;
      return `restic -r ${sq(r.path)} dump ${snap.short_id} ${sq(e.input === 'zst' ? it.zst : it.raw)} ${sink}`;
    });
  } else {
    cmds = chain.map((it, k) => {
      const stored = (e.input === 'zst' ? it.zst : e.input === 'raw' ? it.raw : fifoOf(it)).slice(1);
      return `borg extract --stdout ${sq(`${r.path}::afsbot-${NIGHTS[k]!.date}`)} ${sq(stored)} ${sink}`;
    });
  }
  return timed('bash', ['-o', 'pipefail', '-c', cmds.join(' && ')], r.env);
}

// ------------------------------------------------------------------------------------------ report
function mdTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);
const mb = (x: number) => (x / MB).toFixed(1);

// ------------------------------------------------------------------------------------------------ run
const work = mkdtempSync('/var/tmp/afsbot-bench-engines-');
const repos: Repo[] = [];
try {
  say(
    `${availableParallelism()} cores; ${VOLUMES} volumes per pattern; engines: ${ENGINES.map((e) => e.key).join(', ')}`,
  );
  say(`temp dir ${work}`);
  const pwFile = join(work, 'password');
  writeFileSync(pwFile, `${seeded('password', 24).toString('hex')}\n`, { mode: 0o600 });

  for (let i = 0; i < VOLUMES; i++) patternA(i);
  say(`pattern A: ${VOLUMES} volumes, 3 nights of dumps written`);
  for (let i = 0; i < VOLUMES; i++) patternB(i);
  say(`pattern B: ${VOLUMES} volumes, 3 nights of dumps written`);
  await compress();
  for (const p of PATTERNS)
    for (const n of NIGHTS) {
      const s = setOf(p.key, n.night);
      const raw = s.items.reduce((a, it) => a + it.rawBytes, 0);
      const zst = s.items.reduce((a, it) => a + it.zstBytes, 0);
      say(`  ${p.key} night ${n.night}: raw ${mb(raw)} MB, zst ${mb(zst)} MB, changed ${mb(s.changed)} MB`);
    }

  for (const e of ENGINES)
    for (const p of PATTERNS) {
      const r = repoFor(e, p.key, pwFile);
      await init(r);
      repos.push(r);
    }
  say(`${repos.length} repositories initialised`);

  for (const night of NIGHTS)
    for (const p of PATTERNS)
      for (const r of repos.filter((x) => x.pattern === p.key)) {
        await run('sync', []); // nobody pays for the previous engine's write-back
        const before = bytesUnder(r.path);
        const b = await backup(r, night);
        const growth = bytesUnder(r.path) - before;
        r.nights.push({ ...b, growth });
        say(
          `night ${night.night} ${p.key} ${r.engine.key}: ${f2(b.cost.wall)} s, CPU ${f2(b.cost.cpu)} s, ` +
            `RSS ${f1(b.cost.rssMiB)} MiB, +${mb(growth)} MB`,
        );
      }

  const after = new Map<Repo, After>();
  for (const r of repos) after.set(r, await inspect(r));

  // restore: volume 1's night-2 chain, rounds alternating with the local-file baselines
  const restores = new Map<string, Cost[]>(); // `${label}.${pattern}`
  const add = (k: string, c: Cost) => restores.set(k, [...(restores.get(k) ?? []), c]);
  for (const p of PATTERNS) {
    const chain = [setOf(p.key, 1).items[0]!, setOf(p.key, 2).items[0]!];
    for (let round = 0; round < ROUNDS; round++) {
      add(
        `cat.${p.key}`,
        await timed(
          'bash',
          ['-c', `cat -- ${chain.map((it) => sq(it.raw)).join(' ')} > /dev/null`],
          process.env,
        ),
      );
      add(
        `zstd.${p.key}`,
        await timed(
          'bash',
          ['-c', `zstd -dcq -- ${chain.map((it) => sq(it.zst)).join(' ')} > /dev/null`],
          process.env,
        ),
      );
      for (const r of repos.filter((x) => x.pattern === p.key))
        add(`${r.engine.key}.${p.key}`, await restoreChain(r, p.key));
    }
    say(`restore rounds done for pattern ${p.key}`);
  }
  const totalSeconds = (performance.now() - t0) / 1000;

  // ------------------------------------------------------------------------------------- the report
  const out: string[] = [];
  out.push(
    `# engines: ${VOLUMES} volumes per pattern, ${availableParallelism()} cores, load ${loadavg().map(f2).join(' ')}, run ${f1(totalSeconds)} s`,
    '',
  );
  const dataRows: string[][] = [];
  for (const p of PATTERNS)
    for (const n of NIGHTS) {
      const s = setOf(p.key, n.night);
      const raw = s.items.reduce((a, it) => a + it.rawBytes, 0);
      const zst = s.items.reduce((a, it) => a + it.zstBytes, 0);
      dataRows.push([
        p.key,
        String(n.night),
        n.level,
        mb(raw),
        mb(zst),
        mb(s.changed),
        mb(s.changedZst),
        f2(s.zstd.cpu),
      ]);
    }
  out.push(
    mdTable(
      ['pattern', 'night', 'level', 'raw MB', 'zst MB', 'changed MB', 'changed zst MB', 'zstd -3 CPU s'],
      dataRows,
    ),
    '',
  );

  const fullSize = (p: PatternKey) => setOf(p, 3).items.reduce((a, it) => a + it.rawBytes, 0);
  const ratios = (r: Repo) => {
    const [n1, n2, n3] = r.nights as [Repo['nights'][0], Repo['nights'][0], Repo['nights'][0]];
    const raw1 = setOf(r.pattern, 1).items.reduce((a, it) => a + it.rawBytes, 0);
    return {
      n1,
      n2,
      n3,
      g1: n1.growth / raw1,
      g2: n2.growth / setOf(r.pattern, 2).changed,
      g2z: n2.growth / setOf(r.pattern, 2).changedZst,
      g3: n3.growth / fullSize(r.pattern),
    };
  };
  const rows: string[][] = [];
  for (const r of repos) {
    const { n1, n2, n3, g1, g2, g2z, g3 } = ratios(r);
    const cpu = (n: (typeof r.nights)[number]) =>
      n.engineCpu === undefined ? f1(n.cost.cpu) : `${f1(n.cost.cpu)} (${f1(n.engineCpu)})`;
    rows.push([
      r.engine.key,
      r.pattern,
      ...[n1, n2, n3].flatMap((n) => [f1(n.cost.wall), cpu(n), mb(n.growth)]),
      f1(Math.max(n1.cost.rssMiB, n2.cost.rssMiB, n3.cost.rssMiB)),
      f2(g1),
      f2(g2),
      f2(g2z),
      f3(g3),
      mb(bytesUnder(r.path)),
    ]);
  }
  out.push(
    'Per engine and pattern: wall s, CPU s (user+sys), repository growth MB for nights 1, 2, 3. For the',
    'FIFO engine, CPU includes the zstd -dc feeders; borg alone in brackets. RSS: peak of the engine.',
    'n1/raw: night-1 growth / raw dump bytes; n2/changed: night-2 growth / changed bytes (n2/chg.zst: / the',
    'changed bytes through zstd -3); n3/full: night-3 growth / raw bytes of the night-3 fulls; repo MB: the',
    'repository after night 3.',
    '',
    mdTable(
      [
        'engine',
        'pat',
        'n1 s',
        'n1 CPU',
        'n1 MB',
        'n2 s',
        'n2 CPU',
        'n2 MB',
        'n3 s',
        'n3 CPU',
        'n3 MB',
        'RSS MiB',
        'n1/raw',
        'n2/changed',
        'n2/chg.zst',
        'n3/full',
        'repo MB',
      ],
      rows,
    ),
    '',
  );

  const idxRows: string[][] = [];
  const restoreCell = (k: string) => {
    const cs = restores.get(k) ?? [];
    return `${f2(median(cs.map((c) => c.wall)))} (${f2(median(cs.map((c) => c.cpu)))})`;
  };
  for (const e of ENGINES) {
    const a = repos.filter((r) => r.engine === e).map((r) => after.get(r)!);
    const sum = (f: (x: After) => number) => a.reduce((s, x) => s + f(x), 0);
    const [index, chunks, raw, cache, chunksCache] = [
      sum((x) => x.index),
      sum((x) => x.chunks),
      sum((x) => x.uniqueRaw),
      sum((x) => x.clientCache),
      sum((x) => x.chunksCache),
    ];
    const perChunk = chunks ? (index + chunksCache) / chunks : 0;
    const chunksPerTB = raw ? (chunks / raw) * 1e12 : 0;
    idxRows.push([
      e.key,
      String(chunks),
      chunks ? f1(raw / chunks / KiB) : '-',
      f2(index / MB),
      e.tool === 'borg' ? f2(chunksCache / MB) : '-',
      f2(cache / MB),
      f1(perChunk),
      f2(chunksPerTB / 1e6),
      f2((chunksPerTB * perChunk) / 1e9),
      restoreCell(`${e.key}.A`),
      restoreCell(`${e.key}.B`),
    ]);
  }
  const dash = Array<string>(8).fill('-');
  idxRows.push(['(local) cat raw', ...dash, restoreCell('cat.A'), restoreCell('cat.B')]);
  idxRows.push(['(local) zstd -dc .zst', ...dash, restoreCell('zstd.A'), restoreCell('zstd.B')]);
  out.push(
    "After night 3, both patterns' repositories summed: unique chunks and their mean size before",
    "compression; the repository index (restic: index/, compressed JSON; borg: index.N + hints.N); borg's",
    'client chunks cache and the whole client cache dir; bytes of (index + chunks cache) per chunk, and what',
    'that makes per TB of unique dump data (M chunks, GB). Restore: median wall s (CPU s) of reading volume',
    `1's night-2 chain (full + incremental) back out as a raw dump stream to /dev/null, ${ROUNDS} rounds.`,
    '',
    mdTable(
      [
        'engine',
        'chunks',
        'KiB/chunk',
        'index MB',
        'chunks cache MB',
        'cache dir MB',
        'B/chunk',
        'M chunks/TB',
        'GB/TB',
        'restore A s',
        'restore B s',
      ],
      idxRows,
    ),
    '',
  );

  const byKey = new Map(repos.map((r) => [`${r.engine.key}.${r.pattern}`, r]));
  const summary: string[] = [];
  for (const e of ENGINES) {
    const a = byKey.get(`${e.key}.A`);
    const b = byKey.get(`${e.key}.B`);
    if (a) summary.push(`${e.short}_growth2/changed=${f2(ratios(a).g2)}`);
    if (b) summary.push(`${e.short}_home2/changed=${f2(ratios(b).g2)}`);
    if (a) summary.push(`${e.short}_full3/size=${f3(ratios(a).g3)}`);
    if (b) summary.push(`${e.short}_home3/size=${f3(ratios(b).g3)}`);
  }
  const cpu1 = (key: string) =>
    (['A', 'B'] as const).reduce((s, p) => s + (byKey.get(`${key}.${p}`)?.nights[0]?.cost.cpu ?? 0), 0);
  const wall1 = (key: string) =>
    (['A', 'B'] as const).reduce((s, p) => s + (byKey.get(`${key}.${p}`)?.nights[0]?.cost.wall ?? 0), 0);
  if (byKey.has('borg-64k.A') && byKey.has('restic-zst.A'))
    summary.push(`borg64k/restic_cpu1=${f2(cpu1('borg-64k') / cpu1('restic-zst'))}`);
  if (byKey.has('borg-64k.A') && byKey.has('borg-64k-fifo.A'))
    summary.push(`borg64kfifo/borg64k_wall1=${f2(wall1('borg-64k-fifo') / wall1('borg-64k'))}`);
  summary.push(`run_s=${f1(totalSeconds)}`);
  out.push(`summary: ${summary.join(' ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  if (KEEP) say(`kept ${work} (AFSBOT_BENCH_KEEP=1)`);
  else rmSync(work, { recursive: true, force: true });
}
