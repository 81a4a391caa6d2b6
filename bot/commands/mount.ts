import { join } from 'node:path';
import { tokens } from '../args.ts';
import { UserError } from '../errors.ts';
import { originOfCommand, type RunningJob } from '../jobs.ts';
import { defineCommand } from '../registry.ts';
import { RestoredVolumes } from '../restored.ts';
import type { Services } from '../services.ts';
import { checkVolumeArg } from '../volumes.ts';

export const oneVolume = tokens.length(1, 'name one volume').transform((t) => t[0]!);

/** The wiki's 1.4 and 1.6: only for volumes afsbot restored, under the configured scratch directory. */
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
export function mine(s: Services, volume: string, halfDone = false) {
  const rec = new RestoredVolumes(s.store).get(volume);
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

export default defineCommand({
  name: 'mount',
  summary: 'mount a restored volume under the scratch directory (fs mkmount, then vos release of its parent)',
  usage: 'mount <volume>',
  example: 'mount user.alice.restored',
  permission: 'admin',
  args: oneVolume,
  async run(ctx, volume) {
    const s = ctx.services;
    checkVolumeArg(volume);
    const rec = mine(s, volume);
    if (rec.mount_path) throw new UserError(`${volume} is already mounted at ${rec.mount_path}`);
    const { parent, path } = scratch(s, volume);
    const { id } = s.jobs.submit({
      kind: 'mount',
      title: `mount ${volume}`,
      volumes: [volume, parent],
      origin: originOfCommand(ctx),
      run: async (job) => {
        const mk = await s.fs.mkmount(path, volume, job.signal);
        if (!mk.ok) throw new Error(`fs mkmount failed: ${mk.message}`);
        new RestoredVolumes(s.store).setMount(volume, path);
        await releaseParent(s, job, parent, `the mount point ${path} was made`);
        return `${volume} is mounted at ${path} (${parent} released); !unmount ${volume} when done`;
      },
    });
    await ctx.reply(`job ${id} started: mounting ${volume} at ${path}`);
  },
});
