// A streaming parser of the AFS volume dump format, for the file index: it reads a dump as it flows by
// and gives every vnode's attributes, each directory's entries, each symlink's target (mount points
// recognised), without holding any file's data. Memory is the metadata of one vnode at a time, plus
// one directory's pages (at most 1023 of 2 KiB). The format, from OpenAFS src/volser/dumpstuff.c and
// src/dir/dir.h (all integers big-endian):
//   dump header     1 magic(u32) version(u32) then tagged fields: 'v' id, 'n' name\0, 't' n(u16) times
//   volume header   2 then tagged fields ('i' id, 'n' name\0, 'p' parent id, 'C'/'U'/'B' dates, ...)
//   each vnode      3 number(u32) uniquifier(u32) then tagged fields: 't' type(u8) 'l' links(u16)
//                   'v' data version 'm' unix mtime 'a' author 'o' owner 'g' group 'b' mode(u16)
//                   'p' parent 's' server mtime 'A' ACL(192 bytes) 'f' len(u32) data | 'h' hi lo data
//   end             4 magic(u32)
// In an incremental, a vnode unchanged since the base has its number and uniquifier and nothing else:
// its attributes and place come from the dump it is relative to. Unknown tags are skipped by the
// reader's own rules (HandleUnknownTag), so a dump from a newer server still parses.
import { Writable } from 'node:stream';

export const DUMP_END_MAGIC = 0x3a214b6e;
const DUMP_BEGIN_MAGIC = 0xb3a11322;
const PAGE = 2048;
const MAX_DIR_PAGES = 1023;
const MAX_SYMLINK = 64 * 1024;
const ACL_SIZE = 192;

export type VnodeKind = 'file' | 'dir' | 'symlink';

export interface AclEntry {
  /** A PTS id: a user (positive) or a group (negative). */
  id: number;
  /** The rights bits: r 1, l 2, i 4, d 8, w 16, k 32, a 64 (prsfs.h). */
  rights: number;
}

export interface DirEntry {
  name: string;
  vnode: number;
  unique: number;
}

/** Where a mount point leads: `#cell:volume.` (or `%` for the read-write one). */
export interface MountPoint {
  readWrite: boolean;
  cell: string | null;
  volume: string;
}

export interface DumpVnode {
  vnode: number;
  unique: number;
  /** False for an incremental's vnode that did not change since the base: only its number is given. */
  changed: boolean;
  kind?: VnodeKind;
  linkCount?: number;
  dataVersion?: number;
  /** The file's own modification time (epoch seconds). */
  mtime?: number;
  /** When the file server last changed it (epoch seconds). */
  serverMtime?: number;
  author?: number;
  owner?: number;
  group?: number;
  mode?: number;
  parent?: number;
  size?: number;
  /** Where its data begins in the dump (a byte offset): a filter copies it from there. */
  dataOffset?: number;
  /** Directories: the access list, positive and negative entries. */
  acl?: { positive: AclEntry[]; negative: AclEntry[] };
  /** Directories: every name in it but `.` and `..`. */
  entries?: DirEntry[];
  /** Symlinks and mount points: the link's content. */
  target?: string;
  mountPoint?: MountPoint;
}

export interface DumpVolumeInfo {
  /** The dump header's volume id and name (for a .backup clone, the clone's). */
  id: number;
  name: string;
  /** 0 for a full dump; for an incremental, the time it is relative to. */
  fromTime: number;
  toTime: number;
  /** The volume header's own fields. */
  parentId?: number;
  creationDate?: number;
  updateDate?: number;
  backupDate?: number;
  diskUsedKb?: number;
  fileCount?: number;
}

export class DumpParseError extends Error {
  override readonly name = 'DumpParseError';
}

/** What the grammar asks the feeder for: n bytes given to it, or n bytes passed over. */
type Need = { read: number; skip?: false } | { read: number; skip: true };
type Grammar = Generator<Need, void, Uint8Array>;

function u16(b: Uint8Array, at = 0): number {
  return (b[at]! << 8) | b[at + 1]!;
}
function u32(b: Uint8Array, at = 0): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');
/** AFS names are bytes: UTF-8 when they are valid UTF-8, else each byte one character. */
export function decodeName(b: Uint8Array): string {
  try {
    return utf8.decode(b);
  } catch {
    return latin1.decode(b);
  }
}

/** The entries of a directory's pages (its hash chains), without `.` and `..`. */
export function parseDirectory(data: Uint8Array, vnode = 0): DirEntry[] {
  const pages = Math.floor(data.length / PAGE);
  if (pages < 1)
    throw new DumpParseError(`directory vnode ${vnode} is ${data.length} bytes, less than one page`);
  if (u16(data, 2) !== 1234)
    throw new DumpParseError(`directory vnode ${vnode} has no directory page tag (1234) on its first page`);
  const out: DirEntry[] = [];
  const seen = new Set<number>();
  for (let bucket = 0; bucket < 128; bucket++) {
    for (let n = u16(data, 160 + 2 * bucket); n !== 0; ) {
      if (seen.has(n))
        throw new DumpParseError(`directory vnode ${vnode} has a loop in hash chain ${bucket}`);
      seen.add(n);
      const at = (n >> 6) * PAGE + (n & 63) * 32;
      if (n >> 6 >= pages || at + 32 > data.length)
        throw new DumpParseError(`directory vnode ${vnode} points at entry ${n}, past its ${pages} pages`);
      const pageEnd = ((n >> 6) + 1) * PAGE;
      const nul = data.indexOf(0, at + 12);
      if (nul < 0 || nul >= pageEnd)
        throw new DumpParseError(`directory vnode ${vnode}: the name of entry ${n} runs past its page`);
      const name = decodeName(data.subarray(at + 12, nul));
      if (name !== '.' && name !== '..')
        out.push({ name, vnode: u32(data, at + 4), unique: u32(data, at + 8) });
      n = u16(data, at + 2);
    }
  }
  return out;
}

function parseAcl(b: Uint8Array): { positive: AclEntry[]; negative: AclEntry[] } {
  // struct acl_accessList in network order: size, version, total, positive, negative, then entries
  const positive = u32(b, 12);
  const negative = u32(b, 16);
  if (positive + negative > (ACL_SIZE - 20) / 8)
    throw new DumpParseError('an access list with more entries than fit');
  const entry = (i: number): AclEntry => ({ id: u32(b, 20 + 8 * i) | 0, rights: u32(b, 24 + 8 * i) });
  return {
    positive: Array.from({ length: positive }, (_, i) => entry(i)),
    negative: Array.from({ length: negative }, (_, i) => entry(positive + i)),
  };
}

/** A symlink whose mode has no execute bits and whose content is `#cell:vol.` or `%vol.` (fs mkmount). */
function mountPointOf(target: string, mode: number | undefined): MountPoint | undefined {
  if (mode === undefined || (mode & 0o111) !== 0) return undefined;
  const m = /^([#%])(?:([^:]+):)?([^:]+)\.$/.exec(target);
  return m ? { readWrite: m[1] === '%', cell: m[2] ?? null, volume: m[3]! } : undefined;
}

export interface ParseSink {
  volume(v: DumpVolumeInfo): void;
  vnode(v: DumpVnode): void;
}

/**
 * The grammar, as a generator that asks for bytes: `yield { read: n }` gets n bytes, `yield { read: n,
 * skip: true }` passes n bytes over. `where` says what it is reading, for an error about a dump cut short.
 */
function* grammar(sink: ParseSink, at: { where: string; consumed: number }): Grammar {
  const byte = function* (): Generator<Need, number, Uint8Array> {
    return (yield { read: 1 })[0]!;
  };
  const int16 = function* (): Generator<Need, number, Uint8Array> {
    return u16(yield { read: 2 });
  };
  const int32 = function* (): Generator<Need, number, Uint8Array> {
    return u32(yield { read: 4 });
  };
  const string = function* (): Generator<Need, string, Uint8Array> {
    const bytes: number[] = [];
    for (;;) {
      const c = yield* byte();
      if (c === 0) return decodeName(Uint8Array.from(bytes));
      if (bytes.length >= 1024) throw new DumpParseError(`${at.where}: a string longer than 1024 bytes`);
      bytes.push(c);
    }
  };
  /** A tag this parser does not know, passed over by the rules of OpenAFS's own reader. */
  const unknown = function* (tag: number, critical: boolean): Generator<Need, void, Uint8Array> {
    if (critical) throw new DumpParseError(`${at.where}: unknown critical tag 0x${tag.toString(16)}`);
    if (tag >= 0x06 && tag <= 0x60) {
      const first = yield* byte();
      let len = first;
      if (first & 0x80) {
        const n = first & 0x7f;
        if (n > 6)
          throw new DumpParseError(`${at.where}: tag 0x${tag.toString(16)} has a length of ${n} bytes`);
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + (yield* byte());
      }
      if (len > 0) yield { read: len, skip: true };
    } else if (tag >= 0x61 && tag <= 0x7a) yield { read: 4, skip: true };
    else if (!(tag >= 0x7b && tag < 0x80))
      throw new DumpParseError(`${at.where}: invalid tag 0x${tag.toString(16)}`);
  };

  at.where = 'the dump header';
  if ((yield* byte()) !== 1 || (yield* int32()) !== DUMP_BEGIN_MAGIC)
    throw new DumpParseError('not an AFS volume dump (no dump header magic at the start)');
  yield* int32(); // format version
  const info: Partial<DumpVolumeInfo> = {};
  let tag = yield* byte();
  for (; tag > 20; tag = yield* byte()) {
    if (tag === 0x76 /* v */) info.id = yield* int32();
    else if (tag === 0x6e /* n */) info.name = yield* string();
    else if (tag === 0x74 /* t */) {
      const n = yield* int16();
      const times: number[] = [];
      for (let i = 0; i < n; i++) times.push(yield* int32());
      [info.fromTime, info.toTime] = times;
    } else yield* unknown(tag, false);
  }
  if (info.id === undefined || info.name === undefined || info.toTime === undefined)
    throw new DumpParseError('the dump header lacks the volume id, name or dump times');
  if (tag !== 2) throw new DumpParseError(`the dump header is followed by tag ${tag}, not the volume header`);

  at.where = 'the volume header';
  let critical = 0;
  for (tag = yield* byte(); tag > 20; tag = yield* byte()) {
    if (critical) critical--;
    const c = String.fromCharCode(tag);
    if ('ivuapcqmdfoCAUEBDZV'.includes(c)) {
      const v = yield* int32();
      if (c === 'p') info.parentId = v;
      else if (c === 'C') info.creationDate = v;
      else if (c === 'U') info.updateDate = v;
      else if (c === 'B') info.backupDate = v;
      else if (c === 'd') info.diskUsedKb = v;
      else if (c === 'f') info.fileCount = v;
    } else if ('sbt'.includes(c)) yield* byte();
    else if ('nOM'.includes(c)) yield* string();
    else if (c === 'W') {
      const n = yield* int16();
      if (n > 0) yield { read: 4 * n, skip: true };
    } else if (tag === 0x7e) critical = 2;
    else yield* unknown(tag, critical > 0);
  }
  sink.volume(info as DumpVolumeInfo);

  while (tag === 3) {
    const v: DumpVnode = { vnode: yield* int32(), unique: yield* int32(), changed: false };
    at.where = `vnode ${v.vnode}`;
    critical = 0;
    for (tag = yield* byte(); tag > 20; tag = yield* byte()) {
      if (critical) critical--;
      v.changed = true;
      switch (String.fromCharCode(tag)) {
        case 't': {
          const t = yield* byte();
          v.kind = t === 1 ? 'file' : t === 2 ? 'dir' : t === 3 ? 'symlink' : undefined;
          if (!v.kind)
            throw new DumpParseError(`${at.where} has type ${t}, which is none of file, directory, symlink`);
          break;
        }
        case 'l':
          v.linkCount = yield* int16();
          break;
        case 'b':
          v.mode = yield* int16();
          break;
        case 'v':
          v.dataVersion = yield* int32();
          break;
        case 'm':
          v.mtime = yield* int32();
          break;
        case 's':
          v.serverMtime = yield* int32();
          break;
        case 'a':
          v.author = yield* int32();
          break;
        case 'o':
          v.owner = yield* int32();
          break;
        case 'g':
          v.group = yield* int32();
          break;
        case 'p':
          v.parent = yield* int32();
          break;
        case 'A':
          v.acl = parseAcl(yield { read: ACL_SIZE });
          break;
        case 'f':
        case 'h': {
          const size = tag === 0x66 ? yield* int32() : (yield* int32()) * 2 ** 32 + (yield* int32());
          v.size = size;
          v.dataOffset = at.consumed; // every byte before was asked for and given
          at.where = `the data of vnode ${v.vnode} (${size} bytes)`;
          if (v.kind === 'dir') {
            if (size > MAX_DIR_PAGES * PAGE)
              throw new DumpParseError(
                `directory vnode ${v.vnode} claims ${size} bytes, more than a directory can hold`,
              );
            v.entries = parseDirectory(yield { read: size }, v.vnode);
          } else if (v.kind === 'symlink') {
            if (size > MAX_SYMLINK)
              throw new DumpParseError(`symlink vnode ${v.vnode} claims ${size} bytes of target`);
            v.target = decodeName(yield { read: size });
            const mp = mountPointOf(v.target, v.mode);
            if (mp) v.mountPoint = mp;
          } else if (size > 0) yield { read: size, skip: true };
          at.where = `vnode ${v.vnode}`;
          break;
        }
        default:
          if (tag === 0x7e) critical = 2;
          else yield* unknown(tag, critical > 0);
      }
    }
    if (v.changed && v.kind === undefined) throw new DumpParseError(`${at.where} has attributes but no type`);
    if (v.changed && v.size === undefined) v.size = 0;
    sink.vnode(v);
  }
  at.where = 'the end of the dump';
  if (tag !== 4) throw new DumpParseError(`tag ${tag} where a vnode or the end of the dump belongs`);
  if ((yield* int32()) !== DUMP_END_MAGIC)
    throw new DumpParseError('the dump end has the wrong magic number');
}

/**
 * A Writable that parses the dump written into it. Errors (a corrupt dump) fail the write; a dump cut
 * short fails at the end, naming where it stopped. Bytes after the dump's end are an error too.
 */
export class DumpParser extends Writable {
  private readonly at = { where: 'the start', consumed: 0 };
  private readonly g: Grammar;
  private need: Need | undefined;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private done = false;
  /** Bytes consumed so far (for the error of a corrupt dump: where in the stream). */
  offset = 0;

  constructor(sink: ParseSink) {
    super({ highWaterMark: 1 << 20 });
    this.g = grammar(sink, this.at);
    this.step(undefined);
  }

  private step(value: Uint8Array | undefined): void {
    this.at.consumed = this.offset;
    const r = value === undefined ? this.g.next() : this.g.next(value);
    if (r.done) {
      this.done = true;
      this.need = undefined;
    } else this.need = r.value;
  }

  /** Gives the grammar what it asked for while the buffered bytes allow. */
  private run(): void {
    while (this.need) {
      const n = this.need.read;
      if (this.need.skip) {
        while (this.need.read > 0 && this.chunks.length) {
          const c = this.chunks[0]!;
          const k = Math.min(c.length, this.need.read);
          this.need.read -= k;
          this.buffered -= k;
          this.offset += k;
          if (k === c.length) this.chunks.shift();
          else this.chunks[0] = c.subarray(k);
        }
        if (this.need.read > 0) return;
        this.step(undefined);
        continue;
      }
      if (this.buffered < n) return;
      this.step(this.take(n));
    }
    if (this.done && this.buffered > 0)
      throw new DumpParseError(`${this.buffered} bytes follow the end of the dump (offset ${this.offset})`);
  }

  private take(n: number): Uint8Array {
    this.buffered -= n;
    this.offset += n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      out.set(c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.run();
      cb();
    } catch (err) {
      cb(this.located(err));
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.done) {
      cb();
      return;
    }
    cb(
      new DumpParseError(
        `the dump ends in the middle of ${this.at.where} (after ${this.offset + this.buffered} bytes): it was cut short`,
      ),
    );
  }

  private located(err: unknown): Error {
    if (err instanceof DumpParseError) return new DumpParseError(`${err.message} (at byte ${this.offset})`);
    return err as Error;
  }
}
