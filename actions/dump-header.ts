// Reads the header that `vos dump` writes at the start of every dump, so a dump file can say for
// itself which volume it holds and which times it covers (from OpenAFS src/volser/dumpstuff.c):
//   D_DUMPHEADER(1) magic(u32) version(u32) 'v' volid(u32) 'n' name\0 't' count(u16) from(u32) to(u32)
//   D_VOLUMEHEADER(2) 'i' id 'v' version 'n' name\0 's' 'b' 'u' 't' 'p' parentId ...
// `from` is 0 for a full dump, else the time the incremental is relative to; `to` is the clone's
// creation time. All integers are big-endian.

export const DUMP_BEGIN_MAGIC = 0xb3a11322;

export interface DumpHeader {
  /** The id of the volume that was dumped (for a .backup clone, the clone's id). */
  volumeId: number;
  /** The dumped volume's name, e.g. user.alice.backup. */
  volumeName: string;
  /** 0 for a full dump; for an incremental, the epoch second it is relative to. */
  fromTime: number;
  /** The epoch second the dumped clone was made. */
  toTime: number;
  /** The read-write parent's id, when the volume header gives it. */
  parentId?: number;
}

export class DumpHeaderError extends Error {
  override readonly name = 'DumpHeaderError';
}

/** Parses the header from the first bytes of a dump (4 KiB is plenty). */
export function parseDumpHeader(buf: Uint8Array): DumpHeader {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > buf.length) throw new DumpHeaderError('the dump is too short to hold a volume dump header');
  };
  const u8 = () => {
    need(1);
    return buf[pos++]!;
  };
  const u16 = () => {
    need(2);
    const v = view.getUint16(pos);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(pos);
    pos += 4;
    return v;
  };
  const str = () => {
    const end = buf.indexOf(0, pos);
    if (end < 0) throw new DumpHeaderError('unterminated name in the dump header');
    const s = new TextDecoder().decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };

  if (u8() !== 1 || u32() !== DUMP_BEGIN_MAGIC) {
    throw new DumpHeaderError('not an AFS volume dump (no dump header magic at the start)');
  }
  u32(); // dump format version
  let volumeId: number | undefined;
  let volumeName: string | undefined;
  let times: number[] | undefined;
  for (;;) {
    const tag = u8();
    if (tag === 2) break; // the volume header follows
    if (tag === 0x76 /* v */) volumeId = u32();
    else if (tag === 0x6e /* n */) volumeName = str();
    else if (tag === 0x74 /* t */) times = Array.from({ length: u16() }, u32);
    else throw new DumpHeaderError(`unexpected tag 0x${tag.toString(16)} in the dump header`);
  }
  if (volumeId === undefined || volumeName === undefined || !times || times.length < 2) {
    throw new DumpHeaderError('the dump header lacks the volume id, name or dump times');
  }
  const header: DumpHeader = { volumeId, volumeName, fromTime: times[0]!, toTime: times[1]! };
  // The volume header: walk the fixed-size fields up to the parent id; stop at anything else.
  try {
    for (let i = 0; i < 16; i++) {
      const tag = String.fromCharCode(u8());
      if (tag === 'p') {
        header.parentId = u32();
        break;
      }
      if ('ivuqmdfaoCAUEBD'.includes(tag)) u32();
      else if ('sbt'.includes(tag)) u8();
      else if (tag === 'n' || tag === 'O') str();
      else break;
    }
  } catch {
    // a header cut short before the parent id: the rest is still good
  }
  return header;
}
