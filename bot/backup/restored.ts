// The volumes afsbot itself restored: the only ones it will ever remove, rename or mount.
import type { Sqlite } from '../platform/database.ts';

export interface RestoredRow {
  name: string;
  volume_id: number | null;
  source: string;
  date: string;
  state: 'restoring' | 'restored' | 'discarded';
  job_id: number;
  created_at: string;
  mount_path: string | null;
  discarded_at: string | null;
}

export class RestoredVolumes {
  constructor(private readonly db: Sqlite) {}

  get(name: string): RestoredRow | undefined {
    return this.db.prepare('SELECT * FROM restored_volumes WHERE name = ?').get(name) as
      | RestoredRow
      | undefined;
  }

  /** Records, once the job's own vos create made it and before any data goes in, that this job is making `name`. */
  begin(name: string, source: string, date: string, jobId: number, volumeId: number): void {
    this.db
      .prepare(
        `INSERT INTO restored_volumes (name, volume_id, source, date, state, job_id, created_at)
         VALUES (?, ?, ?, ?, 'restoring', ?, ?)
         ON CONFLICT(name) DO UPDATE SET volume_id = excluded.volume_id, source = excluded.source, date = excluded.date,
           state = 'restoring', job_id = excluded.job_id, created_at = excluded.created_at, mount_path = NULL,
           discarded_at = NULL`,
      )
      .run(name, volumeId, source, date, jobId, new Date().toISOString());
  }

  finish(name: string, volumeId: number): void {
    this.db
      .prepare(`UPDATE restored_volumes SET state = 'restored', volume_id = ? WHERE name = ?`)
      .run(volumeId, name);
  }

  discarded(name: string): void {
    this.db
      .prepare(
        `UPDATE restored_volumes SET state = 'discarded', discarded_at = ?, mount_path = NULL WHERE name = ?`,
      )
      .run(new Date().toISOString(), name);
  }

  setMount(name: string, path: string | null): void {
    this.db.prepare('UPDATE restored_volumes SET mount_path = ? WHERE name = ?').run(path, name);
  }
}
