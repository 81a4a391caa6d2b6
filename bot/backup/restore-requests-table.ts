// The restore_requests table: restores users asked for, who asked, what, where it was put, until when.
import type { Origin } from '../jobs/job.ts';
import type { Sqlite } from '../platform/database.ts';

export interface RequestRow {
  id: number;
  approval_id: number | null;
  backend: string;
  identity: string;
  afs_user: string;
  origin: string;
  volume: string;
  path: string;
  date: string;
  staging: string;
  mount_path: string | null;
  state: 'restoring' | 'ready' | 'failed' | 'expired';
  job_id: number | null;
  created_at: string;
  expires_at: string | null;
  ended_at: string | null;
}

export class RestoreRequests {
  constructor(private readonly db: Sqlite) {}

  create(r: {
    approvalId: number | null;
    origin: Origin;
    afsUser: string;
    volume: string;
    path: string;
    date: string;
    prefix: string;
    at: Date;
  }): RequestRow {
    return this.db.transaction(() => {
      const id = Number(
        this.db
          .prepare(
            `INSERT INTO restore_requests (approval_id, backend, identity, afs_user, origin, volume, path, date, staging, state, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', 'restoring', ?)`,
          )
          .run(
            r.approvalId,
            r.origin.backend,
            r.origin.identity ?? '',
            r.afsUser,
            JSON.stringify(r.origin),
            r.volume,
            r.path,
            r.date,
            r.at.toISOString(),
          ).lastInsertRowid,
      );
      this.db.prepare('UPDATE restore_requests SET staging = ? WHERE id = ?').run(`${r.prefix}${id}`, id);
      return this.get(id)!;
    })();
  }

  get(id: number): RequestRow | undefined {
    return this.db.prepare('SELECT * FROM restore_requests WHERE id = ?').get(id) as RequestRow | undefined;
  }

  update(
    id: number,
    f: Partial<Pick<RequestRow, 'state' | 'mount_path' | 'job_id' | 'expires_at' | 'ended_at'>>,
  ): void {
    const keys = Object.keys(f);
    this.db
      .prepare(`UPDATE restore_requests SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`)
      .run({ ...f, id });
  }

  /** A user's requests that still hold a staging volume (or are making one). */
  open(backend: string, identity: string): RequestRow[] {
    return this.db
      .prepare(
        "SELECT * FROM restore_requests WHERE backend = ? AND identity = ? AND state IN ('restoring','ready') ORDER BY id",
      )
      .all(backend, identity) as RequestRow[];
  }

  /** Ready requests whose time is up at `now`. */
  due(now: Date): RequestRow[] {
    return this.db
      .prepare("SELECT * FROM restore_requests WHERE state = 'ready' AND expires_at <= ? ORDER BY id")
      .all(now.toISOString()) as RequestRow[];
  }
}
