import { idFirst } from '../chat/args.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'deny',
  summary: 'drop a request for a destructive command, with an optional reason',
  usage: 'deny <id> [<reason>]',
  example: 'deny 3 wrong date, use the 28th',
  permission: 'admin',
  args: idFirst('approval', '!approvals'),
  async run(ctx, { id, rest }) {
    await ctx.services.approvals.deny(ctx, id, rest.join(' ').slice(0, 300) || null);
  },
});
