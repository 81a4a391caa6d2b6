// Dump dates as the wiki writes them (2013.01.28), read from what admins type.
import { UserError } from './errors.ts';

/** YYYY.MM.DD of `d` in `timeZone` (default: the system's). */
export function dumpDate(d: Date, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return `${get('year')}.${get('month')}.${get('day')}`;
}

/** Accepts 2013.01.28, 2013-01-28, today, yesterday. Throws a UserError that shows the forms. */
export function parseDate(text: string, now: Date, timeZone?: string): string {
  const t = text.trim().toLowerCase();
  if (t === 'today') return dumpDate(now, timeZone);
  if (t === 'yesterday') return dumpDate(new Date(now.getTime() - 86_400_000), timeZone);
  const m = /^(\d{4})[.-](\d{2})[.-](\d{2})$/.exec(t);
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const check = new Date(Date.UTC(y, mo - 1, d));
    if (check.getUTCFullYear() === y && check.getUTCMonth() === mo - 1 && check.getUTCDate() === d) {
      return `${m[1]}.${m[2]}.${m[3]}`;
    }
  }
  throw new UserError(
    `"${text.slice(0, 30)}" is not a date; write 2013.01.28, 2013-01-28, today or yesterday`,
  );
}

export function looksLikeDate(text: string): boolean {
  return /^(\d{4}[.-]\d{2}[.-]\d{2}|today|yesterday)$/i.test(text);
}
