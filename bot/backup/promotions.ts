// The promotions table: one row per promotion, with its journal (each step recorded before and after
// it runs), so that a crash anywhere leaves a record of exactly where it stopped.
import type { Conversation } from '../chat/adapter.ts';
import type { Origin } from '../jobs/job.ts';
import type { Sqlite } from '../platform/database.ts';

export type PromotionState = 'running' | 'interrupted' | 'done' | 'failed' | 'rolled-back';

export interface JournalEntry {
  step: number;
  event: 'start' | 'done' | 'note';
  at: string;
  detail?: string;
}

export interface PromotionRow {
  id: number;
  approval_id: number | null;
  volume: string;
  source: string;
  old_volume_id: number;
  source_volume_id: number;
  safety_dump: string | null;
  mounted_path: string | null;
  /** The last step completed: 0 none, 5 all. */
  step: number;
  state: PromotionState;
  journal: string;
  origin: string;
  created_at: string;
  updated_at: string;
}

export class Promotions {
  constructor(private readonly db: Sqlite) {}

  create(p: {
    approvalId: number | null;
    volume: string;
    source: string;
    oldId: number;
    sourceId: number;
    mounted: string | null;
    origin: Origin;
  }): PromotionRow {
    const now = new Date().toISOString();
    const r = this.db
      .prepare(
        `INSERT INTO promotions (approval_id, volume, source, old_volume_id, source_volume_id, mounted_path, step, state,
                                 journal, origin, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 0, 'running', '[]', ?, ?, ?)`,
      )
      .run(
        p.approvalId,
        p.volume,
        p.source,
        p.oldId,
        p.sourceId,
        p.mounted,
        JSON.stringify(p.origin),
        now,
        now,
      );
    return this.get(Number(r.lastInsertRowid))!;
  }

  get(id: number): PromotionRow | undefined {
    return this.db.prepare('SELECT * FROM promotions WHERE id = ?').get(id) as PromotionRow | undefined;
  }

  unfinished(): PromotionRow[] {
    return this.db
      .prepare(`SELECT * FROM promotions WHERE state IN ('running','interrupted') ORDER BY id`)
      .all() as PromotionRow[];
  }

  /** Writes one journal line, in its own transaction, before the next thing happens. */
  record(
    id: number,
    entry: Omit<JournalEntry, 'at'>,
    fields: Partial<Pick<PromotionRow, 'step' | 'state' | 'safety_dump'>> = {},
  ): void {
    const db = this.db;
    db.transaction(() => {
      const row = this.get(id)!;
      const journal = [
        ...(JSON.parse(row.journal) as JournalEntry[]),
        { ...entry, at: new Date().toISOString() },
      ];
      const keys = Object.keys(fields);
      db.prepare(
        `UPDATE promotions SET journal = @journal, updated_at = @now${keys.map((k) => `, ${k} = @${k}`).join('')} WHERE id = @id`,
      ).run({ ...fields, journal: JSON.stringify(journal), now: new Date().toISOString(), id });
    })();
  }

  /**
   * When a promotion last began to replace `volume`'s content (epoch s), if one ever did: the volume
   * keeps its id, so a full dump from before then is no base for an incremental after.
   */
  replacedAt(volume: string): number | undefined {
    const rows = this.db.prepare('SELECT * FROM promotions WHERE volume = ?').all(volume) as PromotionRow[];
    const times = rows.flatMap((r) =>
      this.journal(r)
        .filter((e) => e.step === 4 && e.event === 'start')
        .map((e) => Math.floor(Date.parse(e.at) / 1000)),
    );
    return times.length ? Math.max(...times) : undefined;
  }

  /** A resume approved anew: its approval is the one that counts from now on. */
  reapproved(id: number, approvalId: number): void {
    this.db.prepare('UPDATE promotions SET approval_id = ? WHERE id = ?').run(approvalId, id);
  }

  journal(row: PromotionRow): JournalEntry[] {
    return JSON.parse(row.journal) as JournalEntry[];
  }

  /** Where the promotion was asked for: where its news goes. */
  origin(p: PromotionRow): Origin {
    return JSON.parse(p.origin) as {
      backend: Origin['backend'];
      identity: string | null;
      conversation: Conversation;
    };
  }
}
