// A command is one declarative spec: name, summary, usage with an example, a zod schema for its
// argument tokens, the permission it needs, and its handler. The registry refuses duplicates at start.
import type { z } from 'zod';
import type { Actor, Conversation, MessageMeta } from './chat.ts';
import type { Services } from './services.ts';

export type Permission = 'public' | 'admin';

export interface CommandContext {
  actor: Actor;
  conversation: Conversation;
  /** Whether the sender passed the admin check (public commands run for everyone). */
  isAdmin: boolean;
  /** The audit id of this command: the reference shown for internal errors. */
  ref: number;
  reply(text: string, meta?: MessageMeta): Promise<void>;
  services: Services;
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

export interface Destructive<A> {
  /** Only some forms of a command may be destructive (promote is; promote resume is not). */
  applies?(args: A): boolean;
  plan(ctx: CommandContext, args: A): Promise<Plan>;
}

export interface CommandSpec<A = unknown> {
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
  destructive?: Destructive<A>;
  run(ctx: CommandContext, args: A): Promise<void>;
}

/** Keeps the argument type of each spec checked while letting specs live in one list. */
export function defineCommand<A>(spec: CommandSpec<A>): CommandSpec<A> {
  return spec;
}

export class Registry {
  // biome-ignore lint/suspicious/noExplicitAny: specs of different argument types share one map; each was type-checked by defineCommand
  private readonly commands = new Map<string, CommandSpec<any>>();

  // biome-ignore lint/suspicious/noExplicitAny: see above
  constructor(specs: readonly CommandSpec<any>[]) {
    for (const spec of specs) this.add(spec);
  }

  // biome-ignore lint/suspicious/noExplicitAny: see above
  add(spec: CommandSpec<any>): void {
    if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) {
      throw new Error(`command name "${spec.name}" must be lower-case letters, digits and dashes`);
    }
    if (this.commands.has(spec.name)) {
      throw new Error(`two commands are named "${spec.name}": each command name must be unique`);
    }
    this.commands.set(spec.name, spec);
  }

  // biome-ignore lint/suspicious/noExplicitAny: see above
  get(name: string): CommandSpec<any> | undefined {
    return this.commands.get(name);
  }

  // biome-ignore lint/suspicious/noExplicitAny: see above
  all(): CommandSpec<any>[] {
    return [...this.commands.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
