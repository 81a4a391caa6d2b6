// What @slack/socket-mode 3.1.0 (the newest on npm) gets wrong with Slack's frames, handled in front
// of it:
// - a `disconnect` frame (Slack recycles its side every few hours: "warning", "refresh_requested"):
//   the client sends a close frame and waits for Slack's, which does not come while Slack keeps the
//   TCP connection open; it notices only when a ping goes unanswered or its 30 s close handshake
//   gives up, and until a new connection is made slash commands and clicks fail. Here the frame is not
//   handed to the client: the caller is told at once (`recycled`), opens the new connection beside the
//   old one, and closes the old once the new is up. `link_disabled` (Socket Mode turned off in the
//   app's settings) goes to the client and is said in the log: no reconnect helps until it is on.
// - an `events_api` envelope with no inner event (`app_rate_limited`: over 30,000 events an hour)
//   throws inside the client's listener, so it is never acknowledged; here it is acknowledged and said.
import type { SocketModeReceiver } from '@slack/bolt';
import type { AdapterLog } from '../../bot/chat/adapter.ts';

type SocketModeClient = SocketModeReceiver['client'];
type FrameListener = (data: unknown, isBinary: boolean) => unknown;

interface Frame {
  type?: string;
  reason?: string;
  envelope_id?: string;
  payload?: { event?: unknown; type?: string; minute_rate_limited?: number };
}

function parse(data: unknown): Frame | undefined {
  try {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
    return JSON.parse(text) as Frame;
  } catch {
    return undefined; // the client's own listener logs what it cannot parse
  }
}

export function watchFrames(
  client: SocketModeClient,
  log: AdapterLog,
  on: { recycled: (closeOld: () => void) => void },
): void {
  const own = client.listeners('ws_message') as FrameListener[];
  client.removeAllListeners('ws_message');
  client.on('ws_message', (data: unknown, isBinary: boolean) => {
    const frame = isBinary ? undefined : parse(data);
    if (frame?.type === 'events_api' && !frame.payload?.event) {
      log.warn('slack: an events envelope without an event; Slack may be holding events back', {
        said: frame.payload?.type ?? 'nothing',
      });
      // the client's own send (private in its types): the ack is an envelope_id with an empty payload
      const ack = (client as unknown as { send(id: string): Promise<void> }).send;
      if (frame.envelope_id) void ack.call(client, frame.envelope_id).catch(() => {});
      return;
    }
    if (frame?.type === 'disconnect' && frame.reason !== 'link_disabled') {
      // not handed to the client: it would close its socket now and leave a gap until the new one is
      // up. The old socket stays as it is (Slack sends nothing more on it) and is closed once the new
      // one is connected.
      const old = (client as unknown as { websocket?: { disconnect(): void } }).websocket;
      log.info('slack asked for a new connection; opening it now, beside the old', {
        reason: frame.reason ?? '',
      });
      on.recycled(() => old?.disconnect());
      return;
    }
    for (const listener of own)
      void Promise.resolve(listener.call(client, data, isBinary)).catch((err: unknown) =>
        log.error('slack: the Socket Mode client failed on a frame', { error: String(err) }),
      );
    if (frame?.type === 'disconnect')
      log.error(
        'slack: Socket Mode is turned off for this app (link_disabled); turn it on in the app settings; reconnecting with backoff until then',
      );
  });
}
