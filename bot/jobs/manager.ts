// Jobs: every command that runs vos becomes one. The answer comes at once ("job 12 started", with the
// job in the message's metadata), the work runs in the background, progress flows to the adapter that
// asked, and the result is posted when it ends. One lock per volume: a job whose volume is busy waits
// in line (or is refused) and says which job holds it. Jobs live in the database, so a restart finds
// the ones a crash interrupted.
import { Cancelled, sleep } from '../../actions/backoff.ts';
import type { MessageMeta, ProgressUpdate } from '../chat/adapter.ts';
import { UserError } from '../chat/errors.ts';
import type { Origin } from '../chat/router.ts';
import { formatDuration } from '../platform/format.ts';
import type { Logger } from '../platform/log.ts';
import { processAlive } from '../platform/process.ts';
import { type Asker, type JobSpec, type Live, originOf, progressOf, type RunningJob } from './job.ts';
import type { JobRow, JobStatus, JobsTable } from './jobs-table.ts';
import type { VolumeLocks } from './locks.ts';

export interface JobDeps {
  table: JobsTable;
  locks: VolumeLocks;
  log: Logger;
  /** Hands a line to the outbox; never waits for the chat. */
  post(origin: Origin, text: string, meta?: MessageMeta): void;
  progress(origin: Origin, update: ProgressUpdate): void;
  whenBusy: 'queue' | 'refuse';
  /** Longest a job waits for a volume lock (in line, or inside a running job), then fails naming the holder. */
  lockWaitMs?: number;
  /** Heavy jobs running at once. */
  maxHeavy?: number;
  /** How often running jobs save their progress to the database (for !job). */
  saveProgressMs?: number;
}

export class JobManager {
  private readonly live = new Map<number, Live>();
  private readonly queue: number[] = [];
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly deps: JobDeps) {}

  get(id: number): JobRow | undefined {
    return this.deps.table.get(id);
  }

  /** Jobs still going, then the last `recent` finished ones. */
  list(recent = 10): JobRow[] {
    return [...this.deps.table.active(), ...this.deps.table.ended(recent)];
  }

  /** The statuses of the jobs process `pid` created since `since` (ISO): a one-shot tool's exit status. */
  statusesOf(pid: number, since: string): JobStatus[] {
    return this.deps.table.statusesOf(pid, since);
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

  /** The job of this process holding a volume's lock, if any. */
  holder(volume: string): number | undefined {
    return this.deps.locks.localHolder(volume);
  }

  /**
   * Starts a job for a command and answers "job N started: <what>" (saying what it waits for, if
   * anything), with the job in the answer's metadata. Returns the job's id.
   */
  async start(asker: Asker, spec: Omit<JobSpec, 'origin'>, what: string): Promise<number> {
    const { id, waitingFor, heavyAhead } = this.submit({ ...spec, origin: originOf(asker) });
    const wait = waitingFor
      ? `; it waits for job ${waitingFor.job}${waitingFor.pid ? ` of afsbot process ${waitingFor.pid}` : ''}, which holds ${waitingFor.volume}`
      : heavyAhead
        ? `; it waits its turn: at most ${this.deps.maxHeavy} restores, extractions or fetches run at once (jobs.maxHeavy), and ${heavyAhead.length === 1 ? 'job' : 'jobs'} ${heavyAhead.join(', ')} ${heavyAhead.length === 1 ? 'is' : 'are'} running`
        : '';
    await asker.reply(`job ${id} started: ${what}${wait}`, { kind: 'job-started', jobId: id });
    return id;
  }

  /**
   * Creates the job and starts it, or queues it behind the job (here, or in another afsbot process)
   * that holds one of its volumes.
   */
  submit(spec: JobSpec): {
    id: number;
    waitingFor?: { job: number; volume: string; pid?: number };
    heavyAhead?: number[];
  } {
    const busyVolume = spec.volumes.find((v) => this.deps.locks.heldHere(v));
    const busy = busyVolume === undefined ? undefined : this.deps.locks.localHolder(busyVolume)!;
    if (busy !== undefined && this.deps.whenBusy === 'refuse') {
      const holder = this.get(busy);
      throw new UserError(
        `${spec.volumes.join(', ')} is busy with job ${busy} (${holder?.title}); try again when it is done, or !cancel ${busy}`,
      );
    }
    const id = this.deps.table.insert({
      kind: spec.kind,
      title: spec.title,
      volumes: spec.volumes,
      backend: spec.origin.backend,
      identity: spec.origin.identity,
      conversation: spec.origin.conversation,
    });
    this.live.set(id, {
      spec,
      queuedAt: Date.now(),
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
    if (busy !== undefined) return { id, waitingFor: { job: busy, volume: busyVolume! } };
    const other = this.queue.includes(id) ? this.deps.locks.heldElsewhere(spec.volumes) : undefined;
    if (other) return { id, waitingFor: other };
    if (spec.heavy && this.queue.includes(id)) {
      const ahead = [...this.live.entries()].filter(([, j]) => j.promise && j.spec.heavy).map(([n]) => n);
      if (ahead.length >= (this.deps.maxHeavy ?? Number.POSITIVE_INFINITY)) return { id, heavyAhead: ahead };
    }
    return { id };
  }

  /**
   * Inside a running job: waits for the lock on `name` (another job here or in another afsbot process
   * may hold it), then holds it until the returned function is called. The nightly run locks each
   * volume only while it dumps it.
   */
  async lockWithin(job: RunningJob, name: string): Promise<() => void> {
    const { locks } = this.deps;
    let told = false;
    const until = Date.now() + (this.deps.lockWaitMs ?? Number.POSITIVE_INFINITY);
    for (;;) {
      if (job.signal.aborted) throw new Cancelled();
      if (Date.now() > until)
        throw new Error(
          `${name} ${this.holderText(name)} for longer than ${formatDuration(this.deps.lockWaitMs!)}; gave up waiting`,
        );
      const mine = locks.localHolder(name);
      const queuedForIt = this.queue.some((q) => this.live.get(q)?.spec.volumes.includes(name));
      if ((mine === undefined || mine === job.id) && !queuedForIt) {
        const other = locks.claim([name], job.id);
        if (!other) {
          return () => {
            locks.release([name], job.id);
            this.pump(); // a job queued for this volume may start now
          };
        }
        if (!told)
          await job.say(`${name} is busy with job ${other.jobId} of process ${other.pid}; waiting for it`);
      } else if (!told) await job.say(`${name} is busy with job ${mine ?? 'queued'}; waiting for it`);
      told = true;
      await sleep(1000, job.signal);
    }
  }

  /** Starts every queued job whose volumes are free, oldest first. */
  /** Who holds a volume, in words: `is busy with job 12 (restore user.alice)` here or in another process. */
  private holderText(name: string): string {
    const mine = this.deps.locks.localHolder(name);
    const row = mine !== undefined ? this.get(mine) : undefined;
    if (row) return `is busy with job ${row.id} (${row.title})`;
    const other = this.deps.locks.holderOf(name);
    return other ? `is busy with job ${other.jobId} of process ${other.pid}` : 'was busy';
  }

  private running(heavy: boolean): number {
    return [...this.live.values()].filter((j) => j.promise && (j.spec.heavy ?? false) === heavy).length;
  }

  private pump(): void {
    let waitingOnOthers = false;
    for (const id of [...this.queue]) {
      const job = this.live.get(id)!;
      if (Date.now() - job.queuedAt > (this.deps.lockWaitMs ?? Number.POSITIVE_INFINITY)) {
        this.giveUp(id, job);
        continue;
      }
      if (job.spec.heavy && this.running(true) >= (this.deps.maxHeavy ?? Number.POSITIVE_INFINITY)) {
        waitingOnOthers = true; // a heavy job ends: pump runs again; the timer covers the rest
        continue;
      }
      // A job waits for any older queued job that wants one of its volumes, so order is kept.
      const older = this.queue.slice(0, this.queue.indexOf(id));
      const blocked =
        job.spec.volumes.some((v) => this.deps.locks.heldHere(v)) ||
        older.some((o) => this.live.get(o)!.spec.volumes.some((v) => job.spec.volumes.includes(v)));
      if (blocked) continue;
      // Another afsbot process on this database (backup-manager, or the bot) may hold a volume.
      if (this.deps.locks.claim(job.spec.volumes, id)) {
        waitingOnOthers = true;
        continue;
      }
      this.queue.splice(this.queue.indexOf(id), 1);
      job.promise = this.execute(id, job);
    }
    if ((waitingOnOthers || this.queue.length > 0) && !this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.pump();
      }, 1000);
    }
  }

  private handle(id: number, job: Live): RunningJob {
    const { table } = this.deps;
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
          this.deps.progress(job.spec.origin, progressOf(id, job, false));
        }
        if (now - job.lastSave >= (this.deps.saveProgressMs ?? 2000)) {
          job.lastSave = now;
          try {
            this.record(id, { progress: JSON.stringify(progressOf(id, job, false)) });
          } catch (err) {
            // progress is called from timers: a full disk here must not end the process; the job's
            // own writes will fail it with the reason
            this.deps.log.warn("could not save a job's progress", { job: id, error: err });
          }
        }
      },
      say: (text) => this.deps.post(job.spec.origin, `job ${id}: ${text}`, { kind: 'job', jobId: id }),
      leftover: (what) => {
        job.leftovers.add(what);
        table.update(id, { leftovers: JSON.stringify([...job.leftovers]) });
      },
      settled: (what) => {
        job.leftovers.delete(what);
        table.update(id, { leftovers: JSON.stringify([...job.leftovers]) });
      },
    };
  }

  /** Writes a job's state and never throws: with the database's disk full a job still ends (the next
   * start marks a row left 'running' interrupted; the outbox keeps lines in memory meanwhile). */
  private record(id: number, fields: Parameters<JobsTable['update']>[1]): void {
    try {
      this.deps.table.update(id, fields);
    } catch (err) {
      this.deps.log.error('a job state could not be written to the database', { job: id, error: err });
    }
  }

  private async execute(id: number, job: Live): Promise<void> {
    job.started = Date.now();
    this.record(id, { status: 'running', started_at: new Date().toISOString() });
    const handle = this.handle(id, job);
    let status: JobStatus;
    let text: string;
    try {
      const report = await job.spec.run(handle);
      if (job.controller.signal.aborted) throw new Cancelled();
      status = 'ok';
      text = `job ${id} (${job.spec.title}) done: ${report}`;
      this.record(id, { result: report });
    } catch (err) {
      if (job.controller.signal.aborted || err instanceof Cancelled) {
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
        this.record(id, { result: text });
      } else if (err instanceof UserError) {
        status = 'failed';
        text = `job ${id} (${job.spec.title}) failed: ${err.message}`;
        this.record(id, { error: err.message });
      } else {
        status = 'failed';
        const e = err instanceof Error ? err : new Error(String(err));
        this.deps.log.error('job failed', { job: id, kind: job.spec.kind, error: e });
        text = `job ${id} (${job.spec.title}) failed: ${e.message} (ref job ${id})`;
        this.record(id, { error: e.stack ?? e.message });
      }
    }
    this.record(id, {
      status,
      ended_at: new Date().toISOString(),
      progress: JSON.stringify(progressOf(id, job, true)),
      leftovers: JSON.stringify([...job.leftovers]),
    });
    this.deps.progress(job.spec.origin, progressOf(id, job, true));
    this.deps.locks.release(job.spec.volumes, id);
    this.live.delete(id);
    this.pump();
    this.deps.post(job.spec.origin, text, {
      kind: 'job',
      jobId: id,
      final: status === 'ok' ? 'ok' : status === 'cancelled' ? 'cancelled' : 'failed',
    });
  }

  /** A queued job that waited past lockWaitMs: it fails, naming what it waited for. */
  private giveUp(id: number, job: Live): void {
    const busy = job.spec.volumes.filter((v) => this.deps.locks.heldHere(v) || this.deps.locks.holderOf(v));
    const why = `it waited ${formatDuration(Date.now() - job.queuedAt)} in line and gave up: ${
      busy.map((v) => `${v} ${this.holderText(v)}`).join('; ') || 'the jobs ahead of it did not end'
    }. Nothing was done; ask again once that is over (!jobs shows it)`;
    this.queue.splice(this.queue.indexOf(id), 1);
    this.live.delete(id);
    this.record(id, { status: 'failed', ended_at: new Date().toISOString(), error: why });
    this.deps.post(job.spec.origin, `job ${id} (${job.spec.title}) failed: ${why}`, {
      kind: 'job',
      jobId: id,
      final: 'failed',
    });
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
      this.record(id, {
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
        await sleep(500); // waiting on another process
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

  /** At start: marks the jobs a dead process left queued or running as interrupted and returns them
   * (with what they recorded as possibly left behind). */
  interrupted(): JobRow[] {
    const rows = this.deps.table
      .active()
      .filter((r) => !this.isLive(r.id) && (r.pid === null || r.pid === process.pid || !processAlive(r.pid)));
    for (const r of rows)
      this.deps.table.update(r.id, { status: 'interrupted', ended_at: new Date().toISOString() });
    return rows;
  }
}
