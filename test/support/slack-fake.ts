// A local fake of Slack, speaking its documented wire format, for the Slack adapter's tests (Slack's
// cloud cannot be reached from here):
// - the Web API: POST /api/<method>, application/x-www-form-urlencoded (objects such as `blocks` as
//   JSON strings inside the form), Authorization: Bearer <token>; answers {ok: true, ...}, or 429 with
//   Retry-After when told to;
// - Socket Mode: apps.connections.open gives a ws:// URL; the server says {type: "hello"}, then sends
//   envelopes {envelope_id, type, payload, accepts_response_payload} and records the client's acks;
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

export class SlackFake {
  readonly calls: ApiCall[] = [];
  readonly acks: { envelope_id: string; at: number }[] = [];
  readonly messages = new Map<string, FakeMessage>();
  /** Socket Mode connections opened so far. */
  connections = 0;
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly sockets = new Set<WebSocket>();
  private readonly failures = new Map<string, { count: number; retryAfter: number }>();
  private tsCounter = 0;
  private eventCounter = 0;
  /** While true, every Web API request is cut off without an answer (the network is down). */
  offline = false;

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
        this.sockets.add(ws);
        ws.on('close', () => this.sockets.delete(ws));
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
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    this.wss?.close();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** The next `count` calls of `method` get 429 with Retry-After `retryAfter` seconds. */
  rateLimit(method: string, count: number, retryAfter: number): void {
    this.failures.set(method, { count, retryAfter });
  }

  /** Drops every Socket Mode connection, as when the network blips. */
  dropSockets(): void {
    for (const s of this.sockets) s.terminate();
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  private async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (this.offline) {
      req.socket.destroy();
      return;
    }
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
    const fail = this.failures.get(method);
    if (fail && fail.count > 0) {
      fail.count--;
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': String(fail.retryAfter) });
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
      case 'chat.postMessage': {
        const bad = blocksError(args.blocks);
        if (bad) return json({ ok: false, error: bad });
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

  /** Sends an envelope on the Socket Mode connection; resolves with its id once acknowledged. */
  async envelope(type: 'events_api' | 'slash_commands' | 'interactive', payload: unknown): Promise<string> {
    const envelope_id = randomUUID();
    const ws = [...this.sockets].at(-1);
    if (!ws) throw new Error('no Socket Mode connection');
    ws.send(
      JSON.stringify({
        envelope_id,
        type,
        payload,
        accepts_response_payload: type !== 'events_api',
        retry_attempt: 0,
        retry_reason: '',
      }),
    );
    const deadline = Date.now() + 10_000;
    while (!this.acks.some((a) => a.envelope_id === envelope_id)) {
      if (Date.now() > deadline) throw new Error(`envelope ${envelope_id} (${type}) was not acknowledged`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return envelope_id;
  }

  slashCommand(user: string, channel: string, text: string): Record<string, unknown> {
    return {
      token: 'legacy-verification-token',
      team_id: TEAM,
      channel_id: channel,
      user_id: user,
      user_name: 'whoever-they-say',
      command: '/afsbot',
      text,
      api_app_id: 'A0FAKE001',
      response_url: `http://127.0.0.1:${this.port}/response`,
      trigger_id: randomUUID(),
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
