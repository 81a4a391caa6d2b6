// One path out of a whole volume's dump: the description of a new dump (for actions/dump-writer.ts)
// that holds the file or directory at `path` (a directory with everything under it) and the directories
// down to it, each of those with the one entry on the way and nothing else. Every vnode keeps its
// number, attributes and access list; file data is read back from the dump file it came from, at the
// offsets the parser recorded, so nothing is held in memory. For a restore a user asked for: they get
// what they asked for, not the rest of the volume as it was that night.
import { closeSync, openSync, readSync } from 'node:fs';
import type { DumpVnode, DumpVolumeInfo } from './dump-parser.ts';
import type { WrittenDump, WrittenVnode } from './dump-writer.ts';

export class SubtreeError extends Error {
  override readonly name = 'SubtreeError';
}

/** `size` bytes of `file` from `offset`, a MiB at a time. */
function rangeOf(
  file: string,
  offset: number,
  size: number,
): { size: number; chunks: () => Iterable<Uint8Array> } {
  return {
    size,
    *chunks() {
      const fd = openSync(file, 'r');
      try {
        const buf = Buffer.alloc(1 << 20);
        for (let done = 0; done < size; ) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), offset + done);
          if (n === 0) throw new SubtreeError(`${file} ended ${size - done} bytes early`);
          yield Buffer.from(buf.subarray(0, n));
          done += n;
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * The dump of `path` alone out of the full dump `file` (parsed into `info` and `vnodes`), named `name`.
 * Throws when the path is not in it.
 */
export function subtreeDump(
  info: DumpVolumeInfo,
  vnodes: DumpVnode[],
  file: string,
  path: string,
  name: string,
): WrittenDump {
  const byNumber = new Map(vnodes.map((v) => [v.vnode, v]));
  if (vnodes.some((v) => !v.changed))
    throw new SubtreeError('a subtree is cut from a full dump, not an incremental');
  const parts = path.split('/').filter(Boolean);
  const chain = [1];
  const onTheWay = new Map<number, string>(); // directory vnode -> the one name kept in it
  for (const part of parts) {
    const dir = byNumber.get(chain.at(-1)!);
    const e = dir?.entries?.find((x) => x.name === part);
    if (!e || !byNumber.has(e.vnode)) throw new SubtreeError(`${path} is not in the dump (no ${part} there)`);
    onTheWay.set(dir!.vnode, part);
    chain.push(e.vnode);
  }
  const kept = new Set(chain);
  const target = byNumber.get(chain.at(-1)!)!;
  if (target.kind === 'dir') {
    // everything under it
    for (const queue = [target]; queue.length; ) {
      for (const e of queue.pop()!.entries ?? []) {
        const child = byNumber.get(e.vnode);
        if (!child || kept.has(child.vnode)) continue;
        kept.add(child.vnode);
        if (child.kind === 'dir') queue.push(child);
      }
    }
  }
  const names = new Map<number, number>(); // how many of the kept names each file has
  const out: WrittenVnode[] = [];
  for (const v of vnodes) {
    if (!kept.has(v.vnode)) continue;
    let entries = v.entries;
    const only = onTheWay.get(v.vnode);
    if (only !== undefined) entries = entries?.filter((e) => e.name === only);
    for (const e of entries ?? []) names.set(e.vnode, (names.get(e.vnode) ?? 0) + 1);
    out.push({
      vnode: v.vnode,
      unique: v.unique,
      kind: v.kind!,
      parent: v.parent ?? 0,
      ...(v.mode !== undefined ? { mode: v.mode } : {}),
      ...(v.owner !== undefined ? { owner: v.owner } : {}),
      ...(v.group !== undefined ? { group: v.group } : {}),
      ...(v.author !== undefined ? { author: v.author } : {}),
      ...(v.mtime !== undefined ? { mtime: v.mtime } : {}),
      ...(v.serverMtime !== undefined ? { serverMtime: v.serverMtime } : {}),
      ...(v.dataVersion !== undefined ? { dataVersion: v.dataVersion } : {}),
      ...(v.linkCount !== undefined ? { linkCount: v.linkCount } : {}),
      ...(v.acl
        ? {
            acl: {
              positive: v.acl.positive.map((a): [number, number] => [a.id, a.rights]),
              negative: v.acl.negative.map((a): [number, number] => [a.id, a.rights]),
            },
          }
        : {}),
      ...(entries ? { entries } : {}),
      ...(v.target !== undefined ? { target: v.target } : {}),
      ...(v.kind === 'file' && v.size && v.dataOffset !== undefined
        ? { data: rangeOf(file, v.dataOffset, v.size) }
        : {}),
    });
  }
  // a file with names left out is linked that many times fewer
  for (const w of out) if (w.kind === 'file') w.linkCount = Math.max(1, names.get(w.vnode) ?? 1);
  return { id: info.id, name, fromTime: 0, toTime: info.toTime, vnodes: out };
}
