import { baseFull, checkVolumeArg, dumpVolume, requireRwVolume } from '../backup/volumes.ts';
import { bad, tokens } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'dump',
  summary:
    'clone a volume and dump it into the dump store; incremental (since its newest full) when it has a full, else full',
  usage: 'dump <volume> [full|incremental]',
  example: 'dump user.alice full',
  permission: 'admin',
  args: tokens
    .min(1, 'name the volume to dump')
    .max(2, 'give a volume and at most a level')
    .transform((t, ctx) => {
      const level = t[1];
      if (level !== undefined && level !== 'full' && level !== 'incremental')
        return bad(ctx, `the level is "full" or "incremental", not "${level.slice(0, 20)}"`);
      return { volume: t[0]!, level: level as 'full' | 'incremental' | undefined };
    }),
  async run(ctx, { volume, level }) {
    const s = ctx.services;
    checkVolumeArg(volume);
    const volumeId = await requireRwVolume(s, volume);
    const full = baseFull(s, volume, volumeId);
    const chosen = level ?? (full ? 'incremental' : 'full');
    if (chosen === 'incremental' && !full) {
      const replaced = s.catalog.newestFull(volume) !== undefined;
      throw new UserError(
        `there is no full dump of ${volume} ${replaced ? 'as it is now (it was replaced since its last full, so a new chain starts)' : 'yet'}, so an incremental has no base; run !dump ${volume} full first`,
      );
    }
    await s.jobs.start(
      ctx,
      {
        kind: 'dump',
        title: `${chosen} dump of ${volume}`,
        volumes: [volume],
        run: async (job) => (await dumpVolume(s, job, volume, chosen)).text,
        onCancel: async () => 'The partial dump file was removed; the catalog is unchanged.',
      },
      `${chosen} dump of ${volume}`,
    );
  },
});
