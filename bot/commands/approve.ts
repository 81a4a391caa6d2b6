import { z } from 'zod';
import { Approvals } from '../approvals.ts';
import { runApproved } from '../approving.ts';
import { tokens } from '../args.ts';
import { Refusal, UserError } from '../errors.ts';
import { defineCommand } from '../registry.ts';

export const approvalId = tokens
  .min(1, 'give the approval id (!approvals lists them)')
  .transform((t, ctx) => {
    const m = /^#?(\d{1,9})$/.exec(t[0]!);
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `"${t[0]!.slice(0, 20)}" is not an approval id` });
      return z.NEVER;
    }
    return { id: Number(m[1]), rest: t.slice(1) };
  });

export default defineCommand({
  name: 'approve',
  summary:
    "approve another admin's request for a destructive command; it runs once enough admins agree and its plan still holds",
  usage: 'approve <id>',
  example: 'approve 3',
  permission: 'admin',
  args: approvalId,
  async run(ctx, { id, rest }) {
    if (rest.length) throw new UserError('approve takes only the id');
    const s = ctx.services;
    const approvals = new Approvals(s.store, s.clock);
    const row = approvals.get(id);
    if (!row) throw new UserError(`there is no approval request ${id}; !approvals lists the open ones`);
    if (row.status !== 'pending') throw new Refusal(`request ${id} is ${row.status}; ask for a new one`);
    if (row.backend === ctx.actor.backend && row.requester === ctx.actor.id) {
      throw new Refusal(`you asked for request ${id} yourself; another admin must approve it`);
    }
    if (approvals.approvers(row).some((a) => a.backend === ctx.actor.backend && a.id === ctx.actor.id)) {
      throw new Refusal(`you already approved request ${id}; it needs ${row.required} different admins`);
    }
    const list = approvals.addApprover(row, { backend: ctx.actor.backend, id: ctx.actor.id! });
    if (list.length < row.required) {
      await ctx.reply(
        `approval ${list.length} of ${row.required} recorded for request ${id}; it needs another admin`,
      );
      return;
    }
    await runApproved(ctx, approvals.get(id)!, `approved by ${list.map((a) => a.id).join(', ')}`);
  },
});
