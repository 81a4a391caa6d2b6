import { describeState, rollbackPromotion, runPromotion, STEPS } from '../backup/promote.ts';
import { checkVolumeArg } from '../backup/volumes.ts';
import { bad, tokens } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import type { CommandContext, Plan } from '../chat/registry.ts';
import { originOf } from '../jobs/job.ts';
import { formatBytes, iso } from '../platform/format.ts';
import { defineCommand, type Services } from '../services.ts';

type Args = { sub: 'promote'; volume: string; source: string } | { sub: 'resume' | 'rollback'; id: number };

const args = tokens.min(1, 'name the volume to promote').transform((t, ctx): Args => {
  if ((t[0] === 'resume' || t[0] === 'rollback') && t.length === 2 && /^\d+$/.test(t[1]!)) {
    return { sub: t[0], id: Number(t[1]) };
  }
  if (t.length === 1) return { sub: 'promote', volume: t[0]!, source: `${t[0]}.restored` };
  if (t.length === 3 && t[1] === 'from') return { sub: 'promote', volume: t[0]!, source: t[2]! };
  return bad(
    ctx,
    'write "promote <volume>", "promote <volume> from <restored>", "promote resume <id>" or "promote rollback <id>"',
  );
});

/**
 * A promotion whose approval is older than an approval's lifetime (approvals.ttlMinutes) needs a new
 * one to resume: what was agreed to then may not be what anyone would agree to now. Returns when it was
 * approved, if that is too long ago.
 */
function staleApproval(s: Services, id: number): string | undefined {
  const p = s.promotions.get(id);
  if (!p?.approval_id) return undefined;
  const a = s.approvals.get(p.approval_id);
  const at = a?.decided_at ?? a?.created_at;
  if (!at) return undefined;
  return Date.parse(at) + s.config.approvals.ttlMinutes * 60_000 < s.clock().getTime() ? at : undefined;
}

/** What the plan rests on: both volumes as vos examine sees them now. */
async function facts(s: Services, volume: string, source: string) {
  const rec = s.restored.get(source);
  if (rec?.state !== 'restored') {
    throw new UserError(
      `${source} is not a volume afsbot restored, so it cannot be promoted (!restore ${volume} makes one)`,
    );
  }
  const look = async (name: string) => {
    const ex = await s.vos.examine(name);
    if (!ex.ok)
      throw new UserError(
        ex.missing ? `there is no volume ${name}` : `vos examine ${name} failed: ${ex.message}`,
      );
    const f = ex.fields;
    return {
      id: Number(f.id),
      files: Number(f.filecount),
      kb: Number(f.diskused),
      updated: Number(f.updateDate),
    };
  };
  const live = await look(volume);
  const restored = await look(source);
  if (restored.id !== rec.volume_id) {
    throw new UserError(
      `${source} has id ${restored.id}, not the ${rec.volume_id} afsbot restored: it was replaced, so it will not be promoted`,
    );
  }
  return { volume, source, live, restored, restoredBy: rec.job_id, mounted: rec.mount_path };
}

export default defineCommand({
  name: 'promote',
  summary:
    'make a restored volume the live one (its content restored over the live volume, after a safety dump into the archive); needs a second admin',
  usage: 'promote <volume> [from <restored>] | promote resume <id> | promote rollback <id>',
  example: 'promote user.alice',
  permission: 'admin',
  args,
  destructive: {
    // a promote, and a resume whose approval has outlived approvals.ttlMinutes
    applies: (a: Args, ctx: CommandContext<Services>) =>
      a.sub === 'promote' || (a.sub === 'resume' && staleApproval(ctx.services, a.id) !== undefined),
    async plan(ctx: CommandContext<Services>, a: Args): Promise<Plan> {
      if (a.sub === 'resume') {
        const p = ctx.services.promotions.get(a.id);
        if (!p) throw new UserError(`there is no promotion ${a.id}`);
        const at = staleApproval(ctx.services, a.id)!;
        return {
          summary: `resume promotion ${a.id}`,
          lines: [
            `Plan: resume promotion ${a.id} (${p.source} to ${p.volume}), approved at ${at.slice(0, 16).replace('T', ' ')} UTC: longer ago than an approval lasts (${ctx.services.config.approvals.ttlMinutes} min), so it needs a new one.`,
            await describeState(ctx.services, p),
          ],
          facts: { id: p.id, step: p.step, state: p.state },
        };
      }
      if (a.sub !== 'promote') throw new Error('only promote and resume are planned');
      checkVolumeArg(a.volume);
      checkVolumeArg(a.source);
      const f = await facts(ctx.services, a.volume, a.source);
      const show = (name: string, v: typeof f.live) =>
        `${name}: id ${v.id}, ${v.files} files, ${formatBytes(v.kb * 1024)}, last update ${iso(v.updated)}`;
      return {
        summary: `promote ${a.source} to ${a.volume}`,
        lines: [
          `Plan: promote ${a.source} (restored by job ${f.restoredBy}) to ${a.volume}.`,
          show(`now live ${a.volume}`, f.live),
          show(`restored ${a.source}`, f.restored),
          ...STEPS.map(
            (step, i) =>
              `${i + 1}. ${step}${i === 2 ? ` (a full dump of ${a.volume} as it is then, into the archive before anything changes)` : ''}`,
          ),
        ],
        facts: f,
      };
    },
  },
  async run(ctx, a) {
    const s = ctx.services;
    const promos = s.promotions;
    const origin = originOf(ctx);
    if (a.sub === 'promote') {
      const f = await facts(s, a.volume, a.source);
      const p = promos.create({
        approvalId: ctx.approvalId ?? null,
        volume: a.volume,
        source: a.source,
        oldId: f.live.id,
        sourceId: f.restored.id,
        mounted: f.mounted,
        origin,
      });
      await s.jobs.start(
        ctx,
        {
          kind: 'promote',
          title: `promote ${a.source} to ${a.volume}`,
          volumes: [a.volume, a.source],
          run: (job) => runPromotion(s, job, p.id),
        },
        `promotion ${p.id}, ${a.source} to ${a.volume}; each step is journaled`,
      );
      return;
    }
    const p = promos.get(a.id);
    if (!p) throw new UserError(`there is no promotion ${a.id}`);
    if (p.state === 'done' || p.state === 'rolled-back')
      throw new UserError(`promotion ${a.id} is ${p.state}; there is nothing to ${a.sub}`);
    if (a.sub === 'resume') {
      if (ctx.approvalId !== undefined) s.promotions.reapproved(p.id, ctx.approvalId);
      else if (staleApproval(s, p.id))
        throw new UserError(`promotion ${a.id}'s approval has expired; ask again to get a new one`);
    }
    const state = await describeState(s, p);
    await s.jobs.start(
      ctx,
      {
        kind: `promote-${a.sub}`,
        title: `${a.sub} promotion ${a.id}`,
        volumes: [p.volume, p.source],
        run: (job) => (a.sub === 'resume' ? runPromotion(s, job, p.id) : rollbackPromotion(s, job, p.id)),
      },
      `${a.sub} of promotion ${a.id}. ${state}`,
    );
  },
});
