// The wiki's 1.4 and 1.6: a restored volume mounted under the scratch directory for an admin to look
// into, and unmounted again, each followed by `vos release` of the scratch directory's volume. Only
// volumes afsbot restored are ever mounted, unmounted or discarded.
import { join } from 'node:path';
import { UserError } from '../chat/errors.ts';
import type { RunningJob } from '../jobs/job.ts';
import type { Services } from '../services.ts';
import type { RestoredRow } from './restored.ts';

/** Where restored volumes are mounted, from the config; a UserError naming the keys when it is not set. */
export function scratch(s: Services, volume: string): { dir: string; parent: string; path: string } {
  const dir = s.config.afs.scratchMountDir;
  const parent = s.config.afs.scratchParentVolume;
  if (!dir || !parent) {
    throw new UserError(
      'mounting needs afs.scratchMountDir and afs.scratchParentVolume in the config (AFSBOT_SCRATCH_MOUNT_DIR, AFSBOT_SCRATCH_PARENT_VOLUME)',
    );
  }
  return { dir, parent, path: join(dir, volume) };
}

/**
 * A volume afsbot restored. With `halfDone`, also one a failed restore left half-made (so that
 * !discard can remove it), once the job that was making it is over.
 */
export function restoredByUs(s: Services, volume: string, halfDone = false): RestoredRow {
  const rec = s.restored.get(volume);
  const over = (id: number) => !['queued', 'running'].includes(s.jobs.get(id)?.status ?? '');
  if (halfDone && rec?.state === 'restoring' && over(rec.job_id)) return rec;
  if (rec?.state !== 'restored') {
    throw new UserError(
      `${volume} is not a volume afsbot restored, so it will not touch it (!restore makes one)`,
    );
  }
  return rec;
}

/** The wiki's `vos release old` after a mount point changed; `done` says what already happened. */
export async function releaseParent(
  s: Services,
  job: RunningJob,
  parent: string,
  done: string,
): Promise<void> {
  const rel = await s.vos.release(parent, job.signal);
  if (!rel.ok)
    throw new Error(
      `${done}, but vos release ${parent} failed: ${rel.message}; run "vos release ${parent}" by hand`,
    );
}
