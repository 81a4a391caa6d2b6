import { formatProgress, type ProgressUpdate } from '../chat/adapter.ts';
import { oneId } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { jobLine } from '../jobs/job.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'job',
  summary: "one job's details and latest progress",
  usage: 'job <id>',
  example: 'job 12',
  permission: 'admin',
  args: oneId('job', '!jobs'),
  async run(ctx, id) {
    const j = ctx.services.jobs.get(id);
    if (!j) throw new UserError(`there is no job ${id}; !jobs lists them`);
    const lines = [jobLine(j)];
    // where it is, while it runs, and where an interrupted one stopped; an ended one's result says it
    const going = j.status === 'queued' || j.status === 'running' || j.status === 'interrupted';
    if (j.progress && going) lines.push(formatProgress(JSON.parse(j.progress) as ProgressUpdate));
    if (j.result) lines.push(`result: ${j.result}`);
    if (j.error) lines.push(`error: ${j.error.split('\n')[0]}`);
    const left = JSON.parse(j.leftovers ?? '[]') as string[];
    if (left.length) lines.push(`may have left: ${left.join('; ')}`);
    await ctx.reply(lines.join('\n'));
  },
});
