// The nightly run (the wiki's 3.2) as one job: (1) vos backupsys, (2) the clones and their times,
// (3) a level per volume, (4) the dumps, several at once with a per-file-server limit, (5) each dump
// sent to the restic archive as soon as it is in the store, one restic at a time, so that archiving
// overlaps the dumping, (6) local retention, (7) the report. A volume that fails does not stop the
// others: its error, in the tool's own words, goes to the report, and the next night retries it.
import { existsSync, rmdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { VolumeFields } from '../actions/vos.ts';
import type { DumpRow } from './catalog.ts';
import type { ReportSummary } from './chat.ts';
import { dumpDate } from './dates.ts';
import { NotNow, UserError } from './errors.ts';
import { formatBytes, formatDuration } from './format.ts';
import type { Origin, RunningJob } from './jobs.ts';
import { chooseLevel, type LevelChoice, sparkline } from './levels.ts';
import { lastMaintenance, type MaintenanceRow } from './maintenance.ts';
import type { Services } from './services.ts';
import { dumpClone } from './volumes.ts';

export interface VolumeResult {
  volume: string;
  server: string;
  choice: LevelChoice | { level: 'failed'; why: string };
  /** What the dump is expected to be, raw (a dry run shows it). */
  estimate?: number;
  rawBytes?: number;
  storedBytes?: number;
  seconds?: number;
  error?: string;
}

export interface NightlyStats {
  date: string;
  dryRun: boolean;
  startedAt: string;
  endedAt?: string;
  phases: Record<string, number>;
  backupsys: { backedUp: number; failed: number };
  volumes: VolumeResult[];
  archive: {
    enabled: boolean;
    snapshots: number;
    /** Bytes restic read, and bytes the repository grew by. */
    processed: number;
    added: number;
    /** Dumps that should be in the archive and are not (they are retried next night). */
    pending: number;
    errors: string[];
    notes: string[];
  };
  retention: { removed: number; freed: number; cutoff: string; keptUnarchived: number };
  /** Covered volumes whose content has no good dump for staleDays or more. */
  stale: { volume: string; last: string | null }[];
  /** Read-write volumes in the VLDB that no prefix covers, and those an xprefix leaves out. */
  uncovered: string[];
  excluded: string[];
  maintenance: MaintenanceRow[];
  /** Archived bytes of the last nights, oldest first, tonight last. */
  trend: number[];
}

/** Where a run in progress is, for !nightly status. */
export interface NightlyLive {
  jobId: number;
  date: string;
  phase: string;
  startedAt: number;
  volumesDone: number;
  volumesTotal: number;
  bytes: number;
  expected: number;
  archived: number;
}

const live = new WeakMap<Services, NightlyLive>();

/** Today's weekday (0 Sunday) in the configured time zone. */
function weekday(d: Date, timeZone?: string): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short' }).format(d);
  return ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(name);
}

function covered(name: string, prefixes: string[], xprefixes: string[]): boolean {
  return prefixes.some((p) => name.startsWith(p)) && !xprefixes.some((p) => name.startsWith(p));
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

/**
 * Feeds dumps to the archive while the dumps go on: one restic process at a time (two at once contend
 * for the repository), each taking every dump that is ready by then in one snapshot per date. A batch
 * starts once archive.batchBytes are waiting, or when the dumps are done: every restic start costs
 * about half a second of CPU for its key derivation, which a night of small dumps must not pay per dump.
 */
class ArchiveFeeder {
  private readonly pending: DumpRow[] = [];
  private readonly seen = new Set<number>();
  private running: Promise<void> | undefined;
  /** Set once no more dumps will come: then whatever is waiting goes, whatever its size. */
  private closing = false;

  constructor(
    private readonly s: Services,
    private readonly job: RunningJob,
    private readonly stats: NightlyStats,
    private readonly state: NightlyLive,
    /** Whether the archive is usable (the repository is there, no lock in the way). */
    private readonly ready: Promise<boolean>,
  ) {}

  push(rows: DumpRow[]): void {
    for (const r of rows) {
      if (this.seen.has(r.id)) continue;
      this.seen.add(r.id);
      this.pending.push(r);
    }
    this.kick();
  }

  private kick(): void {
    const waiting = this.pending.reduce((a, r) => a + r.stored_bytes, 0);
    if (this.pending.length === 0 || (!this.closing && waiting < this.s.config.archive.batchBytes)) return;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      this.kick(); // what arrived meanwhile
    });
  }

  private async drain(): Promise<void> {
    if (!(await this.ready)) {
      this.pending.length = 0; // the report says why; they stay on disk and go in next night
      return;
    }
    while (this.pending.length > 0 && !this.job.signal.aborted) {
      const date = this.pending[0]!.date;
      let batch = this.pending.filter((r) => r.date === date);
      for (const r of batch) this.pending.splice(this.pending.indexOf(r), 1);
      // a dump whose file is gone cannot go in; it must not keep the rest of its date out
      const gone = batch.filter((r) => !existsSync(r.location));
      if (gone.length) {
        this.stats.archive.errors.push(
          `${gone.map((g) => g.location).join(', ')}: gone from disk and never archived; !backup rescan drops them from the catalog`,
        );
        batch = batch.filter((r) => !gone.includes(r));
        if (batch.length === 0) continue;
      }
      const before = this.state.archived;
      try {
        const r = await this.s.archive.send(batch, {
          signal: this.job.signal,
          onBytes: (n) => {
            this.state.archived = before + n;
          },
        });
        this.stats.archive.snapshots++;
        this.stats.archive.processed += r.processed;
        this.stats.archive.added += r.added;
        this.state.archived = before + r.processed;
      } catch (err) {
        this.stats.archive.errors.push(
          `${batch.map((b) => b.volume).join(', ')} (${date}): ${(err as Error).message}`,
        );
      }
    }
  }

  /** No more dumps are coming: sends what waits, and resolves when the archive has everything. */
  async finish(): Promise<void> {
    this.closing = true;
    this.kick();
    await this.ready;
    while (this.running) await this.running;
  }
}

function emptyStats(date: string, dryRun: boolean, archiveOn: boolean): NightlyStats {
  return {
    date,
    dryRun,
    startedAt: new Date().toISOString(),
    phases: {},
    backupsys: { backedUp: 0, failed: 0 },
    volumes: [],
    archive: { enabled: archiveOn, snapshots: 0, processed: 0, added: 0, pending: 0, errors: [], notes: [] },
    retention: { removed: 0, freed: 0, cutoff: '', keptUnarchived: 0 },
    stale: [],
    uncovered: [],
    excluded: [],
    maintenance: [],
    trend: [],
  };
}

export async function runNightly(s: Services, job: RunningJob, dryRun: boolean): Promise<NightlyStats> {
  const now = s.clock();
  const archiveOn = s.config.archive.enabled && !dryRun;
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
  live.set(s, state);
  try {
    await runPhases(s, job, stats, state, now, archiveOn);
  } finally {
    live.delete(s);
    stats.endedAt = new Date().toISOString();
  }
  return stats;
}

async function runPhases(
  s: Services,
  job: RunningJob,
  stats: NightlyStats,
  state: NightlyLive,
  now: Date,
  archiveOn: boolean,
): Promise<void> {
  const cfg = s.config.nightly;
  const dryRun = stats.dryRun;
  const phase = async <R>(name: string, fn: () => Promise<R>, say = !dryRun): Promise<R> => {
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
      if (say)
        await s.report(
          `nightly ${stats.date}: ${name} ${ok ? 'done' : 'failed'} in ${seconds(stats.phases[name]!)}`,
        );
    }
  };

  // 1. clone everything the prefixes cover (a dry run only asks what it would clone)
  const bs = await phase('vos backupsys', () =>
    s.vos.backupsys({ prefixes: cfg.prefixes, xprefixes: cfg.xprefixes, dryRun }, job.signal),
  );
  if (!bs.ok) throw new Error(`vos backupsys failed: ${bs.message}`);
  stats.backupsys = { backedUp: bs.backedUp, failed: bs.failed };
  // A volume vos backupsys could not clone tonight fails (its old clone would be last night's content).
  const notCloned = new Map(bs.failedVolumes.map((f) => [f.volume, f.why]));

  // 2. the read-write volumes covered, with their clones' times; and the ones no prefix covers
  const facts = await phase('listing the clones', async () => {
    const vldb = await s.vos.listvldb(job.signal);
    if (!vldb.ok) throw new Error(`vos listvldb failed: ${vldb.message}`);
    const rws = vldb.entries.filter((x) => x.rw !== undefined);
    stats.uncovered = rws.filter((e) => !cfg.prefixes.some((p) => e.name.startsWith(p))).map((e) => e.name);
    stats.excluded = rws
      .filter(
        (e) =>
          cfg.prefixes.some((p) => e.name.startsWith(p)) && cfg.xprefixes.some((p) => e.name.startsWith(p)),
      )
      .map((e) => e.name);
    const out: { volume: string; server: string; rw: VolumeFields; clone?: VolumeFields; error?: string }[] =
      [];
    for (const e of rws.filter((x) => covered(x.name, cfg.prefixes, cfg.xprefixes))) {
      const server = e.sites.find((x) => x.type === 'RW')?.server ?? '';
      if (notCloned.has(e.name)) {
        const rw = await s.vos.examine(e.name, job.signal); // for the report's staleness check
        out.push({
          volume: e.name,
          server,
          rw: rw.ok ? rw.fields : {},
          error: `vos backupsys could not clone it: ${notCloned.get(e.name)}`,
        });
        continue;
      }
      const rw = await s.vos.examine(e.name, job.signal);
      if (!rw.ok) {
        out.push({ volume: e.name, server, rw: {}, error: rw.message });
        continue;
      }
      const clone = await s.vos.examine(`${e.name}.backup`, job.signal);
      out.push(
        clone.ok
          ? { volume: e.name, server, rw: rw.fields, clone: clone.fields }
          : {
              volume: e.name,
              server,
              rw: rw.fields,
              error: dryRun ? undefined : `no clone: ${clone.message}`,
            },
      );
    }
    return out;
  });

  // 3. a level per volume
  const fullToday = weekday(now, s.config.timeZone) === cfg.fullWeekday;
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
    const choice = chooseLevel(
      { volume: f.volume, volumeId: Number(f.rw.id), updated: Number(f.rw.updateDate) },
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
    const estimate =
      choice.level === 'full'
        ? disk
        : choice.level === 'incremental'
          ? (lastIncr?.raw_bytes ?? Math.round(disk / 10))
          : 0;
    stats.volumes.push({ volume: f.volume, server: f.server, choice, estimate });
  }
  if (dryRun) return;

  // 4 and 5. the dumps, per file server at most perServer at once, each sent to the archive as soon
  // as it is in the store; one failing volume stops no other
  const todo = stats.volumes.filter((v) => v.choice.level === 'full' || v.choice.level === 'incremental');
  state.volumesTotal = todo.length;
  state.expected = todo.reduce((a, v) => a + (v.estimate ?? 0), 0);
  let feeder: ArchiveFeeder | undefined;
  if (archiveOn) {
    // The archive gets ready (the repository, its locks) while the first dumps run.
    const ready = (async () => {
      try {
        const note = await s.archive.ready();
        if (note) stats.archive.notes.push(note);
        const locks = await s.archive.clearLocks(false, job.signal, (t) =>
          s.report(`nightly ${stats.date}: ${t}`),
        );
        stats.archive.notes.push(...locks.removed, ...locks.notes);
        return true;
      } catch (err) {
        stats.archive.errors.push((err as Error).message);
        return false;
      }
    })();
    feeder = new ArchiveFeeder(s, job, stats, state, ready);
  }
  const running = new Map<string, number>();
  let doneBytes = 0;
  await phase('dumping', async () => {
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
            feeder?.push([d.row]);
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
  });

  // 5. what is left for the archive: tonight's last dumps, and any earlier dump that missed it
  if (feeder) {
    await phase('archiving', async () => {
      feeder.push(s.catalog.unarchived());
      await feeder.finish();
    });
  }
  stats.archive.pending = archiveOn ? s.catalog.unarchived().length : 0;

  // 6. local retention: dumps older than localKeepDays go, once the archive has them
  await phase('retention', async () => {
    Object.assign(stats.retention, await applyRetention(s, job, now));
  });
  stats.stale = staleVolumes(s, facts);
}

function seconds(v: number): string {
  return v < 60 ? `${v.toFixed(1)}s` : formatDuration(v * 1000);
}

/**
 * Removes local dump files older than localKeepDays that are in the archive (a pre-promote safety dump
 * is never removed). One not archived yet stays, and is counted.
 */
export async function applyRetention(
  s: Services,
  job: RunningJob,
  now: Date,
): Promise<{ removed: number; freed: number; cutoff: string; keptUnarchived: number }> {
  const cutoff = dumpDate(
    new Date(now.getTime() - s.config.archive.localKeepDays * 86_400_000),
    s.config.timeZone,
  );
  const old = s.store.db
    .prepare(`SELECT * FROM dumps WHERE local = 1 AND kind = 'scheduled' AND date < ? ORDER BY date`)
    .all(cutoff) as DumpRow[];
  let removed = 0;
  let freed = 0;
  let keptUnarchived = 0;
  for (const row of old) {
    if (!row.archive_snapshot) {
      keptUnarchived++;
      continue;
    }
    // not under a restore or a get that is reading it: they hold the volume's lock
    const release = await s.jobs.lockWithin(job, row.volume);
    try {
      rmSync(row.location, { force: true });
      rmSync(`${row.location}.json`, { force: true });
      s.catalog.markRemoved(row.id);
    } finally {
      release();
    }
    removed++;
    freed += row.stored_bytes;
    try {
      rmdirSync(dirname(row.location)); // the date's directory, once empty
    } catch {
      // not empty yet
    }
  }
  return { removed, freed, cutoff, keptUnarchived };
}

/** Covered volumes that changed after their newest good dump, and that dump is staleDays old or more. */
function staleVolumes(
  s: Services,
  facts: { volume: string; rw: VolumeFields }[],
): { volume: string; last: string | null }[] {
  const limit = dumpDate(
    new Date(s.clock().getTime() - s.config.nightly.staleDays * 86_400_000),
    s.config.timeZone,
  );
  const out: { volume: string; last: string | null }[] = [];
  for (const f of facts) {
    const dumps = s.catalog.forVolume(f.volume).filter((d) => d.kind !== 'databases');
    const newest = dumps.reduce<DumpRow | undefined>(
      (a, b) => ((b.clone_time ?? 0) >= (a?.clone_time ?? 0) ? b : a),
      undefined,
    );
    const changedSince = !newest || Number(f.rw.updateDate ?? 0) > (newest.clone_time ?? 0);
    if (changedSince && (!newest || newest.date <= limit))
      out.push({ volume: f.volume, last: newest?.date ?? null });
  }
  return out;
}

/** The verdict and why: "OK", or "NOT SAFE" with what is wrong. */
function verdict(st: NightlyStats): string {
  const why: string[] = [];
  const failed = st.volumes.filter((v) => v.error).length;
  if (failed) why.push(`${failed} failed`);
  if (st.backupsys.failed) why.push(`vos backupsys failed for ${st.backupsys.failed}`);
  if (st.archive.errors.length) why.push('the archive failed');
  else if (st.archive.pending) why.push(`${st.archive.pending} dumps not archived`);
  if (st.stale.length) why.push(`${st.stale.length} stale`);
  return why.length ? `NOT SAFE (${why.join(', ')})` : 'OK';
}

function describeMaintenance(m: MaintenanceRow): string {
  return `${m.kind} ${m.started_at.slice(0, 10)} ${m.ok ? 'ok' : 'FAILED'}: ${m.summary}`;
}

/** The report's numbers, for chats that lay them out (Slack blocks); the text has all of it too. */
/** The run's totals, as the report and its summary both show them. */
function totals(st: NightlyStats) {
  return {
    /** Volumes at a level (full, incremental, unchanged) that did not fail. */
    count: (level: string) => st.volumes.filter((v) => !v.error && v.choice.level === level).length,
    failed: st.volumes.filter((v) => v.error),
    raw: st.volumes.reduce((a, v) => a + (v.rawBytes ?? 0), 0),
    stored: st.volumes.reduce((a, v) => a + (v.storedBytes ?? 0), 0),
    seconds: Object.values(st.phases).reduce((a, b) => a + b, 0),
  };
}

export function reportSummary(st: NightlyStats): ReportSummary {
  const { count, failed, raw, stored, seconds: total } = totals(st);
  const v = verdict(st);
  return {
    title: `nightly ${st.date}`,
    ok: v === 'OK',
    verdict: v,
    fields: [
      { label: 'volumes', value: String(st.volumes.length) },
      { label: 'full', value: String(count('full')) },
      { label: 'incremental', value: String(count('incremental')) },
      { label: 'unchanged', value: String(count('unchanged')) },
      { label: 'failed', value: String(failed.length) },
      { label: 'raw / compressed', value: `${formatBytes(raw)} / ${formatBytes(stored)}` },
      { label: 'added to the archive', value: formatBytes(st.archive.added) },
      { label: 'took', value: seconds(total) },
    ],
    failures: [
      ...failed.map((x) => `${x.volume}: ${x.error}`),
      ...st.archive.errors.map((e) => `archive: ${e}`),
      ...st.stale.map((x) => `${x.volume}: stale, last good dump ${x.last ?? 'never'}`),
    ],
  };
}

/** The report: whether last night is safe, at a glance, then the details. */
export function renderReport(st: NightlyStats): string {
  const { count, failed, raw, stored, seconds: total } = totals(st);
  const lines = [
    `nightly ${st.date}${st.dryRun ? ' (dry run)' : ''}: ${verdict(st)}. ${st.volumes.length} volume${st.volumes.length === 1 ? '' : 's'}: ${count('full')} full, ${count('incremental')} incremental, ${count('unchanged')} unchanged, ${failed.length} failed.`,
  ];
  if (!st.dryRun) {
    const archive = st.archive.enabled
      ? `${formatBytes(st.archive.added)} added to the archive (${st.archive.snapshots} snapshot${st.archive.snapshots === 1 ? '' : 's'})`
      : 'archive off';
    lines.push(
      `bytes: ${formatBytes(raw)} raw, ${formatBytes(stored)} compressed, ${archive}. vos backupsys: ${st.backupsys.backedUp} cloned, ${st.backupsys.failed} failed.`,
    );
  }
  lines.push(
    `phases: ${Object.entries(st.phases)
      .map(([k, v]) => `${k} ${seconds(v)}`)
      .join(', ')} (total ${seconds(total)})`,
  );
  for (const v of failed) lines.push(`FAILED ${v.volume}: ${v.error}`);
  for (const e of st.archive.errors) lines.push(`ARCHIVE FAILED ${e}`);
  if (st.archive.pending)
    lines.push(`not archived yet: ${st.archive.pending} dumps (they stay on disk and go in next night)`);
  for (const n of st.archive.notes) lines.push(`archive: ${n}`);
  if (st.dryRun) {
    for (const v of st.volumes)
      lines.push(
        `${v.volume}: ${v.choice.level}${'since' in v.choice ? ` since ${new Date(v.choice.since * 1000).toISOString()}` : ''}${v.estimate ? `, about ${formatBytes(v.estimate)}` : ''} (${v.choice.why})`,
      );
  } else {
    const slow = st.volumes
      .filter((v) => v.seconds !== undefined && !v.error)
      .sort((a, b) => b.seconds! - a.seconds!)
      .slice(0, 3);
    if (slow.length)
      lines.push(
        `slowest: ${slow.map((v) => `${v.volume} ${seconds(v.seconds!)} (${formatBytes(v.rawBytes ?? 0)})`).join(', ')}`,
      );
  }
  if (st.stale.length)
    lines.push(
      `STALE (changed, and no good dump for days): ${st.stale.map((x) => `${x.volume} (last ${x.last ?? 'never'})`).join(', ')}`,
    );
  if (st.uncovered.length)
    lines.push(
      `not covered by any prefix: ${st.uncovered.slice(0, 20).join(', ')}${st.uncovered.length > 20 ? ` and ${st.uncovered.length - 20} more` : ''}`,
    );
  if (st.excluded.length) lines.push(`left out by xprefix: ${st.excluded.join(', ')}`);
  if (!st.dryRun && st.retention.cutoff)
    lines.push(
      `retention: removed ${st.retention.removed} local dump${st.retention.removed === 1 ? '' : 's'} from before ${st.retention.cutoff} (${formatBytes(st.retention.freed)}), all in the archive${st.retention.keptUnarchived ? `; kept ${st.retention.keptUnarchived} not archived yet` : ''}`,
    );
  for (const kind of ['check', 'test-restore', 'forget'] as const) {
    const m = st.maintenance.find((x) => x.kind === kind);
    lines.push(m ? `last ${describeMaintenance(m)}` : `last ${kind}: none yet`);
  }
  if (st.trend.length)
    lines.push(
      `archived per night, last ${st.trend.length}: ${sparkline(st.trend)} (tonight ${formatBytes(st.trend.at(-1) ?? 0)})`,
    );
  return lines.join('\n');
}

/** Fills in what the report needs from the store (maintenance results, the trend) and saves the run. */
export function recordRun(s: Services, st: NightlyStats): string {
  st.maintenance = lastMaintenance(s.store);
  if (!st.dryRun) {
    const earlier = (
      s.store.db
        .prepare(
          'SELECT archived_bytes FROM nightly_runs WHERE dry_run = 0 AND archived_bytes IS NOT NULL ORDER BY id DESC LIMIT 29',
        )
        .all() as { archived_bytes: number }[]
    )
      .map((r) => r.archived_bytes)
      .reverse();
    st.trend = [...earlier, st.archive.added];
  }
  const report = renderReport(st);
  s.store.db
    .prepare(
      'INSERT INTO nightly_runs (date, dry_run, started_at, ended_at, stats, report, archived_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    .run(
      st.date,
      st.dryRun ? 1 : 0,
      st.startedAt,
      st.endedAt ?? new Date().toISOString(),
      JSON.stringify(st),
      report,
      st.dryRun ? null : st.archive.added,
    );
  return report;
}

/**
 * The nightly job, if one is queued or running, here or in another afsbot process on this store (a
 * row left 'running' by a process that died does not count: the bot marks it interrupted at start).
 */
export function runningNightly(s: Services): number | undefined {
  return s.jobs.list(0).find((j) => j.kind === 'nightly' && s.jobs.isGoing(j))?.id;
}

/**
 * Starts the nightly run as a job (from a command, or the schedule). One at a time: a second is
 * refused with the job that is going.
 */
export function startNightly(
  s: Services,
  opts: { dryRun: boolean; origin: Origin; scheduled?: boolean },
): number {
  const going = runningNightly(s);
  if (going !== undefined)
    throw new NotNow(`the nightly run is already going as job ${going}; !job ${going} shows where it is`);
  const { id } = s.jobs.submit({
    kind: 'nightly',
    title: `nightly run${opts.dryRun ? ' (dry run)' : ''}`,
    // the archive's own lock: maintenance never overlaps a run
    volumes: opts.dryRun ? [] : ['@archive'],
    origin: opts.origin,
    run: async (job) => {
      const date = dumpDate(s.clock(), s.config.timeZone);
      if (!opts.dryRun)
        await s.report(
          `nightly ${date}: starting (job ${job.id}${opts.scheduled ? ', scheduled' : ''}); one line per phase, the report at the end`,
          opts.origin,
        );
      const stats = await runNightly(s, job, opts.dryRun);
      const report = recordRun(s, stats);
      if (!opts.dryRun)
        await s.report(report, opts.origin, { kind: 'report', summary: reportSummary(stats) });
      return report;
    },
  });
  return id;
}

/** !nightly status: where the run is, or when the last one ended and the next starts. */
export function nightlyStatus(s: Services, next?: Date): string {
  const st = live.get(s);
  if (st) {
    const elapsed = (Date.now() - st.startedAt) / 1000;
    const rate = st.bytes / Math.max(1, elapsed);
    const eta =
      st.expected > st.bytes && rate > 0
        ? `, about ${formatDuration(((st.expected - st.bytes) / rate) * 1000)} left`
        : '';
    return `nightly ${st.date} is running as job ${st.jobId}: ${st.phase}, ${st.volumesDone} of ${st.volumesTotal} volumes done, ${formatBytes(st.bytes)} dumped${st.expected ? ` of about ${formatBytes(st.expected)}` : ''}, ${formatBytes(st.archived)} archived, ${formatDuration(elapsed * 1000)} so far${eta}`;
  }
  const last = s.store.db
    .prepare('SELECT date, ended_at, report FROM nightly_runs WHERE dry_run = 0 ORDER BY id DESC LIMIT 1')
    .get() as { date: string; ended_at: string; report: string } | undefined;
  const lastLine = last
    ? `the last run (${last.date}) ended ${last.ended_at.replace(/\.\d+Z$/, 'Z')}: ${last.report.split('\n')[0]?.replace(/\.$/, '')}`
    : 'no nightly run yet';
  const nextLine = next ? `; the next starts ${next.toISOString().replace(/\.\d+Z$/, 'Z')}` : '; no schedule';
  return `no nightly run is going. ${lastLine}${nextLine}`;
}

/** A stored report: the newest, or the newest of `date`. */
export function storedReport(s: Services, date?: string): string {
  const row = (
    date
      ? s.store.db
          .prepare('SELECT report FROM nightly_runs WHERE date = ? AND dry_run = 0 ORDER BY id DESC LIMIT 1')
          .get(date)
      : s.store.db.prepare('SELECT report FROM nightly_runs WHERE dry_run = 0 ORDER BY id DESC LIMIT 1').get()
  ) as { report: string } | undefined;
  if (row) return row.report;
  const dates = (
    s.store.db
      .prepare('SELECT DISTINCT date FROM nightly_runs WHERE dry_run = 0 ORDER BY date DESC LIMIT 5')
      .all() as { date: string }[]
  ).map((r) => r.date);
  throw new UserError(
    `there is no nightly report${date ? ` for ${date}` : ' yet'}${dates.length ? `; reports exist for ${dates.join(', ')}` : '; !nightly run starts one'}`,
  );
}
