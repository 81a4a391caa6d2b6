// Jobs: every command that runs vos becomes one. The answer comes at once ("job 12 started"), the work
// runs in the background, progress flows to the adapter that asked, and the result is posted when it
// ends. One lock per volume: a job whose volume is busy waits in line (or is refused) and says which
// job holds it. Jobs live in the store, so a restart finds the ones a crash interrupted.
import type { Backend, Conversation, MessageMeta, ProgressUpdate } from './chat.ts';
import { UserError } from './errors.ts';
import type { Logger } from './log.ts';
import type { Store } from './store.ts';

export type JobStatus = 'queued' | 'running' | 'ok' | 'failed' | 'cancelled' | 'interrupted';

export interface Origin {
  /** A job nobody typed (the schedule) reports to the report channels. */
  reports?: boolean;
  backend: Backend;
  identity: string | null;
  conversation: Conversation;
}

export interface JobRow {
  id: number;
  kind: string;
  title: string;
  volumes: string;
  backend: Backend;
  identity: string | null;
  conversation: string;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  progress: string | null;
  result: string | null;
  error: string | null;
  leftovers: string | null;
  /** The afsbot process that runs it (null for rows from before this was recorded). */
  pid: number | null;
}

/** Where a command's job reports: the backend, who asked, and the conversation it was asked in. */
export function originOfCommand(ctx: {
  actor: { backend: Backend; id: string | null };
  conversation: Conversation;
}): Origin {
  return { backend: ctx.actor.backend, identity: ctx.actor.id, conversation: ctx.conversation };
}

export interface RunningJob {
  readonly id: number;
  readonly signal: AbortSignal;
  /** Bytes done in the current phase, of `total` if known. Cheap: call it for every chunk. */
  progress(phase: string, bytes: number, total?: number): void;
  /** Post a line to where the job was asked for, now. */
  say(text: string): Promise<void>;
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
}

export interface JobDeps {
  store: Store;
  log: Logger;
  post(origin: Origin, text: string, meta?: MessageMeta): Promise<void>;
  progress(origin: Origin, update: ProgressUpdate): void;
  whenBusy: 'queue' | 'refuse';
  /** How often running jobs save their progress to the store (for !job). */
  saveProgressMs?: number;
}

interface Live {
  spec: JobSpec;
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

export class JobManager {
  private readonly live = new Map<number, Live>();
  private readonly locks = new Map<string, number>();
  private readonly queue: number[] = [];
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly deps: JobDeps) {}

  private update(id: number, fields: Partial<Omit<JobRow, 'id'>>): void {
    this.deps.store.updateRow('jobs', id, fields);
  }

  get(id: number): JobRow | undefined {
    return this.deps.store.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  }

  /** Jobs still going, then the last `recent` finished ones. */
  list(recent = 10): JobRow[] {
    const db = this.deps.store.db;
    const active = db
      .prepare(`SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY id`)
      .all() as JobRow[];
    const done = db
      .prepare(`SELECT * FROM jobs WHERE status NOT IN ('queued','running') ORDER BY id DESC LIMIT ?`)
      .all(recent) as JobRow[];
    return [...active, ...done];
  }

  /** Whether this process is running (or queueing) the job. */
  isLive(id: number): boolean {
    return this.live.has(id);
  }

  /**
   * Whether a queued or running row is really going: here, or in another live afsbot process. A row
   * of a process that died (or of an earlier process with this pid, as PID 1 in a container) is not.
   */
  isGoing(row: JobRow): boolean {
    if (row.status !== 'queued' && row.status !== 'running') return false;
    if (row.pid === process.pid) return this.live.has(row.id);
    return row.pid === null || processAlive(row.pid);
  }

  /** The job holding a volume's lock, if any. */
  holder(volume: string): number | undefined {
    return this.locks.get(volume);
  }

  /** Creates the job and starts it, or queues it behind the job that holds its volume. */
  submit(spec: JobSpec): { id: number; waitingFor?: number } {
    const busy = spec.volumes.map((v) => this.locks.get(v)).find((j) => j !== undefined);
    if (busy !== undefined && this.deps.whenBusy === 'refuse') {
      const holder = this.get(busy);
      throw new UserError(
        `${spec.volumes.join(', ')} is busy with job ${busy} (${holder?.title}); try again when it is done, or !cancel ${busy}`,
      );
    }
    const r = this.deps.store.db
      .prepare(
        `INSERT INTO jobs (kind, title, volumes, backend, identity, conversation, status, created_at, leftovers, pid)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, '[]', ?)`,
      )
      .run(
        spec.kind,
        spec.title,
        JSON.stringify(spec.volumes),
        spec.origin.backend,
        spec.origin.identity,
        JSON.stringify(spec.origin.conversation),
        new Date().toISOString(),
        process.pid,
      );
    const id = Number(r.lastInsertRowid);
    this.live.set(id, {
      spec,
      controller: new AbortController(),
      leftovers: new Set(),
      started: 0,
      phase: 'queued',
      bytes: 0,
      lastEmit: 0,
      lastSave: 0,
    });
    this.queue.push(id);
    this.pump();
    return busy !== undefined ? { id, waitingFor: busy } : { id };
  }

  /**
   * Takes the store's locks on `names` for job `id`, all or none, unless another live afsbot process
   * (the bot, or backup-manager) holds one. A lock whose process is dead is taken over. Returns the
   * holder when it cannot.
   */
  private claim(names: string[], id: number): { jobId: number; pid: number } | undefined {
    const db = this.deps.store.db;
    return db
      .transaction(() => {
        for (const name of names) {
          const row = db.prepare('SELECT job_id, pid FROM locks WHERE name = ?').get(name) as
            | { job_id: number; pid: number }
            | undefined;
          if (row && row.pid !== process.pid && processAlive(row.pid))
            return { jobId: row.job_id, pid: row.pid };
        }
        for (const name of names) {
          db.prepare(
            'INSERT INTO locks (name, job_id, pid, since) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET job_id = excluded.job_id, pid = excluded.pid, since = excluded.since',
          ).run(name, id, process.pid, new Date().toISOString());
        }
        return undefined;
      })
      .immediate();
  }

  private release(names: string[], id: number): void {
    for (const name of names) {
      if (this.locks.get(name) === id) this.locks.delete(name);
      this.deps.store.db
        .prepare('DELETE FROM locks WHERE name = ? AND job_id = ? AND pid = ?')
        .run(name, id, process.pid);
    }
  }

  /**
   * Inside a running job: waits for the lock on `name` (another job here or in another afsbot process
   * may hold it), then holds it until the returned function is called. The nightly run locks each
   * volume only while it dumps it.
   */
  async lockWithin(job: RunningJob, name: string): Promise<() => void> {
    let told = false;
    for (;;) {
      if (job.signal.aborted) throw new CancelledError();
      const mine = this.locks.get(name);
      const queuedForIt = this.queue.some((q) => this.live.get(q)?.spec.volumes.includes(name));
      if ((mine === undefined || mine === job.id) && !queuedForIt) {
        const other = this.claim([name], job.id);
        if (!other) {
          this.locks.set(name, job.id);
          return () => {
            this.release([name], job.id);
            this.pump(); // a job queued for this volume may start now
          };
        }
        if (!told)
          await job.say(`${name} is busy with job ${other.jobId} of process ${other.pid}; waiting for it`);
      } else if (!told) await job.say(`${name} is busy with job ${mine ?? 'queued'}; waiting for it`);
      told = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** Starts every queued job whose volumes are free, oldest first. */
  private pump(): void {
    let waitingOnOthers = false;
    for (const id of [...this.queue]) {
      const job = this.live.get(id)!;
      // A job waits for any older queued job that wants one of its volumes, so order is kept.
      const older = this.queue.slice(0, this.queue.indexOf(id));
      const blocked =
        job.spec.volumes.some((v) => this.locks.has(v)) ||
        older.some((o) => this.live.get(o)!.spec.volumes.some((v) => job.spec.volumes.includes(v)));
      if (blocked) continue;
      // Another afsbot process on this store (backup-manager, or the bot) may hold a volume.
      if (this.claim(job.spec.volumes, id)) {
        waitingOnOthers = true;
        continue;
      }
      this.queue.splice(this.queue.indexOf(id), 1);
      for (const v of job.spec.volumes) this.locks.set(v, id);
      job.promise = this.execute(id, job);
    }
    if (waitingOnOthers && !this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.pump();
      }, 1000);
    }
  }

  private handle(id: number, job: Live): RunningJob {
    return {
      id,
      signal: job.controller.signal,
      progress: (phase, bytes, total) => {
        job.phase = phase;
        job.bytes = bytes;
        if (total !== undefined) job.total = total;
        else delete job.total;
        const now = Date.now();
        if (now - job.lastEmit >= 1000) {
          job.lastEmit = now;
          this.deps.progress(job.spec.origin, this.snapshot(id, job, false));
        }
        if (now - job.lastSave >= (this.deps.saveProgressMs ?? 2000)) {
          job.lastSave = now;
          this.update(id, { progress: JSON.stringify(this.snapshot(id, job, false)) });
        }
      },
      say: (text) => this.deps.post(job.spec.origin, `job ${id}: ${text}`, { kind: 'job', jobId: id }),
      leftover: (what) => {
        job.leftovers.add(what);
        this.update(id, { leftovers: JSON.stringify([...job.leftovers]) });
      },
      settled: (what) => {
        job.leftovers.delete(what);
        this.update(id, { leftovers: JSON.stringify([...job.leftovers]) });
      },
    };
  }

  private snapshot(id: number, job: Live, final: boolean): ProgressUpdate {
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

  private async execute(id: number, job: Live): Promise<void> {
    job.started = Date.now();
    this.update(id, { status: 'running', started_at: new Date().toISOString() });
    const handle = this.handle(id, job);
    let status: JobStatus;
    let text: string;
    try {
      const report = await job.spec.run(handle);
      if (job.controller.signal.aborted) throw new CancelledError();
      status = 'ok';
      text = `job ${id} (${job.spec.title}) done: ${report}`;
      this.update(id, { result: report });
    } catch (err) {
      if (job.controller.signal.aborted || err instanceof CancelledError) {
        status = 'cancelled';
        let cleanup = '';
        try {
          cleanup = job.spec.onCancel ? await job.spec.onCancel(handle) : '';
        } catch (e) {
          cleanup = `cleaning up failed: ${(e as Error).message}`;
        }
        const left = [...job.leftovers];
        const rest = left.length
          ? ` Still left: ${left.join('; ')}`
          : cleanup
            ? ''
            : ' Nothing was left behind.';
        text = `job ${id} (${job.spec.title}) cancelled.${cleanup ? ` ${cleanup}` : ''}${rest}`;
        this.update(id, { result: text });
      } else if (err instanceof UserError) {
        status = 'failed';
        text = `job ${id} (${job.spec.title}) failed: ${err.message}`;
        this.update(id, { error: err.message });
      } else {
        status = 'failed';
        const e = err instanceof Error ? err : new Error(String(err));
        this.deps.log.error('job failed', { job: id, kind: job.spec.kind, error: e });
        text = `job ${id} (${job.spec.title}) failed: ${e.message} (ref job ${id})`;
        this.update(id, { error: e.stack ?? e.message });
      }
    }
    this.update(id, {
      status,
      ended_at: new Date().toISOString(),
      progress: JSON.stringify(this.snapshot(id, job, true)),
      leftovers: JSON.stringify([...job.leftovers]),
    });
    this.deps.progress(job.spec.origin, this.snapshot(id, job, true));
    this.release(job.spec.volumes, id);
    this.live.delete(id);
    this.pump();
    try {
      // Not forever: a chat that is down (an IRC reconnect) must not hold up shutdown; the result is in the store.
      await Promise.race([
        this.deps.post(job.spec.origin, text, {
          kind: 'job',
          jobId: id,
          final: status === 'ok' ? 'ok' : status === 'cancelled' ? 'cancelled' : 'failed',
        }),
        new Promise((r) => setTimeout(r, 30_000).unref()),
      ]);
    } catch (err) {
      this.deps.log.warn('could not post a job result', { job: id, error: err });
    }
  }

  /** Asks a job to stop. Returns what to tell the person who asked. */
  cancel(id: number): string {
    const job = this.live.get(id);
    if (!job) {
      const row = this.get(id);
      if (!row) throw new UserError(`there is no job ${id}; !jobs lists them`);
      throw new UserError(`job ${id} is not running (it is ${row.status})`);
    }
    const queued = this.queue.indexOf(id);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.live.delete(id);
      this.update(id, {
        status: 'cancelled',
        ended_at: new Date().toISOString(),
        result: 'cancelled before it started',
      });
      this.pump();
      return `job ${id} was still waiting; it will not run`;
    }
    job.controller.abort();
    return `cancelling job ${id} (${job.spec.title}); its result follows`;
  }

  /** Waits for every job, queued or running. */
  async drain(): Promise<void> {
    while (this.live.size > 0) {
      const running = [...this.live.values()].map((j) => j.promise).filter(Boolean);
      if (running.length > 0) await Promise.all(running);
      else if (this.queue.length > 0)
        await new Promise((r) => setTimeout(r, 500)); // waiting on another process
      else break;
    }
  }

  /** Cancels everything and waits (shutdown). */
  async stopAll(): Promise<void> {
    for (const id of [...this.queue]) this.cancel(id);
    clearTimeout(this.retry);
    for (const job of this.live.values()) job.controller.abort();
    await this.drain();
  }

  /**
   * At start: jobs the last process left queued or running were interrupted by its death. Marks them
   * so and returns them, with what they recorded as possibly left behind.
   */
  interrupted(): JobRow[] {
    const rows = (
      this.deps.store.db
        .prepare(`SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY id`)
        .all() as JobRow[]
    ).filter((r) => !this.isLive(r.id) && (r.pid === null || r.pid === process.pid || !processAlive(r.pid)));
    for (const r of rows) this.update(r.id, { status: 'interrupted', ended_at: new Date().toISOString() });
    return rows;
  }
}

/** Whether a process exists (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

class CancelledError extends Error {
  override readonly name = 'CancelledError';
}
