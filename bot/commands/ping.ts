import { noArgs } from '../chat/args.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'ping',
  summary: 'check that the bot is alive',
  usage: 'ping',
  example: 'ping',
  permission: 'public',
  args: noArgs,
  async run(ctx) {
    await ctx.reply('pong');
  },
});
