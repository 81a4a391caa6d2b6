import { tokens } from '../args.ts';
import { UserError } from '../errors.ts';
import { originOfCommand } from '../jobs.ts';
import { renderReport, runNightly } from '../nightly.ts';
import { defineCommand } from '../registry.ts';

export default defineCommand({
  name: 'nightly',
  summary:
    'start the nightly run now (vos backupsys, a level per volume, the dumps), or show what it would do',
  usage: 'nightly run [--dry-run]',
  example: 'nightly run --dry-run',
  permission: 'admin',
  args: tokens.transform((t) => ({
    ok: t[0] === 'run' && (t.length === 1 || (t.length === 2 && t[1] === '--dry-run')),
    dryRun: t[1] === '--dry-run',
  })),
  async run(ctx, { ok, dryRun }) {
    if (!ok) throw new UserError('write "nightly run" or "nightly run --dry-run"');
    const s = ctx.services;
    const running = s.jobs
      .list(0)
      .find((j) => j.kind === 'nightly' && (j.status === 'running' || j.status === 'queued'));
    if (running)
      throw new UserError(
        `the nightly run is already going as job ${running.id}; !job ${running.id} shows where it is`,
      );
    const { id } = s.jobs.submit({
      kind: 'nightly',
      title: `nightly run${dryRun ? ' (dry run)' : ''}`,
      volumes: [],
      origin: originOfCommand(ctx),
      run: async (job) => {
        const started = new Date().toISOString();
        const stats = await runNightly(s, job, dryRun);
        const report = renderReport(stats);
        s.store.db
          .prepare(
            'INSERT INTO nightly_runs (date, dry_run, started_at, ended_at, stats, report) VALUES (?, ?, ?, ?, ?, ?)',
          )
          .run(stats.date, dryRun ? 1 : 0, started, new Date().toISOString(), JSON.stringify(stats), report);
        return report;
      },
    });
    await ctx.reply(`job ${id} started: the nightly run${dryRun ? ' (dry run: nothing is changed)' : ''}`);
  },
});
