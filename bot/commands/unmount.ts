import { releaseParent, restoredByUs, scratch } from '../backup/mounts.ts';
import { checkVolumeArg } from '../backup/volumes.ts';
import { oneWord } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'unmount',
  summary: 'remove the mount point of a restored volume (fs rmmount, then vos release of its parent)',
  usage: 'unmount <volume>',
  example: 'unmount user.alice.restored',
  permission: 'admin',
  args: oneWord('volume'),
  async run(ctx, volume) {
    const s = ctx.services;
    checkVolumeArg(volume);
    const rec = restoredByUs(s, volume);
    if (!rec.mount_path) throw new UserError(`${volume} is not mounted`);
    const { parent } = scratch(s, volume);
    const path = rec.mount_path;
    await s.jobs.start(
      ctx,
      {
        kind: 'unmount',
        title: `unmount ${volume}`,
        volumes: [volume, parent],
        run: async (job) => {
          const rm = await s.mounts.rmmount(path, job.signal);
          if (!rm.ok) throw new Error(`fs rmmount failed: ${rm.message}`);
          s.restored.setMount(volume, null);
          await releaseParent(s, job, parent, `the mount point ${path} is gone`);
          return `${volume} is no longer mounted (${parent} released)`;
        },
      },
      `unmounting ${volume}`,
    );
  },
});
