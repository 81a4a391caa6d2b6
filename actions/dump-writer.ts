// The dump parser's counterpart: writes an AFS volume dump from a description. The self-service restore
// writes with it a dump of one path out of a night (bot/backup/restore-requests.ts); tests write what
// the cell's FUSE client cannot make (mount points, access lists, files over 4 GiB, unknown tags). The
// format is OpenAFS's (src/volser/dumpstuff.c, src/dir/dir.h): directories are real 2 KiB pages with
// their hash table, so `vos restore` of a written dump gives a volume the file server can look names
// up in. A file's data may be a generator, so a 5 GiB file costs no memory.

export type DataSource = Uint8Array | { size: number; chunks: () => Iterable<Uint8Array> };

export interface WrittenVnode {
  vnode: number;
  unique: number;
  kind: 'file' | 'dir' | 'symlink';
  parent: number;
  mode?: number;
  owner?: number;
  /** As the parser gives them; written as they were (default: the dump's time, 0, 1). */
  group?: number;
  author?: number;
  mtime?: number;
  serverMtime?: number;
  dataVersion?: number;
  linkCount?: number;
  /** Directories: the names in it (`.` and `..` are added). */
  entries?: { name: string; vnode: number; unique: number }[];
  /** Directories: the access list. */
  acl?: { positive: [number, number][]; negative?: [number, number][] };
  /** Symlinks: the target (a mount point: `#cell:vol.` with mode 0644). */
  target?: string;
  data?: DataSource;
  /** Bare, as an incremental gives an unchanged vnode. */
  bare?: boolean;
}

export interface WrittenDump {
  id: number;
  name: string;
  fromTime?: number;
  toTime: number;
  vnodes: WrittenVnode[];
  /** Extra bytes in the volume header, as a newer server might write (tag, then its bytes). */
  extraVolumeTags?: Uint8Array[];
}

const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const be16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const tag = (c: string) => Buffer.from(c, 'latin1');
const str = (s: string) => Buffer.concat([Buffer.from(s), Buffer.from([0])]);

/** OpenAFS's afs_dir_DirHash. */
export function dirHash(name: Uint8Array): number {
  let h = 0;
  for (const c of name) h = (Math.imul(h, 173) + c) >>> 0;
  const t = h & 127;
  return t === 0 ? 0 : h >= 2 ** 31 ? 128 - t : t;
}

/** A directory's pages: the header page's allocation map and hash table, entries in 32-byte slots. */
export function directoryPages(
  self: [number, number],
  parent: [number, number],
  entries: WrittenVnode['entries'] = [],
): Buffer {
  const all = [
    { name: '.', vnode: self[0], unique: self[1] },
    { name: '..', vnode: parent[0], unique: parent[1] },
    ...entries,
  ];
  const pages: Buffer[] = [Buffer.alloc(2048)];
  const used: number[] = [13]; // page 0: the page header and the directory header take 13 slots
  const hash = new Uint16Array(128);
  for (const e of all) {
    const name = Buffer.from(e.name);
    const blobs = 1 + ((name.length + 15) >> 5);
    let p = used.findIndex((u) => u + blobs <= 64);
    if (p < 0) {
      pages.push(Buffer.alloc(2048));
      used.push(1);
      p = pages.length - 1;
    }
    const slot = used[p]!;
    used[p] = slot + blobs;
    const page = pages[p]!;
    const at = slot * 32;
    page[at] = 1; // flag: in use
    const h = dirHash(name);
    page.writeUInt16BE(hash[h]!, at + 2);
    page.writeUInt32BE(e.vnode, at + 4);
    page.writeUInt32BE(e.unique, at + 8);
    name.copy(page, at + 12);
    hash[h] = p * 64 + slot;
  }
  pages.forEach((page, i) => {
    page.writeUInt16BE(i === 0 ? pages.length : 0, 0);
    page.writeUInt16BE(1234, 2);
    for (let s = 0; s < used[i]!; s++) page[5 + (s >> 3)]! |= 1 << (s & 7);
  });
  const h0 = pages[0]!;
  for (let i = 0; i < 128; i++) h0[32 + i] = i < pages.length ? 64 - used[i]! : 64;
  for (let i = 0; i < 128; i++) h0.writeUInt16BE(hash[i]!, 160 + 2 * i);
  return Buffer.concat(pages);
}

function acl(a: NonNullable<WrittenVnode['acl']>): Buffer {
  const b = Buffer.alloc(192);
  const neg = a.negative ?? [];
  b.writeUInt32BE(192, 0);
  b.writeUInt32BE(1, 4); // ACL_ACLVERSION
  b.writeUInt32BE(a.positive.length + neg.length, 8);
  b.writeUInt32BE(a.positive.length, 12);
  b.writeUInt32BE(neg.length, 16);
  [...a.positive, ...neg].forEach(([id, rights], i) => {
    b.writeInt32BE(id, 20 + 8 * i);
    b.writeUInt32BE(rights, 24 + 8 * i);
  });
  return b;
}

/** The dump, as chunks. */
export function* writeDump(d: WrittenDump): Generator<Uint8Array> {
  yield Buffer.concat([
    Buffer.from([1]),
    be32(0xb3a11322),
    be32(1),
    tag('v'),
    be32(d.id),
    tag('n'),
    str(d.name),
    tag('t'),
    be16(2),
    be32(d.fromTime ?? 0),
    be32(d.toTime),
  ]);
  yield Buffer.concat([
    Buffer.from([2]),
    tag('i'),
    be32(d.id),
    tag('v'),
    be32(1),
    tag('n'),
    str(d.name),
    tag('s'),
    Buffer.from([1]),
    tag('b'),
    Buffer.from([1]),
    tag('u'),
    // the volume's next uniquifier: past every vnode's, or a file made later could take an old one's
    be32(Math.max(100, ...d.vnodes.map((v) => v.unique + 1))),
    tag('t'),
    Buffer.from([0]),
    tag('p'),
    be32(d.id),
    tag('C'),
    be32(d.toTime),
    tag('U'),
    be32(d.toTime),
    ...(d.extraVolumeTags ?? []),
    tag('W'),
    be16(7),
    Buffer.alloc(28),
  ]);
  const byNumber = new Map(d.vnodes.map((v) => [v.vnode, v]));
  for (const v of d.vnodes) {
    yield Buffer.concat([Buffer.from([3]), be32(v.vnode), be32(v.unique)]);
    if (v.bare) continue;
    const type = v.kind === 'file' ? 1 : v.kind === 'dir' ? 2 : 3;
    const mode = v.mode ?? (v.kind === 'file' ? 0o644 : 0o755);
    yield Buffer.concat([
      tag('t'),
      Buffer.from([type]),
      tag('l'),
      be16(v.linkCount ?? 1),
      tag('v'),
      be32(v.dataVersion ?? 1),
      tag('m'),
      be32(v.mtime ?? d.toTime),
      tag('a'),
      be32(v.author ?? v.owner ?? 0),
      tag('o'),
      be32(v.owner ?? 0),
      ...(v.group ? [tag('g'), be32(v.group)] : []),
      tag('b'),
      be16(mode),
      tag('p'),
      be32(v.parent),
      tag('s'),
      be32(v.serverMtime ?? d.toTime),
      ...(v.kind === 'dir' ? [tag('A'), acl(v.acl ?? { positive: [[-101, 127]] })] : []),
    ]);
    let data: DataSource;
    if (v.kind === 'dir') {
      const parent = byNumber.get(v.parent);
      data = directoryPages(
        [v.vnode, v.unique],
        v.parent ? [v.parent, parent?.unique ?? 1] : [v.vnode, v.unique],
        v.entries,
      );
    } else if (v.kind === 'symlink') data = Buffer.from(v.target ?? '');
    else data = v.data ?? Buffer.alloc(0);
    const size = data instanceof Uint8Array ? data.length : data.size;
    yield size < 2 ** 32
      ? Buffer.concat([tag('f'), be32(size)])
      : Buffer.concat([tag('h'), be32(Math.floor(size / 2 ** 32)), be32(size % 2 ** 32)]);
    if (data instanceof Uint8Array) yield data;
    else yield* data.chunks();
  }
  yield Buffer.concat([Buffer.from([4]), be32(0x3a214b6e)]);
}
