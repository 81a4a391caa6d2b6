// The maintenance_runs table: the result of every forget, check and test restore, which the next
// nightly report shows and the check's subset rotation counts.
import type { Sqlite } from '../../platform/database.ts';

export type MaintenanceKind = 'forget' | 'check' | 'test-restore';

export interface MaintenanceRow {
  kind: MaintenanceKind;
  started_at: string;
  ended_at: string;
  ok: number;
  summary: string;
}

export class MaintenanceRuns {
  constructor(private readonly db: Sqlite) {}

  record(kind: MaintenanceKind, started: Date, ok: boolean, summary: string): void {
    this.db
      .prepare(
        'INSERT INTO maintenance_runs (kind, started_at, ended_at, ok, summary) VALUES (?, ?, ?, ?, ?)',
      )
      .run(kind, started.toISOString(), new Date().toISOString(), ok ? 1 : 0, summary);
  }

  /** The newest result of each kind. */
  latest(): MaintenanceRow[] {
    return this.db
      .prepare(
        `SELECT kind, started_at, ended_at, ok, summary FROM maintenance_runs m
         WHERE id = (SELECT MAX(id) FROM maintenance_runs WHERE kind = m.kind) ORDER BY kind`,
      )
      .all() as MaintenanceRow[];
  }

  /** Whether the newest forget forgot snapshots and its prune never finished (the process died, or prune failed). */
  pruneOwed(): boolean {
    const last = this.db
      .prepare(`SELECT ok, summary FROM maintenance_runs WHERE kind = 'forget' ORDER BY id DESC LIMIT 1`)
      .get() as { ok: number; summary: string } | undefined;
    return last !== undefined && last.ok === 0 && /snapshots forgotten/.test(last.summary);
  }

  /** How many checks succeeded so far: the next one reads the subset after. */
  okChecks(): number {
    return (
      this.db.prepare(`SELECT COUNT(*) AS n FROM maintenance_runs WHERE kind = 'check' AND ok = 1`).get() as {
        n: number;
      }
    ).n;
  }
}
