import { noArgs } from '../args.ts';
import type { JobRow } from '../jobs.ts';
import { defineCommand } from '../registry.ts';

export function jobLine(j: JobRow): string {
  const when = (j.ended_at ?? j.started_at ?? j.created_at).slice(0, 19).replace('T', ' ');
  return `job ${j.id} ${j.status} ${j.title} (${j.identity ?? 'unknown'} on ${j.backend}, ${when})`;
}

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
