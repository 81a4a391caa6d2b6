// Local retention (dump files older than localKeepDays go, once the archive has them; a pre-promote
// safety dump never) and staleness (a covered volume that changed and has had no good dump for
// staleDays).
import { readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { faultPoint } from '../../../actions/faults.ts';
import type { VolumeFields } from '../../../actions/vos.ts';
import type { RunningJob } from '../../jobs/job.ts';
import { snapshotName } from '../../platform/format.ts';
import { dumpDateBefore } from '../../platform/time.ts';
import type { Services } from '../../services.ts';
import { archiveListing } from '../archive/reconcile.ts';
import type { DumpRow } from '../catalog.ts';

/**
 * Removes local dump files older than localKeepDays that are in the archive (a pre-promote safety dump
 * is never removed). "In the archive" is the archive's own listing, made now, never the catalog alone:
 * a dump whose snapshot the archive does not list stays, and goes in again next night. One not
 * archived yet stays, and is counted.
 */
export async function applyRetention(
  s: Services,
  job: RunningJob,
  now: Date,
): Promise<{ removed: number; freed: number; cutoff: string; keptUnarchived: number; notes: string[] }> {
  // archive-only (localKeepDays 0): every archived dump goes, tonight's too (the feeder has removed
  // most of them already, batch by batch)
  const days = s.config.archive.localKeepDays;
  const cutoff = dumpDateBefore(now, days === 0 ? -1 : days, s.config.timeZone);
  const old = s.catalog.localScheduledBefore(cutoff);
  let removed = 0;
  let freed = 0;
  let keptUnarchived = 0;
  const notes: string[] = [];
  let listed: Set<string> | undefined;
  if (old.some((r) => r.archive_snapshot)) {
    try {
      listed = await archiveListing(s, job.signal);
    } catch (err) {
      notes.push(`retention removed nothing: ${(err as Error).message}`);
    }
  }
  for (const row of old) {
    if (!row.archive_snapshot || !listed) {
      keptUnarchived++;
      continue;
    }
    if (!listed.has(row.archive_snapshot)) {
      s.catalog.unarchive(row.id);
      notes.push(
        `${row.volume} of ${row.date} was kept: the catalog placed it in snapshot ${snapshotName(row.archive_snapshot)}, which the archive does not list; it goes in again next night`,
      );
      keptUnarchived++;
      continue;
    }
    await removeLocal(s, job, row);
    removed++;
    freed += row.stored_bytes;
  }
  return { removed, freed, cutoff, keptUnarchived, notes };
}

/**
 * Removes one archived dump's local file and sidecar. The caller has seen its snapshot in the
 * archive's own listing; a restore or a get reading the file holds the volume's lock, so this waits.
 */
export async function removeLocal(s: Services, job: RunningJob, row: DumpRow): Promise<void> {
  const release = await s.jobs.lockWithin(job, row.volume);
  try {
    rmSync(row.location, { force: true });
    faultPoint('nightly:mid-retention');
    rmSync(`${row.location}.json`, { force: true });
    s.catalog.markRemoved(row.id);
  } finally {
    release();
  }
  try {
    rmdirSync(dirname(row.location)); // the date's directory, once empty
  } catch {
    // not empty yet
  }
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
    const changedSince = !newest || Number(f.rw.updateDate ?? 0) >= (newest.clone_time ?? 0);
    if (changedSince && (!newest || newest.date <= limit))
      out.push({ volume: f.volume, last: newest?.date ?? null });
  }
  return out;
}

/**
 * What !backup get and !restore-file left in the staging directory is removed after
 * dumps.stagingKeepDays: staging is for handing files over, not a second archive. Returns what went.
 */
export function expireStaging(s: Services, now = Date.now()): string[] {
  const dir = s.config.dumps.stagingDir;
  const limit = now - s.config.dumps.stagingKeepDays * 86_400_000;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // nothing staged yet
  }
  const gone: string[] = [];
  for (const name of names) {
    if (!name.startsWith('job-')) continue; // only what afsbot made
    const path = join(dir, name);
    try {
      if (statSync(path).mtimeMs > limit) continue;
      rmSync(path, { recursive: true, force: true });
      gone.push(name);
    } catch (err) {
      s.log.warn('could not expire a staged file', { path, error: err });
    }
  }
  return gone;
}
