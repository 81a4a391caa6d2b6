// The second half of an approval: re-plan, check that nothing the plan rested on has changed, and run.
import type { ApprovalRow } from './approvals.ts';
import { Approvals } from './approvals.ts';
import { Refusal } from './errors.ts';
import type { CommandContext } from './registry.ts';

/** Lists what differs between two fact sets, as `restored.updated: 1795678686 -> 1795679000`. */
export function factChanges(before: unknown, after: unknown, path = ''): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (typeof before === 'object' && before !== null && typeof after === 'object' && after !== null) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) =>
      factChanges(
        (before as Record<string, unknown>)[k],
        (after as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
      ),
    );
  }
  return [`${path}: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`];
}

export async function runApproved(ctx: CommandContext, row: ApprovalRow, how: string): Promise<void> {
  const s = ctx.services;
  const approvals = new Approvals(s.store, s.clock);
  const spec = s.registry.get(row.command);
  const parsed = spec?.args.safeParse(JSON.parse(row.args));
  if (!spec?.destructive || !parsed?.success)
    throw new Error(`request ${row.id} names a command that can no longer run: ${row.command}`);
  // Claim the request before anything waits: two admins approving at once must not run it twice.
  const claimed = s.store.db
    .prepare(
      `UPDATE approvals SET status = 'approved', decided_at = ?, decided_by = ? WHERE id = ? AND status = 'pending'`,
    )
    .run(s.clock().toISOString(), ctx.actor.id, row.id);
  if (claimed.changes !== 1) throw new Refusal(`request ${row.id} is already being run or decided`);
  // every adapter showing the request (Slack's buttons) learns the outcome
  const tell = (outcome: 'approved' | 'stale') =>
    s.decided({
      requestId: row.id,
      outcome,
      by: { backend: ctx.actor.backend, id: ctx.actor.id },
      at: s.clock(),
    });
  const markStale = () => {
    approvals.set(row.id, { status: 'stale', decided_at: s.clock().toISOString(), decided_by: ctx.actor.id });
    tell('stale');
  };
  let changes: string[];
  try {
    const plan = await spec.destructive.plan(ctx, parsed.data);
    changes = factChanges(JSON.parse(row.facts), plan.facts);
  } catch (err) {
    markStale();
    throw new Refusal(
      `request ${row.id} can no longer run as planned (${(err as Error).message}); ask again for a new plan`,
    );
  }
  if (changes.length > 0) {
    markStale();
    throw new Refusal(
      `what request ${row.id} was planned on has changed (${changes.join('; ')}), so it will not run; ask again with !${row.command} ${(JSON.parse(row.args) as string[]).join(' ')} for a new plan`,
    );
  }
  tell('approved');
  await ctx.reply(`request ${row.id} ${how}; running it`);
  await spec.run({ ...ctx, approvalId: row.id }, parsed.data);
}
