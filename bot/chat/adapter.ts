// The only things the core and the chat transports share: adapters/ imports this file and nothing
// else of bot/. An adapter turns platform events into a ChatEvent and renders what the core sends; it
// never sees commands, the database or AFS.
import { formatBytes } from '../platform/format.ts';

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
  /** A thread in it (Slack: the ts of the message it hangs off). */
  thread?: string;
  /**
   * The adapter's own handle for answering where `id` alone may not reach the asker (Slack: the slash
   * command, typed in a conversation the bot may not be in). Opaque to the core, which keeps it.
   */
  reply?: string;
}

/** The numbers of a nightly report, for adapters that lay them out (Slack's blocks). */
export interface ReportSummary {
  /** "nightly 2026.03.09" */
  title: string;
  ok: boolean;
  /** "OK", or "NOT SAFE (1 failed, ...)" */
  verdict: string;
  fields: { label: string; value: string }[];
  /** One line per failure, with the tool's own words. */
  failures: string[];
}

/**
 * What a message is, besides its text, for adapters that show more than text. The text is always the
 * whole message; an adapter that ignores this loses nothing.
 */
export type MessageMeta =
  /** The answer to a command that started a job ("job 12 started: ..."): Slack makes it the job's message. */
  | { kind: 'job-started'; jobId: number }
  /** About a job: a line it said, or (with `final`) its result. */
  | { kind: 'job'; jobId: number; final?: 'ok' | 'failed' | 'cancelled' }
  /** A destructive command's plan and approval request: Slack shows Approve and Deny buttons. */
  | { kind: 'approval'; requestId: number }
  | { kind: 'report'; summary: ReportSummary };

/**
 * How soon a line must go, most urgent first: an answer to a command; a job's result, an approval
 * request or an alert; a job's progress; a report. An adapter that paces its lines sends in this order.
 */
export type Urgency = 'reply' | 'result' | 'progress' | 'report';

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

/** Where a job is in its work: the tracker's numbers, for each adapter to show in its own idiom. */
export interface ProgressUpdate {
  jobId: number;
  title: string;
  phase: string;
  bytes: number;
  /** Expected bytes, when known. */
  total?: number;
  /** Bytes per second over the job so far. */
  rate: number;
  etaSeconds?: number;
  /** The last update of a job. */
  final: boolean;
}

/** One line: `job 12 restore user.alice: restoring 45% (90 MiB of 200 MiB) at 61 MiB/s, about 2s left`. */
export function formatProgress(u: ProgressUpdate): string {
  const pct = u.total ? ` ${Math.min(99, Math.floor((100 * u.bytes) / u.total))}%` : '';
  const amount = u.total
    ? ` (${formatBytes(u.bytes)} of ${formatBytes(u.total)})`
    : ` ${formatBytes(u.bytes)}`;
  const rate = u.rate > 0 ? ` at ${formatBytes(u.rate)}/s` : '';
  const eta = u.etaSeconds !== undefined ? `, about ${Math.max(1, Math.round(u.etaSeconds))}s left` : '';
  return `job ${u.jobId} ${u.title}: ${u.phase}${pct}${amount}${rate}${eta}`;
}

export interface ChatAdapter {
  readonly backend: Backend;
  /** Connect and deliver every incoming message to `onEvent`. Resolves once ready for traffic. */
  start(onEvent: EventHandler): Promise<void>;
  /**
   * Deliver a possibly multi-line message in full and in order. Resolves once it is written; rejects
   * when it cannot be now (the chat is down): the core's outbox keeps it and tries again later.
   */
  send(to: Conversation, text: string, meta?: MessageMeta, urgency?: Urgency): Promise<void>;
  status(): AdapterStatus;
  /** An approval request was decided (anywhere): an adapter that shows it with buttons updates it. */
  decided?(d: ApprovalDecision): void;
  /** Show a job's progress. Adapters decide how often and how (a paced line, a live line, an edit). */
  progress?(to: Conversation, update: ProgressUpdate): void;
  /** Flush what is queued, disconnect, release everything. */
  stop(): Promise<void>;
}

/** The outcome of an approval request. */
export interface ApprovalDecision {
  requestId: number;
  outcome: 'approved' | 'denied' | 'stale';
  by: { backend: Backend; id: string | null };
  at: Date;
  reason?: string;
}

/** What an adapter may log to (the core's Logger fits it). */
export interface AdapterLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}
