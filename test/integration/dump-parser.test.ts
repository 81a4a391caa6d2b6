// The dump parser against dumps of the real cell, with two oracles that do not share its code:
// OpenAFS's own restorevol extracting the same full dump, and the FUSE client reading the clone the
// dump was made of (which also shows hard links, which restorevol writes under one name only). An
// incremental is joined with its full and must give the whole volume as of its clone. Cut and
// corrupt dumps fail with an error that says where, and never hang.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DumpParser, type DumpVnode, type DumpVolumeInfo } from '../../actions/dump-parser.ts';
import { joinVnodes, type VnodeState, walkTree } from '../../actions/dump-tree.ts';
import { writeDump } from '../../actions/dump-writer.ts';
import {
  cellVos,
  freshVolume,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  volumePath,
  vosOk,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const VOL = 'dp.tree';
const dir = mkdtempSync(join(tmpdir(), 'afsbot-dumpparse-'));
const longName = `${'long-'.repeat(50)}12345`; // 255 bytes, AFS's limit
const unicode = 'héllo wörld ✓ 日本語.txt';
const big = randomBytes(3_000_000);

type Seen = { kind: string; size: number; target?: string; id: string };

/** What the parser says: every path of the tree, with its kind, size, link target, and vnode. */
async function parse(file: string, base?: Map<number, VnodeState>) {
  const vnodes: DumpVnode[] = [];
  let volume: DumpVolumeInfo | undefined;
  await pipeline(
    Readable.from(readFileSync(file)),
    new DumpParser({
      volume: (v) => {
        volume = v;
      },
      vnode: (v) => vnodes.push(v),
    }),
  );
  const state = joinVnodes(vnodes, base);
  const tree = new Map<string, Seen>();
  for (const e of walkTree(state)) {
    if (e.path === '') continue;
    tree.set(e.path, {
      kind: e.state.kind,
      size: e.state.kind === 'dir' ? 0 : e.state.size,
      ...(e.state.target !== undefined ? { target: e.state.target } : {}),
      id: `${e.state.vnode}.${e.state.unique}`,
    });
  }
  return { volume: volume!, vnodes, state, tree };
}

/** What a file system shows under `root`: the same fields, `id` being the inode (hard links share it). */
function walkFs(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
      out.set(path, {
        kind,
        size: kind === 'dir' ? 0 : st.size,
        ...(kind === 'symlink' ? { target: readlinkSync(join(root, path)) } : {}),
        id: String(st.ino),
      });
      if (kind === 'dir') visit(path);
    }
  };
  visit('');
  return out;
}

/** Equal trees, with hard links compared as "these paths are one file" on both sides. */
function expectSameTree(ours: Map<string, Seen>, theirs: Map<string, Seen>) {
  const strip = (m: Map<string, Seen>) =>
    Object.fromEntries([...m].map(([p, { id: _id, ...rest }]) => [p, rest]));
  expect(strip(ours)).toEqual(strip(theirs));
  const groups = (m: Map<string, Seen>) => {
    const by = new Map<string, string[]>();
    for (const [p, s] of m) if (s.kind === 'file') by.set(s.id, [...(by.get(s.id) ?? []), p]);
    return [...by.values()].map((g) => g.sort().join(' = ')).sort();
  };
  expect(groups(ours)).toEqual(groups(theirs));
}

let fullFile = '';
let incrFile = '';
let cloneTimes: number[] = [];

async function dumpClone(file: string, since: number): Promise<number> {
  await vosOk(vos, ['backup', '-id', VOL]);
  const ex = await vos.examine(`${VOL}.backup`);
  if (!ex.ok) throw new Error(ex.message);
  await vosOk(vos, ['dump', '-id', `${VOL}.backup`, '-time', String(since), '-file', file]);
  return Number(ex.fields.creationDate);
}

beforeAll(async () => {
  await freshVolume(cell, VOL);
  const root = volumePath(cell, VOL);
  mkdirSync(join(root, 'a/b/c/d/e/f/g/h/i/j'), { recursive: true });
  writeVolumeFile(cell, VOL, 'a/b/c/d/e/f/g/h/i/j/deep.txt', 'deep\n');
  mkdirSync(join(root, 'empty'));
  writeVolumeFile(cell, VOL, longName, 'a name of 255 bytes\n');
  writeVolumeFile(cell, VOL, unicode, 'unicode\n');
  writeVolumeFile(cell, VOL, 'big.bin', big);
  writeVolumeFile(cell, VOL, 'one.txt', 'one\n');
  linkSync(join(root, 'one.txt'), join(root, 'one-link.txt'));
  symlinkSync('one.txt', join(root, 'sym'));
  // a directory of several 2 KiB pages: 150 names of 40 bytes take 2 entries each
  mkdirSync(join(root, 'many'));
  for (let i = 0; i < 150; i++)
    writeFileSync(join(root, 'many', `${String(i).padStart(3, '0')}-${'x'.repeat(36)}`), `${i}\n`);
  writeVolumeFile(cell, VOL, 'many/last.txt', 'last\n');
  await nextSecond();
  fullFile = join(dir, 'full.dump');
  cloneTimes = [await dumpClone(fullFile, 0)];
  // the next night: a change, a removal, a rename, a new directory, one more name for a file
  await nextSecond();
  writeVolumeFile(cell, VOL, 'one.txt', 'one, changed\n');
  unlinkSync(join(root, 'sym'));
  renameSync(join(root, 'a/b/c/d/e/f/g/h/i/j/deep.txt'), join(root, 'a/moved.txt'));
  mkdirSync(join(root, 'new'));
  writeVolumeFile(cell, VOL, 'new/file.txt', 'new\n');
  linkSync(join(root, 'many/last.txt'), join(root, 'many/last-again.txt'));
  rmSync(join(root, 'many', `007-${'x'.repeat(36)}`));
  await nextSecond();
  incrFile = join(dir, 'incr.dump');
  cloneTimes.push(await dumpClone(incrFile, cloneTimes[0]!));
}, 180_000);

describe('the dump parser on dumps of the real cell', () => {
  it('reads the headers as vos wrote them', async () => {
    const ex = await vos.examine(VOL);
    if (!ex.ok) throw new Error(ex.message);
    const { volume } = await parse(fullFile);
    expect(volume).toMatchObject({
      name: `${VOL}.backup`,
      fromTime: 0,
      toTime: cloneTimes[0],
      parentId: Number(ex.fields.id),
    });
  });

  it('a full dump: the same tree as restorevol extracts (which writes a hard-linked file under one of its names)', async () => {
    const { tree } = await parse(fullFile);
    const out = join(dir, 'restorevol');
    mkdirSync(out);
    execFileSync('restorevol', ['-file', fullFile, '-dir', out, '-extension', '.x']);
    const theirs = walkFs(join(out, `${VOL}.x`)); // restorevol names it after the read-write volume
    // restorevol writes a file with two names under one of them: every path it wrote is ours, the
    // same; what it left out is only the other names of hard-linked files
    for (const [p, s] of theirs)
      expect(tree.get(p), p).toMatchObject({
        kind: s.kind,
        size: s.size,
        ...(s.target ? { target: s.target } : {}),
      });
    const missing = [...tree.keys()].filter((p) => !theirs.has(p));
    expect(missing.length).toBeLessThanOrEqual(1);
    for (const p of missing) {
      const twin = [...tree].find(([q, x]) => q !== p && x.id === tree.get(p)!.id);
      expect(twin && theirs.has(twin[0]), `${p} is left out by restorevol but is no hard link`).toBe(true);
    }
    expect(tree.get(longName)).toMatchObject({ kind: 'file', size: 20 });
    expect(tree.get(unicode)).toMatchObject({ kind: 'file', size: 8 });
    expect(tree.get('big.bin')).toMatchObject({ kind: 'file', size: big.length });
    expect(tree.get('empty')).toMatchObject({ kind: 'dir' });
    expect([...tree.keys()].filter((p) => p.startsWith('many/'))).toHaveLength(151);
    expect(tree.get('one.txt')!.id).toBe(tree.get('one-link.txt')!.id);
  });

  it('an incremental joined with its full: the whole volume as of its clone, as the FUSE client shows the clone', async () => {
    const full = await parse(fullFile);
    const incr = await parse(incrFile, full.state);
    expect(incr.volume).toMatchObject({ fromTime: cloneTimes[0], toTime: cloneTimes[1] });
    // an incremental carries only what changed: most vnodes are there by number alone
    const bare = incr.vnodes.filter((v) => !v.changed).length;
    expect(bare).toBeGreaterThan(100);
    expect(incr.vnodes.filter((v) => v.changed).length).toBeLessThan(bare);
    expectSameTree(incr.tree, walkFs(volumePath(cell, `${VOL}.backup`)));
    expect(incr.tree.has('sym')).toBe(false);
    expect(incr.tree.get('a/moved.txt')).toMatchObject({ kind: 'file', size: 5 });
    expect(incr.tree.get('one.txt')).toMatchObject({ size: 13 });
  });

  it('an incremental without its base says which vnode it cannot place', async () => {
    await expect(parse(incrFile)).rejects.toThrow(
      /is unchanged since the base dump, but the base does not have it/,
    );
  });
});

describe('mount points and access lists, on a volume restored from a written dump', () => {
  // The FUSE client can make neither (its symlinks keep mode 0755, and it has no ACL call): a dump
  // written with them is restored into the cell, read back through FUSE, dumped by the volserver,
  // and that dump parsed and extracted by restorevol.
  it('the volserver keeps them, and the parser reads them back from its dump', async () => {
    const written = join(dir, 'written.dump');
    writeFileSync(
      written,
      Buffer.concat([
        ...writeDump({
          id: 536999001,
          name: 'dp.written',
          toTime: Math.floor(Date.now() / 1000) - 60,
          vnodes: [
            {
              vnode: 1,
              unique: 1,
              kind: 'dir',
              parent: 0,
              acl: {
                positive: [
                  [-101, 3],
                  [-204, 127],
                ],
              },
              entries: [
                { name: 'home', vnode: 2, unique: 2 },
                { name: 'private', vnode: 3, unique: 3 },
                { name: 'readme.txt', vnode: 4, unique: 4 },
              ],
            },
            {
              vnode: 2,
              unique: 2,
              kind: 'symlink',
              parent: 1,
              mode: 0o644,
              target: `#${cell.cell}:user.alice.`,
            },
            {
              vnode: 3,
              unique: 3,
              kind: 'dir',
              parent: 1,
              acl: { positive: [[1001, 127]], negative: [[1002, 127]] },
              entries: [{ name: 'diary.txt', vnode: 6, unique: 5 }],
            },
            { vnode: 4, unique: 4, kind: 'file', parent: 1, data: Buffer.from('read me\n') },
            { vnode: 6, unique: 5, kind: 'file', parent: 3, data: Buffer.from('dear diary\n') },
          ],
        }),
      ]),
    );
    await removeIfThere(cell, 'dp.written');
    await vosOk(vos, [
      'restore',
      '-server',
      cell.server,
      '-partition',
      cell.partition,
      '-name',
      'dp.written',
      '-file',
      written,
    ]);
    // the file server can look names up in the written directories (their hash chains are right)
    expect(readVolumeFile(cell, 'dp.written', 'readme.txt').toString()).toBe('read me\n');
    const back = join(dir, 'written-back.dump');
    await vosOk(vos, ['dump', '-id', 'dp.written', '-time', '0', '-file', back]);
    const { vnodes, tree } = await parse(back);
    expect(vnodes.find((v) => v.vnode === 2)!.mountPoint).toEqual({
      readWrite: false,
      cell: cell.cell,
      volume: 'user.alice',
    });
    expect(vnodes.find((v) => v.vnode === 1)!.acl).toEqual({
      positive: [
        { id: -101, rights: 3 },
        { id: -204, rights: 127 },
      ],
      negative: [],
    });
    expect(vnodes.find((v) => v.vnode === 3)!.acl).toEqual({
      positive: [{ id: 1001, rights: 127 }],
      negative: [{ id: 1002, rights: 127 }],
    });
    expect([...tree.keys()].sort()).toEqual(['home', 'private', 'private/diary.txt', 'readme.txt']);
    // restorevol sees the same files, the mount point as what it leads to
    const out = join(dir, 'restorevol-written');
    mkdirSync(out);
    const afsRoot = join(dir, 'afs-root'); // restorevol makes mount points symlinks into this
    mkdirSync(afsRoot);
    execFileSync('restorevol', ['-file', back, '-dir', out, '-extension', '.x', '-mountpoint', afsRoot]);
    const theirs = walkFs(join(out, 'dp.written.x'));
    expect([...theirs.keys()].sort()).toEqual(['home', 'private', 'private/diary.txt', 'readme.txt']);
    expect(theirs.get('home')).toMatchObject({ kind: 'symlink' });
    expect(theirs.get('home')!.target).toMatch(/user\.alice/);
    await removeIfThere(cell, 'dp.written');
  });
});

describe('cut and corrupt dumps', () => {
  it('a dump cut anywhere fails saying it was cut short, and where', async () => {
    const whole = readFileSync(fullFile);
    for (const at of [0, 3, 20, 200, 1000, Math.floor(whole.length / 2), whole.length - 1]) {
      const cut = join(dir, `cut-${at}`);
      writeFileSync(cut, whole.subarray(0, at));
      await expect(parse(cut), `cut at ${at}`).rejects.toThrow(
        at === 0
          ? /cut short|not an AFS volume dump/
          : /the dump ends in the middle of .* \(after \d+ bytes\): it was cut short/,
      );
    }
  });

  it('garbage, a broken directory page and bytes after the end are errors, never a hang', async () => {
    const whole = readFileSync(fullFile);
    const garbage = join(dir, 'garbage');
    writeFileSync(garbage, randomBytes(100_000));
    await expect(parse(garbage)).rejects.toThrow(/not an AFS volume dump/);
    // the root directory's page tag (1234), two bytes into its data, where the parser says it starts
    const root = (await parse(fullFile)).vnodes.find((v) => v.vnode === 1)!;
    const broken = Buffer.from(whole);
    expect(broken.readUInt16BE(root.dataOffset! + 2)).toBe(1234);
    broken.writeUInt16BE(0, root.dataOffset! + 2);
    writeFileSync(join(dir, 'broken'), broken);
    await expect(parse(join(dir, 'broken'))).rejects.toThrow(
      /^directory vnode 1 has no directory page tag \(1234\) on its first page \(at byte \d+\)$/,
    );
    writeFileSync(join(dir, 'trailing'), Buffer.concat([whole, Buffer.from('more')]));
    await expect(parse(join(dir, 'trailing'))).rejects.toThrow(/4 bytes follow the end of the dump/);
  });
});
