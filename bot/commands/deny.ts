import { Approvals } from '../approvals.ts';
import { Refusal, UserError } from '../errors.ts';
import { defineCommand } from '../registry.ts';
import { approvalId } from './approve.ts';

export default defineCommand({
  name: 'deny',
  summary: 'drop a request for a destructive command, with an optional reason',
  usage: 'deny <id> [<reason>]',
  example: 'deny 3 wrong date, use the 28th',
  permission: 'admin',
  args: approvalId,
  async run(ctx, { id, rest }) {
    const s = ctx.services;
    const approvals = new Approvals(s.store, s.clock);
    const row = approvals.get(id);
    if (!row) throw new UserError(`there is no approval request ${id}; !approvals lists the open ones`);
    if (row.status !== 'pending') throw new Refusal(`request ${id} is already ${row.status}`);
    const reason = rest.join(' ').slice(0, 300) || null;
    approvals.set(id, {
      status: 'denied',
      decided_at: s.clock().toISOString(),
      decided_by: ctx.actor.id,
      reason,
    });
    s.decided({
      requestId: id,
      outcome: 'denied',
      by: { backend: ctx.actor.backend, id: ctx.actor.id },
      at: s.clock(),
      ...(reason ? { reason } : {}),
    });
    await ctx.reply(
      `request ${id} (${row.command} ${(JSON.parse(row.args) as string[]).join(' ')}) denied by ${ctx.actor.id}${reason ? `: ${reason}` : ''}`,
    );
  },
});
