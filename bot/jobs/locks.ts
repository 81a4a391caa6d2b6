// Volume locks shared by every afsbot process on one database (the bot and backup-manager): a row per
// held name (a volume, or @archive for the archive's own jobs) with the job and the process holding
// it. A lock whose process is dead is taken over. This process also keeps its own holders in memory,
// so that the queue can tell which of its jobs waits for which.
import { faultPoint } from '../../actions/faults.ts';
import type { Sqlite } from '../platform/database.ts';
import { processAlive } from '../platform/process.ts';

export interface Holder {
  jobId: number;
  pid: number;
  since: string;
}

export class VolumeLocks {
  private readonly mine = new Map<string, number>();

  constructor(private readonly db: Sqlite) {}

  /** The job of this process holding `name`, if any. */
  localHolder(name: string): number | undefined {
    return this.mine.get(name);
  }

  /** Whether this process holds `name` for any job. */
  heldHere(name: string): boolean {
    return this.mine.has(name);
  }

  /**
   * Takes `names` for job `id`, all or none, unless another live afsbot process holds one. Returns
   * that holder when it cannot.
   */
  claim(names: string[], id: number): Holder | undefined {
    const other = this.db
      .transaction((): Holder | undefined => {
        for (const name of names) {
          const row = this.db.prepare('SELECT job_id, pid, since FROM locks WHERE name = ?').get(name) as
            | { job_id: number; pid: number; since: string }
            | undefined;
          if (row && row.pid !== process.pid && processAlive(row.pid))
            return { jobId: row.job_id, pid: row.pid, since: row.since };
        }
        for (const name of names) {
          this.db
            .prepare(
              'INSERT INTO locks (name, job_id, pid, since) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET job_id = excluded.job_id, pid = excluded.pid, since = excluded.since',
            )
            .run(name, id, process.pid, new Date().toISOString());
        }
        return undefined;
      })
      .immediate();
    if (!other) for (const name of names) this.mine.set(name, id);
    if (!other) for (const name of names) faultPoint(`lock:${name}`); // a test's real holder stops here
    return other;
  }

  /** Who holds `name` in the database (any process), if anyone. */
  holderOf(name: string): Holder | undefined {
    const row = this.db.prepare('SELECT job_id, pid, since FROM locks WHERE name = ?').get(name) as
      | { job_id: number; pid: number; since: string }
      | undefined;
    return row && processAlive(row.pid) ? { jobId: row.job_id, pid: row.pid, since: row.since } : undefined;
  }

  /** The first of `names` that another live afsbot process holds, with its holder's job and pid. */
  heldElsewhere(names: string[]): { job: number; volume: string; pid: number } | undefined {
    for (const volume of names) {
      const h = this.holderOf(volume);
      if (h && h.pid !== process.pid) return { job: h.jobId, volume, pid: h.pid };
    }
    return undefined;
  }

  /**
   * Lets go of `names`. Never throws: a job ends even when the database cannot be written (its disk
   * full); the row is then deleted as soon as it can be, retried every two seconds.
   */
  release(names: string[], id: number): void {
    const drop = (name: string) =>
      this.db
        .prepare('DELETE FROM locks WHERE name = ? AND job_id = ? AND pid = ?')
        .run(name, id, process.pid);
    for (const name of names) {
      if (this.mine.get(name) === id) this.mine.delete(name);
      try {
        drop(name);
      } catch {
        const retry = setInterval(() => {
          try {
            drop(name);
            clearInterval(retry);
          } catch {
            // still full: next time
          }
        }, 2000);
        retry.unref();
      }
    }
  }
}
