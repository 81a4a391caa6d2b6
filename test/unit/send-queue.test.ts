import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SendQueue } from '../../adapters/irc/send-queue.ts';

describe('SendQueue', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends a burst at once, then one line per interval, in order', async () => {
    const sent: string[] = [];
    const q = new SendQueue({
      burst: 3,
      intervalMs: 1000,
      write: (l) => sent.push(l) > 0,
      now: () => Date.now(),
    });
    q.resume();
    const done = q.push(Array.from({ length: 6 }, (_, i) => `l${i}`));
    expect(sent).toEqual(['l0', 'l1', 'l2']);
    await vi.advanceTimersByTimeAsync(999);
    expect(sent).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(2000);
    await done;
    expect(sent).toEqual(['l0', 'l1', 'l2', 'l3', 'l4', 'l5']);
  });

  it('refills the burst after a quiet spell', async () => {
    const sent: string[] = [];
    const q = new SendQueue({
      burst: 2,
      intervalMs: 500,
      write: (l) => sent.push(l) > 0,
      now: () => Date.now(),
    });
    q.resume();
    await q.push(['a', 'b']);
    await vi.advanceTimersByTimeAsync(5000);
    void q.push(['c', 'd', 'e']);
    expect(sent).toEqual(['a', 'b', 'c', 'd']);
  });

  it('holds lines while paused and keeps a line the connection refused', async () => {
    const sent: string[] = [];
    let up = false;
    const q = new SendQueue({
      burst: 5,
      intervalMs: 100,
      write: (l) => (up ? sent.push(l) > 0 : false),
      now: () => Date.now(),
    });
    q.resume(); // connection claims to be there but refuses: nothing lost
    const done = q.push(['x', 'y']);
    expect(q.pending).toBe(2);
    up = true;
    q.resume();
    await done;
    expect(sent).toEqual(['x', 'y']);
    expect(q.pending).toBe(0);
  });

  it('keeps a token for answers: a long report is paced, and an answer typed meanwhile goes at once', async () => {
    const sent: string[] = [];
    const q = new SendQueue({ burst: 3, intervalMs: 1000, reserve: 1, write: (l) => sent.push(l) > 0 });
    q.resume();
    const report = q.push(
      Array.from({ length: 10 }, (_, i) => `r${i}`),
      'report',
    );
    expect(sent).toEqual(['r0', 'r1']); // the third token is kept for an answer
    await vi.advanceTimersByTimeAsync(300);
    const answer = q.push(['pong'], 'reply');
    expect(sent).toEqual(['r0', 'r1', 'pong']); // no wait behind the report
    await answer;
    await vi.advanceTimersByTimeAsync(20_000);
    await report;
    expect(sent.slice(3)).toEqual(['r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
  });

  it('sends the most urgent first: results before progress before reports', async () => {
    const sent: string[] = [];
    const q = new SendQueue({ burst: 1, intervalMs: 100, reserve: 0, write: (l) => sent.push(l) > 0 });
    void q.push(['report'], 'report');
    void q.push(['progress'], 'progress');
    void q.push(['result'], 'result');
    q.resume();
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual(['result', 'progress', 'report']);
  });

  it('gives every queued line back when the connection goes, so the outbox keeps it', async () => {
    const q = new SendQueue({ burst: 1, intervalMs: 1000, write: () => true });
    const pending = q.push(['a', 'b', 'c'], 'result');
    q.dropAll('the IRC connection closed');
    await expect(pending).rejects.toThrow('the IRC connection closed');
    expect(q.pending).toBe(0);
  });
});
