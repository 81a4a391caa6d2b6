// Waiting, one way everywhere: a sleep that a cancel ends at once, and a retry loop with exponential
// backoff and a deadline. Every layer may use it (it imports nothing of the project), so that no retry
// loop in the bot, the adapters or the actions waits past a cancel or for ever.
import { setTimeout as delay } from 'node:timers/promises';

/** The error a cancelled wait throws (its message is what a person reads: "cancelled"). */
export class Cancelled extends Error {
  override readonly name = 'Cancelled';
  constructor() {
    super('cancelled');
  }
}

/** Sleeps `ms`; rejects with Cancelled as soon as `signal` aborts. `unref` lets the process exit meanwhile. */
export async function sleep(ms: number, signal?: AbortSignal, opts: { unref?: boolean } = {}): Promise<void> {
  if (signal?.aborted) throw new Cancelled();
  try {
    await delay(Math.max(0, ms), undefined, { ...(signal ? { signal } : {}), ref: !opts.unref });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw new Cancelled();
    throw err;
  }
}

export interface BackoffOptions {
  /** The first wait (ms). */
  initialMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /** Each wait is this many times the last (default 2). */
  factor?: number;
  /** ±this share of random jitter on each wait (default 0). */
  jitter?: number;
  signal?: AbortSignal;
}

/** The waits of a backoff schedule: initial, initial*factor, ... capped at maxMs, with jitter. */
export function* backoffDelays(o: BackoffOptions): Generator<number, never> {
  let next = o.initialMs;
  for (;;) {
    const j = o.jitter ? 1 + (Math.random() * 2 - 1) * o.jitter : 1;
    yield Math.round(Math.min(o.maxMs, next) * j);
    next = Math.min(o.maxMs, next * (o.factor ?? 2));
  }
}

/**
 * Polls `attempt` until it returns a value other than undefined, sleeping by the backoff schedule
 * between tries. Returns undefined once `deadlineMs` has passed (the caller says what it waited for);
 * a cancel rejects with Cancelled.
 */
export async function poll<T>(
  attempt: (n: number) => Promise<T | undefined> | T | undefined,
  o: BackoffOptions & { deadlineMs?: number },
): Promise<T | undefined> {
  const until = o.deadlineMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.deadlineMs;
  const delays = backoffDelays(o);
  for (let n = 1; ; n++) {
    if (o.signal?.aborted) throw new Cancelled();
    const r = await attempt(n);
    if (r !== undefined) return r;
    const left = until - Date.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(delays.next().value, left), o.signal);
  }
}
