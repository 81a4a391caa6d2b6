// Wall-clock time in the configured time zone: the dump date of a moment (the wiki writes 2013.01.28),
// its weekday, and the fields cron matches against. One Intl call does all three.

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** 0 Sunday .. 6 Saturday. */
  weekday: number;
}

/** The wall-clock fields of `d` in `timeZone` (default: the system's). */
export function wallClock(d: Date, timeZone?: string): WallClock {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return {
    year: Number(get('year')),
    month: Number(get('month')),
    day: Number(get('day')),
    hour: Number(get('hour')),
    minute: Number(get('minute')),
    weekday: WEEKDAYS.indexOf(get('weekday')),
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** YYYY.MM.DD of `d` in `timeZone`. */
export function dumpDate(d: Date, timeZone?: string): string {
  const w = wallClock(d, timeZone);
  return `${w.year}.${pad(w.month)}.${pad(w.day)}`;
}

/** The dump date `days` days before `d` (24-hour steps, as retention and staleness count them). */
export function dumpDateBefore(d: Date, days: number, timeZone?: string): string {
  return dumpDate(new Date(d.getTime() - days * 86_400_000), timeZone);
}

/** The weekday of a YYYY.MM.DD date: 0 Sunday .. 6 Saturday. */
export function weekdayOf(date: string): number {
  return new Date(`${date.replaceAll('.', '-')}T12:00:00Z`).getUTCDay();
}
