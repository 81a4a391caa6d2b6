// A volume's tree as one dump gives it: every path with the vnode it names, from the root (vnode 1)
// down through each directory's entries. An incremental names its unchanged vnodes without
// attributes; they are taken from the state of the dump it is relative to (`base`), so an
// incremental's tree is the whole volume as of its clone, not only what changed. Hard links give one
// vnode several paths; a vnode no directory names (an orphan) is not in the tree.
import type { AclEntry, DumpVnode, MountPoint, VnodeKind } from './dump-parser.ts';

/** One vnode with its attributes, as the tree needs them. */
export interface VnodeState {
  vnode: number;
  unique: number;
  kind: VnodeKind;
  size: number;
  dataVersion: number;
  mtime: number;
  owner: number;
  group: number;
  mode: number;
  /** Directories: the access list. */
  acl?: { positive: AclEntry[]; negative: AclEntry[] };
  /** Directories: name -> child. */
  entries?: Map<string, { vnode: number; unique: number }>;
  target?: string;
  mountPoint?: MountPoint;
}

export interface TreeEntry {
  /** Relative to the volume's root, `/`-separated, no leading slash (the root itself is ''). */
  path: string;
  state: VnodeState;
}

export class DumpTreeError extends Error {
  override readonly name = 'DumpTreeError';
}

/** A parsed vnode with attributes as a VnodeState (an incremental's unchanged ones have none). */
export function stateOf(v: DumpVnode): VnodeState | undefined {
  if (!v.changed || !v.kind) return undefined;
  return {
    vnode: v.vnode,
    unique: v.unique,
    kind: v.kind,
    size: v.size ?? 0,
    dataVersion: v.dataVersion ?? 0,
    mtime: v.mtime ?? 0,
    owner: v.owner ?? 0,
    group: v.group ?? 0,
    mode: v.mode ?? 0,
    ...(v.acl ? { acl: v.acl } : {}),
    ...(v.entries
      ? { entries: new Map(v.entries.map((e) => [e.name, { vnode: e.vnode, unique: e.unique }])) }
      : {}),
    ...(v.target !== undefined ? { target: v.target } : {}),
    ...(v.mountPoint ? { mountPoint: v.mountPoint } : {}),
  };
}

/**
 * The volume's vnodes as of this dump: its changed vnodes as they are in it, its unchanged ones (an
 * incremental's bare vnode numbers) from `base`, the vnode table of the dump it is relative to. A
 * bare vnode the base does not have, or has with another uniquifier, means the base is the wrong one.
 */
export function joinVnodes(
  vnodes: Iterable<DumpVnode>,
  base?: Map<number, VnodeState>,
): Map<number, VnodeState> {
  const out = new Map<number, VnodeState>();
  for (const v of vnodes) {
    const s = stateOf(v);
    if (s) {
      out.set(v.vnode, s);
      continue;
    }
    const old = base?.get(v.vnode);
    if (!old || old.unique !== v.unique)
      throw new DumpTreeError(
        `vnode ${v.vnode}.${v.unique} is unchanged since the base dump, but the base ${old ? `has ${v.vnode}.${old.unique}` : 'does not have it'}: index the dump it is relative to first`,
      );
    out.set(v.vnode, old);
  }
  return out;
}

/** Every path of the tree, depth first, directories before what is in them. */
export function* walkTree(vnodes: Map<number, VnodeState>): Generator<TreeEntry> {
  const root = vnodes.get(1);
  if (root?.kind !== 'dir') throw new DumpTreeError('the dump has no root directory (vnode 1)');
  const stack: TreeEntry[] = [{ path: '', state: root }];
  const seen = new Set<number>();
  while (stack.length) {
    const e = stack.pop()!;
    yield e;
    if (!e.state.entries) continue;
    if (seen.has(e.state.vnode))
      throw new DumpTreeError(`directory vnode ${e.state.vnode} is reached twice (${e.path})`);
    seen.add(e.state.vnode);
    const names = [...e.state.entries.keys()].sort().reverse();
    for (const name of names) {
      const ref = e.state.entries.get(name)!;
      const child = vnodes.get(ref.vnode);
      // an entry whose vnode is not in the dump, or is another incarnation, is a dangling name: the
      // salvager would remove it; it is not a file of the volume
      if (!child || child.unique !== ref.unique) continue;
      stack.push({ path: e.path ? `${e.path}/${name}` : name, state: child });
    }
  }
}
