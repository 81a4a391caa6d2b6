import { oneId } from '../chat/args.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'cancel',
  summary: 'stop a job: its whole pipeline stops, partial output is cleaned up, and it reports what was left',
  usage: 'cancel <id>',
  example: 'cancel 12',
  permission: 'admin',
  args: oneId('job', '!jobs'),
  async run(ctx, id) {
    await ctx.reply(ctx.services.jobs.cancel(id));
  },
});
