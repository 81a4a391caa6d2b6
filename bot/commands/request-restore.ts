import { datesHolding, newestDateHolding, resolveTarget } from '../backup/file-search.ts';
import { mayRestore } from '../backup/restore-access.ts';
import { afsUserOf, runRequestedRestore } from '../backup/restore-requests.ts';
import { checkVolumePath } from '../backup/volumes.ts';
import type { Actor, Conversation } from '../chat/adapter.ts';
import { bad, looksLikeDate, parseDate, tokens } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import type { CommandContext } from '../chat/registry.ts';
import { defineCommand, type Services } from '../services.ts';

type Args = { target: string; path: string; date?: string; before?: boolean };

/** Who asked: the requester of the approval being checked again, or the one asking now. */
function requester(ctx: CommandContext<Services>): { actor: Actor; conversation: Conversation } {
  const row = ctx.approvalId === undefined ? undefined : ctx.services.approvals.get(ctx.approvalId);
  if (!row) return { actor: ctx.actor, conversation: ctx.conversation };
  return {
    actor: { backend: row.backend, id: row.requester, name: row.requester },
    conversation: JSON.parse(row.conversation) as Conversation,
  };
}

/** Everything checked before an admin is asked, and again when one approves. */
async function check(ctx: CommandContext<Services>, a: Args) {
  const s = ctx.services;
  const cfg = s.config.selfService;
  if (!cfg.enabled)
    throw new UserError(
      'restores that users ask for are turned off here (selfService.enabled); ask an admin',
    );
  const who = requester(ctx);
  const identity = who.actor.id!;
  const user = afsUserOf(s, who.actor.backend, identity);
  const { volume, under } = resolveTarget(s, a.target);
  const path = checkVolumePath([under, a.path].filter(Boolean).join('/'));
  let date: string;
  if (a.date === undefined) date = newestDateHolding(s, volume, [path])!;
  else {
    const asked = parseDate(a.date, s.clock(), s.config.timeZone);
    const holding = datesHolding(s, volume, path).filter((d) => (a.before ? d < asked : d === asked));
    if (holding.length === 0)
      throw new UserError(
        `no dump of ${volume} ${a.before ? `before ${asked}` : `of ${asked}`} holds ${path} (!request-restore ${a.target} ${a.path} without a date takes the newest that does)`,
      );
    date = holding.at(-1)!;
  }
  const dump = s.files
    .dumps(volume)
    .filter((d) => d.date === date)
    .at(-1)!;
  const me = await s.pts.id(user);
  if (!me.ok)
    throw new UserError(
      me.missing
        ? `there is no AFS user ${user} in this cell, so nothing can be restored for you`
        : `pts failed: ${me.message}`,
    );
  const groups = await s.pts.groupIds(user);
  if (!groups.ok) throw new Error(`pts membership ${user} failed: ${groups.message}`);
  const access = mayRestore(
    s.files,
    { user, userId: me.id, groupIds: groups.ids, volume, path, clone: dump.clone_time },
    cfg.ownVolumes,
  );
  if (!access.allowed)
    throw new UserError(`refused: ${access.why}; only what you could read then can be restored for you`);
  if (ctx.approvalId === undefined) {
    const open = s.requests.open(who.actor.backend, identity).length;
    const waiting = s.approvals
      .open()
      .filter(
        (r) => r.command === 'request-restore' && r.backend === who.actor.backend && r.requester === identity,
      ).length;
    if (open + waiting >= cfg.maxOpen)
      throw new UserError(
        `you have ${open + waiting} requests open (${waiting} waiting for an admin, ${open} restored and not expired); at most ${cfg.maxOpen} at once`,
      );
  }
  return { user, volume, path, date, why: access.why, who };
}

export default defineCommand({
  name: 'request-restore',
  summary:
    'ask for a file or directory of yours as it was on a night; an admin approves, then it is restored where you can reach it for a few days',
  usage: 'request-restore <volume|/afs/path> <path> [<date> | before <date>]',
  example: 'request-restore user.alice thesis/thesis.tex before 2013.01.28',
  permission: 'user',
  args: tokens
    .min(2, 'name the volume (or /afs path) and the path in it')
    .max(5, 'too many words')
    .transform((t, ctx): Args => {
      const [target, path, ...rest] = t;
      if (rest.length === 0) return { target: target!, path: path! };
      if (rest.length === 1 && looksLikeDate(rest[0]!))
        return { target: target!, path: path!, date: rest[0]! };
      if (rest.length === 2 && rest[0] === 'before' && looksLikeDate(rest[1]!))
        return { target: target!, path: path!, date: rest[1]!, before: true };
      return bad(
        ctx,
        'after the path, give a date (2013.01.28) or "before <date>", or nothing for the newest',
      );
    }),
  destructive: {
    async plan(ctx, a) {
      const c = await check(ctx, a);
      return {
        summary: `restore ${c.path} of ${c.volume} as of ${c.date} for ${c.user}`,
        lines: [
          `Plan: restore ${c.path} of ${c.volume} as of ${c.date} for ${c.user} (${c.who.actor.backend}:${c.who.actor.id}), who may: ${c.why}.`,
          `The night's dump chain goes into a staging volume of its own, with that night's access lists${ctx.services.config.selfService.mountDir ? `, mounted under ${ctx.services.config.selfService.mountDir}` : ''}, removed after ${ctx.services.config.selfService.keepDays} days.`,
        ],
        facts: { user: c.user, volume: c.volume, path: c.path, date: c.date },
      };
    },
  },
  async run(ctx, a) {
    const s = ctx.services;
    const c = await check(ctx, a);
    const req = s.requests.create({
      approvalId: ctx.approvalId ?? null,
      origin: { backend: c.who.actor.backend, identity: c.who.actor.id, conversation: c.who.conversation },
      afsUser: c.user,
      volume: c.volume,
      path: c.path,
      date: c.date,
      prefix: s.config.selfService.volumePrefix,
      at: s.clock(),
    });
    await s.jobs.start(
      ctx,
      {
        kind: 'request-restore',
        heavy: true,
        title: `restore for ${c.user}: ${c.path} of ${c.volume} as of ${c.date}`,
        volumes: [c.volume, req.staging],
        run: (job) => runRequestedRestore(s, job, req.id),
      },
      `request ${req.id}: restoring ${c.volume} as of ${c.date} into ${req.staging} for ${c.user}`,
    );
  },
});
