// The bot's database: one SQLite file (config `databasePath`), shared by every afsbot process on the
// machine (the bot and backup-manager). WAL lets readers work while the bot writes. Each table has one
// class that owns its SQL, in the room it belongs to (the catalog in backup/, the audit trail in chat/,
// ...); this class only opens the file, applies the migrations and answers for the file as a whole.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { migrations } from './migrations.ts';

export type Sqlite = BetterSqlite3.Database;

export class Database {
  readonly db: Sqlite;

  constructor(readonly path: string) {
    // the audit trail keeps every private message the bot was sent: only its owner may read the file.
    // Made 0600 before SQLite opens it (SQLite gives the -wal and -shm files the database's mode); an
    // older file is put right.
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      closeSync(openSync(path, 'a', 0o600));
      for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    }
    this.db = new BetterSqlite3(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    if (path !== ':memory:')
      for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const from = this.schemaVersion;
    if (from > migrations.length) {
      throw new Error(
        `the database ${this.path} has schema version ${from}, newer than this afsbot knows (${migrations.length}): run a newer afsbot or restore an older copy of the database`,
      );
    }
    for (let v = from; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
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

/**
 * UPDATE of the given columns of one row by id. Column names come from code, never from input; the
 * table classes use it for their partial updates.
 */
export function updateRow(db: Sqlite, table: string, id: number, fields: Record<string, unknown>): void {
  const keys = Object.keys(fields);
  if (keys.length === 0) return;
  db.prepare(`UPDATE ${table} SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({
    ...fields,
    id,
  });
}
