// Starts the nightly run and maintenance when their cron expressions say, in the configured time zone.
// It looks at the clock every 20 seconds and fires once per matching minute. A run still going when
// the next is due is reported in the report channels, not doubled.
import { isNever } from './config.ts';
import { type Cron, cronMatches, nextMatch, parseCron, wallClock } from './cron.ts';
import type { Origin } from './jobs.ts';
import { startMaintenance } from './maintenance.ts';
import { runningNightly, startNightly } from './nightly.ts';
import type { Services } from './services.ts';

const scheduled: Origin = {
  reports: true,
  backend: 'console',
  identity: 'schedule',
  conversation: { id: 'schedule', kind: 'channel' },
};

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private readonly fired = new Map<string, string>();
  private readonly nightly: Cron | undefined;
  private readonly maintenance: Cron | undefined;

  constructor(private readonly s: Services) {
    const n = s.config.nightly;
    this.nightly = isNever(n.schedule) ? undefined : parseCron(n.schedule);
    this.maintenance = isNever(n.maintenanceSchedule) ? undefined : parseCron(n.maintenanceSchedule);
  }

  start(): void {
    this.timer = setInterval(() => {
      // a failure here must not end the process (a run in the middle would be left behind)
      this.tick().catch((err: unknown) => {
        this.s.log.error('schedule tick failed', { error: err });
        void this.s
          .report(`the schedule could not start what was due: ${(err as Error).message}`)
          .catch(() => {});
      });
    }, 20_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** When the nightly run starts next, if it has a schedule. */
  nextNightly(): Date | undefined {
    return this.nightly ? nextMatch(this.nightly, this.s.clock(), this.s.config.timeZone) : undefined;
  }

  /** Fires what is due this minute (once per minute). Returns what it did, for the log and tests. */
  async tick(): Promise<string[]> {
    const now = this.s.clock();
    const tz = this.s.config.timeZone;
    const w = wallClock(now, tz);
    const minute = `${w.year}-${w.month}-${w.day} ${w.hour}:${w.minute}`;
    const did: string[] = [];
    const due = (name: string, c: Cron | undefined) =>
      c !== undefined &&
      cronMatches(c, now, tz) &&
      this.fired.get(name) !== minute &&
      this.fired.set(name, minute);
    if (due('nightly', this.nightly)) {
      const going = runningNightly(this.s);
      if (going !== undefined) {
        const row = this.s.jobs.get(going);
        const text = `the nightly run due now was not started: the previous one is still going as job ${going} (since ${row?.started_at ?? row?.created_at}); !nightly status shows where it is`;
        await this.s.report(text);
        did.push(text);
      } else {
        const id = startNightly(this.s, { dryRun: false, origin: scheduled, scheduled: true });
        did.push(`started the nightly run as job ${id}`);
      }
    }
    if (due('maintenance', this.maintenance)) {
      const id = startMaintenance(this.s, { origin: scheduled });
      did.push(`started archive maintenance as job ${id}`);
    }
    for (const d of did) this.s.log.info('schedule', { did: d });
    return did;
  }
}
