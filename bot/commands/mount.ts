import { releaseParent, restoredByUs, scratch } from '../backup/mounts.ts';
import { checkVolumeArg } from '../backup/volumes.ts';
import { oneWord } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'mount',
  summary: 'mount a restored volume under the scratch directory (fs mkmount, then vos release of its parent)',
  usage: 'mount <volume>',
  example: 'mount user.alice.restored',
  permission: 'admin',
  args: oneWord('volume'),
  async run(ctx, volume) {
    const s = ctx.services;
    checkVolumeArg(volume);
    const rec = restoredByUs(s, volume);
    if (rec.mount_path) throw new UserError(`${volume} is already mounted at ${rec.mount_path}`);
    const { parent, path } = scratch(s, volume);
    await s.jobs.start(
      ctx,
      {
        kind: 'mount',
        title: `mount ${volume}`,
        volumes: [volume, parent],
        run: async (job) => {
          const mk = await s.mounts.mkmount(path, volume, job.signal);
          if (!mk.ok) throw new Error(`fs mkmount failed: ${mk.message}`);
          s.restored.setMount(volume, path);
          await releaseParent(s, job, parent, `the mount point ${path} was made`);
          return `${volume} is mounted at ${path} (${parent} released); !unmount ${volume} when done`;
        },
      },
      `mounting ${volume} at ${path}`,
    );
  },
});
