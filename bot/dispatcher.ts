// parse -> registry -> validate -> authorize -> run, with one error boundary and one audit entry per
// received command. Everything a user sees about a refusal or a mistake is decided here.
import { authorize } from './auth.ts';
import type { ChatEvent } from './chat.ts';
import { UserError } from './errors.ts';
import { parseCommand } from './parse.ts';
import type { CommandSpec } from './registry.ts';
import type { Services } from './services.ts';

export type Send = (event: ChatEvent, text: string) => Promise<void>;

export function usageLine(prefix: string, spec: CommandSpec<unknown>): string {
  return `usage: ${prefix}${spec.usage} (e.g. ${prefix}${spec.example})`;
}

export class Dispatcher {
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
    const reply = (text: string) => this.send(event, text);

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

    const args = spec.args.safeParse(parsed.args);
    if (!args.success) {
      const why = args.error.issues.map((i) => i.message).join('; ');
      store.settleAudit(ref, 'rejected', why);
      await reply(`error: ${why}. ${usageLine(prefix, spec)}`);
      return;
    }

    const decision = authorize(event.actor, spec.permission, config.admins);
    if (!decision.allowed) {
      store.settleAudit(ref, 'refused', decision.reason);
      log.warn('refused', {
        ref,
        backend: event.actor.backend,
        identity: event.actor.id,
        nick: event.actor.name,
        command: spec.name,
        reason: decision.reason,
      });
      await reply(`refused: ${decision.reason}`);
      return;
    }

    try {
      await spec.run(
        {
          actor: event.actor,
          conversation: event.conversation,
          isAdmin: decision.isAdmin,
          ref,
          reply,
          services: this.services,
        },
        args.data,
      );
      store.settleAudit(ref, 'ok', null);
    } catch (err) {
      if (err instanceof UserError) {
        store.settleAudit(ref, 'rejected', err.message);
        await reply(`error: ${err.message}. ${usageLine(prefix, spec)}`);
        return;
      }
      const error = err instanceof Error ? err : new Error(String(err));
      store.settleAudit(ref, 'failed', error.message);
      log.error('command failed', { ref, command: spec.name, error });
      await reply(`${prefix}${spec.name} failed (ref ${ref}); the details are in the log`);
    }
  }
}
