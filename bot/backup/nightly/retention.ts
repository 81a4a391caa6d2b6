// Local retention (dump files older than localKeepDays go, once the archive has them; a pre-promote
// safety dump never) and staleness (a covered volume that changed and has had no good dump for
// staleDays).
import { rmdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { VolumeFields } from '../../../actions/vos.ts';
import type { RunningJob } from '../../jobs/job.ts';
import { dumpDateBefore } from '../../platform/time.ts';
import type { Services } from '../../services.ts';
import type { DumpRow } from '../catalog.ts';

/**
 * Removes local dump files older than localKeepDays that are in the archive (a pre-promote safety dump
 * is never removed). One not archived yet stays, and is counted.
 */
export async function applyRetention(
  s: Services,
  job: RunningJob,
  now: Date,
): Promise<{ removed: number; freed: number; cutoff: string; keptUnarchived: number }> {
  const cutoff = dumpDateBefore(now, s.config.archive.localKeepDays, s.config.timeZone);
  const old = s.catalog.localScheduledBefore(cutoff);
  let removed = 0;
  let freed = 0;
  let keptUnarchived = 0;
  for (const row of old) {
    if (!row.archive_snapshot) {
      keptUnarchived++;
      continue;
    }
    // not under a restore or a get that is reading it: they hold the volume's lock
    const release = await s.jobs.lockWithin(job, row.volume);
    try {
      rmSync(row.location, { force: true });
      rmSync(`${row.location}.json`, { force: true });
      s.catalog.markRemoved(row.id);
    } finally {
      release();
    }
    removed++;
    freed += row.stored_bytes;
    try {
      rmdirSync(dirname(row.location)); // the date's directory, once empty
    } catch {
      // not empty yet
    }
  }
  return { removed, freed, cutoff, keptUnarchived };
}

/** Covered volumes that changed after their newest good dump, and that dump is staleDays old or more. */
export function staleVolumes(
  s: Services,
  facts: { volume: string; rw: VolumeFields }[],
): { volume: string; last: string | null }[] {
  const limit = dumpDateBefore(s.clock(), s.config.nightly.staleDays, s.config.timeZone);
  const out: { volume: string; last: string | null }[] = [];
  for (const f of facts) {
    const dumps = s.catalog.forVolume(f.volume).filter((d) => d.kind !== 'databases');
    const newest = dumps.reduce<DumpRow | undefined>(
      (a, b) => ((b.clone_time ?? 0) >= (a?.clone_time ?? 0) ? b : a),
      undefined,
    );
    const changedSince = !newest || Number(f.rw.updateDate ?? 0) > (newest.clone_time ?? 0);
    if (changedSince && (!newest || newest.date <= limit))
      out.push({ volume: f.volume, last: newest?.date ?? null });
  }
  return out;
}
