import { noArgs } from '../chat/args.ts';
import { jobLine } from '../jobs/job.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'jobs',
  summary: 'the jobs running or waiting, and the last ten that ended',
  usage: 'jobs',
  example: 'jobs',
  permission: 'admin',
  args: noArgs,
  async run(ctx) {
    const rows = ctx.services.jobs.list(10);
    await ctx.reply(rows.length ? rows.map(jobLine).join('\n') : 'no jobs yet');
  },
});
