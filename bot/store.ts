// The bot's memory: one SQLite file. Schema changes are numbered migrations applied in order at open,
// each in a transaction, tracked in PRAGMA user_version. WAL lets readers (the CLI) work while the bot
// writes.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Backend } from './chat.ts';

const migrations: string[] = [
  // 1: the audit trail. Every command the bot receives, refused or not.
  `CREATE TABLE audit (
     id        INTEGER PRIMARY KEY,
     time      TEXT    NOT NULL,
     backend   TEXT    NOT NULL,
     identity  TEXT,
     name      TEXT    NOT NULL,
     channel   TEXT    NOT NULL,
     text      TEXT    NOT NULL,
     command   TEXT,
     outcome   TEXT    NOT NULL CHECK (outcome IN ('pending','ok','refused','rejected','failed')),
     detail    TEXT
   );
   CREATE INDEX audit_time ON audit(time);`,
];

export type Outcome = 'pending' | 'ok' | 'refused' | 'rejected' | 'failed';

export interface AuditEntry {
  id: number;
  time: string;
  backend: Backend;
  identity: string | null;
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

export class Store {
  readonly db: Database.Database;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const from = this.schemaVersion;
    if (from > migrations.length) {
      throw new Error(
        `the store ${this.path} has schema version ${from}, newer than this afsbot knows (${migrations.length}): run a newer afsbot or restore an older copy of the store`,
      );
    }
    for (let v = from; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Records a received command; returns its id, which is also the "ref" shown for internal errors. */
  audit(entry: NewAuditEntry): number {
    const info = this.db
      .prepare(
        `INSERT INTO audit (time, backend, identity, name, channel, text, command, outcome, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        new Date().toISOString(),
        entry.backend,
        entry.identity,
        entry.name,
        entry.channel,
        entry.text,
        entry.command,
        entry.outcome ?? 'pending',
        entry.detail ?? null,
      );
    return Number(info.lastInsertRowid);
  }

  settleAudit(id: number, outcome: Outcome, detail: string | null): void {
    this.db.prepare('UPDATE audit SET outcome = ?, detail = ? WHERE id = ?').run(outcome, detail, id);
  }

  /** The newest `limit` entries, oldest first (the order a person reads a log in). */
  recentAudit(limit: number): AuditEntry[] {
    const rows = this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as AuditEntry[];
    return rows.reverse();
  }

  sizeBytes(): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return pages * size;
  }

  close(): void {
    this.db.close();
  }
}
