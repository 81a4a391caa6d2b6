import { UserError } from '../errors.ts';
import { originOfCommand } from '../jobs.ts';
import { defineCommand } from '../registry.ts';
import { RestoredVolumes } from '../restored.ts';
import { checkVolumeArg } from '../volumes.ts';
import { mine, oneVolume, releaseParent, scratch } from './mount.ts';

export default defineCommand({
  name: 'unmount',
  summary: 'remove the mount point of a restored volume (fs rmmount, then vos release of its parent)',
  usage: 'unmount <volume>',
  example: 'unmount user.alice.restored',
  permission: 'admin',
  args: oneVolume,
  async run(ctx, volume) {
    const s = ctx.services;
    checkVolumeArg(volume);
    const rec = mine(s, volume);
    if (!rec.mount_path) throw new UserError(`${volume} is not mounted`);
    const { parent } = scratch(s, volume);
    const path = rec.mount_path;
    const { id } = s.jobs.submit({
      kind: 'unmount',
      title: `unmount ${volume}`,
      volumes: [volume, parent],
      origin: originOfCommand(ctx),
      run: async (job) => {
        const rm = await s.fs.rmmount(path, job.signal);
        if (!rm.ok) throw new Error(`fs rmmount failed: ${rm.message}`);
        new RestoredVolumes(s.store).setMount(volume, null);
        await releaseParent(s, job, parent, `the mount point ${path} is gone`);
        return `${volume} is no longer mounted (${parent} released)`;
      },
    });
    await ctx.reply(`job ${id} started: unmounting ${volume}`);
  },
});
