import { isNoSuchVolume } from '../../actions/vos.ts';
import { restoredByUs } from '../backup/mounts.ts';
import { checkVolumeArg } from '../backup/volumes.ts';
import { oneWord } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'discard',
  summary: 'remove a volume that afsbot restored (vos remove); any other volume is refused',
  usage: 'discard <volume>',
  example: 'discard user.alice.restored',
  permission: 'admin',
  args: oneWord('volume'),
  async run(ctx, volume) {
    const s = ctx.services;
    checkVolumeArg(volume);
    const rec = restoredByUs(s, volume, true);
    if (rec.mount_path)
      throw new UserError(`${volume} is mounted at ${rec.mount_path}; !unmount ${volume} first`);
    const ex = await s.vos.examine(volume);
    if (ex.ok && rec.volume_id !== null && Number(ex.fields.id) !== rec.volume_id) {
      throw new UserError(
        `${volume} now has id ${ex.fields.id}, not the ${rec.volume_id} afsbot restored: someone replaced it, so it is left alone`,
      );
    }
    await s.jobs.start(
      ctx,
      {
        kind: 'discard',
        title: `discard ${volume}`,
        volumes: [volume],
        run: async (job) => {
          const rm = await s.vos.remove(volume, job.signal);
          if (!rm.ok && !isNoSuchVolume(rm)) throw new Error(`vos remove ${volume} failed: ${rm.message}`);
          s.restored.discarded(volume);
          return rm.ok ? `${volume} is removed` : `${volume} was already gone; it is off the list`;
        },
      },
      `removing ${volume}`,
    );
  },
});
