// The jobs table: one row per job, so that !jobs and !job read it, another afsbot process sees what
// this one runs, and a restart finds what a crash interrupted.
import type { Backend } from '../chat/adapter.ts';
import { type Sqlite, updateRow } from '../platform/database.ts';

export type JobStatus = 'queued' | 'running' | 'ok' | 'failed' | 'cancelled' | 'interrupted';

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

export class JobsTable {
  constructor(private readonly db: Sqlite) {}

  insert(j: {
    kind: string;
    title: string;
    volumes: string[];
    backend: Backend;
    identity: string | null;
    conversation: unknown;
  }): number {
    const r = this.db
      .prepare(
        `INSERT INTO jobs (kind, title, volumes, backend, identity, conversation, status, created_at, leftovers, pid)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, '[]', ?)`,
      )
      .run(
        j.kind,
        j.title,
        JSON.stringify(j.volumes),
        j.backend,
        j.identity,
        JSON.stringify(j.conversation),
        new Date().toISOString(),
        process.pid,
      );
    return Number(r.lastInsertRowid);
  }

  update(id: number, fields: Partial<Omit<JobRow, 'id'>>): void {
    updateRow(this.db, 'jobs', id, fields);
  }

  get(id: number): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  }

  /** Rows still queued or running (in this process or any other, or left so by a dead one). */
  active(): JobRow[] {
    return this.db
      .prepare(`SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY id`)
      .all() as JobRow[];
  }

  /** The last `n` jobs that ended, newest first. */
  ended(n: number): JobRow[] {
    return this.db
      .prepare(`SELECT * FROM jobs WHERE status NOT IN ('queued','running') ORDER BY id DESC LIMIT ?`)
      .all(n) as JobRow[];
  }

  /** The statuses of the jobs process `pid` created since `since` (ISO): a one-shot tool's exit status. */
  statusesOf(pid: number, since: string): JobStatus[] {
    return (
      this.db.prepare('SELECT status FROM jobs WHERE pid = ? AND created_at >= ?').all(pid, since) as {
        status: JobStatus;
      }[]
    ).map((r) => r.status);
  }
}
