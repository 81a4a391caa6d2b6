import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import { IrcAdapter } from '../../adapters/irc/irc-adapter.ts';
import { formatProgress, type ProgressUpdate } from '../../bot/chat/adapter.ts';

const update = (bytes: number, final = false): ProgressUpdate => ({
  jobId: 7,
  title: 'restore user.alice',
  phase: 'restoring the full dump',
  bytes,
  total: 200 * 1048576,
  rate: 60 * 1048576,
  etaSeconds: (200 * 1048576 - bytes) / (60 * 1048576),
  final,
});

describe('formatProgress', () => {
  it('shows percent, amounts, rate and ETA on one line', () => {
    expect(formatProgress(update(90 * 1048576))).toBe(
      'job 7 restore user.alice: restoring the full dump 45% (90 MiB of 200 MiB) at 60 MiB/s, about 2s left',
    );
  });

  it('shows just the bytes when the total is unknown', () => {
    expect(
      formatProgress({
        jobId: 1,
        title: 'get',
        phase: 'extracting',
        bytes: 5 * 1048576,
        rate: 0,
        final: false,
      }),
    ).toBe('job 1 get: extracting 5.0 MiB');
  });
});

describe('progress on IRC', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('posts at most one line per job per interval, and nothing for the final update', () => {
    const irc = new IrcAdapter({
      host: '127.0.0.1',
      port: 1,
      tls: false,
      tlsVerify: true,
      nick: 'afsbot',
      username: 'afsbot',
      realname: 'afsbot',
      channels: [],
      sendBurst: 4,
      sendIntervalMs: 1000,
      registerTimeoutMs: 10_000,
      reconnectMinMs: 1000,
      reconnectMaxMs: 60_000,
      progressIntervalMs: 15_000,
      log: { info() {}, warn() {} },
    });
    const sent: string[] = [];
    vi.spyOn(irc, 'send').mockImplementation(async (_to, text) => {
      sent.push(text);
    });
    const to = { id: '#ops', kind: 'channel' as const };
    for (let s = 0; s <= 40; s++) {
      irc.progress(to, update(s * 5 * 1048576));
      vi.advanceTimersByTime(1000);
    }
    irc.progress(to, update(200 * 1048576, true));
    // first update at t=0 is silent (the "started" answer was just given); then t=15 s and t=30 s
    expect(sent).toEqual([
      formatProgress(update(15 * 5 * 1048576)),
      formatProgress(update(30 * 5 * 1048576)),
    ]);
  });
});

describe('progress on the console', () => {
  it('redraws one live line on a terminal and clears it before the next answer', async () => {
    let out = '';
    const output = new PassThrough();
    output.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const c = new ConsoleAdapter({ input: new PassThrough(), output, prompt: true });
    const to = { id: 'console', kind: 'direct' as const };
    c.progress(to, update(10 * 1048576));
    c.progress(to, update(20 * 1048576));
    await c.send(to, 'job 7 (restore user.alice) done: ...');
    expect(out).toBe(
      `\r\x1b[K${formatProgress(update(10 * 1048576))}\r\x1b[K${formatProgress(update(20 * 1048576))}\r\x1b[Kjob 7 (restore user.alice) done: ...\n`,
    );
  });
});
