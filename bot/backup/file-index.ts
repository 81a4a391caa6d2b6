// The file index: every path of every dump afsbot made, in SQLite, one row per version of a path. A
// row holds a path's vnode and attributes from the first indexed dump that had them to the last
// (last_clone null while the newest indexed dump still has it), so a file unchanged for 30 nights is
// one row, and a night costs rows only for what changed. A volume's dumps are indexed in clone order;
// an incremental is joined with the volume's current rows (the state of the dump before it), and a
// dump older than the newest indexed one is refused: `!backup reindex` rebuilds a volume from its
// first dump.
import type { DumpSource, Tools } from '../../actions/decode.ts';
import type { DumpVnode, MountPoint } from '../../actions/dump-parser.ts';
import { scanDump } from '../../actions/dump-scan.ts';
import { joinVnodes, type VnodeState, walkTree } from '../../actions/dump-tree.ts';
import type { Sqlite } from '../platform/database.ts';
import type { DumpRow } from './catalog.ts';

export interface VersionRow {
  id: number;
  volume: string;
  path: string;
  name: string;
  parent_vnode: number;
  vnode: number;
  uniq: number;
  kind: 'file' | 'dir' | 'symlink';
  size: number;
  data_version: number;
  mtime: number;
  owner: number;
  grp: number;
  mode: number;
  target: string | null;
  mount: string | null;
  acl: string | null;
  first_clone: number;
  first_date: string;
  last_clone: number | null;
  last_date: string | null;
}

type Fields = Omit<VersionRow, 'id' | 'first_clone' | 'first_date' | 'last_clone' | 'last_date'>;

/** The fields that make two rows of one path the same version. */
const SAME: (keyof Fields)[] = [
  'vnode',
  'uniq',
  'kind',
  'size',
  'data_version',
  'mtime',
  'owner',
  'grp',
  'mode',
  'target',
  'mount',
  'acl',
  'parent_vnode',
];

export class FileIndex {
  constructor(private readonly db: Sqlite) {}

  /** The newest indexed dump of a volume. */
  latest(volume: string): { clone_time: number; date: string } | undefined {
    return this.db
      .prepare('SELECT clone_time, date FROM index_dumps WHERE volume = ? ORDER BY clone_time DESC LIMIT 1')
      .get(volume) as { clone_time: number; date: string } | undefined;
  }

  isIndexed(dumpId: number): boolean {
    return this.db.prepare('SELECT 1 FROM index_dumps WHERE dump_id = ?').get(dumpId) !== undefined;
  }

  /** The indexed dumps of a volume, oldest first. */
  dumps(volume: string): { clone_time: number; date: string }[] {
    return this.db
      .prepare('SELECT clone_time, date FROM index_dumps WHERE volume = ? ORDER BY clone_time')
      .all(volume) as { clone_time: number; date: string }[];
  }

  volumes(): string[] {
    return (
      this.db.prepare('SELECT DISTINCT volume FROM index_dumps ORDER BY volume').all() as { volume: string }[]
    ).map((r) => r.volume);
  }

  current(volume: string): VersionRow[] {
    return this.db
      .prepare('SELECT * FROM file_versions WHERE volume = ? AND last_clone IS NULL')
      .all(volume) as VersionRow[];
  }

  /** Every version of one path, oldest first. */
  versions(volume: string, path: string): VersionRow[] {
    return this.db
      .prepare('SELECT * FROM file_versions WHERE volume = ? AND path = ? ORDER BY first_clone')
      .all(volume, path) as VersionRow[];
  }

  /** The version of a path that the volume's indexed dump of `clone` held. */
  at(volume: string, path: string, clone: number): VersionRow | undefined {
    return this.db
      .prepare(
        'SELECT * FROM file_versions WHERE volume = ? AND path = ? AND first_clone <= ? AND (last_clone IS NULL OR last_clone >= ?)',
      )
      .get(volume, path, clone, clone) as VersionRow | undefined;
  }

  /** Versions whose path (or, without a `/` in the pattern, whose name) matches a glob, newest first. */
  find(volumes: string[], glob: string, limit: number, under = ''): { rows: VersionRow[]; more: number } {
    if (volumes.length === 0) return { rows: [], more: 0 };
    const column = glob.includes('/') ? 'path' : 'name';
    const prefix = under ? ' AND substr(path, 1, ?) = ?' : '';
    const where = `volume IN (${volumes.map(() => '?').join(',')}) AND kind != 'dir' AND ${column} GLOB ?${prefix}`;
    const params = [...volumes, glob, ...(under ? [under.length + 1, `${under}/`] : [])];
    const rows = this.db
      .prepare(
        `SELECT * FROM file_versions WHERE ${where} ORDER BY last_clone IS NOT NULL, last_clone DESC, first_clone DESC, path LIMIT ?`,
      )
      .all(...params, limit) as VersionRow[];
    const count = this.db.prepare(`SELECT count(*) AS n FROM file_versions WHERE ${where}`).get(...params);
    return { rows, more: (count as { n: number }).n - rows.length };
  }

  /** The volume's mount points as its newest indexed dump has them: path -> volume. */
  mountPoints(volume: string): { path: string; mount: MountPoint }[] {
    return (
      this.db
        .prepare(
          'SELECT path, mount FROM file_versions WHERE volume = ? AND last_clone IS NULL AND mount IS NOT NULL',
        )
        .all(volume) as { path: string; mount: string }[]
    ).map((r) => ({ path: r.path, mount: JSON.parse(r.mount) as MountPoint }));
  }

  forget(volume: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM file_versions WHERE volume = ?').run(volume);
      this.db.prepare('DELETE FROM index_dumps WHERE volume = ?').run(volume);
    })();
  }

  /**
   * Records one dump's tree: paths that are the same version as in the current rows stay as they
   * are; the rest end at the volume's previous indexed dump, and new versions begin at this one.
   */
  record(
    dump: DumpRow,
    tree: Map<string, Fields>,
    previous: { clone_time: number; date: string } | undefined,
  ): {
    added: number;
    ended: number;
  } {
    const clone = dump.clone_time!;
    let added = 0;
    let ended = 0;
    const insert = this.db.prepare(
      `INSERT INTO file_versions (volume, path, name, parent_vnode, vnode, uniq, kind, size, data_version, mtime,
         owner, grp, mode, target, mount, acl, first_clone, first_date)
       VALUES (@volume, @path, @name, @parent_vnode, @vnode, @uniq, @kind, @size, @data_version, @mtime,
         @owner, @grp, @mode, @target, @mount, @acl, @first_clone, @first_date)`,
    );
    const end = this.db.prepare('UPDATE file_versions SET last_clone = ?, last_date = ? WHERE id = ?');
    this.db.transaction(() => {
      const current = new Map(this.current(dump.volume).map((r) => [r.path, r]));
      for (const [path, f] of tree) {
        const old = current.get(path);
        if (old && SAME.every((k) => old[k] === f[k])) {
          current.delete(path);
          continue;
        }
        insert.run({ ...f, first_clone: clone, first_date: dump.date });
        added++;
      }
      // what is left is gone from this dump, or changed: its last dump was the previous one
      for (const old of current.values()) {
        end.run(previous?.clone_time ?? old.first_clone, previous?.date ?? old.first_date, old.id);
        ended++;
      }
      this.db
        .prepare(
          'INSERT INTO index_dumps (dump_id, volume, date, clone_time, paths, indexed_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(dump.id, dump.volume, dump.date, clone, tree.size, new Date().toISOString());
    })();
    return { added, ended };
  }
}

/** The volume's vnodes as its current rows have them: the base an incremental is joined with. */
export function baseState(rows: VersionRow[]): Map<number, VnodeState> {
  const out = new Map<number, VnodeState>();
  for (const r of rows) {
    if (!out.has(r.vnode))
      out.set(r.vnode, {
        vnode: r.vnode,
        unique: r.uniq,
        kind: r.kind,
        size: r.size,
        dataVersion: r.data_version,
        mtime: r.mtime,
        owner: r.owner,
        group: r.grp,
        mode: r.mode,
        ...(r.kind === 'dir' ? { entries: new Map() } : {}),
        ...(r.target !== null ? { target: r.target } : {}),
        ...(r.mount ? { mountPoint: JSON.parse(r.mount) as MountPoint } : {}),
        ...(r.acl ? { acl: JSON.parse(r.acl) as VnodeState['acl'] } : {}),
      });
  }
  for (const r of rows) {
    if (r.path === '') continue;
    out.get(r.parent_vnode)?.entries?.set(r.name, { vnode: r.vnode, unique: r.uniq });
  }
  return out;
}

function fieldsOf(volume: string, path: string, parent: number, s: VnodeState): Fields {
  return {
    volume,
    path,
    name: path.slice(path.lastIndexOf('/') + 1),
    parent_vnode: parent,
    vnode: s.vnode,
    uniq: s.unique,
    kind: s.kind,
    size: s.kind === 'dir' ? 0 : s.size,
    data_version: s.dataVersion,
    mtime: s.mtime,
    owner: s.owner,
    grp: s.group,
    mode: s.mode,
    target: s.target ?? null,
    mount: s.mountPoint ? JSON.stringify(s.mountPoint) : null,
    acl: s.acl ? JSON.stringify(s.acl) : null,
  };
}

export type IndexOutcome =
  | { ok: true; paths: number; added: number; ended: number }
  | { ok: false; skipped?: boolean; message: string };

/**
 * Indexes one catalogued dump from `source` (its local file, or the archive's copy). Refused, saying
 * why, for a dump older than the volume's newest indexed one, or already indexed. Never throws: a dump
 * that cannot be indexed is no less good, and its caller only reports why.
 */
export async function indexDump(
  index: FileIndex,
  dump: DumpRow,
  source: DumpSource,
  tools: Tools,
  opts: { signal?: AbortSignal; stallMs?: number } = {},
): Promise<IndexOutcome> {
  if (dump.clone_time === null)
    return { ok: false, skipped: true, message: `${dump.location} has no clone time` };
  if (index.isIndexed(dump.id)) return { ok: false, skipped: true, message: 'already indexed' };
  const previous = index.latest(dump.volume);
  if (previous && previous.clone_time >= dump.clone_time)
    return {
      ok: false,
      skipped: true,
      message: `${dump.volume}'s index already goes to ${previous.date}, past this dump of ${dump.date} (!backup reindex ${dump.volume} rebuilds it)`,
    };
  const vnodes: DumpVnode[] = [];
  const scan = await scanDump(source, tools, { volume: () => {}, vnode: (v) => vnodes.push(v) }, opts);
  if (!scan.ok) return { ok: false, message: scan.message };
  let tree: Map<string, Fields>;
  try {
    const base = dump.level === 'incremental' ? baseState(index.current(dump.volume)) : undefined;
    const state = joinVnodes(vnodes, base);
    tree = new Map();
    const parentOf = new Map<string, number>([['', 0]]);
    for (const e of walkTree(state)) {
      const parent = parentOf.get(e.path) ?? 0;
      if (e.state.entries)
        for (const name of e.state.entries.keys())
          parentOf.set(e.path ? `${e.path}/${name}` : name, e.state.vnode);
      tree.set(e.path, fieldsOf(dump.volume, e.path, parent, e.state));
    }
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  try {
    return { ok: true, paths: tree.size, ...index.record(dump, tree, previous) };
  } catch (err) {
    // the database could not be written (a full disk): the dump is no less good
    return { ok: false, message: `the index could not be written: ${(err as Error).message}` };
  }
}
