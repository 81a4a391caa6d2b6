// Archive maintenance, as jobs that never overlap a nightly run (both hold the @archive lock):
// restic forget with the configured keep policy plus prune; restic check reading a different subset
// of the data each time; and a test restore of one volume picked at random, from the archive into a
// scratch name, compared with what the catalog recorded when it was dumped, then removed. Each result
// is stored, and the next nightly report shows it.
import { randomInt } from 'node:crypto';
import { faultPoint } from '../../../actions/faults.ts';
import { type ChainLink, restoreChain } from '../../../actions/restore.ts';
import type { JobSpec, RunningJob } from '../../jobs/job.ts';
import { formatBytes } from '../../platform/format.ts';
import { dumpDate, weekdayOf } from '../../platform/time.ts';
import type { Services } from '../../services.ts';
import type { DumpRow } from '../catalog.ts';
import { chainFor, chainLinks, restoreSite } from '../chains.ts';
import { keptDumps } from './keep-policy.ts';
import type { MaintenanceKind } from './maintenance-runs.ts';
import { reconcile } from './reconcile.ts';

/** What a forget row says while its prune has not finished (the next forget prunes even with nothing to forget). */
export const PRUNE_OWED = 'the prune has not finished yet';

/** Stores one result; returns its line for the job's answer. */
function record(s: Services, kind: MaintenanceKind, started: Date, ok: boolean, summary: string): string {
  s.maintenanceRuns.record(kind, started, ok, summary);
  return `${kind}: ${ok ? 'ok' : 'FAILED'}: ${summary}`;
}

/**
 * Forgets the snapshots that hold only dumps the keep policy (over dump dates) lets go, then prunes.
 * A kept date keeps, for every volume, the dump a restore of that date uses; a kept incremental keeps
 * its full; each volume's newest dump and every pre-promote safety dump are always kept. restic's own --keep-*
 * cannot do this: it judges snapshots by their time and groups, and knows nothing of dump chains.
 */
async function forget(s: Services, job: RunningJob): Promise<{ ok: boolean; summary: string }> {
  const a = s.config.archive;
  // the keep policy judges what the archive really holds, not what the catalog remembers
  const rec = await reconcile(s, job.signal);
  for (const n of rec.notes) job.say(n);
  const policy = `keep ${a.keepDaily} daily, ${a.keepWeekly} weekly, ${a.keepMonthly} monthly`;
  const rows = s.catalog.archivedChains();
  const kept = keptDumps(rows, { daily: a.keepDaily, weekly: a.keepWeekly, monthly: a.keepMonthly });
  const keptSnapshots = new Set(kept.map((r) => r.archive_snapshot));
  const goneRows = rows.filter((r) => !keptSnapshots.has(r.archive_snapshot));
  const gone = [...new Set(goneRows.map((r) => r.archive_snapshot!))];
  if (gone.length === 0) {
    // a prune an earlier forget began and did not finish still frees what it forgot
    if (!s.maintenanceRuns.pruneOwed())
      return {
        ok: true,
        summary: `${policy}: nothing to forget (${keptSnapshots.size} snapshots, all kept)`,
      };
    const p = await s.archive.engine.prune(job.signal);
    return p.ok
      ? { ok: true, summary: `${policy}: nothing to forget; finished the prune an earlier forget left` }
      : { ok: false, summary: `${policy}: the prune an earlier forget left failed again: ${p.message}` };
  }
  s.catalog.markForgetting(goneRows);
  const r = await s.archive.engine.forget(gone, job.signal);
  if (!r.ok) {
    s.catalog.clearForgetting();
    return { ok: false, summary: `${policy}: ${r.message}` };
  }
  // recorded before the prune: a crash during a long prune leaves no row pointing at a forgotten snapshot
  s.catalog.forgotten(goneRows);
  s.maintenanceRuns.record('forget', new Date(), false, `${gone.length} snapshots forgotten; ${PRUNE_OWED}`);
  faultPoint('maintenance:after-forget');
  const p = await s.archive.engine.prune(job.signal);
  if (!p.ok)
    return {
      ok: false,
      summary: `${policy}: ${gone.length} snapshots forgotten, but the prune failed (the next one frees their data): ${p.message}`,
    };
  return {
    ok: true,
    summary: `${policy}, then prune: ${keptSnapshots.size} snapshots kept, ${gone.length} forgotten (${goneRows.length} dumps of ${[...new Set(goneRows.map((x) => x.date))].sort().join(', ')})`,
  };
}

async function check(s: Services, job: RunningJob): Promise<{ ok: boolean; summary: string }> {
  const of = s.config.archive.checkSubsets;
  const done = s.maintenanceRuns.okChecks();
  const n = (done % of) + 1;
  const r = await s.archive.engine.check(n, of, job.signal);
  if (!r.ok) return { ok: false, summary: `subset ${n}/${of}: ${r.message}` };
  return { ok: true, summary: `read data subset ${n}/${of}, no errors` };
}

/** The scratch name of a test restore: short enough for any volume (22 characters at most). */
function scratchName(jobId: number): string {
  return `afsbot.test.${jobId}`.slice(0, 22);
}

async function testRestore(
  s: Services,
  job: RunningJob,
  pick?: string,
): Promise<{ ok: boolean; summary: string }> {
  const candidates = s.catalog.testableVolumes();
  if (candidates.length === 0) return { ok: false, summary: 'no archived dump to test yet' };
  const volume = pick ?? candidates[randomInt(candidates.length)]!;
  // what the archive holds: the chain of the newest night archived (a newer dump may not be, yet)
  const archived = s.catalog.newestTestableDate(volume);
  let rows: DumpRow[];
  let links: ChainLink[];
  try {
    rows = chainFor(s, volume, archived);
    links = chainLinks(s, rows, { fromArchive: true });
  } catch (err) {
    return { ok: false, summary: `${volume}: ${(err as Error).message}` };
  }
  const last = rows.at(-1)!;
  const target = scratchName(job.id);
  const site = await restoreSite(s, volume);
  let createdId: number | undefined;
  const r = await restoreChain({
    stallMs: s.config.jobs.stallMs,
    vos: s.vos,
    tools: s.tools,
    chain: links,
    server: site.server,
    partition: site.partition,
    target,
    signal: job.signal,
    onBytes: (n) => job.progress(`test restore of ${volume}`, n),
    onCreated: (id) => {
      createdId = id;
      job.leftover(`volume:${target}`);
    },
  }).catch((err: Error) => ({ ok: false as const, message: err.message }));
  const rm =
    createdId === undefined ? { gone: true } : await s.vos.removeAfterAbort(target, { expectId: createdId });
  if (rm.gone) job.settled(`volume:${target}`);
  const cleanup = rm.gone
    ? ''
    : `; the scratch volume ${target} could not be removed: !discard is not for it, run vos remove`;
  const what = `${volume} of ${last.date} (${rows.map((x) => x.level).join(' + ')}) from the archive`;
  if (!r.ok) return { ok: false, summary: `${what}: ${r.message}${cleanup}` };
  const files = Number(r.examine.filecount);
  const kb = Number(r.examine.diskused);
  const sameFiles = files === last.files;
  const sameSize = last.disk_kb !== null && Math.abs(kb - last.disk_kb) <= Math.max(16, last.disk_kb * 0.05);
  return {
    ok: sameFiles && sameSize,
    summary: `${what}: ${files} files (catalog ${last.files}), ${formatBytes(kb * 1024)} (catalog ${formatBytes((last.disk_kb ?? 0) * 1024)})${sameFiles && sameSize ? ', matches' : ', DOES NOT MATCH'}${cleanup}`,
  };
}

/**
 * The maintenance job: forget+prune and check, and the test restore when it is its weekday (or asked
 * for). Each waits for a live restic lock and removes a provably stale one.
 */
export function maintenanceJob(
  s: Services,
  opts: { kinds?: MaintenanceKind[]; testVolume?: string } = {},
): Omit<JobSpec, 'origin'> {
  return {
    kind: 'maintenance',
    title: `archive maintenance${opts.kinds ? ` (${opts.kinds.join(', ')})` : ''}`,
    volumes: ['@archive'],
    run: async (job) => {
      const now = s.clock();
      const weekday = weekdayOf(dumpDate(now, s.config.timeZone));
      const kinds =
        opts.kinds ??
        ([
          'forget',
          'check',
          ...(weekday === s.config.nightly.testRestoreWeekday ? ['test-restore'] : []),
        ] as MaintenanceKind[]);
      const lines: string[] = [];
      const setupStarted = new Date();
      try {
        await s.archive.ready();
        const locks = await s.archive.clearLocks(true, job.signal, (t) => job.say(t));
        lines.push(...locks.removed, ...locks.notes);
      } catch (err) {
        // the next report must not go on showing the last good result as if this one had run
        for (const kind of kinds)
          record(s, kind, setupStarted, false, `could not start: ${(err as Error).message}`);
        throw err;
      }
      for (const kind of kinds) {
        if (job.signal.aborted) break;
        const started = new Date();
        job.progress(kind, 0);
        const r =
          kind === 'forget'
            ? await forget(s, job)
            : kind === 'check'
              ? await check(s, job)
              : await testRestore(s, job, opts.testVolume);
        lines.push(record(s, kind, started, r.ok, r.summary));
      }
      return lines.join('\n');
    },
  };
}
