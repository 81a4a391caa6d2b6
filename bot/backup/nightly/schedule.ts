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

export function registerSchedules(s: Services): void {
  const n = s.config.nightly;
  if (!isNever(n.schedule))
    s.schedule.add({
      name: 'nightly',
      cron: parseCron(n.schedule),
      fire: async () => {
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
        return `started the nightly run as job ${id}`;
      },
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
