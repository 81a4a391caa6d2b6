// One path cut out of a whole volume's dump (actions/dump-subtree.ts), on written dumps: the tree of
// the new dump holds the path and the directories down to it, each with the one name on the way; file
// bytes are the original ones; attributes and access lists are kept. The restore a user asks for stages
// this (test/integration/self-service.test.ts has it on the real cell).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DumpParser, type DumpVnode, type DumpVolumeInfo } from '../../actions/dump-parser.ts';
import { SubtreeError, subtreeDump } from '../../actions/dump-subtree.ts';
import { joinVnodes, walkTree } from '../../actions/dump-tree.ts';
import { type WrittenDump, writeDump } from '../../actions/dump-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'afsbot-subtree-'));

async function parseFile(file: string) {
  const vnodes: DumpVnode[] = [];
  let info: DumpVolumeInfo | undefined;
  await pipeline(
    Readable.from([readFileSync(file)]),
    new DumpParser({
      volume: (v) => {
        info = v;
      },
      vnode: (v) => vnodes.push(v),
    }),
  );
  return { info: info!, vnodes };
}

const bytes = (v: DumpVnode, file: string) =>
  readFileSync(file)
    .subarray(v.dataOffset!, v.dataOffset! + v.size!)
    .toString();

async function written(d: WrittenDump, name: string): Promise<string> {
  const f = join(dir, name);
  writeFileSync(f, Buffer.concat([...writeDump(d)]));
  return f;
}

const volume: WrittenDump = {
  id: 536870999,
  name: 'user.alice.backup',
  toTime: 1_800_000_000,
  vnodes: [
    {
      vnode: 1,
      unique: 1,
      kind: 'dir',
      parent: 0,
      acl: { positive: [[-101, 2]] },
      entries: [
        { name: 'thesis', vnode: 3, unique: 2 },
        { name: 'private', vnode: 5, unique: 3 },
        { name: 'todo.txt', vnode: 2, unique: 4 },
      ],
    },
    {
      vnode: 3,
      unique: 2,
      kind: 'dir',
      parent: 1,
      acl: { positive: [[1001, 127]], negative: [[1002, 127]] },
      entries: [
        { name: 'thesis.tex', vnode: 4, unique: 5 },
        { name: 'figures', vnode: 7, unique: 6 },
        { name: 'also-todo.txt', vnode: 2, unique: 4 },
      ],
    },
    { vnode: 5, unique: 3, kind: 'dir', parent: 1, entries: [{ name: 'diary.txt', vnode: 6, unique: 7 }] },
    { vnode: 7, unique: 6, kind: 'dir', parent: 3, entries: [{ name: 'plot.png', vnode: 8, unique: 8 }] },
    { vnode: 2, unique: 4, kind: 'file', parent: 1, linkCount: 2, data: Buffer.from('buy milk\n') },
    {
      vnode: 4,
      unique: 5,
      kind: 'file',
      parent: 3,
      mtime: 1_700_000_000,
      owner: 1001,
      data: Buffer.from('\\chapter{One}\n'),
    },
    { vnode: 6, unique: 7, kind: 'file', parent: 5, data: Buffer.from('dear diary\n') },
    { vnode: 8, unique: 8, kind: 'file', parent: 7, data: Buffer.from('PNG...') },
  ],
};

describe('one path out of a dump', () => {
  it('a directory: it and all under it, and the directories down to it with the one name on the way', async () => {
    const src = await written(volume, 'full.dump');
    const { info, vnodes } = await parseFile(src);
    const cut = await written(subtreeDump(info, vnodes, src, 'thesis', 'rq.1'), 'cut.dump');
    const back = await parseFile(cut);
    const paths = [...walkTree(joinVnodes(back.vnodes))].map((e) => e.path).sort();
    expect(paths).toEqual([
      '',
      'thesis',
      'thesis/also-todo.txt',
      'thesis/figures',
      'thesis/figures/plot.png',
      'thesis/thesis.tex',
    ]);
    const tex = back.vnodes.find((v) => v.vnode === 4)!;
    expect(bytes(tex, cut)).toBe('\\chapter{One}\n');
    expect(tex).toMatchObject({ mtime: 1_700_000_000, owner: 1001, unique: 5 });
    expect(back.vnodes.find((v) => v.vnode === 3)!.acl).toEqual(vnodes.find((v) => v.vnode === 3)!.acl);
    expect(back.vnodes.find((v) => v.vnode === 1)!.acl).toEqual({
      positive: [{ id: -101, rights: 2 }],
      negative: [],
    });
    // the hard-linked file keeps only the name that is inside: linked once
    expect(back.vnodes.find((v) => v.vnode === 2)!.linkCount).toBe(1);
    expect(back.vnodes.some((v) => v.vnode === 6)).toBe(false); // private/diary.txt stays out
  });

  it('a file: the file alone under its directories', async () => {
    const src = await written(volume, 'full2.dump');
    const { info, vnodes } = await parseFile(src);
    const back = await parseFile(
      await written(subtreeDump(info, vnodes, src, 'thesis/figures/plot.png', 'rq.2'), 'cut2.dump'),
    );
    expect([...walkTree(joinVnodes(back.vnodes))].map((e) => e.path).sort()).toEqual([
      '',
      'thesis',
      'thesis/figures',
      'thesis/figures/plot.png',
    ]);
  });

  it('refuses a path that is not there, and an incremental', async () => {
    const src = await written(volume, 'full3.dump');
    const { info, vnodes } = await parseFile(src);
    expect(() => subtreeDump(info, vnodes, src, 'thesis/nope.tex', 'rq.3')).toThrow(SubtreeError);
    const incr = await written(
      { ...volume, fromTime: 1, vnodes: volume.vnodes.map((v) => ({ ...v, bare: v.vnode === 8 })) },
      'incr.dump',
    );
    const p = await parseFile(incr);
    expect(() => subtreeDump(p.info, p.vnodes, incr, 'thesis', 'rq.4')).toThrow(/from a full dump/);
  });
});
