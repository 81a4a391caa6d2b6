// The dump parser on dumps written by test/support/dump-writer.ts, for what the cell cannot give:
// a file over 4 GiB (the 'h' tag) parsed in flat memory, mount points, access lists, tags a newer
// server might add. Dumps of the real cell are test/integration/dump-parser.test.ts.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DumpParser, type DumpVnode, parseDirectory } from '../../actions/dump-parser.ts';
import { joinVnodes, walkTree } from '../../actions/dump-tree.ts';
import { directoryPages, dirHash, type WrittenDump, writeDump } from '../../actions/dump-writer.ts';

async function parse(d: WrittenDump) {
  const vnodes: DumpVnode[] = [];
  await pipeline(
    Readable.from(writeDump(d)),
    new DumpParser({ volume: () => {}, vnode: (v) => vnodes.push(v) }),
  );
  return vnodes;
}

describe('the dump parser on written dumps', () => {
  it('a 5 GiB file: its size from the 64-bit tag, its data passed over without being held', async () => {
    const mib = Buffer.alloc(1 << 20, 7);
    const size = 5 * 2 ** 30 + 3;
    const rssBefore = process.memoryUsage().rss;
    const vnodes = await parse({
      id: 536870999,
      name: 'big.backup',
      toTime: 1_800_000_000,
      vnodes: [
        { vnode: 1, unique: 1, kind: 'dir', parent: 0, entries: [{ name: 'huge.bin', vnode: 2, unique: 2 }] },
        {
          vnode: 2,
          unique: 2,
          kind: 'file',
          parent: 1,
          data: {
            size,
            *chunks() {
              for (let left = size; left > 0; left -= mib.length)
                yield left >= mib.length ? mib : mib.subarray(0, left);
            },
          },
        },
      ],
    });
    expect(vnodes.find((v) => v.vnode === 2)).toMatchObject({ kind: 'file', size });
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 2 ** 20);
  }, 120_000);

  it('mount points (a symlink of mode 0644 holding #cell:vol. or %vol.), plain symlinks, and access lists', async () => {
    const vnodes = await parse({
      id: 536870998,
      name: 'mp',
      toTime: 1_800_000_000,
      vnodes: [
        {
          vnode: 1,
          unique: 1,
          kind: 'dir',
          parent: 0,
          acl: {
            positive: [
              [1001, 3],
              [-204, 127],
            ],
            negative: [[1002, 1]],
          },
          entries: [
            { name: 'home', vnode: 2, unique: 2 },
            { name: 'rw', vnode: 4, unique: 3 },
            { name: 'link', vnode: 6, unique: 4 },
          ],
        },
        { vnode: 2, unique: 2, kind: 'symlink', parent: 1, mode: 0o644, target: '#example.org:user.alice.' },
        { vnode: 4, unique: 3, kind: 'symlink', parent: 1, mode: 0o644, target: '%user.bob.' },
        { vnode: 6, unique: 4, kind: 'symlink', parent: 1, mode: 0o755, target: '#not.a.mount.point.' },
      ],
    });
    const root = vnodes.find((v) => v.vnode === 1)!;
    expect(root.acl).toEqual({
      positive: [
        { id: 1001, rights: 3 },
        { id: -204, rights: 127 },
      ],
      negative: [{ id: 1002, rights: 1 }],
    });
    expect(vnodes.find((v) => v.vnode === 2)!.mountPoint).toEqual({
      readWrite: false,
      cell: 'example.org',
      volume: 'user.alice',
    });
    expect(vnodes.find((v) => v.vnode === 4)!.mountPoint).toEqual({
      readWrite: true,
      cell: null,
      volume: 'user.bob',
    });
    expect(vnodes.find((v) => v.vnode === 6)!.mountPoint).toBeUndefined();
    expect([...walkTree(joinVnodes(vnodes))].map((e) => e.path)).toEqual(['', 'home', 'link', 'rw']);
  });

  it('tags a newer server adds are passed over by the reader’s own rules; an unknown critical one is refused', async () => {
    const base = {
      id: 1,
      name: 'tags',
      toTime: 1_800_000_000,
      vnodes: [{ vnode: 1, unique: 1, kind: 'dir' as const, parent: 0 }],
    };
    // a length-prefixed tag (0x30, 3 bytes), a long-length one (0x31, 0x81 then 1 byte of length
    // 200), a 32-bit one ('x'), a dataless one (0x7b); tags up to 20 are sections, as in OpenAFS's reader
    const extra = [
      Buffer.from([0x30, 3, 9, 9, 9]),
      Buffer.concat([Buffer.from([0x31, 0x81, 200]), Buffer.alloc(200)]),
      Buffer.from([0x78, 1, 2, 3, 4]),
      Buffer.from([0x7b]),
    ];
    expect(await parse({ ...base, extraVolumeTags: extra })).toHaveLength(1);
    await expect(parse({ ...base, extraVolumeTags: [Buffer.from([0x7e, 0x32, 1, 0])] })).rejects.toThrow(
      /unknown critical tag 0x32/,
    );
  });

  it('directory pages: long names across slots, several pages, every hash chain', () => {
    const entries = Array.from({ length: 300 }, (_, i) => ({
      name: `${i}-${'n'.repeat(i % 60)}`,
      vnode: 2 * i + 2,
      unique: i + 5,
    }));
    const pages = directoryPages([1, 1], [1, 1], entries);
    expect(pages.length / 2048).toBeGreaterThan(3);
    expect(parseDirectory(pages).sort((a, b) => a.vnode - b.vnode)).toEqual(entries);
    // OpenAFS's hash spreads names over the 128 chains
    expect(new Set(entries.map((e) => dirHash(Buffer.from(e.name)))).size).toBeGreaterThan(100);
  });
});
