import { maintenanceJob } from '../backup/archive/maintenance.ts';
import type { MaintenanceKind } from '../backup/archive/maintenance-runs.ts';
import { nightlyJob, nightlyStatus, refuseIfRunning, storedReport } from '../backup/nightly/job.ts';
import { checkVolumeArg } from '../backup/volumes.ts';
import { bad, parseDate, tokens } from '../chat/args.ts';
import { originOf } from '../jobs/job.ts';
import { defineCommand } from '../services.ts';

type Args =
  | { sub: 'run'; dryRun: boolean }
  | { sub: 'status' }
  | { sub: 'report'; date?: string }
  | { sub: 'maintenance'; kinds?: MaintenanceKind[]; volume?: string };

const kinds: MaintenanceKind[] = ['forget', 'check', 'test-restore'];

export default defineCommand({
  name: 'nightly',
  summary:
    'start the nightly run now (or show what it would do), show where it is, show a stored report, or run archive maintenance',
  usage:
    'nightly run [--dry-run] | nightly status | nightly report [<date>] | nightly maintenance [forget|check|test-restore [<volume>]]',
  example: 'nightly report 2013.01.28',
  permission: 'admin',
  args: tokens.transform((t, ctx): Args => {
    const [sub, a, b, ...rest] = t;
    if (sub === 'run' && b === undefined && (a === undefined || a === '--dry-run'))
      return { sub, dryRun: a === '--dry-run' };
    if (sub === 'status' && a === undefined) return { sub };
    if (sub === 'report' && b === undefined) return a === undefined ? { sub } : { sub, date: a };
    if (sub === 'maintenance' && rest.length === 0) {
      if (a === undefined) return { sub };
      if (kinds.includes(a as MaintenanceKind) && (b === undefined || a === 'test-restore'))
        return b === undefined
          ? { sub, kinds: [a as MaintenanceKind] }
          : { sub, kinds: ['test-restore'], volume: b };
    }
    return bad(
      ctx,
      sub ? `"nightly ${t.join(' ').slice(0, 60)}" is not one of the nightly commands` : 'say what to do',
    );
  }),
  async run(ctx, args) {
    const s = ctx.services;
    if (args.sub === 'status') return ctx.reply(nightlyStatus(s, s.schedule.next('nightly')));
    if (args.sub === 'report') {
      const date = args.date === undefined ? undefined : parseDate(args.date, s.clock(), s.config.timeZone);
      return ctx.reply(storedReport(s, date));
    }
    if (args.sub === 'maintenance') {
      if (args.volume) checkVolumeArg(args.volume);
      await s.jobs.start(
        ctx,
        maintenanceJob(s, {
          ...(args.kinds ? { kinds: args.kinds } : {}),
          ...(args.volume ? { testVolume: args.volume } : {}),
        }),
        `archive maintenance (${(args.kinds ?? ['the scheduled set']).join(', ')})`,
      );
      return;
    }
    refuseIfRunning(s);
    await s.jobs.start(
      ctx,
      nightlyJob(s, { dryRun: args.dryRun, origin: originOf(ctx) }),
      `the nightly run${args.dryRun ? ' (dry run: nothing is changed)' : ''}`,
    );
  },
});
