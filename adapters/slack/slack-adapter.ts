// Slack, with @slack/bolt: Socket Mode (the default: no public URL) or HTTP (Events API on a local
// port, every request's signature and timestamp checked by Bolt). Commands come as channel messages
// with the prefix, mentions, direct messages and the slash command; the identity is the Slack user
// ID, never a display name. Messages from bots (this one too), edits and replays are ignored. A job
// is one message, edited in place as it progresses, with its details and result in its thread; an
// approval request has Approve and Deny buttons; the nightly report is laid out in blocks.
import { App, type AppOptions, HTTPReceiver, LogLevel, SocketModeReceiver, webApi } from '@slack/bolt';
import { backoffDelays, sleep } from '../../actions/backoff.ts';
import type {
  AdapterLog,
  AdapterStatus,
  ApprovalDecision,
  ChatAdapter,
  ChatEvent,
  Conversation,
  EventHandler,
  MessageMeta,
  ProgressUpdate,
} from '../../bot/chat/adapter.ts';
import { approvalBlocks, chunks, fitsInBlocks, progressLine, reportBlocks } from './blocks.ts';
import { Outbox } from './outbox.ts';

export interface SlackOptions {
  mode: 'socket' | 'http';
  botToken: string;
  appToken?: string;
  signingSecret?: string;
  host: string;
  port: number;
  apiUrl: string;
  prefix: string;
  slashCommand: string;
  progressIntervalMs: number;
  log: AdapterLog;
  /** Socket Mode: how long to wait for a pong before the socket counts as dropped. */
  clientPingTimeoutMs?: number;
  /** Channels it is known to be in (the report channels), for announcements before anyone speaks. */
  channels?: string[];
}

interface JobMessage {
  channel: string;
  /** The thread it is in (a job started from a button lives under the request). */
  thread?: string;
  ts: Promise<string | undefined>;
  header: string;
  lastEdit: number;
  timer?: NodeJS.Timeout;
  latest?: ProgressUpdate;
}

/** Remembers ids for a while: event ids, client message ids, trigger ids. */
class Seen {
  private readonly ids = new Map<string, number>();
  /** True the first time an id is seen. */
  first(id: string | undefined): boolean {
    if (!id) return true;
    if (this.ids.has(id)) return false;
    this.ids.set(id, Date.now());
    if (this.ids.size > 5000) for (const k of [...this.ids.keys()].slice(0, 1000)) this.ids.delete(k);
    return true;
  }
}

const ICON = { ok: '✅', failed: '❌', cancelled: '⏹' } as const;

/** Text someone typed, shown inside mrkdwn: no <!channel>, no links, no mentions of its own. */
/**
 * What a person typed, from Slack's text: links Slack made of it (`<http://notes.md|notes.md>`) back to
 * what was typed, then the three characters Slack escapes (&, <, >; its "Formatting text" docs).
 */
export function decodeSlackText(text: string): string {
  return text
    .replace(
      /<((?:https?|mailto):[^<>|]*)(?:\|([^<>]*))?>/g,
      (_m, url: string, label?: string) => label ?? url,
    )
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

export class SlackAdapter implements ChatAdapter {
  readonly backend = 'slack' as const;
  private app: App | undefined;
  private readonly client: webApi.WebClient;
  private readonly outbox: Outbox;
  private readonly clientOptions: webApi.WebClientOptions;
  private readonly logger: NonNullable<AppOptions['logger']>;
  private readonly receiver: SocketModeReceiver | HTTPReceiver;
  private botUserId = '';
  private connected = false;
  private readonly seen = new Seen();
  private readonly jobs = new Map<number, JobMessage>();
  /** Approval requests by id: each message that shows one (it may be in several channels). */
  private readonly requests = new Map<
    number,
    { channel: string; ts: Promise<string | undefined>; text: string }[]
  >();
  private readonly channels = new Set<string>();
  private stopping = false;
  private started = false;
  /** The reconnect loop, and its pending wait (cleared by stop). */
  private reconnecting: Promise<void> | undefined;
  /** Aborted by stop(): ends the reconnect loop's wait at once. */
  private readonly stopped = new AbortController();

  constructor(private readonly opts: SlackOptions) {
    const clientOptions = {
      slackApiUrl: opts.apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
    };
    const logger = {
      debug: () => {},
      info: () => {},
      warn: (...m: unknown[]) => opts.log.warn('slack', { said: m.map(String).join(' ') }),
      error: (...m: unknown[]) => opts.log.error('slack', { said: m.map(String).join(' ') }),
      setLevel: () => {},
      getLevel: () => LogLevel.WARN,
      setName: () => {},
    };
    if (opts.mode === 'socket') {
      if (!opts.appToken) throw new Error('Socket Mode needs slack.appTokenFile (an xapp- token)');
      this.receiver = new SocketModeReceiver({
        appToken: opts.appToken,
        logger,
        installerOptions: { clientOptions } as never,
        ...(opts.clientPingTimeoutMs ? { clientPingTimeout: opts.clientPingTimeoutMs } : {}),
        // its own reconnect gives up for good when apps.connections.open fails once (the network is
        // still down): this adapter reconnects instead, with backoff, for as long as it runs
        autoReconnectEnabled: false,
      });
      const client = (this.receiver as SocketModeReceiver).client;
      client.on('connected', () => {
        this.connected = true;
      });
      client.on('disconnected', () => {
        this.connected = false;
        // not while the first start() is still trying: its caller gets that failure
        if (this.started && !this.stopping) this.reconnecting ??= this.reconnect();
      });
    } else {
      if (!opts.signingSecret) throw new Error('HTTP mode needs slack.signingSecretFile');
      this.receiver = new HTTPReceiver({
        signingSecret: opts.signingSecret,
        endpoints: '/slack/events',
        logger,
      });
    }
    this.clientOptions = clientOptions;
    this.logger = logger;
    this.client = new webApi.WebClient(opts.botToken, clientOptions);
    this.outbox = new Outbox(this.client, opts.log);
    for (const c of opts.channels ?? []) this.channels.add(c);
  }

  /**
   * Connects. When Slack cannot be reached now, says so in the log, resolves (the bot runs on without
   * Slack) and keeps trying by itself with backoff until it is there.
   */
  async start(onEvent: EventHandler): Promise<void> {
    try {
      await this.connect(onEvent);
    } catch (err) {
      this.opts.log.warn('slack: could not connect at start; trying again in the background', {
        error: String(err),
      });
      this.reconnecting ??= this.retryStart(onEvent);
    }
  }

  private async retryStart(onEvent: EventHandler): Promise<void> {
    const delays = backoffDelays({ initialMs: 1000, maxMs: 60_000, jitter: 0.1 });
    try {
      while (!this.stopping) {
        try {
          await sleep(delays.next().value, this.stopped.signal);
          await this.connect(onEvent);
          this.opts.log.info('slack connected');
          return;
        } catch (err) {
          if (this.stopping) return;
          this.opts.log.warn('slack: still cannot connect; trying again', { error: String(err) });
        }
      }
    } finally {
      this.reconnecting = undefined;
    }
  }

  private async connect(onEvent: EventHandler): Promise<void> {
    if (this.app) {
      // set up already; only the connection itself failed
      await this.startApp();
      return;
    }
    const auth = await this.client.auth.test();
    this.botUserId = String(auth.user_id ?? '');
    // Bolt given the bot's ids does not call auth.test again for every event (where one failed call,
    // a 429 or a blip, would drop the event)
    this.app = new App({
      token: this.opts.botToken,
      botId: String(auth.bot_id ?? ''),
      botUserId: this.botUserId,
      receiver: this.receiver,
      clientOptions: this.clientOptions,
      logger: this.logger,
      ignoreSelf: true,
      tokenVerificationEnabled: false,
    });
    const handle = (event: ChatEvent) => onEvent(event);

    this.app.message(async ({ message, body }) => {
      const m = message as {
        subtype?: string;
        bot_id?: string;
        user?: string;
        text?: string;
        channel: string;
        channel_type?: string;
        client_msg_id?: string;
        ts: string;
        thread_ts?: string;
      };
      // edits (message_changed), deletions, joins and every bot's messages (this one's too) are not
      // commands; a thread reply also sent to the channel (thread_broadcast) and a message with a file
      // (file_share) are what a person typed
      const typed = !m.subtype || m.subtype === 'thread_broadcast' || m.subtype === 'file_share';
      if (!typed || m.bot_id || !m.user || m.user === this.botUserId) return;
      const direct = m.channel_type === 'im';
      const mention = `<@${this.botUserId}>`;
      // in a channel, a message that mentions the bot is handled as the app_mention Slack also sends
      if (!direct && (m.text ?? '').includes(mention)) return;
      if (!this.seen.first((body as { event_id?: string }).event_id)) return;
      if (!this.seen.first(m.client_msg_id)) return;
      this.channels.add(m.channel);
      const text = (m.text ?? '').replace(mention, '').trim();
      await handle(this.event(m.user, m.channel, direct, direct ? text : (m.text ?? ''), m.thread_ts));
    });

    this.app.event('app_mention', async ({ event, body }) => {
      const e = event as {
        user?: string;
        text: string;
        channel: string;
        client_msg_id?: string;
        bot_id?: string;
        thread_ts?: string;
      };
      if (!e.user || e.bot_id || e.user === this.botUserId) return;
      if (!this.seen.first((body as { event_id?: string }).event_id) || !this.seen.first(e.client_msg_id))
        return;
      const rest = e.text.replace(new RegExp(`<@${this.botUserId}>`, 'g'), '').trim();
      this.channels.add(e.channel);
      await handle(
        this.event(e.user, e.channel, false, `${this.opts.prefix}${rest.replace(/^!/, '')}`, e.thread_ts),
      );
    });

    this.app.command(this.opts.slashCommand, async ({ command, ack }) => {
      await ack();
      if (!this.seen.first(command.trigger_id)) return;
      const direct = command.channel_id.startsWith('D');
      if (!direct) this.channels.add(command.channel_id);
      await handle(
        this.event(command.user_id, command.channel_id, direct, `${this.opts.prefix}${command.text.trim()}`),
      );
    });

    this.app.action(/^afsbot_(approve|deny)$/, async ({ ack, body, action }) => {
      await ack();
      const b = body as {
        user: { id: string };
        channel?: { id: string };
        message?: { ts: string; thread_ts?: string };
      };
      const a = action as { action_id: string; value: string; action_ts?: string };
      if (!b.channel || !b.message || !this.seen.first(`${a.action_ts}:${b.user.id}`)) return;
      const verb = a.action_id === 'afsbot_approve' ? 'approve' : 'deny';
      // checked like the typed command; its decision (not the click) updates the message
      await handle({
        actor: { backend: 'slack', id: b.user.id, name: b.user.id },
        conversation: {
          id: b.channel.id,
          kind: b.channel.id.startsWith('D') ? 'direct' : 'channel',
          thread: b.message.thread_ts ?? b.message.ts,
        },
        text: `${this.opts.prefix}${verb} ${a.value}`,
      });
    });

    await this.startApp();
  }

  private async startApp(): Promise<void> {
    if (this.opts.mode === 'socket') await this.app!.start();
    else await this.app!.start({ port: this.opts.port, host: this.opts.host } as never);
    this.connected = true;
    this.started = true;
  }

  private event(user: string, channel: string, direct: boolean, text: string, thread?: string): ChatEvent {
    return {
      // the user ID is what Slack vouches for; a display name is never asked for, let alone trusted
      actor: { backend: 'slack', id: user, name: user },
      // asked in a thread: answered in that thread
      conversation: { id: channel, kind: direct ? 'direct' : 'channel', ...(thread ? { thread } : {}) },
      text: decodeSlackText(text),
    };
  }

  /** The port HTTP mode listens on (when configured as 0, the one the system chose). */
  get httpPort(): number | undefined {
    // biome-ignore lint/suspicious/noExplicitAny: HTTPReceiver keeps its server private
    const server = (this.receiver as any).server as import('node:http').Server | undefined;
    const addr = server?.address();
    return addr && typeof addr === 'object' ? addr.port : undefined;
  }

  async send(to: Conversation, text: string, meta?: MessageMeta): Promise<void> {
    if (meta?.kind === 'approval') {
      const ts = this.outbox.post(to.id, text, {
        blocks: approvalBlocks(text, meta.requestId),
        ...(to.thread ? { thread: to.thread } : {}),
      });
      this.requests.set(meta.requestId, [
        ...(this.requests.get(meta.requestId) ?? []),
        { channel: to.id, ts, text },
      ]);
      const posted = await ts;
      // a plan too long for one message's blocks: the whole text in its thread, as the blocks say
      if (posted && !fitsInBlocks(text)) await this.postLong(to.id, text, posted);
      return;
    }
    if (meta?.kind === 'report') {
      const ts = await this.outbox.post(to.id, text.split('\n')[0] ?? text, {
        blocks: reportBlocks(meta.summary),
      });
      await this.postLong(to.id, text, ts);
      return;
    }
    // the answer that started a job is the job's one message, edited as it goes
    if (meta?.kind === 'job-started') {
      const id = meta.jobId;
      const job = this.jobs.get(id);
      if (job) {
        job.header = text;
        this.scheduleEdit(id, job, true);
      } else
        this.jobs.set(id, {
          channel: to.id,
          ts: this.outbox.post(to.id, text, to.thread ? { thread: to.thread } : {}),
          header: text,
          lastEdit: 0,
          ...(to.thread ? { thread: to.thread } : {}),
        });
      await this.jobs.get(id)!.ts;
      return;
    }
    const job = meta?.kind === 'job' ? this.jobs.get(meta.jobId) : undefined;
    if (meta?.kind === 'job' && job && job.channel === to.id) {
      // details and the result in the job's thread; the result also marks the header
      const ts = await job.ts;
      // a job message that is itself in a thread keeps its details in that thread
      const thread = job.thread ?? ts;
      await this.postLong(to.id, text, thread);
      if (meta.final) {
        clearTimeout(job.timer);
        this.jobs.delete(meta.jobId);
        const end = text.split('\n')[0]!.replace(/^job \d+ \([^)]*\) /, '');
        await this.outbox.update(to.id, job.ts, `${ICON[meta.final]} ${job.header}\n${end.slice(0, 300)}`);
      }
      return;
    }
    await this.postLong(to.id, text, to.thread);
  }

  /** Plain text in as many messages as it takes (Slack shortens one past 4000 characters), in order. */
  private async postLong(channel: string, text: string, thread?: string): Promise<void> {
    for (const part of chunks(text, 3500)) await this.outbox.post(channel, part, thread ? { thread } : {});
  }

  progress(to: Conversation, update: ProgressUpdate): void {
    if (update.final) return; // the result (send with final) closes the message
    let job = this.jobs.get(update.jobId);
    if (!job) {
      // the job got going before its "job N started" answer was posted: that answer will edit this
      const header = `job ${update.jobId} started: ${update.title}`;
      job = {
        channel: to.id,
        ts: this.outbox.post(
          to.id,
          `${header}\n${progressLine(update)}`,
          to.thread ? { thread: to.thread } : {},
        ),
        header,
        lastEdit: Date.now(),
        ...(to.thread ? { thread: to.thread } : {}),
      };
      this.jobs.set(update.jobId, job);
      return;
    }
    job.latest = update;
    this.scheduleEdit(update.jobId, job, false);
  }

  /** At most one edit per progressIntervalMs; the newest numbers win. */
  private scheduleEdit(id: number, job: JobMessage, now: boolean): void {
    if (job.timer) return;
    const wait = now ? 0 : Math.max(0, job.lastEdit + this.opts.progressIntervalMs - Date.now());
    job.timer = setTimeout(() => {
      job.timer = undefined;
      if (this.jobs.get(id) !== job) return;
      job.lastEdit = Date.now();
      void this.outbox.update(
        job.channel,
        job.ts,
        job.latest ? `${job.header}\n${progressLine(job.latest)}` : job.header,
      );
    }, wait);
  }

  /** Socket Mode: opens a new connection, again and again with backoff (1 s doubling to 30 s), until one holds. */
  private async reconnect(): Promise<void> {
    const client = (this.receiver as SocketModeReceiver).client;
    const delays = backoffDelays({ initialMs: 1000, maxMs: 30_000 });
    try {
      while (!this.stopping) {
        const wait = delays.next().value;
        try {
          await sleep(wait, this.stopped.signal);
        } catch {
          return; // stopped
        }
        try {
          await client.start();
          if (this.stopping)
            await client.disconnect(); // stop() came while it was connecting
          else this.opts.log.info('slack reconnected');
          return;
        } catch (err) {
          this.opts.log.warn('slack reconnect failed; trying again', { waitMs: wait, error: String(err) });
        }
      }
    } finally {
      this.reconnecting = undefined;
    }
  }

  /** An approval request was decided: every message showing it loses its buttons and says who and when. */
  decided(d: ApprovalDecision): void {
    const who = d.by.backend === 'slack' ? `<@${d.by.id}>` : escapeMrkdwn(`${d.by.id} on ${d.by.backend}`);
    const at = `${d.at.toISOString().slice(11, 16)} UTC`;
    const line =
      d.outcome === 'approved'
        ? `✅ Approved by ${who} at ${at}`
        : d.outcome === 'denied'
          ? `❌ Denied by ${who} at ${at}${d.reason ? `: ${escapeMrkdwn(d.reason)}` : ''}`
          : `⚠️ Not run: what it was planned on changed (seen at ${at}); ask again for a new plan`;
    for (const m of this.requests.get(d.requestId) ?? [])
      void this.outbox.update(
        m.channel,
        m.ts,
        `${m.text}\n${line}`,
        approvalBlocks(m.text, d.requestId, line),
      );
    this.requests.delete(d.requestId);
  }

  status(): AdapterStatus {
    return {
      backend: 'slack',
      connected: this.connected,
      detail: `${this.opts.mode === 'socket' ? 'Socket Mode' : `HTTP on ${this.opts.host}:${this.opts.port}`}, bot user ${this.botUserId || '?'}${this.outbox.retried ? `, ${this.outbox.retried} sends retried since start` : ''}`,
      channels: [...this.channels],
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const j of this.jobs.values()) clearTimeout(j.timer);
    this.stopped.abort();
    await this.reconnecting;
    // what is queued gets a while to go out; with Slack unreachable, shutdown does not wait for ever
    await this.outbox.flush(15_000);
    await this.app?.stop();
  }
}
