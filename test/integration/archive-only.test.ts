// Archive-only (archive.localKeepDays 0, the wiki's "pony": a night must not need its dumps on local
// disk twice): each batch leaves the disk as soon as the archive's own listing has it, the report says
// how much was on disk at most, and every restore and get of those dates comes from the archive alone.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { formatBytes } from '../../bot/platform/format.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  freshVolume,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const VOLS = ['ao.a', 'ao.b', 'ao.c'];
let now = new Date('2026-04-05T03:00:00Z'); // a Sunday: the full day
let h: MemoryHarness;
const big = randomBytes(3_000_000);

beforeAll(async () => {
  for (const v of VOLS) {
    await freshVolume(cell, v);
    writeVolumeFile(cell, v, 'f.txt', `${v} night 1\n`);
  }
  writeVolumeFile(cell, 'ao.a', 'big.bin', big);
  await nextSecond(); // so ao.b and ao.c are unchanged after the first night's clone
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: {
      AFSBOT_NIGHTLY_PREFIXES: 'ao.',
      AFSBOT_NIGHTLY_FULL_WEEKDAY: '0',
      AFSBOT_LOCAL_KEEP_DAYS: '0',
      AFSBOT_NIGHTLY_PER_SERVER: '1',
      AFSBOT_ARCHIVE_BATCH_BYTES: '1', // a batch per dump, as a night of big volumes would have
    },
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  for (const v of ['ao.r1', 'ao.r2']) await removeIfThere(cell, v);
});

/** Tonight's dump files still on local disk. */
function localDumps(date: string): string[] {
  const d = join(h.bot.services.config.dumps.dir, date);
  return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.dump.zst')) : [];
}

describe('archive-only: nothing stays on local disk', () => {
  it('the first night: every dump archived, then gone from disk; the report says the peak', async () => {
    const r = await h.chat.job('!nightly run', 120_000);
    expect(r.result).toMatch(/nightly 2026\.04\.05: OK\. 3 volumes: 3 full/);
    const rows = h.bot.services.catalog.onDate('2026.04.05');
    expect(rows.map((x) => [x.volume, x.local, Boolean(x.archive_snapshot)])).toEqual(
      VOLS.map((v) => [v, 0, true]),
    );
    expect(localDumps('2026.04.05')).toEqual([]);
    const total = rows.reduce((a, x) => a + x.stored_bytes, 0);
    const m = /^local space: at most (\S+ \S+) of tonight's (\S+ \S+) of dumps on disk at once/m.exec(
      r.result,
    );
    expect(m, r.result).not.toBeNull();
    expect(m![2]).toBe(formatBytes(total));
    expect(await h.chat.type('!backup list 2026.04.05')).toMatch(/ao\.a .*\[archive only\]/);
  });

  it('the next night is an incremental, archived and gone too', async () => {
    now = new Date('2026-04-06T03:00:00Z');
    writeVolumeFile(cell, 'ao.a', 'f.txt', 'ao.a night 2\n');
    const r = await h.chat.job('!nightly run', 120_000);
    expect(r.result).toMatch(/nightly 2026\.04\.06: OK\. 3 volumes: 0 full, 1 incremental, 2 unchanged/);
    expect(localDumps('2026.04.06')).toEqual([]);
    expect(h.bot.services.catalog.onDate('2026.04.06').map((x) => [x.volume, x.local])).toEqual([
      ['ao.a', 0],
    ]);
  });

  it('restores each date from the archive alone, with that date content', async () => {
    const r1 = await h.chat.job('!restore 2026.04.05 ao.a as ao.r1', 120_000);
    expect(r1.result).toMatch(/is restored into ao\.r1/);
    expect(readVolumeFile(cell, 'ao.r1', 'f.txt').toString()).toBe('ao.a night 1\n');
    const r2 = await h.chat.job('!restore 2026.04.06 ao.a as ao.r2', 120_000);
    expect(r2.result).toMatch(/is restored into ao\.r2 .*full of 2026\.04\.05.*incremental of 2026\.04\.06/s);
    expect(readVolumeFile(cell, 'ao.r2', 'f.txt').toString()).toBe('ao.a night 2\n');
    expect(readVolumeFile(cell, 'ao.r2', 'big.bin').equals(big)).toBe(true);
  });

  it('backup get of an archive-only date stages the chain, checked against the catalog', async () => {
    const r = await h.chat.job('!backup get 2026.04.06 ao.a', 120_000);
    const where = /is in (\S+):/.exec(r.result)![1]!;
    const staged = readdirSync(where).filter((f) => f.endsWith('.dump.zst'));
    const catalogued = h.bot.services.catalog
      .archivedRows()
      .filter((x) => x.volume === 'ao.a' && x.date <= '2026.04.06');
    expect(staged.sort()).toEqual(catalogued.map((x) => x.location.split('/').at(-1)!).sort());
    for (const row of catalogued) {
      const f = join(where, row.location.split('/').at(-1)!);
      expect(createHash('sha256').update(readFileSync(f)).digest('hex'), f).toBe(row.sha256);
    }
  });
});
