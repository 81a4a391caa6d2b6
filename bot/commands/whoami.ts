import { noArgs } from '../chat/args.ts';
import { defineCommand } from '../services.ts';

const kind = { irc: 'IRC services account', slack: 'Slack user', console: 'unix user' } as const;

export default defineCommand({
  name: 'whoami',
  summary: 'show who the bot thinks you are, and whether you are an admin',
  usage: 'whoami',
  example: 'whoami',
  permission: 'public',
  args: noArgs,
  async run(ctx) {
    const { actor } = ctx;
    if (actor.id === null) {
      await ctx.reply(
        `you are ${actor.name} on ${actor.backend}, not verified (${actor.unverifiedReason ?? 'no identity'}); not an admin`,
      );
      return;
    }
    const shown = actor.name !== actor.id ? ` (shown as ${actor.name})` : '';
    await ctx.reply(
      `you are ${kind[actor.backend]} ${actor.id}${shown}; ${ctx.person ? `admin ${ctx.person}` : 'not an admin'}`,
    );
  },
});
