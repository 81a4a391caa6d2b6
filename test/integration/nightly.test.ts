// The nightly run on the real cell, over simulated days (an injected clock): full the first night,
// then incremental for what changed and nothing for what did not, with a report that says so.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  freshVolume,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
let now = new Date('2026-02-02T03:00:00Z'); // a Monday
let h: MemoryHarness;

beforeAll(async () => {
  await removeIfThere(cell, 'night.a.r'); // left by an older version of this test
  for (const v of ['night.a', 'night.b']) {
    await freshVolume(cell, v);
    writeVolumeFile(cell, v, 'f.txt', `${v} first\n`);
  }
  await nextSecond(); // so night.b is unchanged after the first night's clone
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: { AFSBOT_NIGHTLY_PREFIXES: 'night.', AFSBOT_NIGHTLY_FULL_WEEKDAY: '0' },
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await removeIfThere(cell, 'nr.a');
});

describe('nightly run', () => {
  it('a dry run says what it would do per volume and changes nothing', async () => {
    const r = await h.chat.job('!nightly run --dry-run');
    expect(r.result).toMatch(
      /nightly 2026\.02\.02 \(dry run\): OK\. 2 volumes: 2 full, 0 incremental, 0 unchanged, 0 failed\./,
    );
    expect(r.result).toMatch(/^night\.a: full, about [\d.]+ KiB \(it has no full dump yet\)$/m);
    expect(h.bot.services.catalog.dates()).toEqual([]);
  });

  it('the first night dumps every covered volume full', async () => {
    const r = await h.chat.job('!nightly run');
    expect(r.result).toMatch(
      /nightly 2026\.02\.02: OK\. 2 volumes: 2 full, 0 incremental, 0 unchanged, 0 failed\./,
    );
    expect(r.result).toMatch(/vos backupsys: 2 cloned, 0 failed\./);
    expect(h.bot.services.catalog.onDate('2026.02.02').map((d) => [d.volume, d.level])).toEqual([
      ['night.a', 'full'],
      ['night.b', 'full'],
    ]);
  });

  it('the next night: incremental for the volume that changed, nothing for the other', async () => {
    now = new Date('2026-02-03T03:00:00Z');
    writeVolumeFile(cell, 'night.a', 'f.txt', 'night.a changed\n');
    writeVolumeFile(cell, 'night.a', 'new.bin', randomBytes(2_000_000));
    // the incremental's size is known before it is made (vos size -dump), not guessed from the disk use
    const plan = (await h.chat.job('!nightly run --dry-run')).result;
    const m = /^night\.a: incremental since \S+, about ([\d.]+) (B|KiB|MiB)/m.exec(plan);
    expect(m, plan).not.toBeNull();
    const [, amount, unit] = m!;
    const estimate = Number(amount) * { B: 1, KiB: 1024, MiB: 1024 ** 2 }[unit as 'B' | 'KiB' | 'MiB'];
    const r = await h.chat.job('!nightly run');
    expect(r.result).toMatch(
      /nightly 2026\.02\.03: OK\. 2 volumes: 0 full, 1 incremental, 1 unchanged, 0 failed\./,
    );
    const rows = h.bot.services.catalog.onDate('2026.02.03');
    expect(rows.map((d) => [d.volume, d.level])).toEqual([['night.a', 'incremental']]);
    const raw = rows[0]!.raw_bytes ?? 0;
    const ratio = estimate / raw;
    expect(ratio, `estimate ${estimate} B, dump ${raw} B`).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
    expect(rows[0]!.base_clone_time).toBe(
      h.bot.services.catalog.onDate('2026.02.02').find((d) => d.volume === 'night.a')!.clone_time,
    );
    // and that date restores the new content
    const restored = await h.chat.job('!restore 2026.02.03 night.a as nr.a');
    expect(restored.result).toMatch(/from full of 2026\.02\.02 .* \+ incremental of 2026\.02\.03/);
    expect(readVolumeFile(cell, 'nr.a', 'f.txt').toString()).toBe('night.a changed\n');
    expect(readVolumeFile(cell, 'nr.a', 'new.bin').length).toBe(2_000_000);
  });

  it('refuses a second run while one is going', async () => {
    const first = await h.chat.type('!nightly run');
    expect(first).toMatch(/^job \d+ started: the nightly run$/);
    expect(await h.chat.type('!nightly run')).toMatch(
      /^error: the nightly run is already going as job \d+; !job \d+ shows where it is/,
    );
    await h.chat.waitFor(/nightly 2026\.02\.03: OK/, 60_000, h.chat.said.length - 1);
  });
});
