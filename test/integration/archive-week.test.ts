// A week of nightly runs on the real cell with an injected clock, archived to a real restic repository
// by restic running as the unix user nobody (the wiki's hcoopbackup split): a full on the weekday,
// incrementals after it, local retention of two days, then every local dump deleted and each date
// restored from the archive alone, with that date's content. Also: maintenance (forget+prune, check,
// a test restore from the archive), a volume that fails alone, the report's every item, the stored
// reports, status, and the schedule.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dumpDate } from '../../bot/platform/time.ts';
import { sandboxEnv } from '../support/bot-env.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  cellVos,
  freshVolume,
  isGone,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  setOnline,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const NOBODY = 65534;
const start = Date.parse('2026-03-01T03:00:00Z'); // a Sunday: the full day
let now = new Date(start);
let h: MemoryHarness;
let dir: string;
/** What wk.a/day.txt said on each date. */
const dayText = new Map<string, string>();
const restoredNames: string[] = [];

function nightOf(i: number): Date {
  return new Date(start + i * 86_400_000);
}

/** Every file under `root` (recursively). */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true })
    .map((f) => join(root, String(f)))
    .filter((f) => statSync(f).isFile());
}

beforeAll(async () => {
  for (const v of ['wk.a', 'wk.b', 'wk.c', 'wk.off']) await freshVolume(cell, v);
  writeVolumeFile(cell, 'wk.c', 'still.txt', 'never changes\n');
  writeVolumeFile(cell, 'wk.off', 'x.txt', 'goes off line on one night\n');
  dir = mkdtempSync(join(tmpdir(), 'afsbot-week-'));
  chmodSync(dir, 0o755); // nobody must reach the dump files (which become its own) and its repository
  const env = sandboxEnv(cell, dir); // writes the archive password file
  for (const d of ['archive', 'restic-cache']) {
    mkdirSync(join(dir, d));
    chownSync(join(dir, d), NOBODY, NOBODY);
  }
  chownSync(env.AFSBOT_ARCHIVE_PASSWORD_FILE!, NOBODY, NOBODY);
  h = await startMemoryBot({
    cell,
    dir,
    clock: () => now,
    env: {
      AFSBOT_NIGHTLY_PREFIXES: 'wk.',
      AFSBOT_NIGHTLY_FULL_WEEKDAY: '0',
      AFSBOT_LOCAL_KEEP_DAYS: '2',
      AFSBOT_ARCHIVE_RUN_AS: 'nobody',
      AFSBOT_ARCHIVE_ENGINE: 'restic', // its restic keys and snapshots are checked as nobody; borg.test.ts runs borg as nobody
      AFSBOT_ARCHIVE_KEEP_DAILY: '3',
      AFSBOT_ARCHIVE_KEEP_WEEKLY: '1',
      AFSBOT_ARCHIVE_KEEP_MONTHLY: '1',
    },
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  for (const v of restoredNames) await removeIfThere(cell, v);
  await setOnline(cell, 'wk.off', true).catch(() => undefined);
});

describe('a week of nightly runs into the archive', () => {
  it('runs seven nights and a second Sunday: full on Sunday, incrementals after, unchanged skipped', async () => {
    for (let i = 0; i <= 7; i++) {
      now = nightOf(i);
      const date = dumpDate(now, 'UTC');
      dayText.set(date, `wk.a on ${date}\n`);
      writeVolumeFile(cell, 'wk.a', 'day.txt', dayText.get(date)!);
      if (i % 2 === 0) writeVolumeFile(cell, 'wk.b', `b-${i}.txt`, `night ${i}\n`);
      await nextSecond(); // the clone comes a second after the writes: what was not written is unchanged
      const r = await h.chat.job('!nightly run', 180_000);
      const levels = h.bot.services.catalog.onDate(date).map((d) => `${d.volume}:${d.level}`);
      // Sunday: a full of what changed; the week: incrementals of what changed; the rest unchanged
      const expected =
        i === 0
          ? ['wk.a:full', 'wk.b:full', 'wk.c:full', 'wk.off:full']
          : i === 7
            ? ['wk.a:full']
            : i % 2 === 0
              ? ['wk.a:incremental', 'wk.b:incremental']
              : ['wk.a:incremental'];
      expect(levels, date).toEqual(expected);
      const full = expected.filter((l) => l.endsWith(':full')).length;
      const incr = expected.length - full;
      expect(r.result, date).toMatch(
        new RegExp(
          `^job \\d+ \\(nightly run\\) done: nightly ${date.replaceAll('.', '\\.')}: OK\\. 4 volumes: ${full} full, ${incr} incremental, ${4 - expected.length} unchanged, 0 failed\\.`,
        ),
      );
      // every dump of the night is in the archive, with its snapshot recorded
      expect(h.bot.services.catalog.onDate(date).every((d) => d.archive_snapshot !== null)).toBe(true);
    }
  }, 600_000);

  it('kept local files only for two days; the older ones live in the archive alone', () => {
    const rows = h.bot.services.catalog.forVolume('wk.a');
    const local = rows.filter((d) => d.local === 1).map((d) => d.date);
    expect(local).toEqual(['2026.03.06', '2026.03.07', '2026.03.08']);
    for (const d of rows.filter((x) => x.local === 0)) {
      expect(existsSync(d.location)).toBe(false);
      expect(d.archive_snapshot).toMatch(/^[0-9a-f]{8,64}$/);
    }
  });

  it('restic ran as nobody: everything in the repository and every snapshot is nobody\u2019s', () => {
    const repo = join(dir, 'archive');
    expect(new Set(filesUnder(repo).map((f) => statSync(f).uid))).toEqual(new Set([NOBODY]));
    const snaps = JSON.parse(
      execFileSync(
        'runuser',
        ['-u', 'nobody', '--', 'restic', '-r', repo, '--no-lock', 'snapshots', '--json'],
        {
          env: {
            ...process.env,
            RESTIC_PASSWORD_FILE: join(dir, 'archive.password'),
            RESTIC_CACHE_DIR: join(dir, 'restic-cache'),
          },
        },
      ).toString(),
    ) as { username: string; tags: string[]; paths: string[] }[];
    expect(snaps.length).toBeGreaterThanOrEqual(8);
    expect(new Set(snaps.map((s) => s.username))).toEqual(new Set(['nobody']));
    // each dump is tagged with its date, volume and level
    const first = snaps.find((s) => s.tags.includes('date:2026.03.02'))!;
    expect(first.tags).toEqual(
      expect.arrayContaining(['afsbot', 'date:2026.03.02', 'volume:wk.a', 'level:incremental']),
    );
  });

  it('the dump files stay root\u2019s: the archive user reads them and cannot change them', () => {
    const group = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
    const local = h.bot.services.catalog.forVolume('wk.a').filter((d) => d.local === 1);
    expect(local.length).toBeGreaterThan(0);
    for (const d of local)
      for (const f of [d.location, `${d.location}.json`]) {
        const st = statSync(f);
        expect([st.uid, st.gid, (st.mode & 0o777).toString(8)], f).toEqual([0, group, '640']);
      }
    const f = local[0]!.location;
    const asNobody = (script: string) =>
      spawnSync('runuser', ['-u', 'nobody', '--', 'sh', '-c', script, 'sh', f], { encoding: 'utf8' });
    expect(asNobody('head -c 4 "$1" >/dev/null').status).toBe(0);
    expect(asNobody('printf x >> "$1"').status).not.toBe(0);
    expect(asNobody('chmod 666 "$1"').status).not.toBe(0);
  });

  it('lists and fetches a date whose local files are gone, from the archive, checksum verified', async () => {
    expect(await h.chat.type('!backup list 2026.03.03')).toMatch(
      /^wk\.a {2}incremental, .*\[archive only\]$/m,
    );
    const got = await h.chat.job('!backup get 2026.03.03 wk.a');
    expect(got.result).toMatch(/from archive snapshot [0-9a-f]{8}, checksum verified/);
    const staged = got.result.match(/is in (\S+):/)![1]!;
    expect(readdirSync(staged).sort()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^wk\.a\.full\.\d+\.dump\.zst$/),
        expect.stringMatching(/^wk\.a\.incr\.\d+\.dump\.zst$/),
      ]),
    );
  });

  it('restores any date from the archive alone, after every local dump is deleted', async () => {
    rmSync(join(dir, 'dumps'), { recursive: true, force: true });
    expect((await h.chat.job('!backup rescan')).result).toMatch(/0 removed/);
    for (const [i, date] of [...dayText.keys()].entries()) {
      if (![0, 3, 6, 7].includes(i)) continue;
      const name = `rwk.${i}`;
      restoredNames.push(name);
      const r = await h.chat.job(`!restore ${date} wk.a as ${name}`, 180_000);
      expect(r.result, date).toMatch(/is restored into/);
      expect(readVolumeFile(cell, name, 'day.txt').toString(), date).toBe(dayText.get(date));
    }
  }, 300_000);

  it('maintenance: forget+prune, a check of one data subset, a test restore from the archive', async () => {
    // keep 3 daily, 1 weekly, 1 monthly: the dates 03.06 to 03.08 stay restorable. For each volume that
    // keeps the dump a restore of each of those dates uses (wk.b's of 03.05 for 03.06: it did not change
    // on 03.06), the 03.01 fulls they build on, and wk.c's and wk.off's only dumps. The rest goes: the
    // nights of 03.02 to 03.04 (each night is one snapshot, so wk.a's 03.05 stays with wk.b's)
    const r = await h.chat.job('!nightly maintenance forget', 180_000);
    expect(r.result).toMatch(
      /forget: ok: keep 3 daily, 1 weekly, 1 monthly, then prune: \d+ snapshots kept, 3 forgotten \(4 dumps of 2026\.03\.02, 2026\.03\.03, 2026\.03\.04\)/,
    );
    expect(h.bot.services.catalog.dates().map((d) => d.date)).toEqual([
      '2026.03.08',
      '2026.03.07',
      '2026.03.06',
      '2026.03.05',
      '2026.03.01',
    ]);
    expect((await h.chat.job('!nightly maintenance forget', 180_000)).result).toMatch(
      /keep 3 daily, 1 weekly, 1 monthly: nothing to forget/,
    );
    const c1 = await h.chat.job('!nightly maintenance check', 180_000);
    expect(c1.result).toMatch(/check: ok: read data subset 1\/7, no errors/);
    const c2 = await h.chat.job('!nightly maintenance check', 180_000);
    expect(c2.result).toMatch(/subset 2\/7/);
    const t = await h.chat.job('!nightly maintenance test-restore wk.b', 180_000);
    expect(t.result).toMatch(
      /test-restore: ok: wk\.b of 2026\.03\.07 \(full \+ incremental\) from the archive: (\d+) files \(catalog \1\), .*, matches/,
    );
    // the scratch volume is gone again
    expect(await isGone(cellVos(cell), `afsbot.test.${t.id}`)).toBe(true);
  }, 300_000);

  it('a volume that goes off line fails alone, and the report names it and why', async () => {
    now = nightOf(8);
    writeVolumeFile(cell, 'wk.a', 'day.txt', 'night 8\n');
    await nextSecond();
    await setOnline(cell, 'wk.off', false);
    const r = await h.chat.job('!nightly run', 180_000);
    await setOnline(cell, 'wk.off', true);
    expect(r.result).toMatch(
      /nightly 2026\.03\.09: NOT SAFE \(1 failed, vos backupsys failed for 1\)\. 4 volumes: 0 full, 1 incremental, 2 unchanged, 1 failed\./,
    );
    expect(r.result).toMatch(/^FAILED wk\.off: vos backupsys could not clone it: Volume is off line$/m);
    expect(h.bot.services.catalog.onDate('2026.03.09').map((d) => d.volume)).toEqual(['wk.a']);
  }, 300_000);

  it('the report has every item, and it is stored', async () => {
    const report = await h.chat.type('!nightly report 2026.03.09');
    const lines = report.split('\n');
    expect(lines[0]).toMatch(/^nightly 2026\.03\.09: NOT SAFE/);
    expect(report).toMatch(
      /^bytes: [\d.]+ (B|KiB|MiB) raw, [\d.]+ (B|KiB|MiB) compressed, [\d.]+ (B|KiB|MiB) added to the archive \(1 snapshot\)\. vos backupsys: 3 cloned, 1 failed\.$/m,
    );
    expect(report).toMatch(
      /^phases: vos backupsys [\d.]+s, listing the clones [\d.]+s, dumping [\d.]+s, archiving [\d.]+s, retention [\d.]+s \(total [\d.]+s\)$/m,
    );
    expect(report).toMatch(/^FAILED wk\.off: /m);
    expect(report).toMatch(/^slowest: wk\.a [\d.]+s \([\d.]+ (B|KiB)\)$/m);
    expect(report).toMatch(/^not covered by any prefix: .*user\.alice/m);
    expect(report).toMatch(/^retention: removed \d+ local dumps? from before 2026\.03\.07/m);
    expect(report).toMatch(/^last check \d{4}-\d{2}-\d{2} ok: read data subset 2\/7, no errors$/m);
    expect(report).toMatch(/^last test-restore \d{4}-\d{2}-\d{2} ok: wk\.b of 2026\.03\.07 .*matches$/m);
    expect(report).toMatch(/^last forget \d{4}-\d{2}-\d{2} ok: /m);
    // nine real nights so far (the dry runs do not count), tonight last
    expect(report).toMatch(/^archived per night, last 9: [▁▂▃▄▅▆▇█]{9} \(tonight [\d.]+ (B|KiB)\)$/m);
    // the first night's report is still there
    expect(await h.chat.type('!nightly report 2026.03.01')).toMatch(
      /^nightly 2026\.03\.01: OK\. 4 volumes: 4 full/,
    );
    expect(await h.chat.type('!nightly report 2025.01.01')).toMatch(
      /^error: there is no nightly report for 2025\.01\.01; reports exist for 2026\.03\.09/,
    );
  });

  it('a stale volume: changed, and no good dump for staleDays, is named', async () => {
    // wk.off changes and stays off line: its last good dump (03.01) is older than staleDays (3)
    writeVolumeFile(cell, 'wk.off', 'x.txt', 'changed while failing\n');
    await setOnline(cell, 'wk.off', false);
    now = nightOf(9);
    const r = await h.chat.job('!nightly run', 180_000);
    await setOnline(cell, 'wk.off', true);
    expect(r.result).toMatch(
      /^STALE \(changed, and no good dump for days\): wk\.off \(last 2026\.03\.01\)$/m,
    );
    expect(r.result).toMatch(/NOT SAFE \(1 failed, vos backupsys failed for 1, 1 stale\)/);
  }, 300_000);

  it('status: where a run is while it runs, and the last and next run when idle', async () => {
    now = nightOf(10);
    // asked from within the run's own progress update, so it is surely running (polling could miss a
    // fast run)
    const during = new Promise<string>((resolve) => {
      h.chat.onProgress = (u) => {
        if (u.final) return;
        h.chat.onProgress = undefined;
        resolve(h.chat.type('!nightly status'));
      };
    });
    const started = await h.chat.type('!nightly run');
    const id = /^job (\d+) started/m.exec(started)![1]; // (the status may come first)
    const status = await Promise.race([
      during,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the run sent no progress in 60 s')), 60_000).unref(),
      ),
    ]).finally(() => {
      h.chat.onProgress = undefined;
    });
    expect(status).toMatch(
      new RegExp(
        `^nightly 2026\\.03\\.11 is running as job ${id}: .*, \\d+ of \\d+ volumes done, .* dumped.*, .* archived, `,
        'm',
      ),
    );
    await h.chat.waitFor(new RegExp(`^job ${id} \\(nightly run\\) done`), 180_000);
    expect(await h.chat.type('!nightly status')).toMatch(
      /^no nightly run is going\. the last run \(2026\.03\.11\) ended .*: nightly 2026\.03\.11: .*; no schedule$/,
    );
  }, 300_000);
});
