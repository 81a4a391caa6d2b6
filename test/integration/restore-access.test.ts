// Who may ask for a file back, decided from a dump's own access lists and the cell's protection
// database: real PTS users and a group on the cell's ptserver, a volume the volserver restored from a
// written dump with varied access lists, dumped back and indexed, then asked about.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { writeDump } from '../../actions/dump-writer.ts';
import { Pts } from '../../actions/pts.ts';
import type { DumpRow } from '../../bot/backup/catalog.ts';
import { FileIndex, indexDump } from '../../bot/backup/file-index.ts';
import { mayRestore, rightsOf } from '../../bot/backup/restore-access.ts';
import { Database } from '../../bot/platform/database.ts';
import { cellVos, removeIfThere, vosOk } from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const pts = new Pts({
  binary: 'pts',
  cell: cell.cell,
  localauth: true,
  configDir: cell.configDir,
  timeoutMs: 60_000,
});
const dir = mkdtempSync(join(tmpdir(), 'afsbot-access-'));
const VOL = 'ra.shared';
let index: FileIndex;
let clone = 0;
const ids: Record<string, number> = {};

async function ptsOk(args: string[]) {
  execFileSync('pts', pts.argv(args), { stdio: 'pipe' });
}

beforeAll(async () => {
  // users and a group of their own (ids far from the demo's), made again if a run left them
  for (const [name, id] of [
    ['ra-alice', 7101],
    ['ra-bob', 7102],
    ['ra-carol', 7103],
  ] as const) {
    if (!(await pts.id(name)).ok) await ptsOk(['createuser', '-name', name, '-id', String(id)]);
    const r = await pts.id(name);
    if (!r.ok) throw new Error(r.message);
    ids[name] = r.id;
  }
  if (!(await pts.id('ra-staff')).ok)
    await ptsOk(['creategroup', '-name', 'ra-staff', '-owner', 'system:administrators']);
  const g = await pts.id('ra-staff');
  if (!g.ok) throw new Error(g.message);
  ids['ra-staff'] = g.id;
  for (const u of ['ra-bob', 'ra-carol']) {
    const m = await pts.groupIds(u);
    if (m.ok && !m.ids.includes(g.id)) await ptsOk(['adduser', '-user', u, '-group', 'ra-staff']);
  }
  // / gives everyone lookup; /team gives the staff group rl, but takes all from carol; /private is alice's
  const written = join(dir, 'written.dump');
  clone = Math.floor(Date.now() / 1000) - 60;
  writeFileSync(
    written,
    Buffer.concat([
      ...writeDump({
        id: 536999101,
        name: VOL,
        toTime: clone,
        vnodes: [
          {
            vnode: 1,
            unique: 1,
            kind: 'dir',
            parent: 0,
            acl: { positive: [[-101, 2]] },
            entries: [
              { name: 'team', vnode: 3, unique: 2 },
              { name: 'private', vnode: 5, unique: 3 },
            ],
          },
          {
            vnode: 3,
            unique: 2,
            kind: 'dir',
            parent: 1,
            acl: { positive: [[g.id, 3]], negative: [[ids['ra-carol']!, 127]] },
            entries: [{ name: 'plan.txt', vnode: 2, unique: 4 }],
          },
          {
            vnode: 5,
            unique: 3,
            kind: 'dir',
            parent: 1,
            acl: { positive: [[ids['ra-alice']!, 127]] },
            entries: [{ name: 'diary.txt', vnode: 4, unique: 5 }],
          },
          { vnode: 2, unique: 4, kind: 'file', parent: 3, data: Buffer.from('the plan\n') },
          { vnode: 4, unique: 5, kind: 'file', parent: 5, data: Buffer.from('dear diary\n') },
        ],
      }),
    ]),
  );
  await removeIfThere(cell, VOL);
  await vosOk(vos, [
    'restore',
    '-server',
    cell.server,
    '-partition',
    cell.partition,
    '-name',
    VOL,
    '-file',
    written,
  ]);
  await vosOk(vos, ['backup', '-id', VOL]);
  const ex = await vos.examine(`${VOL}.backup`);
  if (!ex.ok) throw new Error(ex.message);
  clone = Number(ex.fields.creationDate);
  const file = join(dir, 'back.dump');
  await vosOk(vos, ['dump', '-id', `${VOL}.backup`, '-time', '0', '-file', file]);
  execFileSync('zstd', ['-q', '--rm', file, '-o', `${file}.zst`]);
  index = new FileIndex(new Database(join(dir, 'afsbot.db')).db);
  const row = { id: 1, volume: VOL, date: '2026.06.01', level: 'full', clone_time: clone } as DumpRow;
  const r = await indexDump(
    index,
    row,
    { kind: 'zstd', path: `${file}.zst` },
    { zstd: 'zstd', ccrypt: 'ccrypt', gzip: 'gzip' },
  );
  if (!r.ok) throw new Error(r.message);
  await removeIfThere(cell, VOL);
}, 120_000);

const ask = (user: string, path: string, own: string[] = ['user.{user}']) =>
  mayRestore(
    index,
    {
      user,
      userId: ids[user]!,
      groupIds: user === 'ra-alice' ? [] : [ids['ra-staff']!],
      volume: VOL,
      path,
      clone,
    },
    own,
  );

describe('who may ask for a file back', () => {
  it('reads users and groups from the real ptserver', async () => {
    expect(ids['ra-alice']).toBe(7101);
    const m = await pts.groupIds('ra-bob');
    expect(m.ok && m.ids).toEqual([ids['ra-staff']]);
    expect(await pts.id('ra-nobody-such')).toMatchObject({ ok: false, missing: true });
  });

  it('a group right lets its members in, a negative entry keeps one of them out', () => {
    expect(ask('ra-bob', 'team/plan.txt')).toMatchObject({ allowed: true });
    expect(ask('ra-carol', 'team/plan.txt')).toEqual({
      allowed: false,
      why: 'ra-carol had no lookup right on team then',
    });
    expect(ask('ra-alice', 'team/plan.txt')).toEqual({
      allowed: false,
      why: 'ra-alice had no lookup right on team then',
    });
  });

  it('a user right on a directory: its owner may, the others may not', () => {
    expect(ask('ra-alice', 'private/diary.txt')).toMatchObject({ allowed: true });
    expect(ask('ra-alice', 'private')).toMatchObject({ allowed: true });
    expect(ask('ra-bob', 'private/diary.txt')).toEqual({
      allowed: false,
      why: 'ra-bob had no lookup right on private then',
    });
  });

  it('lookup alone on the root is no read: the root itself is refused; the own-volume pattern allows all', () => {
    expect(ask('ra-bob', 'nothing-here.txt')).toEqual({
      allowed: false,
      why: 'the dump does not hold nothing-here.txt',
    });
    expect(ask('ra-bob', 'team')).toMatchObject({ allowed: true });
    expect(ask('ra-carol', 'private/diary.txt', ['ra.{user}', 'ra.shared'])).toMatchObject({
      allowed: true,
      why: "ra.shared is ra-carol's own volume",
    });
  });

  it('rights add up over positive entries and negative ones take away', () => {
    const acl = {
      positive: [
        { id: 1, rights: 1 },
        { id: 2, rights: 2 },
      ],
      negative: [{ id: 3, rights: 1 }],
    };
    expect(rightsOf(acl, new Set([1, 2]))).toBe(3);
    expect(rightsOf(acl, new Set([1, 2, 3]))).toBe(2);
    expect(rightsOf(acl, new Set([4]))).toBe(0);
  });
});
