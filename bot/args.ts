// Small zod building blocks for argument tokens, with messages written for the person typing.
import { z } from 'zod';

export const tokens = z.array(z.string());

/** A command that takes no arguments. */
export const noArgs = tokens.max(0, 'this command takes no arguments').transform(() => ({}));

/** At most one optional whole number in [min, max]. */
export function optionalCount(what: string, min: number, max: number, fallback: number) {
  return tokens.max(1, `give at most one number (${what})`).transform((t, ctx) => {
    const raw = t[0];
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({
        code: 'custom',
        message: `"${raw.slice(0, 20)}" is not a number from ${min} to ${max}`,
      });
      return z.NEVER;
    }
    return n;
  });
}

/** At most one optional word matching `re`. */
export function optionalWord(what: string, re: RegExp) {
  return tokens.max(1, `give at most one ${what}`).transform((t, ctx) => {
    const raw = t[0];
    if (raw === undefined) return undefined;
    if (!re.test(raw)) {
      ctx.addIssue({ code: 'custom', message: `"${raw.slice(0, 40)}" is not a ${what}` });
      return z.NEVER;
    }
    return raw;
  });
}
