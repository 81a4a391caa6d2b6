// Everything the Slack adapter posts and edits goes through here, shaped by Slack's rate limits:
// - posts wait in one lane per channel (chat.postMessage is about one a second per channel), so a
//   429 in one channel holds up only that channel; within a lane, approval requests and answers go
//   before bulk (job details, report text), and each kind keeps its order;
// - edits share the workspace's budget (chat.update is Tier 3: about 50 a minute); an edit waiting
//   for budget is replaced by a newer edit of the same message, and a final edit (a job's result, an
//   approval decided) goes before progress;
// - a 429 is waited out as Retry-After says and the call made again; a network error or a 5xx is
//   retried with backoff (the socket may be down, the bot goes on): nothing is dropped.
import type { webApi } from '@slack/bolt';
import { backoffDelays, sleep } from '../../actions/backoff.ts';
import type { AdapterLog } from '../../bot/chat/adapter.ts';
import type { Block } from './blocks.ts';

/** `first`: approval requests and answers to commands; `bulk`: details in threads, report text. */
export type PostPriority = 'first' | 'bulk';

export interface PostOptions {
  blocks?: Block[];
  thread?: string;
  priority?: PostPriority;
  /** Told when Slack refuses the post for good (not_in_channel, channel_not_found, ...). */
  refused?: (error: string) => void;
}

interface Post extends PostOptions {
  channel: string;
  text: string;
  done: (ts: string | undefined) => void;
}

interface Update {
  channel: string;
  ts: Promise<string | undefined>;
  text: string;
  blocks?: Block[];
  /** A final state (result, decision): before progress when the budget is short. */
  final: boolean;
  done: () => void;
}

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

/** At most `edits` chat.update calls within any `windowMs` (Slack's Tier 3: about 50 a minute). */
export interface EditBudget {
  edits: number;
  windowMs: number;
}

type Attempt = { ok: true } | { ok: false; error: string };

export class Outbox {
  private readonly lanes = new Map<string, Post[]>();
  private readonly running = new Set<string>();
  private readonly edits: Update[] = [];
  private editing = false;
  /** When each recent chat.update went out, for the budget. */
  private readonly editTimes: number[] = [];
  /** The ts of each message an edit was asked for, once it is known (an edit of a message still
   * waiting to be posted waits, and holds up no other). */
  private readonly posted = new WeakMap<Promise<string | undefined>, string | undefined>();
  private closed = false;
  /** Calls that had to be tried again (a 429, Slack unreachable) since start: for !status. */
  retried = 0;

  constructor(
    private readonly client: webApi.WebClient,
    private readonly log: AdapterLog,
    private readonly budget: EditBudget = { edits: 45, windowMs: 60_000 },
  ) {}

  /** Posts a message; resolves with its ts once Slack has it (undefined if Slack refused it for good). */
  post(channel: string, text: string, opts: PostOptions = {}): Promise<string | undefined> {
    return new Promise<string | undefined>((done) => {
      const lane = this.lanes.get(channel) ?? [];
      this.lanes.set(channel, lane);
      const post: Post = { channel, text, ...opts, done };
      if (post.priority === 'first') {
        // after the other firsts, before any bulk
        const at = lane.findIndex((p) => p.priority !== 'first');
        lane.splice(at < 0 ? lane.length : at, 0, post);
      } else lane.push(post);
      void this.runLane(channel);
    });
  }

  /** Edits a message; an edit of it still waiting is replaced by this one. */
  update(
    channel: string,
    ts: Promise<string | undefined>,
    text: string,
    opts: { blocks?: Block[]; final?: boolean } = {},
  ): Promise<void> {
    const waiting = this.edits.find((o) => o.ts === ts);
    if (waiting) {
      waiting.text = text;
      waiting.blocks = opts.blocks;
      waiting.final ||= opts.final ?? false;
      return new Promise((done) => {
        const before = waiting.done;
        waiting.done = () => {
          before();
          done();
        };
      });
    }
    return new Promise((done) => {
      this.edits.push({
        channel,
        ts,
        text,
        final: opts.final ?? false,
        done,
        ...(opts.blocks ? { blocks: opts.blocks } : {}),
      });
      void ts.then((v) => {
        this.posted.set(ts, v);
        void this.runEdits();
      });
    });
  }

  /** Messages and edits not yet sent. */
  get pending(): number {
    let n = this.edits.length + this.running.size + (this.editing ? 1 : 0);
    for (const lane of this.lanes.values()) n += lane.length;
    return n;
  }

  /**
   * Resolves once everything queued so far is sent, or after `deadlineMs` (shutdown with Slack
   * unreachable); then it stops retrying, and says in the log what was left unsent.
   */
  async flush(deadlineMs = Number.POSITIVE_INFINITY): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (this.pending > 0 && Date.now() < until) await sleep(20);
    if (this.pending > 0) {
      this.closed = true;
      this.log.error('slack unreachable at shutdown; messages left unsent', { count: this.pending });
    }
  }

  private async runLane(channel: string): Promise<void> {
    if (this.running.has(channel)) return;
    this.running.add(channel);
    try {
      const lane = this.lanes.get(channel)!;
      for (let p = lane.shift(); p; p = lane.shift()) {
        const post = p;
        let ts: string | undefined;
        const r = await this.attempt('post', channel, async () => {
          const res = await this.client.chat.postMessage({
            channel,
            text: post.text,
            ...(post.blocks ? { blocks: post.blocks } : {}),
            ...(post.thread ? { thread_ts: post.thread } : {}),
            unfurl_links: false,
            unfurl_media: false,
          });
          ts = res.ts;
        });
        if (!r.ok) post.refused?.(r.error);
        post.done(ts);
      }
      this.lanes.delete(channel);
    } finally {
      this.running.delete(channel);
    }
  }

  private async runEdits(): Promise<void> {
    if (this.editing) return;
    this.editing = true;
    try {
      while (this.edits.length > 0) {
        // only edits of messages already posted: one waiting for its post holds up no other
        const ready = this.edits.filter((e) => this.posted.has(e.ts));
        if (ready.length === 0) return; // each message's post, once made, starts this again
        await this.editBudget();
        // a final state first; otherwise the oldest
        const edit = ready.find((e) => e.final) ?? ready[0]!;
        this.edits.splice(this.edits.indexOf(edit), 1);
        const ts = this.posted.get(edit.ts);
        if (ts) {
          this.editTimes.push(Date.now());
          await this.attempt('update', edit.channel, async () => {
            await this.client.chat.update({
              channel: edit.channel,
              ts,
              text: edit.text,
              ...(edit.blocks ? { blocks: edit.blocks } : { blocks: [] }),
            });
          });
        }
        edit.done();
      }
    } finally {
      this.editing = false;
    }
  }

  /** Waits until an edit fits in the budget. */
  private async editBudget(): Promise<void> {
    const { edits, windowMs } = this.budget;
    for (;;) {
      const now = Date.now();
      while (this.editTimes.length > 0 && this.editTimes[0]! <= now - windowMs) this.editTimes.shift();
      if (this.closed || this.editTimes.length < edits) return;
      await sleep(Math.min(1000, this.editTimes[0]! + windowMs - now + 1));
    }
  }

  /** One call, tried until Slack takes it or refuses it for good. */
  private async attempt(
    method: 'post' | 'update',
    channel: string,
    call: () => Promise<void>,
  ): Promise<Attempt> {
    const delays = backoffDelays({ initialMs: 1000, maxMs: 30_000 });
    for (;;) {
      try {
        await call();
        return { ok: true };
      } catch (err) {
        const e = err as SlackError;
        if (this.closed) return { ok: false, error: 'shutdown' };
        if (e.code === 'slack_webapi_rate_limited_error') {
          this.retried++;
          const wait = (e.retryAfter ?? 1) * 1000;
          this.log.warn('slack rate limit; waiting as Retry-After says', { method, channel, waitMs: wait });
          await sleep(wait);
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
          this.log.warn('slack unreachable; trying again', { method, waitMs: wait, error: e.message });
          await sleep(wait);
          continue;
        }
        // Slack said no for good (a channel we are not in, a message gone): said in the log and to the caller
        const error = e.data?.error ?? e.message;
        this.log.error('slack refused a message', { method, channel, error });
        return { ok: false, error };
      }
    }
  }
}
