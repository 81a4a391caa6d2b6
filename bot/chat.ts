// The only things the core and the chat transports share. An adapter turns platform events into a
// ChatEvent and renders what the core sends; it never sees commands, the store or AFS.

export type Backend = 'irc' | 'slack' | 'console';

export interface Actor {
  backend: Backend;
  /**
   * The identity the platform vouches for: the IRC services account, the Slack user ID, the local unix
   * user. null when it cannot be verified (not logged in, or the network offers no account data).
   */
  id: string | null;
  /** What the platform shows (an IRC nick, a Slack display name). Never used to decide anything. */
  name: string;
  /** Why `id` is null, in words for the sender. */
  unverifiedReason?: string;
}

export interface Conversation {
  /** Where a reply goes: a channel name, a nick for a private message, "console". */
  id: string;
  kind: 'channel' | 'direct';
}

export interface ChatEvent {
  actor: Actor;
  conversation: Conversation;
  text: string;
}

export interface AdapterStatus {
  backend: Backend;
  connected: boolean;
  /** One line: server, account, connection state. */
  detail: string;
  channels: string[];
}

export type EventHandler = (event: ChatEvent) => Promise<void>;

export interface ChatAdapter {
  readonly backend: Backend;
  /** Connect and deliver every incoming message to `onEvent`. Resolves once ready for traffic. */
  start(onEvent: EventHandler): Promise<void>;
  /** Deliver a possibly multi-line message in full and in order. Resolves once it has been handed over. */
  send(to: Conversation, text: string): Promise<void>;
  status(): AdapterStatus;
  /** Flush what is queued, disconnect, release everything. */
  stop(): Promise<void>;
}
