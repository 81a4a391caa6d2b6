// Waiting for an event in a test: a condition looked at again and again until it holds, with a
// deadline whose error names what was awaited. Never a fixed sleep standing in for the event.

/** Resolves with what `get` returns once it is neither undefined nor false. */
export async function until<T>(
  what: string,
  get: () => T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
