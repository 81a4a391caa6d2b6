// The archive feeder of a nightly run (phase 5, overlapping phase 4).
import { existsSync } from 'node:fs';
import type { RunningJob } from '../../jobs/job.ts';
import { snapshotName } from '../../platform/format.ts';
import type { Services } from '../../services.ts';
import { archiveListing } from '../archive/reconcile.ts';
import type { DumpRow } from '../catalog.ts';
import { removeLocal } from './retention.ts';
import { localSpace, type NightlyLive, type NightlyStats } from './stats.ts';

/**
 * Feeds dumps to the archive while the dumps go on: one restic process at a time (two at once contend
 * for the repository), each taking every dump that is ready by then in one snapshot per date. A batch
 * starts once archive.batchBytes are waiting, or when the dumps are done: every restic start costs
 * about half a second of CPU for its key derivation, which a night of small dumps must not pay per dump.
 */
export class ArchiveFeeder {
  private readonly pending: DumpRow[] = [];
  private readonly seen = new Set<number>();
  private running: Promise<void> | undefined;
  /** Set once no more dumps will come: then whatever is waiting goes, whatever its size. */
  private closing = false;

  constructor(
    private readonly s: Services,
    private readonly job: RunningJob,
    private readonly stats: NightlyStats,
    private readonly state: NightlyLive,
    /** Whether the archive is usable (the repository is there, no lock in the way). */
    private readonly ready: Promise<boolean>,
  ) {}

  push(rows: DumpRow[]): void {
    for (const r of rows) {
      if (this.seen.has(r.id)) continue;
      this.seen.add(r.id);
      this.pending.push(r);
    }
    this.kick();
  }

  private kick(): void {
    // a stopped run (cancelled, or at its deadline) sends nothing more: what waits stays unarchived in
    // the catalog, and the next night sends it
    if (this.job.signal.aborted) return;
    const waiting = this.pending.reduce((a, r) => a + r.stored_bytes, 0);
    if (this.pending.length === 0 || (!this.closing && waiting < this.s.config.archive.batchBytes)) return;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      this.kick(); // what arrived meanwhile
    });
  }

  private async drain(): Promise<void> {
    if (!(await this.ready)) {
      this.pending.length = 0; // the report says why; they stay on disk and go in next night
      return;
    }
    while (this.pending.length > 0 && !this.job.signal.aborted) {
      const date = this.pending[0]!.date;
      let batch = this.pending.filter((r) => r.date === date);
      for (const r of batch) this.pending.splice(this.pending.indexOf(r), 1);
      // a dump whose file is gone cannot go in; it must not keep the rest of its date out
      const gone = batch.filter((r) => !existsSync(r.location));
      if (gone.length) {
        this.stats.archive.errors.push(
          `${gone.map((g) => g.location).join(', ')}: gone from disk and never archived; !backup rescan drops them from the catalog`,
        );
        batch = batch.filter((r) => !gone.includes(r));
        if (batch.length === 0) continue;
      }
      const before = this.state.archived;
      try {
        const r = await this.s.archive.send(batch, {
          signal: this.job.signal,
          onBytes: (n) => {
            this.state.archived = before + n;
          },
        });
        this.stats.archive.snapshots++;
        this.stats.archive.processed += r.processed;
        this.stats.archive.added += r.added;
        this.state.archived = before + r.processed;
        if (this.s.config.archive.localKeepDays === 0) await this.leaveDisk(batch, r.snapshot);
      } catch (err) {
        this.stats.archive.errors.push(
          `${batch.map((b) => b.volume).join(', ')} (${date}): ${(err as Error).message}`,
        );
      }
    }
  }

  /**
   * Archive-only (localKeepDays 0): an archived batch leaves local disk at once, so a night never needs
   * all its dumps on disk together. As for retention, only once the archive's own listing has the
   * snapshot; a pre-promote safety dump always stays.
   */
  private async leaveDisk(batch: DumpRow[], snapshot: string): Promise<void> {
    const listed = await archiveListing(this.s, this.job.signal);
    if (!listed.has(snapshot)) {
      this.stats.archive.errors.push(
        `snapshot ${snapshotName(snapshot)} is not in the archive's own listing right after restic made it: its dumps stay on disk`,
      );
      return;
    }
    for (const row of batch) {
      if (row.kind !== 'scheduled') continue;
      await removeLocal(this.s, this.job, row);
      if (row.date === this.stats.date) localSpace(this.stats, -row.stored_bytes);
    }
  }

  /** No more dumps are coming: sends what waits, and resolves when the archive has everything. */
  async finish(): Promise<void> {
    this.closing = true;
    this.kick();
    await this.ready;
    while (this.running) await this.running;
  }
}
