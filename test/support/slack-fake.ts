// A local fake of Slack, speaking its documented wire format, for the Slack adapter's tests (Slack's
// cloud cannot be reached from here). It is as strict as Slack where Slack is strict:
// - the Web API: POST /api/<method>, application/x-www-form-urlencoded (objects such as `blocks` as
//   JSON strings inside the form), Authorization: Bearer <token>; answers {ok: true, ...};
// - channel membership: the bot posts only where it is a member (`join`, `im`): `channel_not_found`
//   for a conversation it cannot see (a direct message between two people), `not_in_channel` for a
//   channel it was not invited to, `is_archived` for an archived one;
// - blocks checked as Slack checks them, the total too (`blocksError`);
// - rate limits on by default: chat.postMessage about one a second per channel (short bursts
//   allowed), chat.update 50 a minute per workspace (Tier 3); 429 with Retry-After past them, and
//   on demand (`rateLimit`);
// - slash commands carry a response_url that takes 5 answers within 30 minutes;
// - Socket Mode: apps.connections.open gives a ws:// URL; the server says {type: "hello"}, pings every
//   few seconds, sends envelopes {envelope_id, type, payload, accepts_response_payload} and wants
//   each acknowledged within 3 s (an event is sent again, a slash command fails for its user); a
//   `disconnect` frame (refresh_requested, warning, link_disabled) leaves the old TCP connection
//   open and unanswered, as Slack does, and new envelopes go to the newest connection;
// - HTTP mode: it signs requests as Slack does (v0 HMAC-SHA256 of "v0:<ts>:<body>") and posts them to
//   the bot's /slack/events.
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

export interface ApiCall {
  method: string;
  token: string;
  args: Record<string, unknown>;
  at: number;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  /** Every version after the first (chat.update), oldest first, with when. */
  edits: { text: string; blocks?: unknown[]; at: number }[];
}

export const BOT_USER = 'UBOTAFS01';
export const TEAM = 'T0FAKE001';

/** What one slash command's response_url was sent. */
export interface FakeResponse {
  /** The trigger_id of the slash command it answers. */
  trigger: string;
  body: { text?: string; response_type?: string; blocks?: unknown[]; replace_original?: boolean };
  at: number;
}

/** Slack's limits, as the fake applies them (set a field to 0 to lift it). */
export interface FakeLimits {
  /** chat.postMessage per channel: this many within `postWindowS` seconds (about 1/s, bursts allowed). */
  postBurst: number;
  postWindowS: number;
  /** chat.update per workspace: this many within `updateWindowS` seconds (Tier 3: 50 a minute). */
  updates: number;
  updateWindowS: number;
}

interface FakeConversation {
  member: boolean;
  archived: boolean;
}

interface LiveSocket {
  ws: WebSocket;
  /** Sent a disconnect frame: no more envelopes, nothing read from it, left for the client to drop. */
  retiring: boolean;
}

export class SlackFake {
  readonly calls: ApiCall[] = [];
  readonly acks: { envelope_id: string; at: number }[] = [];
  readonly messages = new Map<string, FakeMessage>();
  /** Answers sent to slash commands' response_urls. */
  readonly responses: FakeResponse[] = [];
  /** Envelopes not acknowledged within Slack's 3 seconds. */
  readonly lateEnvelopes: { envelope_id: string; type: string }[] = [];
  /** Socket Mode connections opened so far, and when each was. */
  connections = 0;
  readonly connectedAt: number[] = [];
  limits: FakeLimits = { postBurst: 4, postWindowS: 4, updates: 50, updateWindowS: 60 };
  /** How often the server pings each connection (Slack: every few seconds). */
  pingEveryMs = 5000;
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly sockets = new Set<LiveSocket>();
  private readonly failures = new Map<string, { count: number; retryAfter: number }>();
  /** Every call answered 429, and why: `forced` by `rateLimit`, or over Slack's `limit`. */
  readonly limited: { method: string; channel: string; why: 'forced' | 'limit'; at: number }[] = [];
  private readonly conversations = new Map<string, FakeConversation>();
  private readonly responseUrls = new Map<string, { uses: number; until: number }>();
  private readonly postTimes = new Map<string, number[]>();
  private updateTimes: number[] = [];
  private pinger: NodeJS.Timeout | undefined;
  private tsCounter = 0;
  private eventCounter = 0;
  /** While true, every Web API request is cut off without an answer (the network is down). */
  offline = false;
  /** The Web API methods of the requests cut off while offline, in order. */
  readonly cutOff: string[] = [];

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.http(req, res));
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      this.wss!.handleUpgrade(req, socket, head, (ws) => {
        this.connections++;
        this.connectedAt.push(Date.now());
        const live: LiveSocket = { ws, retiring: false };
        this.sockets.add(live);
        ws.on('close', () => this.sockets.delete(live));
        ws.on('message', (data) => {
          const m = JSON.parse(String(data)) as { envelope_id?: string };
          if (m.envelope_id) this.acks.push({ envelope_id: m.envelope_id, at: Date.now() });
        });
        ws.send(
          JSON.stringify({
            type: 'hello',
            num_connections: 1,
            debug_info: { host: 'fake', build_number: 1, approximate_connection_time: 18060 },
            connection_info: { app_id: 'A0FAKE001' },
          }),
        );
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.pinger = setInterval(() => {
      for (const s of this.sockets) if (!s.retiring) s.ws.ping();
    }, this.pingEveryMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.pinger);
    for (const s of this.sockets) s.ws.terminate();
    this.wss?.close();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** The next `count` calls of `method` (in `channel`, or anywhere) get 429 with Retry-After `retryAfter` seconds. */
  rateLimit(method: string, count: number, retryAfter: number, channel?: string): void {
    this.failures.set(channel ? `${method} ${channel}` : method, { count, retryAfter });
  }

  /** Drops every Socket Mode connection, as when the network blips. */
  dropSockets(): void {
    for (const s of this.sockets) s.ws.terminate();
  }

  /**
   * Slack recycling a connection: a `disconnect` frame on each live one; after it, nothing more is
   * read from that connection (the client's close frame is never answered) and no envelope goes to
   * it; its TCP stays open until `closeAfterMs` (Slack closes it in its own time).
   */
  disconnect(reason: 'refresh_requested' | 'warning' | 'link_disabled', closeAfterMs = 30_000): void {
    for (const s of this.sockets) {
      if (s.retiring) continue;
      s.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'fake' } }));
      s.retiring = true;
      (s.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
      setTimeout(() => s.ws.terminate(), closeAfterMs).unref();
    }
  }

  /** The bot is a member of `channel` (invited, or it joined). */
  join(...channels: string[]): void {
    for (const c of channels) this.conversations.set(c, { member: true, archived: false });
  }

  /** A channel that exists, that the bot was never invited to. */
  channelWithoutBot(channel: string): void {
    this.conversations.set(channel, { member: false, archived: false });
  }

  archive(channel: string): void {
    const c = this.conversations.get(channel);
    if (c) c.archived = true;
  }

  /** The direct-message conversation between `user` and the bot. */
  im(user: string): string {
    const id = `D${user.slice(1)}`;
    this.conversations.set(id, { member: true, archived: false });
    return id;
  }

  /** Slack refusing events to an app over its limit: an events_api envelope with no inner event. */
  async appRateLimited(): Promise<string> {
    return this.envelope('events_api', {
      token: 'legacy-verification-token',
      type: 'app_rate_limited',
      team_id: TEAM,
      minute_rate_limited: Math.floor(Date.now() / 60_000) * 60,
      api_app_id: 'A0FAKE001',
    });
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  private async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (this.offline) {
      this.cutOff.push(/^\/api\/([a-zA-Z.]+)/.exec(req.url ?? '')?.[1] ?? req.url ?? '');
      req.socket.destroy();
      return;
    }
    const answer = /^\/response\/([\w-]+)$/.exec(req.url ?? '');
    if (answer && req.method === 'POST') return this.response(answer[1]!, body, res);
    const m = /^\/api\/([a-zA-Z.]+)/.exec(req.url ?? '');
    if (!m || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    const method = m[1]!;
    const args: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(body)) {
      args[k] = k === 'blocks' || k === 'attachments' ? JSON.parse(v) : v;
    }
    this.calls.push({
      method,
      token: (req.headers.authorization ?? '').replace(/^Bearer /, ''),
      args,
      at: Date.now(),
    });
    const fail = this.failures.get(`${method} ${args.channel}`) ?? this.failures.get(method);
    const forced = fail && fail.count-- > 0 ? fail.retryAfter : undefined;
    const retryAfter = forced ?? this.overLimit(method, args);
    if (retryAfter !== undefined) {
      this.limited.push({
        method,
        channel: String(args.channel ?? ''),
        why: forced !== undefined ? 'forced' : 'limit',
        at: Date.now(),
      });
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': String(retryAfter) });
      res.end(JSON.stringify({ ok: false, error: 'ratelimited' }));
      return;
    }
    const json = (o: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    switch (method) {
      case 'auth.test':
        return json({
          ok: true,
          url: 'https://fake.slack.com/',
          team: 'fake',
          user: 'afsbot',
          team_id: TEAM,
          user_id: BOT_USER,
          bot_id: 'B0FAKE001',
        });
      case 'apps.connections.open':
        return json({ ok: true, url: `ws://127.0.0.1:${this.port}/link/?ticket=${randomUUID()}` });
      case 'conversations.open': {
        const user = String(args.users ?? '');
        if (!/^U\w+$/.test(user)) return json({ ok: false, error: 'user_not_found' });
        return json({ ok: true, channel: { id: this.im(user) } });
      }
      case 'chat.postMessage': {
        const refused = this.refusal(String(args.channel)) ?? blocksError(args.blocks);
        if (refused) return json({ ok: false, error: refused });
        const ts = `${1_800_000_000 + ++this.tsCounter}.000100`;
        const msg: FakeMessage = {
          channel: String(args.channel),
          ts,
          text: String(args.text ?? ''),
          ...(args.blocks ? { blocks: args.blocks as unknown[] } : {}),
          ...(args.thread_ts ? { thread_ts: String(args.thread_ts) } : {}),
          edits: [],
        };
        this.messages.set(ts, msg);
        return json({ ok: true, channel: msg.channel, ts, message: { text: msg.text, ts } });
      }
      case 'chat.update': {
        const bad = blocksError(args.blocks);
        if (bad) return json({ ok: false, error: bad });
        const msg = this.messages.get(String(args.ts));
        if (!msg) return json({ ok: false, error: 'message_not_found' });
        msg.edits.push({
          text: String(args.text ?? ''),
          ...(args.blocks ? { blocks: args.blocks as unknown[] } : {}),
          at: Date.now(),
        });
        return json({ ok: true, channel: msg.channel, ts: msg.ts, text: args.text });
      }
      default:
        return json({ ok: false, error: 'unknown_method' });
    }
  }

  /** Why Slack would refuse a post in `channel`, if it would. */
  private refusal(channel: string): string | undefined {
    const c = this.conversations.get(channel);
    if (!c) return 'channel_not_found';
    if (c.archived) return 'is_archived';
    return c.member ? undefined : 'not_in_channel';
  }

  /** Seconds to wait when this call is over Slack's limit; undefined when it may go. */
  private overLimit(method: string, args: Record<string, unknown>): number | undefined {
    const now = Date.now();
    const window = (times: number[], ms: number, max: number): number | undefined => {
      while (times.length > 0 && times[0]! <= now - ms) times.shift();
      if (max > 0 && times.length >= max) return Math.max(1, Math.ceil((times[0]! + ms - now) / 1000));
      times.push(now);
      return undefined;
    };
    if (method === 'chat.postMessage') {
      const channel = String(args.channel);
      const times = this.postTimes.get(channel) ?? [];
      this.postTimes.set(channel, times);
      return window(times, this.limits.postWindowS * 1000, this.limits.postBurst);
    }
    if (method === 'chat.update')
      return window(this.updateTimes, this.limits.updateWindowS * 1000, this.limits.updates);
    return undefined;
  }

  /** A POST to a response_url: up to 5 within 30 minutes of the command (Slack's "Handling slash commands"). */
  private response(trigger: string, body: string, res: ServerResponse): void {
    const url = this.responseUrls.get(trigger);
    const parsed = JSON.parse(body) as FakeResponse['body'];
    const error = !url
      ? 'invalid_url'
      : Date.now() > url.until
        ? 'expired_url'
        : url.uses >= 5
          ? 'used_url'
          : blocksError(parsed.blocks);
    res.writeHead(error ? 404 : 200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(error ? { ok: false, error } : { ok: true }));
    if (error) return;
    url!.uses++;
    this.responses.push({ trigger, body: parsed, at: Date.now() });
  }

  /** The answers a slash command got through its response_url. */
  responsesTo(command: Record<string, unknown>): FakeResponse['body'][] {
    return this.responses.filter((r) => r.trigger === command.trigger_id).map((r) => r.body);
  }

  // ------------------------------------------------------------------------------- what Slack sends
  /** An Events API body (event_callback) around `event`. */
  eventBody(
    event: Record<string, unknown>,
    eventId = `Ev${Date.now()}${++this.eventCounter}`,
  ): Record<string, unknown> {
    return {
      token: 'legacy-verification-token',
      team_id: TEAM,
      api_app_id: 'A0FAKE001',
      event: { event_ts: `${Date.now() / 1000}`, ...event },
      type: 'event_callback',
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: TEAM, user_id: BOT_USER, is_bot: true }],
    };
  }

  /** A message a person typed, as Slack delivers it. */
  message(
    user: string,
    channel: string,
    text: string,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> {
    return {
      type: 'message',
      user,
      text,
      channel,
      channel_type: channel.startsWith('D') ? 'im' : 'channel',
      ts: `${Date.now() / 1000}`,
      client_msg_id: randomUUID(),
      ...extra,
    };
  }

  /**
   * Sends an envelope on the newest live Socket Mode connection; resolves with its id once it is
   * acknowledged. Slack waits 3 s for the ack: an event not acknowledged by then is sent again
   * (retry_attempt 1, 2, 3, reason "timeout"), a slash command or a click fails for its user; both
   * throw here. With no live connection a slash command fails at once (`dispatch_failed`).
   */
  async envelope(type: 'events_api' | 'slash_commands' | 'interactive', payload: unknown): Promise<string> {
    const sent: string[] = [];
    for (let attempt = 0; attempt <= (type === 'events_api' ? 3 : 0); attempt++) {
      // each try is an envelope of its own; the event inside keeps its event_id
      const envelope_id = randomUUID();
      sent.push(envelope_id);
      const live = [...this.sockets].filter((s) => !s.retiring).at(-1);
      if (!live) throw new Error(`dispatch_failed: no live Socket Mode connection for the ${type} envelope`);
      live.ws.send(
        JSON.stringify({
          envelope_id,
          type,
          payload,
          accepts_response_payload: type !== 'events_api',
          retry_attempt: attempt,
          retry_reason: attempt > 0 ? 'timeout' : '',
        }),
      );
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        const acked = this.acks.find((a) => sent.includes(a.envelope_id));
        if (acked) return acked.envelope_id;
        await new Promise((r) => setTimeout(r, 20));
      }
      this.lateEnvelopes.push({ envelope_id, type });
    }
    throw new Error(`the ${type} envelope (${sent.join(', ')}) was not acknowledged within 3 s`);
  }

  /** A slash command as Slack sends it; its response_url takes 5 answers within 30 minutes. */
  slashCommand(user: string, channel: string, text: string): Record<string, unknown> {
    const trigger = randomUUID();
    this.responseUrls.set(trigger, { uses: 0, until: Date.now() + 30 * 60_000 });
    return {
      token: 'legacy-verification-token',
      team_id: TEAM,
      channel_id: channel,
      user_id: user,
      user_name: 'whoever-they-say',
      command: '/afsbot',
      text,
      api_app_id: 'A0FAKE001',
      channel_name: channel.startsWith('D') ? 'directmessage' : 'ops',
      response_url: `http://127.0.0.1:${this.port}/response/${trigger}`,
      trigger_id: trigger,
    };
  }

  /** A click on a button of a message the bot posted. */
  blockAction(user: string, message: FakeMessage, actionId: string, value: string): Record<string, unknown> {
    return {
      type: 'block_actions',
      team: { id: TEAM },
      user: { id: user, username: 'whoever-they-say', team_id: TEAM },
      api_app_id: 'A0FAKE001',
      token: 'legacy-verification-token',
      container: { type: 'message', message_ts: message.ts, channel_id: message.channel },
      trigger_id: randomUUID(),
      channel: { id: message.channel, name: 'ops' },
      message: { type: 'message', ts: message.ts, text: message.text, blocks: message.blocks },
      actions: [
        {
          type: 'button',
          action_id: actionId,
          block_id: `afsbot_request_${value}`,
          value,
          action_ts: `${Date.now() / 1000}`,
        },
      ],
    };
  }

  /** Posts a request to the bot's HTTP endpoint signed with `secret` as Slack does; returns the status. */
  async postSigned(
    url: string,
    body: string,
    contentType: string,
    secret: string,
    opts: { timestamp?: number; badSignature?: boolean } = {},
  ): Promise<number> {
    const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const mac = createHmac('sha256', opts.badSignature ? `${secret}x` : secret)
      .update(`v0:${ts}:${body}`)
      .digest('hex');
    const r = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': contentType,
        'X-Slack-Request-Timestamp': String(ts),
        'X-Slack-Signature': `v0=${mac}`,
      },
      body,
    });
    await r.text();
    return r.status;
  }
}

/**
 * What Slack says of a message's blocks (docs.slack.dev, Block Kit reference; bolt-js issues 2509 and
 * 2867): `invalid_blocks` past 50 blocks, a section text over 3000, a header over 150, more than 10
 * fields or one over 2000; `msg_blocks_too_long` when the text of all blocks passes about 12,000
 * characters, however it is split.
 */
export function blocksError(blocks: unknown): string | undefined {
  if (blocks === undefined) return undefined;
  if (!Array.isArray(blocks) || blocks.length > 50) return 'invalid_blocks';
  let total = 0;
  const count = (t: unknown, max: number): boolean => {
    const text = (t as { text?: unknown } | undefined)?.text;
    if (typeof text !== 'string') return true;
    total += text.length;
    return text.length <= max;
  };
  for (const b of blocks as { type?: string; text?: unknown; fields?: unknown[]; elements?: unknown[] }[]) {
    if (b.type === 'section') {
      if (b.text !== undefined && !count(b.text, 3000)) return 'invalid_blocks';
      if (b.fields && (b.fields.length > 10 || !b.fields.every((f) => count(f, 2000))))
        return 'invalid_blocks';
    } else if (b.type === 'header') {
      if (!count(b.text, 150)) return 'invalid_blocks';
    } else if (b.type === 'context') {
      for (const e of b.elements ?? []) if (!count(e, 3000)) return 'invalid_blocks';
    }
  }
  return total > 12_000 ? 'msg_blocks_too_long' : undefined;
}
