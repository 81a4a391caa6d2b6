// The nightly run as a job (started by a command, the schedule or backup-manager; one at a time), its
// stored reports, and !nightly status.
import { NotNow, UserError } from '../../chat/errors.ts';
import type { JobSpec, Origin } from '../../jobs/job.ts';
import { formatBytes, formatDuration } from '../../platform/format.ts';
import { dumpDate } from '../../platform/time.ts';
import type { Services } from '../../services.ts';
import { renderReport, reportSummary, verdict } from './report.ts';
import { liveRun, runNightly } from './run.ts';
import type { NightlyStats } from './stats.ts';

/** Fills in what the report needs from the database (maintenance results, the trend) and saves the run. */
export function recordRun(s: Services, st: NightlyStats): string {
  st.maintenance = s.maintenanceRuns.latest();
  if (!st.dryRun) st.trend = [...s.nightlyRuns.archivedTrend(29), st.archive.added];
  const report = renderReport(st);
  s.nightlyRuns.insert(st, report, verdict(st) === 'OK');
  return report;
}

/**
 * The nightly job, if one is queued or running, here or in another afsbot process on this database (a
 * row left 'running' by a process that died does not count: the bot marks it interrupted at start).
 */
export function runningNightly(s: Services): number | undefined {
  return s.jobs.list(0).find((j) => j.kind === 'nightly' && s.jobs.isGoing(j))?.id;
}

/** Refuses a second run while one is going, naming the job that is. */
export function refuseIfRunning(s: Services): void {
  const going = runningNightly(s);
  if (going !== undefined)
    throw new NotNow(`the nightly run is already going as job ${going}; !job ${going} shows where it is`);
}

/** The nightly run as a job. `origin` is where the start and the report are not repeated. */
export function nightlyJob(
  s: Services,
  opts: { dryRun: boolean; origin?: Origin; scheduled?: boolean },
): Omit<JobSpec, 'origin'> {
  return {
    kind: 'nightly',
    title: `nightly run${opts.dryRun ? ' (dry run)' : ''}`,
    // the archive's own lock: maintenance never overlaps a run
    volumes: opts.dryRun ? [] : ['@archive'],
    run: async (job) => {
      const date = dumpDate(s.clock(), s.config.timeZone);
      if (!opts.dryRun)
        s.report(
          `nightly ${date}: starting (job ${job.id}${opts.scheduled ? ', scheduled' : ''}); one line per phase, the report at the end`,
          { urgency: 'progress', ...(opts.origin ? { except: opts.origin } : {}) },
        );
      const stats = await runNightly(s, job, opts.dryRun);
      const report = recordRun(s, stats);
      if (opts.dryRun) return report;
      s.report(report, {
        meta: { kind: 'report', summary: reportSummary(stats) },
        ...(opts.origin ? { except: opts.origin } : {}),
      });
      // asked for by someone: the report is the answer; scheduled, it is already in the report channels
      return opts.origin
        ? report
        : `${report.split('\n')[0]} The report is in the report channels (!nightly report ${stats.date}).`;
    },
  };
}

/** !nightly status: where the run is, or when the last one ended and the next starts. */
export function nightlyStatus(s: Services, next?: Date): string {
  const st = liveRun(s);
  if (st) {
    const elapsed = (Date.now() - st.startedAt) / 1000;
    const rate = st.bytes / Math.max(1, elapsed);
    const eta =
      st.expected > st.bytes && rate > 0
        ? `, about ${formatDuration(((st.expected - st.bytes) / rate) * 1000)} left`
        : '';
    return `nightly ${st.date} is running as job ${st.jobId}: ${st.phase}, ${st.volumesDone} of ${st.volumesTotal} volumes done, ${formatBytes(st.bytes)} dumped${st.expected ? ` of about ${formatBytes(st.expected)}` : ''}, ${formatBytes(st.archived)} archived, ${formatDuration(elapsed * 1000)} so far${eta}`;
  }
  const last = s.nightlyRuns.last();
  const lastLine = last
    ? `the last run (${last.date}) ended ${last.ended_at.replace(/\.\d+Z$/, 'Z')}: ${last.report.split('\n')[0]?.replace(/\.$/, '')}`
    : 'no nightly run yet';
  const nextLine = next ? `; the next starts ${next.toISOString().replace(/\.\d+Z$/, 'Z')}` : '; no schedule';
  return `no nightly run is going. ${lastLine}${nextLine}`;
}

/** A stored report: the newest, or the newest of `date`. */
export function storedReport(s: Services, date?: string): string {
  const row = s.nightlyRuns.last(date);
  if (row) return row.report;
  const dates = s.nightlyRuns.dates(5);
  throw new UserError(
    `there is no nightly report${date ? ` for ${date}` : ' yet'}${dates.length ? `; reports exist for ${dates.join(', ')}` : '; !nightly run starts one'}`,
  );
}
