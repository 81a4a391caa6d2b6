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
  Urgency,
} from '../../bot/chat/adapter.ts';
import { approvalBlocks, chunks, fitsInBlocks, progressLine, reportBlocks } from './blocks.ts';
import { type EditBudget, Outbox, type PostOptions, type PostPriority } from './outbox.ts';
import { NOT_A_MEMBER, Responders, replyKey, userOfKey } from './responder.ts';
import { watchFrames } from './socket-frames.ts';

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
  /** Admins' Slack user IDs: told in a direct message when a report channel refuses the bot and no
   * channel it can post in is known. */
  admins?: string[];
  /** chat.update calls for the whole workspace (default 45 a minute: Slack's Tier 3 allows about 50). */
  editBudget?: EditBudget;
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
  /** Asked where the bot cannot post: details kept for the answer that gives the result. */
  unseen?: string[];
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

/** Text someone typed, shown inside mrkdwn: no <!channel>, no links, no mentions of its own. */
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
  /** The bot's name in Slack, for "/invite @name". */
  private botName = 'afsbot';
  private connected = false;
  private readonly seen = new Seen();
  private readonly jobs = new Map<number, JobMessage>();
  /** Approval requests by id: each message that shows one (it may be in several channels). */
  private readonly requests = new Map<
    number,
    { channel: string; ts: Promise<string | undefined>; text: string }[]
  >();
  private readonly channels = new Set<string>();
  /** Channels commands came from, the latest last: where the bot can be heard. */
  private readonly heard: string[] = [];
  private readonly responders: Responders;
  /** Conversations (with their reply key) where Slack refused the bot, and what it said: answered
   * through the command instead. */
  private readonly unreachable = new Map<string, string>();
  /** How many such commands are remembered (their response_url lasts 30 minutes anyway). */
  private static readonly UNREACHABLE_KEPT = 1000;
  /** Report channels that refused the bot, and why (told once each). */
  private readonly refusing = new Map<string, string>();
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
      watchFrames(client, opts.log, {
        // Slack recycles connections every few hours: a new one opens at once, beside the old
        recycled: (closeOld) => {
          if (!this.started || this.stopping) closeOld();
          else if (this.reconnecting) void this.reconnecting.then(closeOld);
          else this.reconnecting = this.reconnect(0, closeOld);
        },
      });
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
    this.outbox = new Outbox(this.client, opts.log, opts.editBudget);
    this.responders = new Responders(opts.log);
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
    this.botName = String(auth.user ?? this.botName);
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

    this.app.command(this.opts.slashCommand, async ({ command, ack, respond }) => {
      await ack();
      if (!this.seen.first(command.trigger_id)) return;
      const direct = command.channel_id.startsWith('D');
      // typed anywhere, the bot's channels or not: answered through the command if Slack refuses a post
      const reply = replyKey(command.user_id, command.trigger_id);
      this.responders.add(reply, respond);
      const event = this.event(
        command.user_id,
        command.channel_id,
        direct,
        `${this.opts.prefix}${command.text.trim()}`,
      );
      await handle({ ...event, conversation: { ...event.conversation, reply } });
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
    if (!direct) {
      this.forget(channel);
      this.heard.push(channel); // the latest last
    }
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

  async send(to: Conversation, text: string, meta?: MessageMeta, urgency?: Urgency): Promise<void> {
    // answers, results and approval requests before progress and reports, in each channel
    const priority: PostPriority = urgency === 'progress' || urgency === 'report' ? 'bulk' : 'first';
    if (meta?.kind === 'approval') {
      const ts = this.say(to, text, {
        blocks: approvalBlocks(text, meta.requestId),
        priority: 'first',
        ...(to.thread ? { thread: to.thread } : {}),
      });
      this.requests.set(meta.requestId, [
        ...(this.requests.get(meta.requestId) ?? []),
        { channel: to.id, ts, text },
      ]);
      const posted = await ts;
      // a plan too long for one message's blocks: the whole text in its thread, as the blocks say
      if (posted && !fitsInBlocks(text)) await this.postLong({ ...to, thread: posted }, text);
      return;
    }
    if (meta?.kind === 'report') {
      const ts = await this.say(to, text.split('\n')[0] ?? text, { blocks: reportBlocks(meta.summary) });
      if (ts) await this.postLong({ ...to, thread: ts }, text, 'bulk');
      return;
    }
    // the answer that started a job is the job's one message, edited as it goes
    if (meta?.kind === 'job-started') {
      const id = meta.jobId;
      const job = this.jobs.get(id);
      if (job) {
        job.header = text;
        this.scheduleEdit(id, job, true);
      } else this.jobs.set(id, this.jobMessage(to, text, text));
      await this.jobs.get(id)!.ts;
      return;
    }
    const job = meta?.kind === 'job' ? this.jobs.get(meta.jobId) : undefined;
    if (meta?.kind === 'job' && job && job.channel === to.id) {
      const ts = await job.ts;
      if (!ts && job.unseen) {
        // asked where the bot cannot post: the details wait for the result, and go with it
        if (!meta.final) job.unseen.push(text);
        else {
          this.jobs.delete(meta.jobId);
          await this.elsewhere(to, [text, ...job.unseen].join('\n'));
        }
        return;
      }
      // details and the result in the job's thread; the result also marks the header
      // (a job message that is itself in a thread keeps its details in that thread)
      await this.postLong({ ...to, thread: job.thread ?? ts }, text, 'bulk');
      if (meta.final) {
        clearTimeout(job.timer);
        this.jobs.delete(meta.jobId);
        const end = text.split('\n')[0]!.replace(/^job \d+ \([^)]*\) /, '');
        await this.outbox.update(to.id, job.ts, `${ICON[meta.final]} ${job.header}\n${end.slice(0, 300)}`, {
          final: true,
        });
      }
      return;
    }
    await this.postLong(to, text, priority);
  }

  /** A job's one message: posted where it was asked, edited as it goes. */
  private jobMessage(to: Conversation, header: string, text: string): JobMessage {
    const job: JobMessage = {
      channel: to.id,
      header,
      lastEdit: Date.now(),
      ts: Promise.resolve(undefined),
      ...(to.thread ? { thread: to.thread } : {}),
    };
    job.ts = this.say(
      to,
      text,
      { priority: 'first', ...(to.thread ? { thread: to.thread } : {}) },
      (refusal) => {
        job.unseen = [];
        return `\n(I cannot post in this conversation (Slack says ${refusal}), so I cannot show this job as it goes; its result will come here. To follow jobs in a channel, invite me there: /invite @${this.botName}.)`;
      },
    );
    return job;
  }

  /**
   * Posts in a conversation. A conversation that came with a slash command (`reply`), where Slack
   * refuses the bot, is answered through the command instead, now and from then on; `note` says what
   * the first such answer adds. A report channel that refuses the bot is told to an admin, once.
   */
  private async say(
    to: Conversation,
    text: string,
    opts: PostOptions,
    note: (refusal: string) => string = (refusal) =>
      `\n(I cannot post in this conversation (Slack says ${refusal}), so only you see my answers here. To talk in a channel, invite me there: /invite @${this.botName}.)`,
  ): Promise<string | undefined> {
    const unreachable = to.reply && this.unreachable.get(to.reply);
    if (unreachable) {
      note(unreachable); // what it sets up, without saying it again
      await this.elsewhere(to, text);
      return undefined;
    }
    let refusal = '';
    const ts = await this.outbox.post(to.id, text, {
      ...opts,
      refused: (error) => {
        refusal = error;
      },
    });
    if (ts) this.refusing.delete(to.id); // invited since: a later refusal is told again
    if (ts || !NOT_A_MEMBER.has(refusal)) return ts;
    this.forget(to.id);
    if (this.channels.has(to.id) && !to.reply) this.tellRefusal(to.id, refusal);
    if (to.reply) {
      this.unreachable.set(to.reply, refusal);
      if (this.unreachable.size > SlackAdapter.UNREACHABLE_KEPT)
        this.unreachable.delete(this.unreachable.keys().next().value!);
      await this.elsewhere(to, `${text}${note(refusal)}`);
    }
    return undefined;
  }

  /** An answer for a conversation the bot cannot post in: through the command, else a direct message. */
  private async elsewhere(to: Conversation, text: string): Promise<void> {
    if (!to.reply) return;
    if (await this.responders.answer(to.reply, text)) return;
    const user = userOfKey(to.reply);
    const from = to.kind === 'direct' ? 'a direct message' : `<#${to.id}>`;
    await this.dm(user, `(your command in ${from}, answered here)\n${text}`).catch((err) =>
      this.opts.log.error('slack: an answer reached nobody (no response_url left, no direct message)', {
        user,
        error: String(err),
      }),
    );
  }

  /** A direct message to `user`, in as many messages as it takes. */
  private async dm(user: string, text: string): Promise<void> {
    const im = await this.client.conversations.open({ users: user });
    if (!im.channel?.id) throw new Error('conversations.open gave no channel');
    for (const part of chunks(text, 3500)) await this.outbox.post(im.channel.id, part, { priority: 'first' });
  }

  /** A report channel refused the bot: an admin hears of it once, where the bot can be heard. */
  private tellRefusal(channel: string, error: string): void {
    if (this.refusing.has(channel)) return;
    this.refusing.set(channel, error);
    const text = `⚠️ I cannot post in <#${channel}>, one of my report channels: Slack says ${error}. Nightly reports and approval requests meant for it reach no one there. Invite me (/invite @${this.botName} in that channel), or change slack.reportChannels.`;
    this.opts.log.error('slack: a report channel refuses the bot', { channel, error });
    const toAdmin = () => {
      const admin = this.opts.admins?.[0];
      if (admin)
        void this.dm(admin, text).catch((err) =>
          this.opts.log.error('slack: could not tell an admin', { error: String(err) }),
        );
    };
    const where = [...this.heard].reverse().find((c) => c !== channel && !this.refusing.has(c));
    // where the bot was last asked, unless Slack refuses it there too: then to the first admin
    if (where) void this.outbox.post(where, text, { priority: 'first', refused: () => toAdmin() });
    else toAdmin();
  }

  /** A channel the bot cannot post in is not one it can be heard in. */
  private forget(channel: string): void {
    const at = this.heard.indexOf(channel);
    if (at >= 0) this.heard.splice(at, 1);
  }

  /** Plain text in as many messages as it takes (Slack shortens one past 4000 characters), in order. */
  private async postLong(to: Conversation, text: string, priority: PostPriority = 'first'): Promise<void> {
    for (const part of chunks(text, 3500))
      await this.say(to, part, { priority, ...(to.thread ? { thread: to.thread } : {}) });
  }

  progress(to: Conversation, update: ProgressUpdate): void {
    if (update.final) return; // the result (send with final) closes the message
    const job = this.jobs.get(update.jobId);
    if (!job) {
      // the job got going before its "job N started" answer was posted: that answer will edit this
      const header = `job ${update.jobId} started: ${update.title}`;
      this.jobs.set(update.jobId, this.jobMessage(to, header, `${header}\n${progressLine(update)}`));
      return;
    }
    job.latest = update;
    this.scheduleEdit(update.jobId, job, false);
  }

  /** At most one edit per progressIntervalMs; the newest numbers win. */
  private scheduleEdit(id: number, job: JobMessage, now: boolean): void {
    if (job.timer || job.unseen) return;
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

  /**
   * Socket Mode: opens a new connection, again and again with backoff (1 s doubling to 30 s), until
   * one holds; the first try after `firstWaitMs` (0 when Slack asked for a new one: no gap).
   */
  private async reconnect(firstWaitMs?: number, connected?: () => void): Promise<void> {
    const client = (this.receiver as SocketModeReceiver).client;
    const delays = backoffDelays({ initialMs: 1000, maxMs: 30_000 });
    let wait = firstWaitMs ?? delays.next().value;
    try {
      while (!this.stopping) {
        try {
          await sleep(wait, this.stopped.signal);
        } catch {
          return; // stopped
        }
        try {
          await client.start();
          connected?.(); // the recycled connection, once its successor is up
          if (this.stopping)
            await client.disconnect(); // stop() came while it was connecting
          else this.opts.log.info('slack reconnected');
          return;
        } catch (err) {
          wait = delays.next().value;
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
      void this.outbox.update(m.channel, m.ts, `${m.text}\n${line}`, {
        blocks: approvalBlocks(m.text, d.requestId, line),
        final: true,
      });
    this.requests.delete(d.requestId);
  }

  status(): AdapterStatus {
    return {
      backend: 'slack',
      connected: this.connected,
      detail: `${this.opts.mode === 'socket' ? 'Socket Mode' : `HTTP on ${this.opts.host}:${this.opts.port}`}, bot user ${this.botUserId || '?'}${this.outbox.retried ? `, ${this.outbox.retried} sends retried since start` : ''}${[...this.refusing].map(([c, e]) => `, ${c} refuses me (${e}): /invite @${this.botName} there${this.opts.channels?.includes(c) ? ', or drop it from slack.reportChannels' : ''}`).join('')}`,
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
