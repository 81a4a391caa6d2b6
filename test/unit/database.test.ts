import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Database } from '../../bot/platform/database.ts';

// the database keeps the audit trail, every private message the bot was sent among it
const dir = mkdtempSync(join(tmpdir(), 'afsbot-db-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const modeOf = (f: string) => (statSync(f).mode & 0o777).toString(8);

describe('the database file', () => {
  it('is made readable by its owner alone, with its -wal and -shm files, whatever the umask', () => {
    const old = process.umask(0o022);
    try {
      const path = join(dir, 'new', 'afsbot.db');
      const db = new Database(path);
      db.db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)'); // so the WAL holds something
      expect([path, `${path}-wal`, `${path}-shm`].map(modeOf)).toEqual(['600', '600', '600']);
      expect(modeOf(join(dir, 'new'))).toBe('700');
      db.db.close();
    } finally {
      process.umask(old);
    }
  });

  it('an older file that others could read is put right at open', () => {
    const path = join(dir, 'old.db');
    new Database(path).db.close();
    chmodSync(path, 0o644);
    expect(modeOf(path)).toBe('644');
    const db = new Database(path);
    expect(modeOf(path)).toBe('600');
    db.db.close();
  });
});
