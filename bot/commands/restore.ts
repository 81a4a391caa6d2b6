import { Cancelled } from '../../actions/backoff.ts';
import { ChainError, restoreChain } from '../../actions/restore.ts';
import { volumeNameProblem } from '../../actions/vos.ts';
import { chainFor, chainLinks, chainRefusal, restoreSite } from '../backup/chains.ts';
import { checkVolumeArg, shortName } from '../backup/volumes.ts';
import { bad, looksLikeDate, parseDate, tokens } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { formatBytes, iso } from '../platform/format.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'restore',
  summary:
    'restore a volume as of a date (default: its newest dump) into <volume>.restored or a name you give',
  usage: 'restore [<date>] <volume> [as <newname>]',
  example: 'restore 2013.01.28 user.alice as user.alice.old',
  permission: 'admin',
  args: tokens
    .min(1, 'name the volume to restore')
    .max(4, 'too many words')
    .transform((t, ctx) => {
      const rest = [...t];
      const date = rest.length > 1 && looksLikeDate(rest[0]!) ? rest.shift() : undefined;
      const volume = rest.shift();
      let target: string | undefined;
      if (rest.length > 0) {
        if (rest[0] !== 'as' || rest.length !== 2) return bad(ctx, `after the volume, write "as <newname>"`);
        target = rest[1];
      }
      return { date, volume: volume ?? '', target };
    }),
  async run(ctx, args) {
    const s = ctx.services;
    const volume = checkVolumeArg(args.volume);
    const date = args.date === undefined ? undefined : parseDate(args.date, s.clock(), s.config.timeZone);
    const target = args.target ?? `${volume}.restored`;
    const problem = volumeNameProblem(target);
    if (problem) {
      const hint = args.target
        ? ''
        : `; give a shorter name, e.g. !restore ${args.date ? `${args.date} ` : ''}${volume} as ${shortName(volume)}`;
      throw new UserError(`${problem}${hint}`);
    }
    const rows = chainFor(s, volume, date);
    const restored = s.restored;
    const ex = await s.vos.examine(target);
    if (ex.ok) {
      const rec = restored.get(target);
      const mine = rec && rec.state !== 'discarded';
      throw new UserError(
        mine
          ? `${target} already exists (restored by job ${rec.job_id} from ${rec.source} of ${rec.date}); !discard ${target} first, or restore as another name`
          : `${target} already exists and afsbot did not make it, so it will not touch it; restore as another name`,
      );
    }
    if (!ex.missing) throw new Error(`vos examine ${target} failed: ${ex.message}`);
    const site = await restoreSite(s, volume);
    const links = chainLinks(s, rows);
    const total = rows.reduce((n, r) => n + r.stored_bytes, 0); // progress counts the stored files read
    const asOf = rows.at(-1)!.date;
    // Set once this job's own vos create made the target: only then may a failure or cancel remove it.
    let createdId: number | undefined;
    const removeTarget = async (): Promise<{ gone: boolean; why?: string }> =>
      createdId === undefined ? { gone: true } : s.vos.removeAfterAbort(target, { expectId: createdId });
    const how = rows.length === 2 ? 'full + incremental' : 'one full dump';
    await s.jobs.start(
      ctx,
      {
        kind: 'restore',
        heavy: true,
        title: `restore ${volume} of ${asOf} as ${target}`,
        volumes: [volume, target],
        run: async (job) => {
          // It was free when asked for; a job ahead in line may have taken the name since.
          if ((await s.vos.examine(target, job.signal)).ok) {
            throw new UserError(
              `${target} was made while this job waited; nothing was touched. Restore as another name`,
            );
          }
          let r: Awaited<ReturnType<typeof restoreChain>>;
          try {
            r = await restoreChain({
              stallMs: s.config.jobs.stallMs,
              vos: s.vos,
              tools: s.tools,
              chain: links,
              server: site.server,
              partition: site.partition,
              target,
              signal: job.signal,
              onBytes: (n, link) =>
                job.progress(link === 0 ? 'restoring the full dump' : 'applying the incremental', n, total),
              onCreated: (volumeId) => {
                createdId = volumeId;
                restored.begin(target, volume, asOf, job.id, volumeId);
                job.leftover(`volume:${target}`);
              },
            });
          } catch (err) {
            if (err instanceof ChainError) throw new UserError(`${chainRefusal(err)}. Nothing was restored.`);
            throw err;
          }
          if (!r.ok) {
            if (r.cancelled) throw new Cancelled();
            const rm = await removeTarget();
            if (rm.gone) {
              restored.discarded(target);
              job.settled(`volume:${target}`);
            }
            throw new Error(
              `vos restore into ${target} failed: ${r.message}; ${rm.gone ? `nothing of ${target} is left` : `the partial ${target} could not be removed (${rm.why}): !discard ${target}`}`,
            );
          }
          const f = r.examine;
          restored.finish(target, Number(f.id));
          job.settled(`volume:${target}`);
          const chain = rows
            .map((row) => `${row.level} of ${row.date} (clone ${iso(row.clone_time)})`)
            .join(' + ');
          return [
            `${volume} as of ${asOf} is restored into ${target} (id ${f.id}) on ${site.server} /vicep${site.partition}, from ${chain}.`,
            `${target}: ${f.filecount} files, ${formatBytes(Number(f.diskused) * 1024)} used, last update ${iso(Number(f.updateDate))}.`,
            `Look into it with !mount ${target}, or !restore-file for single files; !promote ${volume} makes it the live volume; !discard ${target} removes it.`,
          ].join('\n');
        },
        onCancel: async (job) => {
          if (createdId === undefined) return `${target} was not created yet; nothing was left.`;
          const rm = await removeTarget();
          if (rm.gone) {
            restored.discarded(target);
            job.settled(`volume:${target}`);
            return `Nothing of ${target} is left.`;
          }
          return `The partly restored ${target} could not be removed (${rm.why}); !discard ${target}.`;
        },
      },
      `restoring ${volume} as of ${asOf} into ${target} (${how})`,
    );
  },
});
