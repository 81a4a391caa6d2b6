// The audit trail: every command the bot receives, from anyone, refused or not, with what became of it.
// Written before the command runs (outcome 'pending') and settled after, so a crash in the middle
// still leaves the line.
import type { Sqlite } from '../platform/database.ts';
import type { Backend } from './adapter.ts';

export type Outcome = 'pending' | 'ok' | 'refused' | 'rejected' | 'failed';

export interface AuditEntry {
  id: number;
  time: string;
  backend: Backend;
  identity: string | null;
  /** The admin (person) behind the identity; null for anyone else. */
  person: string | null;
  name: string;
  channel: string;
  text: string;
  command: string | null;
  outcome: Outcome;
  detail: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'time' | 'outcome' | 'detail'> & {
  outcome?: Outcome;
  detail?: string | null;
};

export class AuditLog {
  constructor(private readonly db: Sqlite) {}

  /** Records a received command; returns its id, which is also the "ref" shown for internal errors. */
  record(entry: NewAuditEntry): number {
    const info = this.db
      .prepare(
        `INSERT INTO audit (time, backend, identity, person, name, channel, text, command, outcome, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        new Date().toISOString(),
        entry.backend,
        entry.identity,
        entry.person,
        entry.name,
        entry.channel,
        entry.text,
        entry.command,
        entry.outcome ?? 'pending',
        entry.detail ?? null,
      );
    return Number(info.lastInsertRowid);
  }

  settle(id: number, outcome: Outcome, detail: string | null): void {
    this.db.prepare('UPDATE audit SET outcome = ?, detail = ? WHERE id = ?').run(outcome, detail, id);
  }

  /** The newest `limit` entries, oldest first (the order a person reads a log in). */
  recent(limit: number): AuditEntry[] {
    const rows = this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as AuditEntry[];
    return rows.reverse();
  }

  /** The newest entry from `backend` since `since` (ISO), for a one-shot tool's exit status. */
  lastSince(backend: Backend, since: string): AuditEntry | undefined {
    return this.db
      .prepare('SELECT * FROM audit WHERE backend = ? AND time >= ? ORDER BY id DESC LIMIT 1')
      .get(backend, since) as AuditEntry | undefined;
  }
}
