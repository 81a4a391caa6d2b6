// Where what the bot says goes: the answer to a command, a job's lines to where it was asked for, a
// report to the report channels of every chat, an announcement to every channel. Every line goes
// through the outbox, so nothing here ever waits for a chat; each line gets the urgency its adapter
// orders by.
import type { Config } from '../platform/config.ts';
import type {
  ApprovalDecision,
  Backend,
  ChatAdapter,
  Conversation,
  MessageMeta,
  ProgressUpdate,
  Urgency,
} from './adapter.ts';
import type { Outbox } from './outbox.ts';

/** Where a job or a workflow reports: who asked, and where; or (reports) the report channels. */
export interface Origin {
  /** A job nobody typed (the schedule) reports to the report channels. */
  reports?: boolean;
  backend: Backend;
  identity: string | null;
  conversation: Conversation;
}

export interface ReportOptions {
  /** The conversation a job was asked in: it gets the job's own result, so not the report too. */
  except?: Origin;
  meta?: MessageMeta;
  /** Default 'report'. */
  urgency?: Urgency;
  /** A newer line with the same key replaces an unsent one (phase lines: only the newest matters). */
  coalesce?: string;
}

/** How urgent a job's line is, from what it is. */
function urgencyOf(meta?: MessageMeta): Urgency {
  if (meta?.kind === 'job-started') return 'reply';
  if (meta?.kind === 'job') return meta.final ? 'result' : 'progress';
  if (meta?.kind === 'approval') return 'result';
  if (meta?.kind === 'report') return 'report';
  return 'result';
}

export class ChatRouter {
  constructor(
    private readonly adapters: ChatAdapter[],
    private readonly outbox: Outbox,
    private readonly config: Pick<Config, 'irc' | 'slack'>,
  ) {}

  private has(backend: Backend): boolean {
    return this.adapters.some((a) => a.backend === backend);
  }

  /** The answer to a command, in the conversation it was asked in (`bulk`: to a non-admin, sent last). */
  reply(backend: Backend, to: Conversation, text: string, meta?: MessageMeta, bulk = false): void {
    this.outbox.enqueue(backend, to, text, {
      ...(meta ? { meta } : {}),
      urgency: bulk ? 'report' : meta ? urgencyOf(meta) : 'reply',
    });
  }

  /** A job's line (a note, its result) to where it was asked for. */
  post(origin: Origin, text: string, meta?: MessageMeta): void {
    if (origin.reports) {
      this.report(text, { ...(meta ? { meta } : {}), urgency: urgencyOf(meta) });
      return;
    }
    if (!this.has(origin.backend)) return; // asked for by a chat this process does not have
    this.outbox.enqueue(origin.backend, origin.conversation, text, {
      ...(meta ? { meta } : {}),
      urgency: urgencyOf(meta),
    });
  }

  /** A job's progress: not through the outbox; each adapter paces and coalesces it itself. */
  progress(origin: Origin, update: ProgressUpdate): void {
    if (origin.reports) return;
    this.adapters.find((a) => a.backend === origin.backend)?.progress?.(origin.conversation, update);
  }

  /**
   * Where reports go on each chat: its configured report channels, else the channels it is configured
   * to be in (not only those it has joined: a chat that is down now still gets them later); the console.
   */
  private reportTargets(a: ChatAdapter): string[] {
    const { irc, slack } = this.config;
    if (a.backend === 'irc') return irc.reportChannels.length ? irc.reportChannels : irc.channels;
    if (a.backend === 'slack')
      return slack.reportChannels.length ? slack.reportChannels : a.status().channels;
    return ['console'];
  }

  report(text: string, opts: ReportOptions = {}): void {
    const { except } = opts;
    for (const a of this.adapters) {
      for (const id of this.reportTargets(a)) {
        if (except && !except.reports && except.backend === a.backend && except.conversation.id === id)
          continue;
        this.outbox.enqueue(a.backend, { id, kind: a.backend === 'console' ? 'direct' : 'channel' }, text, {
          ...(opts.meta ? { meta: opts.meta } : {}),
          urgency: opts.urgency ?? 'report',
          ...(opts.coalesce ? { coalesce: `${opts.coalesce}:${id}` } : {}),
        });
      }
    }
  }

  /** Every channel of every chat (break-glass, a stopped promotion): as urgent as a result. */
  announce(text: string): void {
    const { irc } = this.config;
    for (const a of this.adapters) {
      const targets =
        a.backend === 'irc' ? irc.channels : a.backend === 'slack' ? a.status().channels : ['console'];
      for (const id of targets)
        this.outbox.enqueue(a.backend, { id, kind: a.backend === 'console' ? 'direct' : 'channel' }, text, {
          urgency: 'result',
        });
    }
  }

  decided(d: ApprovalDecision): void {
    for (const a of this.adapters) a.decided?.(d);
  }
}
