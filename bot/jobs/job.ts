// What a job is, for the code that starts one and the code that runs inside one.
import type { Backend, Conversation, MessageMeta, ProgressUpdate } from '../chat/adapter.ts';
import type { Origin } from '../chat/router.ts';
import type { JobRow } from './jobs-table.ts';

export type { Origin } from '../chat/router.ts';

export type { JobRow, JobStatus } from './jobs-table.ts';

/** What a command context gives a job: who asked, where, and how to answer. */
export interface Asker {
  actor: { backend: Backend; id: string | null };
  conversation: Conversation;
  reply(text: string, meta?: MessageMeta): Promise<void>;
}

export function originOf(a: Pick<Asker, 'actor' | 'conversation'>): Origin {
  return { backend: a.actor.backend, identity: a.actor.id, conversation: a.conversation };
}

export interface RunningJob {
  readonly id: number;
  readonly signal: AbortSignal;
  /** Bytes done in the current phase, of `total` if known. Cheap: call it for every chunk. */
  progress(phase: string, bytes: number, total?: number): void;
  /** Post a line to where the job was asked for (through the outbox: it never waits for the chat). */
  say(text: string): void;
  /** Remember something a crash right now would leave behind (a temp file, a half-made volume). */
  leftover(what: string): void;
  /** Forget a leftover once it is cleaned up or made whole. */
  settled(what: string): void;
}

export interface JobSpec {
  kind: string;
  /** Short, for lists and progress: "restore user.alice". */
  title: string;
  /** The volumes it locks. */
  volumes: string[];
  origin: Origin;
  /** Does the work; returns the report. A UserError is shown as is, anything else as "failed". */
  run(job: RunningJob): Promise<string>;
  /** After a cancel: undo what can be undone, and say what was left. */
  onCancel?(job: RunningJob): Promise<string>;
  /** A restore, an extraction or a fetch: at most jobs.maxHeavy of them run at once. */
  heavy?: boolean;
}

/** One line about a job, for !jobs and !job. */
export function jobLine(j: JobRow): string {
  const when = (j.ended_at ?? j.started_at ?? j.created_at).slice(0, 19).replace('T', ' ');
  return `job ${j.id} ${j.status} ${j.title} (${j.identity ?? 'unknown'} on ${j.backend}, ${when})`;
}

/** A job of this process while it is queued or running: its spec and where it is. */
export interface Live {
  spec: JobSpec;
  /** When it was submitted: a job that waits in line past lockWaitMs fails. */
  queuedAt: number;
  controller: AbortController;
  leftovers: Set<string>;
  started: number;
  phase: string;
  bytes: number;
  total?: number;
  lastEmit: number;
  lastSave: number;
  promise?: Promise<void>;
}

/** Where a job is, for the chat and for !job: bytes, rate, and an ETA while the total is ahead. */
export function progressOf(id: number, job: Live, final: boolean): ProgressUpdate {
  const seconds = Math.max(0.001, (Date.now() - job.started) / 1000);
  const rate = job.bytes / seconds;
  const u: ProgressUpdate = {
    jobId: id,
    title: job.spec.title,
    phase: job.phase,
    bytes: job.bytes,
    rate,
    final,
  };
  if (job.total !== undefined) {
    u.total = job.total;
    if (rate > 0 && job.total > job.bytes) u.etaSeconds = (job.total - job.bytes) / rate;
  }
  return u;
}
