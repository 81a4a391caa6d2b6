// The dump catalog: one row per dump file, the thing !backup list and !restore read. It can always be
// rebuilt from the files (catalog-rescan.ts): each dump carries a sidecar, and its own header as a fallback.
import type { Sqlite } from '../platform/database.ts';

export interface DumpRow {
  id: number;
  volume: string;
  volume_id: number | null;
  clone_id: number | null;
  date: string;
  level: 'full' | 'incremental';
  kind: 'scheduled' | 'pre-promote' | 'legacy' | 'databases';
  clone_time: number | null;
  base_clone_time: number | null;
  raw_bytes: number | null;
  stored_bytes: number;
  sha256: string | null;
  location: string;
  created_at: string;
  job_id: number | null;
  /** Where it is in the restic archive (null: not archived yet). */
  archive_snapshot: string | null;
  archive_path: string | null;
  archived_at: string | null;
  /** 1 while the local file is there; 0 once retention removed it (then only the archive has it). */
  local: number;
  /** The clone's file count and disk use (KiB) when dumped, from vos examine. */
  files: number | null;
  disk_kb: number | null;
  /** 1 while its snapshot is being forgotten (a crash then is finished, not reported as a loss). */
  forgetting: number;
}

export type NewDump = Omit<
  DumpRow,
  | 'id'
  | 'created_at'
  | 'archive_snapshot'
  | 'archive_path'
  | 'archived_at'
  | 'local'
  | 'files'
  | 'disk_kb'
  | 'forgetting'
> & { files?: number | null; disk_kb?: number | null };

export interface DateSummary {
  date: string;
  volumes: number;
  full: number;
  incremental: number;
  legacy: number;
  bytes: number;
}

/** A dump a test restore can check: a scheduled one, archived, with its file count recorded. */
const TESTABLE = `kind = 'scheduled' AND archive_snapshot IS NOT NULL AND files IS NOT NULL`;

export class Catalog {
  constructor(private readonly db: Sqlite) {}

  add(d: NewDump): number {
    const r = this.db
      .prepare(
        `INSERT INTO dumps (volume, volume_id, clone_id, date, level, kind, clone_time, base_clone_time, raw_bytes,
                            stored_bytes, sha256, location, created_at, job_id, files, disk_kb)
         VALUES (@volume, @volume_id, @clone_id, @date, @level, @kind, @clone_time, @base_clone_time, @raw_bytes,
                 @stored_bytes, @sha256, @location, @created_at, @job_id, @files, @disk_kb)
         ON CONFLICT(location) DO UPDATE SET volume=excluded.volume, volume_id=excluded.volume_id,
           clone_id=excluded.clone_id, date=excluded.date, level=excluded.level, kind=excluded.kind,
           clone_time=excluded.clone_time, base_clone_time=excluded.base_clone_time, raw_bytes=excluded.raw_bytes,
           stored_bytes=excluded.stored_bytes, sha256=excluded.sha256, local=1,
           files=COALESCE(excluded.files, files), disk_kb=COALESCE(excluded.disk_kb, disk_kb)`,
      )
      .run({ files: null, disk_kb: null, ...d, created_at: new Date().toISOString() });
    return Number(r.lastInsertRowid);
  }

  dates(): DateSummary[] {
    return this.db
      .prepare(
        `SELECT date, COUNT(DISTINCT volume) AS volumes,
                SUM(level = 'full' AND kind IN ('scheduled','pre-promote')) AS full,
                SUM(level = 'incremental') AS incremental,
                SUM(kind IN ('legacy','databases')) AS legacy,
                SUM(stored_bytes) AS bytes
         FROM dumps GROUP BY date ORDER BY date DESC`,
      )
      .all() as DateSummary[];
  }

  onDate(date: string): DumpRow[] {
    return this.db
      .prepare('SELECT * FROM dumps WHERE date = ? ORDER BY volume, level, clone_time')
      .all(date) as DumpRow[];
  }

  /** Every volume the catalog has a dump of. */
  volumes(): string[] {
    return (
      this.db.prepare('SELECT DISTINCT volume FROM dumps ORDER BY volume').all() as { volume: string }[]
    ).map((r) => r.volume);
  }

  forVolume(volume: string): DumpRow[] {
    return this.db
      .prepare('SELECT * FROM dumps WHERE volume = ? ORDER BY date, clone_time')
      .all(volume) as DumpRow[];
  }

  byLocation(location: string): DumpRow | undefined {
    return this.db.prepare('SELECT * FROM dumps WHERE location = ?').get(location) as DumpRow | undefined;
  }

  /** Dumps with a local file that are not in the archive yet, oldest first. */
  unarchived(): DumpRow[] {
    return this.db
      .prepare(
        `SELECT * FROM dumps WHERE archive_snapshot IS NULL AND local = 1 AND kind IN ('scheduled','pre-promote')
         ORDER BY date, id`,
      )
      .all() as DumpRow[];
  }

  /** Every dump the catalog says has a local file (of the dump store, not the legacy directory). */
  localRows(): DumpRow[] {
    return this.db
      .prepare(`SELECT * FROM dumps WHERE local = 1 AND kind IN ('scheduled','pre-promote')`)
      .all() as DumpRow[];
  }

  /** Every dump the catalog places in the archive. */
  archivedRows(): DumpRow[] {
    return this.db.prepare('SELECT * FROM dumps WHERE archive_snapshot IS NOT NULL').all() as DumpRow[];
  }

  /** The archive does not have it after all: with its local file, it is archived again next night. */
  unarchive(id: number): void {
    this.db
      .prepare(
        'UPDATE dumps SET archive_snapshot = NULL, archive_path = NULL, archived_at = NULL WHERE id = ?',
      )
      .run(id);
  }

  /** A dump that exists nowhere any more. */
  remove(id: number): void {
    this.db.prepare('DELETE FROM dumps WHERE id = ?').run(id);
  }

  /** Marks a dump's local file as removed (retention): from now on it is read from the archive. */
  markRemoved(id: number): void {
    this.db.prepare('UPDATE dumps SET local = 0 WHERE id = ?').run(id);
  }

  /** The newest full dump of a volume (any date), for the base of an incremental. */
  newestFull(volume: string): DumpRow | undefined {
    return this.db
      .prepare(
        `SELECT * FROM dumps WHERE volume = ? AND level = 'full' AND kind = 'scheduled' AND clone_time IS NOT NULL
         ORDER BY clone_time DESC LIMIT 1`,
      )
      .get(volume) as DumpRow | undefined;
  }

  /**
   * The dump chain that restores `volume` as of `date` (or its newest dump): the newest dump on or
   * before that date (a volume the nightly run found unchanged has none on the date itself), and when
   * that is an incremental, the full it is relative to. Returns a reason when there is none.
   */
  chain(volume: string, date?: string): { links: DumpRow[] } | { error: string } {
    const all = this.forVolume(volume).filter((d) => d.kind !== 'databases');
    if (all.length === 0)
      return { error: `there are no dumps of ${volume}; !backup list shows the dates that have dumps` };
    const candidates = date ? all.filter((d) => d.date <= date) : all;
    if (candidates.length === 0) {
      const dates = [...new Set(all.map((d) => d.date))].slice(-5).reverse();
      return {
        error: `there is no dump of ${volume} on or before ${date}; its newest dates are ${dates.join(', ')}`,
      };
    }
    const last = candidates.reduce((a, b) => ((b.clone_time ?? 0) >= (a.clone_time ?? 0) ? b : a));
    if (last.level === 'full') return { links: [last] };
    const base = all.find(
      (d) => d.level === 'full' && d.clone_time !== null && d.clone_time === last.base_clone_time,
    );
    if (!base) {
      return {
        error: `the chain of ${volume} on ${last.date} is broken: its incremental is relative to a full dump of ${new Date((last.base_clone_time ?? 0) * 1000).toISOString()} that is not in the catalog (!backup rescan, or restore an earlier full date)`,
      };
    }
    return { links: [base, last] };
  }

  /** Each volume's newest good dump (scheduled or a safety dump): its clone time and date. */
  newestPerVolume(): { volume: string; clone_time: number; date: string }[] {
    return this.db
      .prepare(
        `SELECT volume, MAX(clone_time) AS clone_time, date FROM dumps
         WHERE kind IN ('scheduled','pre-promote') AND clone_time IS NOT NULL GROUP BY volume ORDER BY volume`,
      )
      .all() as { volume: string; clone_time: number; date: string }[];
  }

  /** How many dumps went to the archive (a repository that vanished after that must not be re-made). */
  archivedCount(): number {
    return (
      this.db.prepare('SELECT COUNT(*) AS n FROM dumps WHERE archive_snapshot IS NOT NULL').get() as {
        n: number;
      }
    ).n;
  }

  /** Records that these dumps are in snapshot `snapshot` of the archive, each under its own path. */
  /** These dumps are in `snapshot`, each under its path there (restic: its location; borg: <date>/<name>). */
  markArchived(rows: DumpRow[], snapshot: string, at: string, paths?: string[]): void {
    const set = this.db.prepare(
      'UPDATE dumps SET archive_snapshot = ?, archive_path = ?, archived_at = ? WHERE id = ?',
    );
    this.db.transaction(() => {
      for (const [i, row] of rows.entries()) set.run(snapshot, paths?.[i] ?? row.location, at, row.id);
    })();
  }

  /** Scheduled dumps with a local file from before `cutoff` (YYYY.MM.DD), oldest first: retention's candidates. */
  localScheduledBefore(cutoff: string): DumpRow[] {
    return this.db
      .prepare(`SELECT * FROM dumps WHERE local = 1 AND kind = 'scheduled' AND date < ? ORDER BY date`)
      .all(cutoff) as DumpRow[];
  }

  /** Archived dumps that the keep policy judges (scheduled ones and pre-promote safety dumps). */
  archivedChains(): DumpRow[] {
    return this.db
      .prepare(
        `SELECT * FROM dumps WHERE archive_snapshot IS NOT NULL AND kind IN ('scheduled','pre-promote')`,
      )
      .all() as DumpRow[];
  }

  /** Before restic forget: these dumps' snapshots are going, on purpose. */
  markForgetting(rows: DumpRow[]): void {
    const set = this.db.prepare('UPDATE dumps SET forgetting = 1 WHERE id = ?');
    this.db.transaction(() => {
      for (const d of rows) set.run(d.id);
    })();
  }

  /** A forget that did not happen after all (restic failed): the dumps stay as they were. */
  clearForgetting(): void {
    this.db.prepare('UPDATE dumps SET forgetting = 0 WHERE forgetting = 1').run();
  }

  /** After forget: a dump with a local file is no longer archived; one without is gone. */
  forgotten(rows: DumpRow[]): void {
    this.db.transaction(() => {
      for (const d of rows) {
        if (d.local)
          this.db
            .prepare(
              'UPDATE dumps SET archive_snapshot = NULL, archive_path = NULL, archived_at = NULL, forgetting = 0 WHERE id = ?',
            )
            .run(d.id);
        else this.db.prepare('DELETE FROM dumps WHERE id = ?').run(d.id);
      }
    })();
  }

  /** Volumes with an archived scheduled dump whose file count was recorded: what a test restore can check. */
  testableVolumes(): string[] {
    return (
      this.db.prepare(`SELECT DISTINCT volume FROM dumps WHERE ${TESTABLE}`).all() as { volume: string }[]
    ).map((r) => r.volume);
  }

  /** The newest date with a testable dump of `volume` (the archive holds that night's chain). */
  newestTestableDate(volume: string): string | undefined {
    const row = this.db
      .prepare(`SELECT MAX(date) AS date FROM dumps WHERE volume = ? AND ${TESTABLE}`)
      .get(volume) as { date: string | null };
    return row.date ?? undefined;
  }

  /**
   * Makes the catalog what a scan of the files found: rows whose file is gone are dropped, unless the
   * archive has them (then they are read from the archive from now on); found files are added or
   * refreshed. Returns how many rows were added and removed.
   */
  replaceFromScan(found: NewDump[]): { added: number; removed: number } {
    const db = this.db;
    const count = () => (db.prepare('SELECT COUNT(*) AS n FROM dumps').get() as { n: number }).n;
    const before = count();
    const keep = new Set(found.map((f) => f.location));
    let removed = 0;
    db.transaction(() => {
      for (const row of db.prepare('SELECT id, location, archive_snapshot FROM dumps').all() as {
        id: number;
        location: string;
        archive_snapshot: string | null;
      }[]) {
        if (keep.has(row.location)) continue;
        if (row.archive_snapshot) db.prepare('UPDATE dumps SET local = 0 WHERE id = ?').run(row.id);
        else {
          db.prepare('DELETE FROM dumps WHERE id = ?').run(row.id);
          removed++;
        }
      }
      for (const f of found) {
        const existing = this.byLocation(f.location);
        this.add({
          ...f,
          job_id: existing?.job_id ?? null,
          sha256: f.sha256 ?? existing?.sha256 ?? null,
          raw_bytes: f.raw_bytes ?? existing?.raw_bytes ?? null,
        });
      }
    })();
    return { added: Math.max(0, count() - (before - removed)), removed };
  }
}
