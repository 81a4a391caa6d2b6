// Cron expressions (minute hour day-of-month month day-of-week) evaluated in a time zone, for the
// nightly run and maintenance. Fields take *, numbers, ranges a-b, steps */n or a-b/n, and lists;
// day-of-week 0 and 7 are Sunday. As in cron, when both day fields are restricted either may match.
import { wallClock } from './time.ts';

export interface Cron {
  text: string;
  minute: Set<number>;
  hour: Set<number>;
  dom: Set<number>;
  month: Set<number>;
  dow: Set<number>;
  domAny: boolean;
  dowAny: boolean;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

function parseField(text: string, f: (typeof FIELDS)[number]): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" in the ${f.name} field is not a number, range, step or *`);
    const lo = m[1] === '*' ? f.min : Number(m[2]);
    const hi = m[1] === '*' ? f.max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? f.max : lo;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (lo < f.min || hi > f.max || lo > hi || step < 1)
      throw new Error(`"${part}" in the ${f.name} field is outside ${f.min}-${f.max}`);
    for (let v = lo; v <= hi; v += step) out.add(f.name === 'day of week' && v === 7 ? 0 : v);
  }
  return out;
}

/** Parses a cron expression; throws an Error that names the bad field. */
export function parseCron(text: string): Cron {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 5)
    throw new Error(
      `"${text}" has ${parts.length} fields; a cron expression has 5: minute hour day month weekday, e.g. "15 2 * * *"`,
    );
  const [minute, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!));
  return {
    text,
    minute: minute!,
    hour: hour!,
    dom: dom!,
    month: month!,
    dow: dow!,
    domAny: parts[2] === '*',
    dowAny: parts[4] === '*',
  };
}

export function cronMatches(c: Cron, d: Date, timeZone?: string): boolean {
  const w = wallClock(d, timeZone);
  if (!c.minute.has(w.minute) || !c.hour.has(w.hour) || !c.month.has(w.month)) return false;
  const domOk = c.dom.has(w.day);
  const dowOk = c.dow.has(w.weekday);
  if (c.domAny && c.dowAny) return true;
  if (c.domAny) return dowOk;
  if (c.dowAny) return domOk;
  return domOk || dowOk;
}

/** The first minute after `from` that matches, within `days` days; undefined if none. */
export function nextMatch(c: Cron, from: Date, timeZone?: string, days = 8): Date | undefined {
  let t = Math.floor(from.getTime() / 60_000) * 60_000 + 60_000;
  const end = from.getTime() + days * 86_400_000;
  for (; t <= end; t += 60_000) if (cronMatches(c, new Date(t), timeZone)) return new Date(t);
  return undefined;
}
