// Zod building blocks for argument tokens, with messages written for the person typing. A command's
// schema turns its tokens into typed arguments; every mistake becomes an issue that the dispatcher
// shows with the command's usage line.
import { z } from 'zod';
import { dumpDate } from '../platform/time.ts';
import { UserError } from './errors.ts';

export const tokens = z.array(z.string());

/** A command that takes no arguments. */
export const noArgs = tokens.max(0, 'this command takes no arguments').transform(() => ({}));

/** Reports a bad argument from inside a transform: the one way a schema says what was wrong. */
export function bad(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER as never;
}

/** At most one optional whole number in [min, max]. */
export function optionalCount(what: string, min: number, max: number, fallback: number) {
  return tokens.max(1, `give at most one number (${what})`).transform((t, ctx) => {
    const raw = t[0];
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      return bad(ctx, `"${raw.slice(0, 20)}" is not a number from ${min} to ${max}`);
    return n;
  });
}

/** At most one optional word matching `re`. */
export function optionalWord(what: string, re: RegExp) {
  return tokens.max(1, `give at most one ${what}`).transform((t, ctx) => {
    const raw = t[0];
    if (raw === undefined) return undefined;
    if (!re.test(raw)) return bad(ctx, `"${raw.slice(0, 40)}" is not a ${what}`);
    return raw;
  });
}

/** A numeric id (`12` or `#12`) first, then whatever follows: `!job 12`, `!deny 3 wrong date`. */
export function idFirst(what: string, listedBy: string) {
  return tokens.min(1, `give the ${what} id (${listedBy} lists them)`).transform((t, ctx) => {
    const m = /^#?(\d{1,9})$/.exec(t[0]!);
    if (!m) return bad(ctx, `"${t[0]!.slice(0, 20)}" is not a ${what} id`);
    return { id: Number(m[1]), rest: t.slice(1) };
  });
}

/** Exactly one numeric id. */
export function oneId(what: string, listedBy: string) {
  return idFirst(what, listedBy).transform((a, ctx) =>
    a.rest.length ? bad(ctx, `give one ${what} id and nothing else`) : a.id,
  );
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

/** Exactly one word (a volume name; its own checks come after). */
export function oneWord(what: string) {
  return tokens.length(1, `name one ${what}`).transform((t) => t[0]!);
}
