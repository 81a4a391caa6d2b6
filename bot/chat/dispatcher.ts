// parse -> registry -> validate -> authorize -> run (or, for a destructive command, the approval gate),
// with one error boundary and one audit entry per received command. Everything a user sees about a
// refusal or a mistake is decided here.
import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/log.ts';
import type { ChatEvent, MessageMeta } from './adapter.ts';
import type { AuditLog } from './audit.ts';
import { authorize, personOf } from './auth.ts';
import type { StrangerBudget } from './budget.ts';
import { NotNow, Refusal, UserError } from './errors.ts';
import { pageOf, takePage } from './paging.ts';
import { parseCommand } from './parse.ts';
import { type AnySpec, type CommandContext, type Registry, usageLine } from './registry.ts';

/**
 * Answers the sender. `bulk` for an answer to a non-admin: it goes after every admin's answer and every
 * job's result, so that strangers can never keep an admin waiting.
 */
export type Send = (event: ChatEvent, text: string, meta?: MessageMeta, bulk?: boolean) => Promise<void>;

/**
 * Where a destructive command goes instead of running: it posts a plan and an approval request (or,
 * with --break-glass where allowed, runs at once and says so everywhere). Returns the audit detail.
 */
export interface ApprovalGate<S> {
  request(
    ctx: CommandContext<S>,
    spec: AnySpec<S>,
    tokens: string[],
    args: unknown,
    breakGlass: string | undefined,
  ): Promise<string>;
}

export interface DispatcherDeps<S> {
  prefix: string;
  /** What non-admins may make the bot say; past it the bot is silent (and audits). */
  budget?: StrangerBudget;
  admins: Config['admins'];
  registry: Registry<S>;
  audit: AuditLog;
  log: Logger;
  services: S;
  gate: ApprovalGate<S>;
  send: Send;
  /** The database file, named when it cannot be written. */
  databasePath?: string;
  /** Lines of a long answer shown at once (--page N for the others); default 40. */
  pageLines?: number;
}

export class Dispatcher<S> {
  constructor(private readonly d: DispatcherDeps<S>) {}

  async handle(event: ChatEvent): Promise<void> {
    const { prefix, audit, registry, log } = this.d;
    const parsed = parseCommand(event.text, prefix, event.conversation.kind === 'direct');
    if (parsed.kind === 'none') return;

    const person = personOf(event.actor, this.d.admins);
    const admin = person !== null;
    let ref: number;
    try {
      ref = audit.record({
        backend: event.actor.backend,
        identity: event.actor.id,
        person,
        name: event.actor.name,
        channel: event.conversation.id,
        text: event.text.slice(0, 2000),
        command: parsed.kind === 'command' ? parsed.name : null,
      });
    } catch (err) {
      // Nothing runs that cannot be audited (and with the database unwritable, no job could keep its
      // state). An admin is told why; a stranger gets nothing, as past the budget.
      log.error('a command could not be audited, so it was not run', { text: event.text, error: err });
      if (admin)
        await this.d.send(
          event,
          `error: afsbot cannot write its database${this.d.databasePath ? ` (${this.d.databasePath})` : ''}: ${(err as Error).message}. Nothing was done; free some space on its file system and ask again.`,
        );
      return;
    }
    // a stranger past the budget is not answered at all: audited, and silent
    const quiet =
      this.d.budget !== undefined &&
      !admin &&
      !this.d.budget.take(`${event.actor.backend}:${event.actor.id ?? `nick:${event.actor.name}`}`);
    if (quiet) {
      audit.settle(ref, 'refused', 'over the budget of answers for non-admins; not answered');
      return;
    }
    const reply = (text: string, meta?: MessageMeta) => this.d.send(event, text, meta, !admin);

    if (parsed.kind === 'invalid') {
      audit.settle(ref, 'rejected', parsed.reason);
      await reply(`error: ${parsed.reason}`);
      return;
    }

    const spec = registry.get(parsed.name);
    if (!spec) {
      const reason = `unknown command "${parsed.name}"; ${prefix}help lists the commands`;
      audit.settle(ref, 'rejected', reason);
      await reply(`error: ${reason}`);
      return;
    }

    /** One way to refuse: audited as refused, logged with who it was, told to the sender. */
    const refuse = async (reason: string) => {
      audit.settle(ref, 'refused', reason);
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

    // who may run it is checked before its arguments: a stranger learns nothing of how an admin
    // command is used, and nothing of what was typed is echoed back
    const authz = authorize(event.actor, spec.permission, this.d.admins);
    if (!authz.allowed) {
      await refuse(authz.reason);
      return;
    }

    // --page N of a long answer, for any command
    let paging: { tokens: string[]; page: number };
    try {
      paging = takePage(parsed.args);
    } catch (err) {
      audit.settle(ref, 'rejected', (err as Error).message);
      await reply(`error: ${(err as Error).message}`);
      return;
    }
    // A destructive command may be forced by one admin, where the config allows it, with a reason.
    let tokens = paging.tokens;
    let breakGlass: string | undefined;
    const bg = spec.destructive ? tokens.indexOf('--break-glass') : -1;
    if (bg >= 0) {
      breakGlass = tokens[bg + 1] ?? '';
      tokens = [...tokens.slice(0, bg), ...tokens.slice(bg + 2)];
    }
    const args = spec.args.safeParse(tokens);
    if (!args.success) {
      const why = args.error.issues.map((i) => i.message).join('; ');
      audit.settle(ref, 'rejected', why);
      await reply(`error: ${why}. ${usageLine(prefix, spec)}`);
      return;
    }

    const ctx: CommandContext<S> = {
      actor: event.actor,
      conversation: event.conversation,
      isAdmin: authz.isAdmin,
      person: authz.person,
      ref,
      // an answer (not a job's news, which has its own shape) longer than a page comes a page at a time
      reply: (text, meta) =>
        reply(
          meta
            ? text
            : pageOf(
                text,
                paging.page,
                this.d.pageLines ?? 40,
                `${prefix}${spec.name}${tokens.length ? ` ${tokens.join(' ')}` : ''}`,
              ),
          meta,
        ),
      services: this.d.services,
    };
    try {
      if (spec.destructive && (spec.destructive.applies?.(args.data, ctx) ?? true)) {
        audit.settle(ref, 'ok', await this.d.gate.request(ctx, spec, tokens, args.data, breakGlass));
        return;
      }
      await spec.run(ctx, args.data);
      audit.settle(ref, 'ok', null);
    } catch (err) {
      if (err instanceof Refusal) {
        await refuse(err.message);
        return;
      }
      if (err instanceof UserError) {
        audit.settle(ref, 'rejected', err.message);
        await reply(
          err instanceof NotNow
            ? `error: ${err.message}`
            : `error: ${err.message}. ${usageLine(prefix, spec)}`,
        );
        return;
      }
      const error = err instanceof Error ? err : new Error(String(err));
      audit.settle(ref, 'failed', error.message);
      log.error('command failed', { ref, command: spec.name, error });
      // an admin is told what broke (a tool that timed out, a disk that failed); the stack is in the log
      const why = admin ? `: ${error.message.split('\n')[0]}` : '';
      await reply(`${prefix}${spec.name} failed${why} (ref ${ref}; the details are in the log)`);
    }
  }
}
