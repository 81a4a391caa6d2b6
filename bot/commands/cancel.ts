import { z } from 'zod';
import { tokens } from '../args.ts';
import { defineCommand } from '../registry.ts';

export const jobId = tokens.length(1, 'give one job id (!jobs lists them)').transform((t, ctx) => {
  const m = /^#?(\d{1,9})$/.exec(t[0]!);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${t[0]!.slice(0, 20)}" is not a job id` });
    return z.NEVER;
  }
  return Number(m[1]);
});

export default defineCommand({
  name: 'cancel',
  summary: 'stop a job: its whole pipeline stops, partial output is cleaned up, and it reports what was left',
  usage: 'cancel <id>',
  example: 'cancel 12',
  permission: 'admin',
  args: jobId,
  async run(ctx, id) {
    await ctx.reply(ctx.services.jobs.cancel(id));
  },
});
