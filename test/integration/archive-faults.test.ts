// What the archive's failure paths say, on the real cell with the real archive (borg, the default): a
// test restore with nothing archived, one that does not match the catalog, a dump fetched from the
// archive whose checksum is not the catalog's, a dump gone from disk that was never archived, and the
// report's line for what xprefix left out.
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Database } from '../../bot/platform/database.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import { cellVos, freshVolume, isGone, writeVolumeFile } from '../support/cell-tools.ts';

const cell = inject('cell');
let now = new Date('2026-06-07T03:00:00Z'); // a Sunday: the full day
let h: MemoryHarness;
let store: Database;

beforeAll(async () => {
  for (const v of ['af.a', 'af.b', 'af.x1']) {
    await freshVolume(cell, v);
    writeVolumeFile(cell, v, 'f.txt', `${v}\n`);
  }
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: {
      AFSBOT_NIGHTLY_PREFIXES: 'af.',
      AFSBOT_NIGHTLY_XPREFIXES: 'af.x',
      AFSBOT_NIGHTLY_FULL_WEEKDAY: '0',
      AFSBOT_LOCAL_KEEP_DAYS: '0',
      // every check reads everything (the default reads a seventh each time, the repository's own
      // structure every seventh): the damage test below must be found by the check it runs
      AFSBOT_ARCHIVE_CHECK_SUBSETS: '1',
    },
  });
  store = new Database(h.env.AFSBOT_DATABASE!);
}, 60_000);

afterAll(async () => {
  store?.close();
  await h?.stop();
});

const escapeRe = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Changes one catalog field of `volume`'s rows for the length of `fn`, then puts it back. */
async function withCatalog(
  volume: string,
  field: 'sha256' | 'files',
  value: string | number,
  fn: () => Promise<void>,
): Promise<void> {
  const rows = store.db.prepare(`SELECT id, ${field} AS v FROM dumps WHERE volume = ?`).all(volume) as {
    id: number;
    v: unknown;
  }[];
  store.db.prepare(`UPDATE dumps SET ${field} = ? WHERE volume = ?`).run(value, volume);
  try {
    await fn();
  } finally {
    for (const r of rows) store.db.prepare(`UPDATE dumps SET ${field} = ? WHERE id = ?`).run(r.v, r.id);
  }
}

describe('the archive when things are wrong', () => {
  it('a test restore with nothing archived yet says so', async () => {
    const r = await h.chat.job('!nightly maintenance test-restore', 120_000);
    expect(r.result).toMatch(/\) done: test-restore: FAILED: no archived dump to test yet$/);
  });

  it('the report names the volumes xprefix left out, and they are not dumped', async () => {
    const r = await h.chat.job('!nightly run', 180_000);
    expect(r.result).toMatch(/nightly 2026\.06\.07: OK\. 2 volumes: 2 full/);
    expect(h.chat.said.join('\n')).toMatch(/^left out by xprefix: af\.x1$/m);
    expect(h.bot.services.catalog.forVolume('af.x1')).toEqual([]);
  });

  it('a test restore that does not match the catalog says DOES NOT MATCH, and removes its scratch volume', async () => {
    await withCatalog('af.a', 'files', 99, async () => {
      const r = await h.chat.job('!nightly maintenance test-restore af.a', 120_000);
      expect(r.result).toMatch(
        /af\.a of 2026\.06\.07 \(full\) from the archive: \d+ files \(catalog 99\), .*DOES NOT MATCH/,
      );
      // its scratch volume (named after the job) is gone again
      expect(r.result).not.toMatch(/could not be removed/);
      expect(await isGone(cellVos(cell), `afsbot.test.${r.id}`)).toBe(true);
    });
  });

  it('!backup get of a dump whose archive copy is not what the catalog says fails, and leaves it for inspection', async () => {
    await withCatalog('af.a', 'sha256', 'f'.repeat(64), async () => {
      const r = await h.chat.job('!backup get 2026.06.07 af.a', 120_000);
      const m = new RegExp(
        `failed: af\\.a\\.full\\.\\d+\\.dump\\.zst from the archive has sha256 [0-9a-f]{64}, but the catalog says ${'f'.repeat(64)}; it is left in (\\S+) for inspection`,
      ).exec(r.result);
      expect(m, r.result).not.toBeNull();
      expect(readdirSync(m![1]!).filter((f) => f.endsWith('.dump.zst'))).toHaveLength(1);
      rmSync(m![1]!, { recursive: true, force: true });
    });
  });

  it('a dump gone from disk that was never archived: !backup get says so, and the next night reports it', async () => {
    now = new Date('2026-06-08T03:00:00Z');
    // a dump made by hand is archived by the next nightly run; this one's file goes before that
    const made = await h.chat.job('!dump af.b full', 120_000);
    expect(made.result).toMatch(/done: full dump of af\.b/);
    const row = h.bot.services.catalog.forVolume('af.b').find((d) => d.date === '2026.06.08')!;
    expect(row.archive_snapshot).toBeNull();
    rmSync(row.location);
    const get = await h.chat.job('!backup get 2026.06.08 af.b', 120_000);
    expect(get.result).toMatch(
      new RegExp(
        `\\) failed: ${escapeRe(row.location)} is gone from disk and was never archived; !backup rescan updates the catalog$`,
      ),
    );
    const night = await h.chat.job('!nightly run', 180_000);
    expect(h.chat.said.join('\n')).toContain(
      `${row.location}: gone from disk and never archived; !backup rescan drops them from the catalog`,
    );
    // not safe: a dump of it is in no archive; the volumes themselves went fine
    expect(night.result).toMatch(/: NOT SAFE \(the archive failed\)\. 2 volumes: .*, 0 failed\./);
    expect(existsSync(row.location)).toBe(false);
  });

  it('maintenance asked while a nightly run holds the archive waits for it, then runs', async () => {
    now = new Date('2026-06-09T03:00:00Z');
    const night = Number(/^job (\d+)/.exec(await h.chat.type('!nightly run'))![1]);
    const asked = await h.chat.type('!nightly maintenance check');
    const upkeep = Number(/^job (\d+)/.exec(asked)![1]);
    expect(asked).toMatch(new RegExp(`it waits for job ${night}, which holds @archive`));
    await h.chat.waitFor(new RegExp(`^job ${upkeep} \\(.*\\) (done|failed)`), 180_000);
    const [a, b] = [night, upkeep].map((id) => h.bot.services.jobs.get(id)!);
    expect(b!.started_at! >= a!.ended_at!).toBe(true);
  });

  it('maintenance with nothing named: the test restore only on its weekday', async () => {
    const weekday = h.config.nightly.testRestoreWeekday;
    const day = (wd: number) => {
      const d = new Date('2026-06-14T03:00:00Z'); // a Sunday
      d.setUTCDate(d.getUTCDate() + wd);
      return d;
    };
    now = day((weekday + 1) % 7);
    const other = await h.chat.job('!nightly maintenance', 180_000);
    expect(other.result).toMatch(/\) done: forget: ok: .*\ncheck: ok: read data subset 1\/1, no errors$/);
    now = day(weekday);
    const its = await h.chat.job('!nightly maintenance', 180_000);
    expect(its.result, its.result).toMatch(
      /\ncheck: ok: read data subset 1\/1, no errors\ntest-restore: ok: af\.\S+ of \S+ \(full( \+ incremental)*\) from the archive: .*, matches$/,
    );
  });

  it('a night the archive refuses: its dumps stay on disk, retention keeps them, and the next night archives them', async () => {
    const passwordFile = h.env.AFSBOT_ARCHIVE_PASSWORD_FILE!;
    const password = readFileSync(passwordFile);
    now = new Date('2026-06-10T03:00:00Z');
    writeVolumeFile(cell, 'af.a', 'f.txt', 'af.a changed\n');
    writeFileSync(passwordFile, 'not the password\n', { mode: 0o600 });
    let row: { location: string; archive_snapshot: string | null } | undefined;
    try {
      const since = h.chat.said.length;
      const r = await h.chat.job('!nightly run', 180_000);
      expect(r.result).toMatch(
        /nightly 2026\.06\.10: NOT SAFE \(the archive failed\)\. 2 volumes: 0 full, 1 incremental/,
      );
      // kept: tonight's af.a, and the af.b row whose file went earlier (the catalog still has it)
      expect(h.chat.said.slice(since).join('\n')).toMatch(
        /^retention: removed 0 local dumps .*; kept 2 not archived yet$/m,
      );
      row = h.bot.services.catalog.onDate('2026.06.10')[0];
      expect(row?.archive_snapshot).toBeNull();
      expect(existsSync(row!.location)).toBe(true);
    } finally {
      writeFileSync(passwordFile, password, { mode: 0o600 });
    }
    // the report's advice for the dump that went from disk earlier: the catalog drops it
    expect((await h.chat.job('!backup rescan', 120_000)).result).toMatch(/\) done: /);
    now = new Date('2026-06-11T03:00:00Z');
    const next = await h.chat.job('!nightly run', 180_000);
    expect(next.result, next.result).toMatch(/nightly 2026\.06\.11: OK\./);
    const after = h.bot.services.catalog.onDate('2026.06.10')[0]!;
    expect(after.archive_snapshot).not.toBeNull();
    expect(existsSync(row!.location)).toBe(false); // archive-only: gone from disk once archived
  });

  it('an archive check that finds damage says FAILED, and the report says when the last check failed', async () => {
    const data = join(h.dir, 'archive', 'data');
    const segments = readdirSync(data, { recursive: true })
      .map(String)
      .filter((f) => /^\d+\/\d+$/.test(f))
      .map((f) => ({ f: join(data, f), size: statSync(join(data, f)).size }))
      .sort((x, y) => y.size - x.size);
    const victim = segments[0]!;
    const bytes = readFileSync(victim.f);
    for (let i = Math.floor(bytes.length / 2); i < Math.floor(bytes.length / 2) + 64; i++) bytes[i]! ^= 0xff;
    writeFileSync(victim.f, bytes);
    const r = await h.chat.job('!nightly maintenance check', 180_000);
    expect(r.result).toMatch(/\) done: check: FAILED: subset 1\/1: borg exited with 1: .*errors found/);
    const since = h.chat.said.length;
    await h.chat.job('!nightly run --dry-run', 120_000);
    expect(h.chat.said.slice(since).join('\n')).toMatch(
      /^last check \d{4}-\d{2}-\d{2} FAILED: subset 1\/1: borg exited with 1: /m,
    );
  });
});
