import { tokens } from '../args.ts';
import { parseDate } from '../dates.ts';
import { UserError } from '../errors.ts';
import { originOfCommand } from '../jobs.ts';
import { type MaintenanceKind, startMaintenance } from '../maintenance.ts';
import { nightlyStatus, startNightly, storedReport } from '../nightly.ts';
import { defineCommand } from '../registry.ts';

type Args =
  | { sub: 'run'; dryRun: boolean }
  | { sub: 'status' }
  | { sub: 'report'; date?: string }
  | { sub: 'maintenance'; kinds?: MaintenanceKind[]; volume?: string }
  | { error: string };

const usage =
  'nightly run [--dry-run] | nightly status | nightly report [<date>] | nightly maintenance [forget|check|test-restore [<volume>]]';
const kinds: MaintenanceKind[] = ['forget', 'check', 'test-restore'];

export default defineCommand({
  name: 'nightly',
  summary:
    'start the nightly run now (or show what it would do), show where it is, show a stored report, or run archive maintenance',
  usage,
  example: 'nightly report 2013.01.28',
  permission: 'admin',
  args: tokens.transform((t): Args => {
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
    return {
      error: sub
        ? `"nightly ${t.join(' ').slice(0, 60)}" is not one of the nightly commands`
        : 'say what to do',
    };
  }),
  async run(ctx, args) {
    if ('error' in args) throw new UserError(args.error);
    const s = ctx.services;
    if (args.sub === 'status') return ctx.reply(nightlyStatus(s, s.nextNightly()));
    if (args.sub === 'report') {
      const date = args.date === undefined ? undefined : parseDate(args.date, s.clock(), s.config.timeZone);
      return ctx.reply(storedReport(s, date));
    }
    if (args.sub === 'maintenance') {
      const id = startMaintenance(s, {
        origin: originOfCommand(ctx),
        ...(args.kinds ? { kinds: args.kinds } : {}),
        ...(args.volume ? { testVolume: args.volume } : {}),
      });
      return ctx.reply(
        `job ${id} started: archive maintenance (${(args.kinds ?? ['the scheduled set']).join(', ')})`,
      );
    }
    const id = startNightly(s, { dryRun: args.dryRun, origin: originOfCommand(ctx) });
    await ctx.reply(
      `job ${id} started: the nightly run${args.dryRun ? ' (dry run: nothing is changed)' : ''}`,
    );
  },
});
