import { UserError } from '../errors.ts';
import { originOfCommand } from '../jobs.ts';
import { defineCommand } from '../registry.ts';
import { RestoredVolumes } from '../restored.ts';
import { checkVolumeArg } from '../volumes.ts';
import { mine, oneVolume } from './mount.ts';

export default defineCommand({
  name: 'discard',
  summary: 'remove a volume that afsbot restored (vos remove); any other volume is refused',
  usage: 'discard <volume>',
  example: 'discard user.alice.restored',
  permission: 'admin',
  args: oneVolume,
  async run(ctx, volume) {
    const s = ctx.services;
    checkVolumeArg(volume);
    const rec = mine(s, volume, true);
    if (rec.mount_path)
      throw new UserError(`${volume} is mounted at ${rec.mount_path}; !unmount ${volume} first`);
    const ex = await s.vos.examine(volume);
    if (ex.ok && rec.volume_id !== null && Number(ex.fields.id) !== rec.volume_id) {
      throw new UserError(
        `${volume} now has id ${ex.fields.id}, not the ${rec.volume_id} afsbot restored: someone replaced it, so it is left alone`,
      );
    }
    const { id } = s.jobs.submit({
      kind: 'discard',
      title: `discard ${volume}`,
      volumes: [volume],
      origin: originOfCommand(ctx),
      run: async (job) => {
        const rm = await s.vos.remove(volume, job.signal);
        if (!rm.ok && !/no such entry/i.test(rm.stderr))
          throw new Error(`vos remove ${volume} failed: ${rm.message}`);
        new RestoredVolumes(s.store).discarded(volume);
        return rm.ok ? `${volume} is removed` : `${volume} was already gone; it is off the list`;
      },
    });
    await ctx.reply(`job ${id} started: removing ${volume}`);
  },
});
