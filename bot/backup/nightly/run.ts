// The nightly run (the wiki's 3.2), phase by phase: (1) vos backupsys, (2) the clones and their times,
// (3) a level per volume, (4) the dumps, several at once with a per-file-server limit, (5) each dump
// sent to the restic archive as soon as it is in the dump store (feeder.ts), so that archiving overlaps
// the dumping, (6) local retention (retention.ts); the report is job.ts's. A volume that fails does not
// stop the others: its error, in the tool's own words, goes to the report, and the next night retries it.
import { faultPoint } from '../../../actions/faults.ts';
import { isNotOnServer, type VolumeFields } from '../../../actions/vos.ts';
import type { RunningJob } from '../../jobs/job.ts';
import { formatSeconds } from '../../platform/format.ts';
import { dumpDate, wallClock } from '../../platform/time.ts';
import type { Services } from '../../services.ts';
import { reconcile } from '../archive/reconcile.ts';
import type { DumpRow } from '../catalog.ts';
import { indexDump } from '../file-index.ts';
import { chooseLevel, type LevelChoice } from '../levels.ts';
import { cloneVolume, dumpClone, requireFreeSpace } from '../volumes.ts';
import { ArchiveFeeder } from './feeder.ts';
import { applyRetention, expireStaging, staleVolumes } from './retention.ts';
import { emptyStats, localSpace, type NightlyLive, type NightlyStats, type VolumeResult } from './stats.ts';

const live = new WeakMap<Services, NightlyLive>();

/** Where the run in progress is, if one is running in this process. */
export function liveRun(s: Services): NightlyLive | undefined {
  return live.get(s);
}

/** Whether the prefixes cover a volume name, and whether an xprefix leaves it out. */
export function coverage(
  name: string,
  prefixes: string[],
  xprefixes: string[],
): 'covered' | 'uncovered' | 'excluded' {
  if (!prefixes.some((p) => name.startsWith(p))) return 'uncovered';
  return xprefixes.some((p) => name.startsWith(p)) ? 'excluded' : 'covered';
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

/** A covered volume as phase 2 found it: its read-write fields, its clone's, or why there is none. */
interface VolumeFacts {
  volume: string;
  server: string;
  rw: VolumeFields;
  clone?: VolumeFields;
  error?: string;
}

/** One run: the state every phase shares. */
interface Run {
  s: Services;
  job: RunningJob;
  stats: NightlyStats;
  state: NightlyLive;
  now: Date;
  /** Runs one phase: its time goes in the stats, its end (outside a dry run) to the report channels. */
  phase<R>(name: string, fn: () => Promise<R>): Promise<R>;
}

export async function runNightly(s: Services, job: RunningJob, dryRun: boolean): Promise<NightlyStats> {
  const now = s.clock();
  const stats = emptyStats(dumpDate(now, s.config.timeZone), dryRun, s.config.archive.enabled);
  const state: NightlyLive = {
    jobId: job.id,
    date: stats.date,
    phase: 'starting',
    startedAt: Date.now(),
    volumesDone: 0,
    volumesTotal: 0,
    bytes: 0,
    expected: 0,
    archived: 0,
  };
  // The whole run has a deadline: past it, what is still going stops cleanly and the report says so,
  // rather than the run holding the archive's lock into the next night.
  const deadline = new AbortController();
  const hours = s.config.nightly.deadlineHours;
  const timer = setTimeout(() => {
    stats.deadline = `the run reached its deadline of ${hours} h (nightly.deadlineHours) in the phase ${state.phase} and was stopped`;
    deadline.abort();
  }, hours * 3600_000);
  timer.unref();
  const runJob: RunningJob = { ...job, signal: AbortSignal.any([job.signal, deadline.signal]) };
  const run: Run = {
    s,
    job: runJob,
    stats,
    state,
    now,
    phase: async (name, fn) => {
      const t = Date.now();
      state.phase = name;
      job.progress(name, 0);
      let ok = false;
      try {
        const r = await fn();
        ok = true;
        return r;
      } finally {
        stats.phases[name] = (Date.now() - t) / 1000;
        if (!dryRun)
          s.report(
            `nightly ${stats.date}: ${name} ${ok ? 'done' : 'failed'} in ${formatSeconds(stats.phases[name]!)}`,
            {
              urgency: 'progress',
              coalesce: `nightly-phase:${job.id}`,
            },
          );
      }
    },
  };
  live.set(s, state);
  const archiveOn = s.config.archive.enabled && !dryRun;
  let facts: VolumeFacts[] = [];
  try {
    const notCloned = await cloneAll(run);
    facts = await run.phase('listing the clones', () => listClones(run, notCloned));
    await chooseLevels(run, facts);
    if (dryRun) return stats;
    const feeder = archiveOn ? new ArchiveFeeder(s, runJob, stats, state, prepareArchive(run)) : undefined;
    await run.phase('dumping', () => dumpAll(run, feeder));
    if (feeder) {
      // what is left for the archive: tonight's last dumps, and any earlier dump that missed it
      await run.phase('archiving', async () => {
        feeder.push(s.catalog.unarchived());
        await feeder.finish();
      });
    }
    if (deadline.signal.aborted) throw new Error(stats.deadline);
    await run.phase('retention', async () => {
      const r = await applyRetention(s, runJob, now);
      stats.archive.notes.push(...r.notes);
      Object.assign(stats.retention, {
        stagingRemoved: expireStaging(s).length,
        stagingKeepDays: s.config.dumps.stagingKeepDays,
        removed: r.removed,
        freed: r.freed,
        cutoff: r.cutoff,
        keptUnarchived: r.keptUnarchived,
      });
    });
  } catch (err) {
    // past the deadline the report is still made, and says what was not done; a cancel or a failure is the job's
    if (!deadline.signal.aborted || job.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    live.delete(s);
    stats.endedAt = new Date().toISOString();
  }
  if (stats.deadline)
    for (const v of stats.volumes)
      if (
        (v.choice.level === 'full' || v.choice.level === 'incremental') &&
        v.rawBytes === undefined &&
        !v.error
      )
        v.error = 'not dumped: the run reached its deadline';
  stats.archive.pending = archiveOn ? s.catalog.unarchived().length : 0;
  stats.stale = staleVolumes(s, facts);
  return stats;
}

/** Phase 1: clone everything the prefixes cover (a dry run only asks what it would clone). */
async function cloneAll(run: Run): Promise<Map<string, string>> {
  const { s, job, stats } = run;
  const cfg = s.config.nightly;
  const bs = await run.phase('vos backupsys', () =>
    s.vos.backupsys({ prefixes: cfg.prefixes, xprefixes: cfg.xprefixes, dryRun: stats.dryRun }, job.signal),
  );
  if (!bs.ok) throw new Error(`vos backupsys failed: ${bs.message}`);
  faultPoint('nightly:after-backupsys'); // a test makes a volume here
  const notCloned = new Map(bs.failedVolumes.map((f) => [f.volume, f.why]));
  // A volume whose VLDB entry or clone was busy (another vos at work on it: an admin's, or one a
  // killed afsbot left running) gets its own vos backup, waiting a while for it to be free.
  if (!stats.dryRun)
    for (const [volume, why] of notCloned) {
      if (!/locked|busy/i.test(why)) continue;
      try {
        await cloneVolume(s, job, volume);
        notCloned.delete(volume);
        stats.archive.notes.push(
          `${volume} was busy when vos backupsys came to it (${why}); cloned on its own after`,
        );
      } catch (err) {
        notCloned.set(volume, `${why}; and on its own after: ${(err as Error).message}`);
      }
    }
  stats.backupsys = {
    backedUp: bs.backedUp + (bs.failedVolumes.length - notCloned.size),
    failed: notCloned.size,
  };
  // A volume not cloned tonight fails (its old clone would be last night's content).
  return notCloned;
}

/** Phase 2: the read-write volumes covered, with their clones' times; and the ones no prefix covers. */
async function listClones(run: Run, notCloned: Map<string, string>): Promise<VolumeFacts[]> {
  const { s, job, stats } = run;
  const cfg = s.config.nightly;
  const vldb = await s.vos.listvldb(job.signal);
  if (!vldb.ok) throw new Error(`vos listvldb failed: ${vldb.message}`);
  const rws = vldb.entries.filter((x) => x.rw !== undefined);
  const by = (c: ReturnType<typeof coverage>) =>
    rws.filter((e) => coverage(e.name, cfg.prefixes, cfg.xprefixes) === c);
  stats.uncovered = by('uncovered').map((e) => e.name);
  stats.excluded = by('excluded').map((e) => e.name);
  const out: VolumeFacts[] = [];
  for (const e of by('covered')) {
    const server = e.sites.find((x) => x.type === 'RW')?.server ?? '';
    const rw = await s.vos.examine(e.name, job.signal);
    const why = notCloned.get(e.name);
    if (why !== undefined) {
      // the read-write fields still serve the report's staleness check
      out.push({
        volume: e.name,
        server,
        rw: rw.ok ? rw.fields : {},
        error: `vos backupsys could not clone it: ${why}`,
      });
      continue;
    }
    if (!rw.ok) {
      out.push({ volume: e.name, server, rw: {}, error: rw.message });
      continue;
    }
    let clone = await s.vos.examine(`${e.name}.backup`, job.signal);
    let own = '';
    // the server just answered for it but finds no clone: never made (new since backupsys), so make it
    const never = !clone.ok && (clone.missing || isNotOnServer(clone));
    if (never && !stats.dryRun) {
      own = await cloneVolume(s, job, e.name).then(
        () => '',
        (err: Error) => `; on its own: ${err.message}`,
      );
      clone = await s.vos.examine(`${e.name}.backup`, job.signal);
      if (clone.ok) stats.archive.notes.push(`${e.name} had no clone after vos backupsys; cloned on its own`);
    }
    if (clone.ok) out.push({ volume: e.name, server, rw: rw.fields, clone: clone.fields });
    else if (stats.dryRun) out.push({ volume: e.name, server, rw: rw.fields });
    else out.push({ volume: e.name, server, rw: rw.fields, error: `no clone: ${clone.message}${own}` });
  }
  return out;
}

/**
 * Phase 3: a level per volume, with the size it is expected to have: a full's is the clone's disk use;
 * an incremental's is what vos size -dump says of it (exact, and cheap: the volserver walks the vnode
 * index and reads no file data), or, if vos size fails, the last incremental's size.
 */
async function chooseLevels(run: Run, facts: VolumeFacts[]): Promise<void> {
  const { s, stats, now, job } = run;
  const fullToday = wallClock(now, s.config.timeZone).weekday === s.config.nightly.fullWeekday;
  for (const f of facts) {
    if (f.error) {
      stats.volumes.push({
        volume: f.volume,
        server: f.server,
        choice: { level: 'failed', why: f.error },
        error: f.error,
      });
      continue;
    }
    const mine = s.catalog.forVolume(f.volume).filter((d) => d.kind === 'scheduled' && d.clone_time !== null);
    const replacedAt = s.promotions.replacedAt(f.volume);
    const choice = chooseLevel(
      {
        volume: f.volume,
        volumeId: Number(f.rw.id),
        updated: Number(f.rw.updateDate),
        ...(replacedAt !== undefined ? { replacedAt } : {}),
      },
      mine.map((d) => ({
        level: d.level,
        volumeId: d.volume_id,
        cloneTime: d.clone_time!,
        baseCloneTime: d.base_clone_time,
      })),
      fullToday,
    );
    const disk = Number((f.clone ?? f.rw).diskused ?? 0) * 1024;
    const lastIncr = mine.filter((d) => d.level === 'incremental').at(-1);
    let estimate = choice.level === 'full' ? disk : 0;
    if (choice.level === 'incremental') {
      // tonight's clone; a dry run makes none (the clone there is last night's), so the volume itself
      const sized = await s.vos.dumpSize(
        stats.dryRun || !f.clone ? f.volume : `${f.volume}.backup`,
        choice.since,
        job.signal,
      );
      estimate = sized.ok ? sized.bytes : (lastIncr?.raw_bytes ?? Math.round(disk / 10));
    }
    stats.volumes.push({ volume: f.volume, server: f.server, choice, estimate });
  }
}

/** The archive gets ready (the repository, its locks) while the first dumps run. */
async function prepareArchive(run: Run): Promise<boolean> {
  const { s, job, stats } = run;
  try {
    const note = await s.archive.ready();
    if (note) stats.archive.notes.push(note);
    const locks = await s.archive.clearLocks(false, job.signal, (t) =>
      s.report(`nightly ${stats.date}: ${t}`, { urgency: 'progress' }),
    );
    stats.archive.notes.push(...locks.removed, ...locks.notes);
    // what the archive really holds: a snapshot restic finished after afsbot died is adopted, a dump
    // the catalog placed in a snapshot that is gone goes in again
    const rec = await reconcile(s, job.signal);
    stats.archive.notes.push(...rec.notes);
    return true;
  } catch (err) {
    stats.archive.errors.push((err as Error).message);
    return false;
  }
}

/**
 * Phase 4: the dumps, per file server at most perServer at once, each handed to the archive as soon
 * as it is in the dump store; one failing volume stops no other.
 */
async function dumpAll(run: Run, feeder: ArchiveFeeder | undefined): Promise<void> {
  const { s, job, stats, state } = run;
  const todo = stats.volumes.filter((v) => v.choice.level === 'full' || v.choice.level === 'incremental');
  state.volumesTotal = todo.length;
  state.expected = todo.reduce((a, v) => a + (v.estimate ?? 0), 0);
  try {
    // archive-only (localKeepDays 0): each batch leaves the disk once archived, so the night needs room
    // for the dumps that run at once and one batch, not for all of them (each dump checks its own room)
    if (s.config.archive.enabled && s.config.archive.localKeepDays === 0) {
      const biggest = todo.map((v) => v.estimate ?? 0).sort((a, b) => b - a);
      const atOnce = biggest.slice(0, s.config.nightly.perServer * byServerCount(todo));
      requireFreeSpace(
        s,
        Math.min(state.expected, atOnce.reduce((a, b) => a + b, 0) + s.config.archive.batchBytes),
        `tonight's dumps in flight (archive-only: ${todo.length} dumps, each removed once archived)`,
      );
    } else requireFreeSpace(s, state.expected, `tonight's ${todo.length} dumps`);
  } catch (err) {
    // none starts: a half-full night would fill the disk the database shares; the archive and
    // retention still run (retention may free what tomorrow needs)
    for (const v of todo) v.error = (err as Error).message;
    return;
  }
  const running = new Map<string, number>();
  let doneBytes = 0;
  let indexing = Promise.resolve();
  const byServer = new Map<string, VolumeResult[]>();
  for (const v of todo) byServer.set(v.server, [...(byServer.get(v.server) ?? []), v]);
  await Promise.all(
    [...byServer.values()].map((list) =>
      pool(list, s.config.nightly.perServer, async (v) => {
        if (job.signal.aborted) return;
        const t = Date.now();
        const choice = v.choice as Extract<LevelChoice, { level: 'full' | 'incremental' }>;
        let release: (() => void) | undefined;
        try {
          release = await s.jobs.lockWithin(job, v.volume);
          const d = await dumpClone(s, job, v.volume, choice.level, 'scheduled', {
            ...(choice.level === 'incremental' ? { since: choice.since } : {}),
            ...(v.estimate !== undefined ? { estimate: v.estimate } : {}),
            index: false,
            onBytes: (n) => {
              running.set(v.volume, n);
              state.bytes = doneBytes + [...running.values()].reduce((a, b) => a + b, 0);
              job.progress(
                `dumping (${state.volumesDone} of ${todo.length} volumes done)`,
                state.bytes,
                state.expected || undefined,
              );
            },
          });
          v.rawBytes = d.row.raw_bytes ?? 0;
          v.storedBytes = d.row.stored_bytes;
          localSpace(stats, d.row.stored_bytes);
          // indexed one at a time beside the dumps, each before the archive may take its file off the disk
          const row = d.row;
          indexing = indexing.then(async () => {
            if (s.config.dumps.index) await indexTonight(run, row);
            feeder?.push([row]);
          });
        } catch (err) {
          v.error = (err as Error).message;
        } finally {
          release?.();
          running.delete(v.volume);
          doneBytes += v.rawBytes ?? 0;
          v.seconds = (Date.now() - t) / 1000;
          state.volumesDone++;
        }
      }),
    ),
  );
  await indexing;
}

/** One of tonight's dumps into the file index; a failure is the report's, never the dump's. */
async function indexTonight(run: Run, row: DumpRow): Promise<void> {
  const { s, job, stats } = run;
  stats.index ??= { indexed: 0, failures: [] };
  const st = stats.index;
  const r = await indexDump(s.files, row, { kind: 'zstd', path: row.location }, s.tools, {
    signal: job.signal,
    stallMs: s.config.jobs.stallMs,
  });
  if (r.ok) st.indexed++;
  else st.failures.push(`${row.volume} of ${row.date}: ${r.message}`);
}

function byServerCount(todo: VolumeResult[]): number {
  return new Set(todo.map((v) => v.server)).size;
}
