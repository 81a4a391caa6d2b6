// /afs paths in the file index: from root.cell down through the mount points the index holds, on dumps
// written by test/support/dump-writer.ts (a mount point is what the cell's FUSE client cannot make),
// indexed from zstd files as the nightly run stores them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type WrittenDump, writeDump } from '../../actions/dump-writer.ts';
import type { DumpRow } from '../../bot/backup/catalog.ts';
import { FileIndex, indexDump } from '../../bot/backup/file-index.ts';
import { find, resolveTarget } from '../../bot/backup/file-search.ts';
import { Database } from '../../bot/platform/database.ts';
import type { Services } from '../../bot/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'afsbot-paths-'));
const index = new FileIndex(new Database(join(dir, 'afsbot.db')).db);
const s = { files: index, config: { afs: { cell: 'example.org' } } } as unknown as Services;
const tools = { zstd: 'zstd', ccrypt: 'ccrypt', gzip: 'gzip' };

async function indexed(id: number, d: WrittenDump): Promise<void> {
  const raw = join(dir, `${d.name}.dump`);
  writeFileSync(raw, Buffer.concat([...writeDump(d)]));
  execFileSync('zstd', ['-q', '--rm', raw, '-o', `${raw}.zst`]);
  const row = { id, volume: d.name, date: '2026.06.01', level: 'full', clone_time: d.toTime } as DumpRow;
  const r = await indexDump(index, row, { kind: 'zstd', path: `${raw}.zst` }, tools);
  if (!r.ok) throw new Error(r.message);
}

beforeAll(async () => {
  const t = 1_800_000_000;
  await indexed(1, {
    id: 536870915,
    name: 'root.cell',
    toTime: t,
    vnodes: [
      {
        vnode: 1,
        unique: 1,
        kind: 'dir',
        parent: 0,
        entries: [
          { name: 'home', vnode: 3, unique: 2 },
          { name: 'README', vnode: 2, unique: 3 },
        ],
      },
      {
        vnode: 3,
        unique: 2,
        kind: 'dir',
        parent: 1,
        entries: [{ name: 'alice', vnode: 4, unique: 4 }],
      },
      { vnode: 2, unique: 3, kind: 'file', parent: 1, data: Buffer.from('the cell\n') },
      { vnode: 4, unique: 4, kind: 'symlink', parent: 3, mode: 0o644, target: '#example.org:user.alice.' },
    ],
  });
  await indexed(2, {
    id: 536870920,
    name: 'user.alice',
    toTime: t,
    vnodes: [
      { vnode: 1, unique: 1, kind: 'dir', parent: 0, entries: [{ name: 'thesis', vnode: 3, unique: 2 }] },
      { vnode: 3, unique: 2, kind: 'dir', parent: 1, entries: [{ name: 'thesis.tex', vnode: 2, unique: 3 }] },
      { vnode: 2, unique: 3, kind: 'file', parent: 3, data: Buffer.from('\\documentclass{article}\n') },
    ],
  });
});

describe('/afs paths through the mount points of indexed volumes', () => {
  it('follows root.cell to the volume a mount point names, and the rest of the path inside it', () => {
    expect(resolveTarget(s, '/afs/example.org/README')).toEqual({ volume: 'root.cell', under: 'README' });
    expect(resolveTarget(s, '/afs/.example.org/home/alice')).toEqual({ volume: 'user.alice', under: '' });
    expect(resolveTarget(s, '/afs/example.org/home/alice/thesis')).toEqual({
      volume: 'user.alice',
      under: 'thesis',
    });
  });

  it('finds a file by an /afs path', () => {
    expect(find(s, '/afs/example.org/home/alice', '*.tex')).toMatch(
      /^user\.alice:\/thesis\/thesis\.tex {2}24 B {2}2026\.06\.01 to now \(1 dump, still there\)$/,
    );
  });

  it('says which volume it cannot follow, and refuses another cell', () => {
    index.forget('user.alice');
    expect(() => resolveTarget(s, '/afs/example.org/home/alice/thesis')).toThrow(
      /goes through user\.alice, which the file index does not hold/,
    );
    expect(() => resolveTarget(s, '/afs/other.org/x')).toThrow(/is not in this cell \(example\.org\)/);
  });
});
