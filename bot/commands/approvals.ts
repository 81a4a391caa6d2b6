import { noArgs } from '../chat/args.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'approvals',
  summary: 'the open requests for destructive commands, waiting for another admin',
  usage: 'approvals',
  example: 'approvals',
  permission: 'admin',
  args: noArgs,
  async run(ctx) {
    const s = ctx.services;
    const open = s.approvals.open();
    if (open.length === 0) {
      await ctx.reply('no open approval requests');
      return;
    }
    await ctx.reply(
      open
        .map((r) => {
          const left = Math.max(0, Math.round((Date.parse(r.expires_at) - s.clock().getTime()) / 60_000));
          const got = (JSON.parse(r.approvers) as unknown[]).length;
          return `request ${r.id}: ${r.command} ${(JSON.parse(r.args) as string[]).join(' ')} by ${r.requester} on ${r.backend}, ${got} of ${r.required} approvals, expires in ${left} min`;
        })
        .join('\n'),
    );
  },
});
