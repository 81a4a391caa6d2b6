// The nightly_runs table: one row per run with its stats and report, for !nightly report, !nightly
// status, the trend in the next report, and the dead man's switch.
import type { Sqlite } from '../../platform/database.ts';
import type { NightlyStats } from './stats.ts';

export interface RunRow {
  id: number;
  date: string;
  started_at: string;
  ended_at: string;
  report: string;
  ok: number | null;
  stats: string;
}

export class NightlyRuns {
  constructor(private readonly db: Sqlite) {}

  insert(st: NightlyStats, report: string, ok: boolean): void {
    this.db
      .prepare(
        'INSERT INTO nightly_runs (date, dry_run, started_at, ended_at, stats, report, archived_bytes, ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        st.date,
        st.dryRun ? 1 : 0,
        st.startedAt,
        st.endedAt ?? new Date().toISOString(),
        JSON.stringify(st),
        report,
        st.dryRun ? null : st.archive.added,
        st.dryRun ? null : ok ? 1 : 0,
      );
  }

  /** The newest real run that was OK. */
  lastOk(): RunRow | undefined {
    return this.db
      .prepare('SELECT * FROM nightly_runs WHERE dry_run = 0 AND ok = 1 ORDER BY id DESC LIMIT 1')
      .get() as RunRow | undefined;
  }

  /** The first real run ever (the switch counts from it while no run has been OK). */
  first(): RunRow | undefined {
    return this.db.prepare('SELECT * FROM nightly_runs WHERE dry_run = 0 ORDER BY id LIMIT 1').get() as
      | RunRow
      | undefined;
  }

  /** When an alert of `kind` was last raised. */
  lastAlert(kind: string): Date | undefined {
    const r = this.db.prepare('SELECT last_at FROM alerts WHERE kind = ?').get(kind) as
      | { last_at: string }
      | undefined;
    return r ? new Date(r.last_at) : undefined;
  }

  alerted(kind: string, at: Date, text: string): void {
    this.db
      .prepare(
        'INSERT INTO alerts (kind, last_at, text) VALUES (?, ?, ?) ON CONFLICT(kind) DO UPDATE SET last_at = excluded.last_at, text = excluded.text',
      )
      .run(kind, at.toISOString(), text);
  }

  clearAlert(kind: string): void {
    this.db.prepare('DELETE FROM alerts WHERE kind = ?').run(kind);
  }

  /** Bytes archived by the last `n` real runs, oldest first. */
  archivedTrend(n: number): number[] {
    return (
      this.db
        .prepare(
          'SELECT archived_bytes FROM nightly_runs WHERE dry_run = 0 AND archived_bytes IS NOT NULL ORDER BY id DESC LIMIT ?',
        )
        .all(n) as { archived_bytes: number }[]
    )
      .map((r) => r.archived_bytes)
      .reverse();
  }

  /** The newest real run, or the newest of `date`. */
  last(date?: string): RunRow | undefined {
    return (
      date
        ? this.db
            .prepare('SELECT * FROM nightly_runs WHERE date = ? AND dry_run = 0 ORDER BY id DESC LIMIT 1')
            .get(date)
        : this.db.prepare('SELECT * FROM nightly_runs WHERE dry_run = 0 ORDER BY id DESC LIMIT 1').get()
    ) as RunRow | undefined;
  }

  /** The newest real run started since `since` (ISO): a one-shot tool's verdict. */
  startedSince(since: string): RunRow | undefined {
    return this.db
      .prepare('SELECT * FROM nightly_runs WHERE dry_run = 0 AND started_at >= ? ORDER BY id DESC LIMIT 1')
      .get(since) as RunRow | undefined;
  }

  /** The newest dates that have a report. */
  dates(n: number): string[] {
    return (
      this.db
        .prepare('SELECT DISTINCT date FROM nightly_runs WHERE dry_run = 0 ORDER BY date DESC LIMIT ?')
        .all(n) as { date: string }[]
    ).map((r) => r.date);
  }
}
