// Approvals: a destructive command does not act when asked. It posts a plan and an approval request;
// a different admin approves it (as many as the config wants) and only then does it run, and only if
// the facts the plan rested on are still true. Requests live in the database, so they survive a
// restart, and expire. Every decision (approved by a click or a typed !approve, denied, found stale)
// goes through decide(), which records it and tells every chat showing the request.
import type { ApprovalDecision, Conversation, MessageMeta } from '../chat/adapter.ts';
import type { ApprovalGate } from '../chat/dispatcher.ts';
import { Refusal, UserError } from '../chat/errors.ts';
import type { AnySpec, CommandContext, Registry } from '../chat/registry.ts';
import type { ApprovalRow, ApprovalsTable } from './table.ts';

export type { ApprovalRow } from './table.ts';

export interface ApprovalsDeps<S> {
  table: ApprovalsTable;
  registry: Registry<S>;
  clock(): Date;
  prefix: string;
  settings: { required: number; ttlMinutes: number; breakGlass: boolean };
  /** Says something in every ops channel (break-glass). */
  announce(text: string): void;
  /** Says something in the report channels, except the conversation the request came from. */
  report(
    text: string,
    except: { backend: ApprovalDecision['by']['backend']; conversation: Conversation },
    meta: MessageMeta,
  ): void;
  /** Tells every chat that a request was decided (Slack then takes its buttons away). */
  decided(d: ApprovalDecision): void;
}

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

/** Who is acting, for announcements: the person, and the identity they used. */
function actingAs(ctx: { person: string | null; actor: { backend: string; id: string | null } }): string {
  return `${ctx.person ?? ctx.actor.id} (${ctx.actor.backend}:${ctx.actor.id})`;
}

function commandLine(prefix: string, row: Pick<ApprovalRow, 'command' | 'args'>): string {
  return `${prefix}${row.command} ${(JSON.parse(row.args) as string[]).join(' ')}`;
}

export class Approvals<S> implements ApprovalGate<S> {
  constructor(private readonly d: ApprovalsDeps<S>) {}

  get(id: number): ApprovalRow | undefined {
    return this.d.table.get(id);
  }

  open(): ApprovalRow[] {
    return this.d.table.open();
  }

  /**
   * A destructive command: post its plan and an approval request, or, with --break-glass where the
   * config allows it, run it at once and tell every ops channel. Returns the audit detail.
   */
  async request(
    ctx: CommandContext<S>,
    spec: AnySpec<S>,
    tokens: string[],
    args: unknown,
    breakGlass: string | undefined,
  ): Promise<string> {
    const { prefix, settings } = this.d;
    const asked = `${prefix}${spec.name} ${tokens.join(' ')}`;
    if (breakGlass !== undefined) {
      if (!ctx.isAdmin) throw new Refusal('break-glass is for admins: an admin approves what you asked for');
      if (!settings.breakGlass) {
        throw new Refusal(
          'break-glass is not allowed here (approvals.breakGlass is off); ask another admin to !approve a normal request',
        );
      }
      if (breakGlass.trim().length < 3 || breakGlass.startsWith('--')) {
        throw new Refusal(
          `break-glass needs a reason: ${asked} --break-glass "why no second admin can approve"`,
        );
      }
    }
    const plan = await spec.destructive!.plan(ctx, args);
    const row = this.d.table.create({
      command: spec.name,
      args: tokens,
      backend: ctx.actor.backend,
      requester: ctx.actor.id!,
      requesterPerson: ctx.person, // null: a user who is no admin (a restore they ask for)
      conversation: ctx.conversation,
      plan: plan.lines.join('\n'),
      facts: plan.facts,
      required: settings.required,
      ttlMs: settings.ttlMinutes * 60_000,
      ...(breakGlass !== undefined ? { breakGlass } : {}),
    });
    if (breakGlass !== undefined) {
      this.d.announce(
        `BREAK-GLASS: ${actingAs(ctx)} runs "${asked}" with no second admin (request ${row.id}). Reason: ${breakGlass}`,
      );
      await spec.run({ ...ctx, approvalId: row.id }, args);
      return `BREAK-GLASS (request ${row.id}): ${breakGlass}`;
    }
    const until = row.expires_at.slice(11, 16);
    const who =
      settings.required === 1
        ? `an admin other than ${ctx.person ?? ctx.actor.id} approves`
        : `${settings.required} admins other than ${ctx.person ?? ctx.actor.id} approve`;
    const request = [
      ...plan.lines,
      `Request ${row.id}: nothing happens until ${who} with ${prefix}approve ${row.id} (or ${prefix}deny ${row.id} [reason]); it expires at ${until} UTC.`,
    ].join('\n');
    const meta: MessageMeta = { kind: 'approval', requestId: row.id };
    await ctx.reply(request, meta);
    // and in the report channels of every chat, so that an admin on another network can decide too
    this.d.report(
      `${actingAs(ctx)} asks: ${asked}\n${request}`,
      { backend: ctx.actor.backend, conversation: ctx.conversation },
      meta,
    );
    return `approval request ${row.id}`;
  }

  /** A pending request, or a UserError/Refusal saying why there is none to decide on. */
  private pending(id: number): ApprovalRow {
    const row = this.d.table.get(id);
    if (!row) throw new UserError(`there is no approval request ${id}; !approvals lists the open ones`);
    if (row.status !== 'pending') throw new Refusal(`request ${id} is ${row.status}; ask for a new one`);
    return row;
  }

  /** Records a decision on request `id`, then tells every chat that shows it. */
  private decide(
    ctx: CommandContext<S>,
    id: number,
    outcome: ApprovalDecision['outcome'],
    reason?: string,
  ): void {
    this.d.decided({
      requestId: id,
      outcome,
      by: { backend: ctx.actor.backend, id: ctx.actor.id },
      at: this.d.clock(),
      ...(reason ? { reason } : {}),
    });
  }

  /** !approve: one more approver; once there are enough, the command runs if its plan still holds. */
  async approve(ctx: CommandContext<S>, id: number): Promise<void> {
    const { table } = this.d;
    const row = this.pending(id);
    const person = ctx.person!;
    const same = (p: string | null | undefined, backend: string, identity: string) =>
      p ? p === person : backend === ctx.actor.backend && identity === ctx.actor.id;
    // one person is one admin, under any of their identities (IRC, Slack, console)
    if (same(row.requester_person, row.backend, row.requester)) {
      throw new Refusal(
        `you (${person}) asked for request ${id} yourself, as ${row.backend}:${row.requester}; an admin other than you must approve it`,
      );
    }
    if (table.approvers(row).some((a) => same(a.person, a.backend, a.id))) {
      throw new Refusal(
        `you (${person}) already approved request ${id}; it needs ${row.required} different admins`,
      );
    }
    const list = table.addApprover(row, { backend: ctx.actor.backend, id: ctx.actor.id!, person });
    if (list.length < row.required) {
      await ctx.reply(
        `approval ${list.length} of ${row.required} recorded for request ${id}; it needs another admin`,
      );
      return;
    }
    await this.run(ctx, table.get(id)!, `approved by ${list.map((a) => a.person ?? a.id).join(', ')}`);
  }

  /** !deny: the request is dropped, with an optional reason. */
  async deny(ctx: CommandContext<S>, id: number, reason: string | null): Promise<void> {
    const row = this.pending(id);
    if (!this.d.table.claim(id, 'denied', ctx.person ?? ctx.actor.id, reason))
      throw new Refusal(`request ${id} is already being run or decided`);
    this.decide(ctx, id, 'denied', reason ?? undefined);
    await ctx.reply(
      `request ${id} (${commandLine('', row)}) denied by ${ctx.person ?? ctx.actor.id}${reason ? `: ${reason}` : ''}`,
    );
  }

  /** Re-plans, checks that nothing the plan rested on has changed, and runs the command. */
  private async run(ctx: CommandContext<S>, row: ApprovalRow, how: string): Promise<void> {
    const { table, registry } = this.d;
    const spec = registry.get(row.command);
    const parsed = spec?.args.safeParse(JSON.parse(row.args));
    if (!spec?.destructive || !parsed?.success)
      throw new Error(`request ${row.id} names a command that can no longer run: ${row.command}`);
    // Claim the request before anything waits: two admins approving at once must not run it twice.
    if (!table.claim(row.id, 'approved', ctx.person ?? ctx.actor.id))
      throw new Refusal(`request ${row.id} is already being run or decided`);
    const stale = (why: string): never => {
      table.set(row.id, { status: 'stale' });
      this.decide(ctx, row.id, 'stale');
      throw new Refusal(why);
    };
    let changes: string[] = [];
    try {
      // approvalId tells the plan it is checked again for a request (whose requester is not ctx.actor)
      const plan = await spec.destructive.plan({ ...ctx, approvalId: row.id }, parsed.data);
      changes = factChanges(JSON.parse(row.facts), plan.facts);
    } catch (err) {
      stale(
        `request ${row.id} can no longer run as planned (${(err as Error).message}); ask again for a new plan`,
      );
    }
    if (changes.length > 0)
      stale(
        `what request ${row.id} was planned on has changed (${changes.join('; ')}), so it will not run; ask again with ${commandLine(this.d.prefix, row)} for a new plan`,
      );
    this.decide(ctx, row.id, 'approved');
    await ctx.reply(`request ${row.id} ${how}; running it`);
    await spec.run({ ...ctx, approvalId: row.id }, parsed.data);
  }
}
