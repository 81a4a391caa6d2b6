// parse -> registry -> validate -> authorize -> run, with one error boundary and one audit entry per
// received command. Everything a user sees about a refusal or a mistake is decided here.

import { Approvals } from './approvals.ts';
import { authorize } from './auth.ts';
import type { ChatEvent, MessageMeta } from './chat.ts';
import { NotNow, Refusal, UserError } from './errors.ts';
import { parseCommand } from './parse.ts';
import type { CommandContext, CommandSpec } from './registry.ts';
import type { Services } from './services.ts';

export type Send = (event: ChatEvent, text: string, meta?: MessageMeta) => Promise<void>;

export function usageLine(prefix: string, spec: CommandSpec<unknown>): string {
  return `usage: ${prefix}${spec.usage} (e.g. ${prefix}${spec.example})`;
}

export class Dispatcher {
  /**
   * A destructive command: post its plan and an approval request, or, with --break-glass where the
   * config allows it, run it at once and tell every ops channel. Returns the audit detail.
   */
  private async destructive(
    ctx: CommandContext,
    spec: CommandSpec<unknown>,
    tokens: string[],
    args: unknown,
    breakGlass: string | undefined,
  ): Promise<string> {
    const { config, clock } = this.services;
    const approvals = new Approvals(this.services.store, clock);
    if (breakGlass !== undefined) {
      if (!config.approvals.breakGlass) {
        throw new Refusal(
          'break-glass is not allowed here (approvals.breakGlass is off); ask another admin to !approve a normal request',
        );
      }
      if (breakGlass.trim().length < 3 || breakGlass.startsWith('--')) {
        throw new Refusal(
          `break-glass needs a reason: ${config.prefix}${spec.name} ${tokens.join(' ')} --break-glass "why no second admin can approve"`,
        );
      }
    }
    const plan = await spec.destructive!.plan(ctx, args);
    const row = approvals.create({
      command: spec.name,
      args: tokens,
      backend: ctx.actor.backend,
      requester: ctx.actor.id!,
      conversation: ctx.conversation,
      plan: plan.lines.join('\n'),
      facts: plan.facts,
      required: config.approvals.required,
      ttlMs: config.approvals.ttlMinutes * 60_000,
      ...(breakGlass !== undefined ? { breakGlass } : {}),
    });
    if (breakGlass !== undefined) {
      await this.services.announce(
        `BREAK-GLASS: ${ctx.actor.id} on ${ctx.actor.backend} runs "${config.prefix}${spec.name} ${tokens.join(' ')}" with no second admin (request ${row.id}). Reason: ${breakGlass}`,
      );
      await spec.run({ ...ctx, approvalId: row.id }, args);
      return `BREAK-GLASS (request ${row.id}): ${breakGlass}`;
    }
    const until = row.expires_at.slice(11, 16);
    const request = [
      ...plan.lines,
      `Request ${row.id}: nothing happens until ${config.approvals.required === 1 ? 'another admin approves' : `${config.approvals.required} other admins approve`} with ${config.prefix}approve ${row.id} (or ${config.prefix}deny ${row.id} [reason]); it expires at ${until} UTC.`,
    ].join('\n');
    const meta: MessageMeta = { kind: 'approval', requestId: row.id };
    await ctx.reply(request, meta);
    // and in the report channels of every chat, so that an admin on another network can decide too
    await this.services.report(
      `${ctx.actor.id} on ${ctx.actor.backend} asks: ${config.prefix}${spec.name} ${tokens.join(' ')}\n${request}`,
      { backend: ctx.actor.backend, identity: ctx.actor.id, conversation: ctx.conversation },
      meta,
    );
    return `approval request ${row.id}`;
  }

  constructor(
    private readonly services: Services,
    private readonly send: Send,
  ) {}

  async handle(event: ChatEvent): Promise<void> {
    const { config, store, registry, log } = this.services;
    const prefix = config.prefix;
    const parsed = parseCommand(event.text, prefix, event.conversation.kind === 'direct');
    if (parsed.kind === 'none') return;

    const ref = store.audit({
      backend: event.actor.backend,
      identity: event.actor.id,
      name: event.actor.name,
      channel: event.conversation.id,
      text: event.text.slice(0, 2000),
      command: parsed.kind === 'command' ? parsed.name : null,
    });
    const reply = (text: string, meta?: MessageMeta) => this.send(event, text, meta);

    if (parsed.kind === 'invalid') {
      store.settleAudit(ref, 'rejected', parsed.reason);
      await reply(`error: ${parsed.reason}`);
      return;
    }

    const spec = registry.get(parsed.name);
    if (!spec) {
      const reason = `unknown command "${parsed.name}"; ${prefix}help lists the commands`;
      store.settleAudit(ref, 'rejected', reason);
      await reply(`error: ${reason}`);
      return;
    }

    // A destructive command may be forced by one admin, where the config allows it, with a reason.
    let tokens = parsed.args;
    let breakGlass: string | undefined;
    const bg = spec.destructive ? tokens.indexOf('--break-glass') : -1;
    if (bg >= 0) {
      breakGlass = tokens[bg + 1] ?? '';
      tokens = [...tokens.slice(0, bg), ...tokens.slice(bg + 2)];
    }
    const args = spec.args.safeParse(tokens);
    if (!args.success) {
      const why = args.error.issues.map((i) => i.message).join('; ');
      store.settleAudit(ref, 'rejected', why);
      await reply(`error: ${why}. ${usageLine(prefix, spec)}`);
      return;
    }

    /** One way to refuse: audited as refused, logged with who it was, told to the sender. */
    const refuse = async (reason: string) => {
      store.settleAudit(ref, 'refused', reason);
      log.warn('refused', {
        ref,
        backend: event.actor.backend,
        identity: event.actor.id,
        nick: event.actor.name,
        command: spec.name,
        reason,
      });
      await reply(`refused: ${reason}`);
    };

    const decision = authorize(event.actor, spec.permission, config.admins);
    if (!decision.allowed) {
      await refuse(decision.reason);
      return;
    }

    const ctx: CommandContext = {
      actor: event.actor,
      conversation: event.conversation,
      isAdmin: decision.isAdmin,
      ref,
      reply,
      services: this.services,
    };
    try {
      if (spec.destructive && (spec.destructive.applies?.(args.data) ?? true)) {
        const detail = await this.destructive(ctx, spec, tokens, args.data, breakGlass);
        store.settleAudit(ref, 'ok', detail);
        return;
      }
      await spec.run(ctx, args.data);
      store.settleAudit(ref, 'ok', null);
    } catch (err) {
      if (err instanceof Refusal) {
        await refuse(err.message);
        return;
      }
      if (err instanceof UserError) {
        store.settleAudit(ref, 'rejected', err.message);
        await reply(
          err instanceof NotNow
            ? `error: ${err.message}`
            : `error: ${err.message}. ${usageLine(prefix, spec)}`,
        );
        return;
      }
      const error = err instanceof Error ? err : new Error(String(err));
      store.settleAudit(ref, 'failed', error.message);
      log.error('command failed', { ref, command: spec.name, error });
      await reply(`${prefix}${spec.name} failed (ref ${ref}); the details are in the log`);
    }
  }
}
