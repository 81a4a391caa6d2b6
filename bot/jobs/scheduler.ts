// Starts what is due by cron expressions in the configured time zone: it looks at the clock every 20
// seconds and fires each entry once per matching minute. What an entry does (start the nightly run,
// maintenance) is given by whoever registers it; a fire that fails is reported, never fatal.
import { type Cron, cronMatches, nextMatch } from '../platform/cron.ts';
import type { Logger } from '../platform/log.ts';
import { wallClock } from '../platform/time.ts';

export interface ScheduleEntry {
  name: string;
  cron: Cron;
  /** Starts the work; returns what it did, for the log (nothing: it found nothing to do). */
  fire(): Promise<string | undefined> | string | undefined;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private readonly fired = new Map<string, string>();
  private readonly entries: ScheduleEntry[] = [];

  constructor(
    private readonly deps: {
      clock(): Date;
      timeZone?: string;
      log: Logger;
      /** Where a failed fire is told (the report channels). */
      report(text: string): void;
    },
  ) {}

  add(entry: ScheduleEntry): void {
    if (this.entries.some((e) => e.name === entry.name)) throw new Error(`two schedules named ${entry.name}`);
    this.entries.push(entry);
  }

  start(): void {
    this.timer = setInterval(() => {
      // a failure here must not end the process (a run in the middle would be left behind)
      this.tick().catch((err: unknown) => this.deps.log.error('schedule tick failed', { error: err }));
    }, 20_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * When `name` was last due, if that was within `withinMs` before now (not counting this minute,
   * which the tick fires itself): what a process that was down at that time missed.
   */
  lastDue(name: string, withinMs: number): Date | undefined {
    const e = this.entries.find((x) => x.name === name);
    if (!e) return undefined;
    const now = Math.floor(this.deps.clock().getTime() / 60_000) * 60_000;
    for (let t = now - 60_000; t >= now - withinMs; t -= 60_000)
      if (cronMatches(e.cron, new Date(t), this.deps.timeZone)) return new Date(t);
    return undefined;
  }

  /** Fires `name` now, as the schedule would (a missed run caught up). */
  async fire(name: string): Promise<string | undefined> {
    const e = this.entries.find((x) => x.name === name);
    return e ? await e.fire() : undefined;
  }

  /** When `name` is due next (undefined: no such schedule). */
  next(name: string): Date | undefined {
    const e = this.entries.find((x) => x.name === name);
    return e ? nextMatch(e.cron, this.deps.clock(), this.deps.timeZone) : undefined;
  }

  /** Fires what is due this minute (once per minute). Returns what it did, for the log and tests. */
  async tick(): Promise<string[]> {
    const now = this.deps.clock();
    const w = wallClock(now, this.deps.timeZone);
    const minute = `${w.year}-${w.month}-${w.day} ${w.hour}:${w.minute}`;
    const did: string[] = [];
    for (const e of this.entries) {
      if (!cronMatches(e.cron, now, this.deps.timeZone) || this.fired.get(e.name) === minute) continue;
      this.fired.set(e.name, minute);
      try {
        const what = await e.fire();
        if (what !== undefined) did.push(what);
      } catch (err) {
        const text = `the schedule could not start ${e.name}: ${err instanceof Error ? err.message : String(err)}`;
        this.deps.log.error('schedule fire failed', { schedule: e.name, error: err });
        this.deps.report(text);
        did.push(text);
      }
    }
    for (const d of did) this.deps.log.info('schedule', { did: d });
    return did;
  }
}
