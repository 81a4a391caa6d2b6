// The fault suite, part 1: the bot killed with SIGKILL at each point of a nightly run and of
// maintenance, on the real cell and a real archive (restic, and borg). After each kill the next start says what it
// found and repairs or resumes, the next run is OK, and nothing is lost: every catalogued dump is where
// the catalog says, every dump file is catalogued, and no local dump that is gone is missing from the
// archive's own listing.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { listDumpFiles } from '../../actions/dump-store.ts';
import { dumpDate, wallClock } from '../../bot/platform/time.ts';
import { sandboxEnv } from '../support/bot-env.ts';
import { freshVolume, writeVolumeFile } from '../support/cell-tools.ts';
import { agreement, archiveSnapshots, catalogRows } from '../support/invariants.ts';
import { killedSession, session } from '../support/spawned-bot.ts';

const cell = inject('cell');

function sandbox(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), `afsbot-fault-${prefix}`));
  return {
    ...sandboxEnv(cell, dir),
    AFSBOT_NIGHTLY_PREFIXES: `${prefix}.`,
    AFSBOT_NIGHTLY_STALE_DAYS: '30',
    AFSBOT_DUMPS_RESERVE_BYTES: '0',
    ...extra,
  };
}

/** Every dump file of `before` that is gone now is in the archive's listing (the catalog says where). */
async function nothingLost(env: Record<string, string>, before: string[]): Promise<string[]> {
  const listed = await archiveSnapshots(env);
  const rows = new Map(catalogRows(env).map((r) => [r.location, r]));
  return before
    .filter((f) => !existsSync(f))
    .filter((f) => {
      const r = rows.get(f);
      return !r?.archive_snapshot || !listed.has(r.archive_snapshot);
    })
    .map((f) => `${f} is gone from disk and not in the archive`);
}

const files = (env: Record<string, string>) => listDumpFiles(env.AFSBOT_DUMP_DIR!).map((f) => f.path);

/**
 * The same kills on each archive engine: restic, and borg fed through named pipes (where a power cut
 * also takes the zstd decoders writing into them). Only the tools' names and the snapshots' differ.
 */
const engines = [
  {
    engine: 'restic',
    nightly: 'fka',
    maintenance: 'fkb',
    env: { AFSBOT_ARCHIVE_ENGINE: 'restic' },
    backup: /restic .* backup /,
    forget: /restic .* forget /,
    prune: /restic .* prune/,
    snapshot: '[0-9a-f]{8}',
  },
  {
    engine: 'borg',
    nightly: 'fkc',
    maintenance: 'fkd',
    env: { AFSBOT_ARCHIVE_ENGINE: 'borg' },
    backup: /borg .*create /,
    forget: /borg .*delete /,
    prune: /borg .*compact /,
    snapshot: '\\S+',
  },
] as const;

/** After a kill: the next start (one session) reports, recovers, and runs an OK night; nothing is lost. */
async function recoverAndRun(env: Record<string, string>, before: string[]): Promise<string> {
  const out = await session(env, '!jobs\n!nightly run\n');
  expect(out).toMatch(/(^|done: )nightly \d{4}\.\d{2}\.\d{2}: OK\./m);
  expect(await agreement(env)).toEqual([]);
  expect(await nothingLost(env, before)).toEqual([]);
  return out;
}

describe.each(engines)('killed during a nightly run into $engine', (e) => {
  const env = sandbox(e.nightly, e.env);
  const big = `${e.nightly}.big`;
  const small = `${e.nightly}.small`;
  beforeAll(async () => {
    await freshVolume(cell, big);
    await freshVolume(cell, small);
    // big enough that its dump, and the archiver's reading of it, take a moment
    writeVolumeFile(cell, big, 'blob.bin', randomBytes(24_000_000));
    writeVolumeFile(cell, small, 'a.txt', 'small\n');
  }, 120_000);
  let round = 0;
  const change = () => {
    round++;
    writeVolumeFile(cell, big, `more-${round}.bin`, randomBytes(8_000_000));
    writeVolumeFile(cell, small, 'a.txt', `small ${round}\n`);
  };

  it('during vos backupsys: the next start marks the run interrupted, and the next run is OK', async () => {
    const k = await killedSession(env, '!nightly run\n', { tool: / backupsys / });
    expect(k.killedAt).toMatch(/vos backupsys/);
    const out = await recoverAndRun(env, files(env));
    expect(out).toMatch(/job \d+ \(nightly run\) was interrupted: afsbot stopped while it ran/);
  }, 180_000);

  it('in the middle of a dump: the partial file is removed, the clone freed, the next run OK', async () => {
    change();
    const before = files(env);
    await killedSession(env, '!nightly run\n', {
      tool: new RegExp(`vos dump -id ${e.nightly}\\.big\\.backup`),
    });
    const out = await recoverAndRun(env, before);
    expect(out).toMatch(/job \d+ \(nightly run\) was interrupted/);
    expect(listDumpFiles(env.AFSBOT_DUMP_DIR!).length).toBeGreaterThan(before.length);
  }, 180_000);

  it('after a dump got its name, before the catalog had it: the next start catalogues it', async () => {
    change();
    const before = files(env);
    await killedSession(env, '!nightly run\n', { fault: 'dump:before-catalog' });
    const orphan = files(env).filter((f) => !before.includes(f));
    expect(orphan).toHaveLength(1); // complete, named, never catalogued
    const out = await recoverAndRun(env, before);
    expect(out).toMatch(
      new RegExp(`^at start: catalogued 1 complete dumps the last process had not: ${e.nightly}\\.`, 'm'),
    );
    expect(catalogRows(env).some((r) => r.location === orphan[0])).toBe(true);
  }, 180_000);

  it('while the archiver backs up (a power cut: it dies too): the dumps go in at the next run', async () => {
    change();
    const before = files(env);
    await killedSession(env, '!nightly run\n', { tool: e.backup, powerCut: true });
    await recoverAndRun(env, before);
    // what the killed archiver was sending went in at the next run (a lock it left, if any, was removed)
    expect(catalogRows(env).filter((r) => !r.archive_snapshot)).toEqual([]);
  }, 180_000);

  it('after the archiver finished, before the catalog recorded it: the snapshot is adopted', async () => {
    change();
    const before = files(env);
    await killedSession(env, '!nightly run\n', { fault: 'archive:before-record' });
    const out = await recoverAndRun(env, before);
    expect(out).toMatch(
      new RegExp(
        `archive: adopted snapshot ${e.snapshot}, which afsbot made but never recorded: ${e.nightly}\\.`,
      ),
    );
  }, 180_000);
});

describe.each(engines)('killed during retention and maintenance of $engine', (e) => {
  const vol = `${e.maintenance}.a`;
  // Two dump dates without waiting a day: the first night in the time zone furthest behind, the
  // second in the one furthest ahead (26 hours apart, so their dates always differ).
  const behind = 'Etc/GMT+12';
  const ahead = 'Etc/GMT-14';
  const now = new Date();
  const dateAhead = dumpDate(now, ahead);
  const base = sandbox(e.maintenance, {
    ...e.env,
    AFSBOT_LOCAL_KEEP_DAYS: '0',
    AFSBOT_ARCHIVE_KEEP_DAILY: '1',
    AFSBOT_ARCHIVE_KEEP_WEEKLY: '0',
    AFSBOT_ARCHIVE_KEEP_MONTHLY: '0',
  });
  const night2 = {
    ...base,
    AFSBOT_TIME_ZONE: ahead,
    // a full on the second date too, so that the first date's snapshot is the policy's to forget
    AFSBOT_NIGHTLY_FULL_WEEKDAY: String(wallClock(now, ahead).weekday),
  };
  beforeAll(async () => {
    await freshVolume(cell, vol);
    writeVolumeFile(cell, vol, 'a.bin', randomBytes(2_000_000));
    expect(await session({ ...base, AFSBOT_TIME_ZONE: behind }, '!nightly run\n')).toMatch(/: OK\./);
    writeVolumeFile(cell, vol, 'b.bin', randomBytes(2_000_000));
  }, 180_000);

  it('in the middle of retention: a removed file is read from the archive from then on', async () => {
    const before = files(base);
    await killedSession(night2, '!nightly run\n', { fault: 'nightly:mid-retention' });
    const out = await recoverAndRun(night2, before);
    expect(out).toMatch(new RegExp(`nightly ${dateAhead.replaceAll('.', '\\.')}: OK\\.`));
    // the first date is archive-only now, and still restorable from the catalog's word
    const first = catalogRows(base).filter((r) => r.date !== dateAhead);
    expect(first.length).toBeGreaterThan(0);
    expect(first.every((r) => r.local === 0 && r.archive_snapshot)).toBe(true);
  }, 180_000);

  it('in the middle of forget: the next maintenance finishes it, and calls nothing lost', async () => {
    const before = files(night2);
    const snapshots = (await archiveSnapshots(night2)).size;
    await killedSession(night2, '!nightly maintenance forget\n', { tool: e.forget });
    const out = await session(night2, '!nightly maintenance forget\n');
    expect(out).toMatch(/forget: ok: /);
    expect(out).not.toMatch(/LOST/);
    expect((await archiveSnapshots(night2)).size).toBeLessThan(snapshots);
    expect(await agreement(night2)).toEqual([]);
    expect(await nothingLost(night2, before)).toEqual([]);
  }, 180_000);

  it('between forget and prune, and in the middle of prune: the catalog already agrees', async () => {
    // another full on the same date: the earlier full of that date is the policy's to forget
    writeVolumeFile(cell, vol, 'c.bin', randomBytes(1_000_000));
    expect(await session(night2, '!nightly run\n')).toMatch(/: OK\./);
    await killedSession(night2, '!nightly maintenance forget\n', { fault: 'maintenance:after-forget' });
    expect(await agreement(night2)).toEqual([]);
    // the next forget has nothing left to forget, but owes the prune: killed in the middle of it
    await killedSession(night2, '!nightly maintenance forget\n', { tool: e.prune, powerCut: true });
    expect(await agreement(night2)).toEqual([]);
    const out = await session(night2, '!nightly maintenance forget\n!nightly run\n');
    expect(out).toMatch(/forget: ok: .*finished the prune an earlier forget left/);
    expect(out).toMatch(/: OK\./);
    expect(await agreement(night2)).toEqual([]);
  }, 240_000);
});
