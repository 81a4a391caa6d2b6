// Everything the Slack adapter posts goes through one ordered queue. A 429 is waited out for as long
// as Retry-After says and the call is made again; a network error or a 5xx is retried with backoff
// (the socket may be down, the bot goes on): nothing is dropped and the order is kept. Edits of one
// message that have not been sent yet are coalesced into the newest.
import type { webApi } from '@slack/bolt';
import { backoffDelays } from '../../actions/backoff.ts';
import type { AdapterLog } from '../../bot/chat/adapter.ts';
import type { Block } from './blocks.ts';

interface Post {
  kind: 'post';
  channel: string;
  text: string;
  blocks?: Block[];
  thread?: string;
  done: (ts: string | undefined) => void;
}

interface Update {
  kind: 'update';
  channel: string;
  ts: Promise<string | undefined>;
  text: string;
  blocks?: Block[];
  done: () => void;
}

type Op = Post | Update;

/** Errors Slack documents as worth trying again. */
const RETRYABLE = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
]);

interface SlackError extends Error {
  code?: string;
  retryAfter?: number;
  data?: { error?: string };
}

export class Outbox {
  private readonly queue: Op[] = [];
  private running = false;
  /** Calls that had to be tried again (a 429, Slack unreachable) since start: for !status. */
  retried = 0;

  constructor(
    private readonly client: webApi.WebClient,
    private readonly log: AdapterLog,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Posts a message; resolves with its ts once Slack has it (undefined if Slack refused it for good). */
  post(
    channel: string,
    text: string,
    opts: { blocks?: Block[]; thread?: string } = {},
  ): Promise<string | undefined> {
    return new Promise((done) => {
      this.queue.push({ kind: 'post', channel, text, ...opts, done });
      void this.run();
    });
  }

  /** Edits a message; an edit of it still waiting in the queue is replaced by this one. */
  update(channel: string, ts: Promise<string | undefined>, text: string, blocks?: Block[]): Promise<void> {
    const waiting = this.queue.find((o): o is Update => o.kind === 'update' && o.ts === ts);
    if (waiting) {
      waiting.text = text;
      waiting.blocks = blocks;
      return new Promise((done) => {
        const before = waiting.done;
        waiting.done = () => {
          before();
          done();
        };
      });
    }
    return new Promise((done) => {
      this.queue.push({ kind: 'update', channel, ts, text, ...(blocks ? { blocks } : {}), done });
      void this.run();
    });
  }

  /**
   * Resolves once everything queued so far is sent, or after `deadlineMs` (shutdown with Slack
   * unreachable); then it stops retrying, and says in the log what was left unsent.
   */
  async flush(deadlineMs = Number.POSITIVE_INFINITY): Promise<void> {
    const until = Date.now() + deadlineMs;
    while ((this.queue.length > 0 || this.running) && Date.now() < until) await this.sleep(20);
    if (this.queue.length > 0 || this.running) {
      this.closed = true;
      this.log.error('slack unreachable at shutdown; messages left unsent', { count: this.queue.length + 1 });
    }
  }

  private closed = false;

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let op = this.queue.shift(); op; op = this.queue.shift()) await this.send(op);
    } finally {
      this.running = false;
    }
  }

  private async send(op: Op): Promise<void> {
    const delays = backoffDelays({ initialMs: 1000, maxMs: 30_000 });
    for (;;) {
      try {
        if (op.kind === 'post') {
          const r = await this.client.chat.postMessage({
            channel: op.channel,
            text: op.text,
            ...(op.blocks ? { blocks: op.blocks } : {}),
            ...(op.thread ? { thread_ts: op.thread } : {}),
            unfurl_links: false,
            unfurl_media: false,
          });
          op.done(r.ts);
        } else {
          const ts = await op.ts;
          if (ts)
            await this.client.chat.update({
              channel: op.channel,
              ts,
              text: op.text,
              ...(op.blocks ? { blocks: op.blocks } : { blocks: [] }),
            });
          op.done();
        }
        return;
      } catch (err) {
        const e = err as SlackError;
        if (this.closed) {
          if (op.kind === 'post') op.done(undefined);
          else op.done();
          return;
        }
        if (e.code === 'slack_webapi_rate_limited_error') {
          this.retried++;
          const wait = (e.retryAfter ?? 1) * 1000;
          this.log.warn('slack rate limit; waiting as Retry-After says', { method: op.kind, waitMs: wait });
          await this.sleep(wait);
          continue;
        }
        const status = (e as { statusCode?: number }).statusCode ?? 0;
        const transient =
          e.code === 'slack_webapi_request_error' ||
          (e.code === 'slack_webapi_http_error' && status >= 500) ||
          (e.code === 'slack_webapi_platform_error' && RETRYABLE.has(e.data?.error ?? ''));
        if (transient) {
          this.retried++;
          const wait = delays.next().value;
          this.log.warn('slack unreachable; trying again', {
            method: op.kind,
            waitMs: wait,
            error: e.message,
          });
          await this.sleep(wait);
          continue;
        }
        // Slack said no for good (a channel we are not in, a message gone): say so in the log, go on.
        this.log.error('slack refused a message', {
          method: op.kind,
          channel: op.channel,
          error: e.data?.error ?? e.message,
        });
        if (op.kind === 'post') op.done(undefined);
        else op.done();
        return;
      }
    }
  }
}
