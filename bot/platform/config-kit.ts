// The bricks of the configuration schema: a key's type, default and description in one call, and
// the metadata (environment variable, example) that config.ts and .env.example read.
import { z } from 'zod';

/** What the schema says of a key besides its type. */
export type KeyMeta = {
  description: string;
  /** The environment variable, when not the one derived from the path (AFSBOT_ + the path in capitals). */
  env?: string;
  /** A value to show in .env.example (the default is shown otherwise). */
  example?: string;
};
export type More = Omit<KeyMeta, 'description'>;
export const doc = (description: string, more: More = {}): KeyMeta => ({ description, ...more });

export const bool = (dflt: boolean, d: string, m?: More) => z.boolean().default(dflt).meta(doc(d, m));
export const int = (min: number, max: number, dflt: number, d: string, m?: More) =>
  z.number().int().min(min).max(max).default(dflt).meta(doc(d, m));
export const text = (dflt: string, d: string, m?: More) => z.string().min(1).default(dflt).meta(doc(d, m));
export const optText = (d: string, m?: More) => z.string().min(1).optional().meta(doc(d, m));
export const list = <T extends z.ZodType<string>>(item: T, dflt: z.output<T>[], d: string, m?: More) =>
  z.array(item).default(dflt).meta(doc(d, m));
export const DAY = 86_400_000;
