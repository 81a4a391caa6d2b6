// A command is one declarative spec: name, summary, usage with an example, a zod schema for its
// argument tokens, the permission it needs, and its handler. The registry refuses duplicates at start.
// Generic over S, what handlers are given (the bot's Services): the chat pipeline knows nothing of it.
import type { z } from 'zod';
import type { Actor, Conversation, MessageMeta } from './adapter.ts';

/** public: anyone; user: anyone whose identity the platform vouches for; admin: an admin person. */
export type Permission = 'public' | 'user' | 'admin';

export interface CommandContext<S> {
  actor: Actor;
  conversation: Conversation;
  /** Whether the sender passed the admin check (public commands run for everyone). */
  isAdmin: boolean;
  /** The admin (person, from config `admins`) the sender's identity belongs to; null for non-admins. */
  person: string | null;
  /** The audit id of this command: the reference shown for internal errors. */
  ref: number;
  reply(text: string, meta?: MessageMeta): Promise<void>;
  services: S;
  /** Set when this run was approved (or break-glassed) through an approval request. */
  approvalId?: number;
}

/** What a destructive command shows before it may run, and the facts an approval is bound to. */
export interface Plan {
  summary: string;
  lines: string[];
  /** Compared again at approval time: if anything differs, the request is refused as stale. */
  facts: unknown;
}

export interface Destructive<A, S> {
  /** Only some forms of a command may be destructive (promote is; promote rollback is not). */
  applies?(args: A, ctx: CommandContext<S>): boolean;
  plan(ctx: CommandContext<S>, args: A): Promise<Plan>;
}

export interface CommandSpec<A, S> {
  name: string;
  summary: string;
  /** Without the prefix: `audit [<n>]`. */
  usage: string;
  /** Without the prefix: `audit 20`. */
  example: string;
  permission: Permission;
  /** Validates and converts the argument tokens. Its messages are shown to the user, so make them helpful. */
  args: z.ZodType<A, string[]>;
  /** Destructive commands do not run when asked: they post a plan and wait for another admin. */
  destructive?: Destructive<A, S>;
  run(ctx: CommandContext<S>, args: A): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: specs of different argument types share one map; each was type-checked where it was defined
export type AnySpec<S> = CommandSpec<any, S>;

export class Registry<S> {
  private readonly commands = new Map<string, AnySpec<S>>();

  constructor(specs: readonly AnySpec<S>[]) {
    for (const spec of specs) this.add(spec);
  }

  add(spec: AnySpec<S>): void {
    if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) {
      throw new Error(`command name "${spec.name}" must be lower-case letters, digits and dashes`);
    }
    if (this.commands.has(spec.name)) {
      throw new Error(`two commands are named "${spec.name}": each command name must be unique`);
    }
    this.commands.set(spec.name, spec);
  }

  get(name: string): AnySpec<S> | undefined {
    return this.commands.get(name);
  }

  all(): AnySpec<S>[] {
    return [...this.commands.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

export function usageLine(prefix: string, spec: { usage: string; example: string }): string {
  return `usage: ${prefix}${spec.usage} (e.g. ${prefix}${spec.example})`;
}
