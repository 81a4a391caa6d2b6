import { oneId } from '../chat/args.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'approve',
  summary:
    "approve another admin's request for a destructive command; it runs once enough admins agree and its plan still holds",
  usage: 'approve <id>',
  example: 'approve 3',
  permission: 'admin',
  args: oneId('approval', '!approvals'),
  async run(ctx, id) {
    await ctx.services.approvals.approve(ctx, id);
  },
});
