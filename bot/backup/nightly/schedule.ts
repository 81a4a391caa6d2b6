// What the schedule starts: the nightly run at nightly.schedule, archive maintenance at
// nightly.maintenanceSchedule. A run still going when the next is due is reported, not doubled.

import type { Origin } from '../../jobs/job.ts';
import { isNever } from '../../platform/config.ts';
import { parseCron } from '../../platform/cron.ts';
import type { Services } from '../../services.ts';
import { maintenanceJob } from '../archive/maintenance.ts';
import { nightlyJob, runningNightly } from './job.ts';

/** The origin of a job nobody typed: it reports to the report channels. */
export const scheduledOrigin: Origin = {
  reports: true,
  backend: 'console',
  identity: 'schedule',
  conversation: { id: 'schedule', kind: 'channel' },
};

/** Starts the scheduled nightly run, unless one is going (then says so in the report channels). */
function fireNightly(s: Services, note = ''): string {
  const going = runningNightly(s);
  if (going !== undefined) {
    const row = s.jobs.get(going);
    const text = `the nightly run due now was not started: the previous one is still going as job ${going} (since ${row?.started_at ?? row?.created_at}); !nightly status shows where it is`;
    s.report(text, { urgency: 'result' });
    return text;
  }
  const { id } = s.jobs.submit({
    ...nightlyJob(s, { dryRun: false, scheduled: true }),
    origin: scheduledOrigin,
  });
  if (note) s.report(`${note}; it runs now as job ${id}`, { urgency: 'result' });
  return `started the nightly run as job ${id}${note ? ` (${note})` : ''}`;
}

/**
 * At start: the nightly run that was due while afsbot was down (within nightly.catchUpHours) and has
 * not run since, runs now, with a notice. Returns what it did.
 */
export function catchUpMissed(s: Services): string | undefined {
  const hours = s.config.nightly.catchUpHours;
  if (hours === 0) return undefined;
  const due = s.schedule.lastDue('nightly', hours * 3600_000);
  if (!due) return undefined;
  const last = s.nightlyRuns.last();
  const started = s.jobs.list(50).find((j) => j.kind === 'nightly' && j.created_at >= due.toISOString());
  if ((last && last.started_at >= due.toISOString()) || started) return undefined;
  return fireNightly(
    s,
    `the nightly run due at ${due.toISOString().slice(0, 16).replace('T', ' ')} UTC was missed (afsbot was not running then)`,
  );
}

/**
 * The dead man's switch: no OK nightly run for more than nightly.alertAfterHours raises an alert in
 * every report channel, again every day until a run is OK. Silence is not success.
 */
export function checkDeadMan(s: Services): string | undefined {
  const now = s.clock();
  const limitMs = s.config.nightly.alertAfterHours * 3600_000;
  const ok = s.nightlyRuns.lastOk();
  // with no OK run ever, the switch counts from the first time this database was watched
  if (!ok && !s.nightlyRuns.lastAlert('watching-since'))
    s.nightlyRuns.alerted('watching-since', now, 'start');
  const since = ok ? new Date(ok.ended_at) : s.nightlyRuns.lastAlert('watching-since')!;
  if (now.getTime() - since.getTime() <= limitMs) {
    if (s.nightlyRuns.lastAlert('no-ok-nightly')) s.nightlyRuns.clearAlert('no-ok-nightly');
    return undefined;
  }
  const last = s.nightlyRuns.lastAlert('no-ok-nightly');
  if (last && now.getTime() - last.getTime() < 24 * 3600_000) return undefined;
  const hours = Math.floor((now.getTime() - since.getTime()) / 3600_000);
  const lastRun = s.nightlyRuns.last();
  const text = `ALERT: ${ok ? `no nightly run has been OK since ${ok.date} (${hours} h ago)` : `no nightly run has been OK yet (watched for ${hours} h)`}; the last: ${lastRun ? lastRun.report.split('\n')[0] : 'none'}. !nightly report shows it, !nightly run starts one.`;
  s.report(text, { urgency: 'result' });
  s.nightlyRuns.alerted('no-ok-nightly', now, text);
  s.log.warn('dead man switch', { text });
  return text;
}

export function registerSchedules(s: Services): void {
  const n = s.config.nightly;
  if (!isNever(n.schedule))
    s.schedule.add({ name: 'nightly', cron: parseCron(n.schedule), fire: () => fireNightly(s) });
  s.schedule.add({
    name: 'dead-man',
    cron: parseCron('*/10 * * * *'),
    fire: () => checkDeadMan(s),
  });
  if (!isNever(n.maintenanceSchedule))
    s.schedule.add({
      name: 'maintenance',
      cron: parseCron(n.maintenanceSchedule),
      fire: () => {
        const { id } = s.jobs.submit({ ...maintenanceJob(s), origin: scheduledOrigin });
        return `started archive maintenance as job ${id}`;
      },
    });
}
