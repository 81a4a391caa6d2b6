import { tokens } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'keys',
  summary:
    "list the archive's key slots (who can open it); adding and removing keys is on the command line only: afsbot keys add|remove",
  usage: 'keys',
  example: 'keys',
  permission: 'admin',
  args: tokens,
  async run(ctx, t) {
    if (t.length > 0)
      throw new UserError(
        'in chat, !keys only lists the key slots; passwords never go through chat. On the server: afsbot keys add <name> or afsbot keys remove <id>',
      );
    const r = await ctx.services.archive.restic.keys();
    if (!r.ok) throw new Error(`restic key list failed: ${r.message}`);
    await ctx.reply(
      r.keys
        .map(
          (k) =>
            `${k.current ? '*' : ' '} ${k.id.slice(0, 8)}  ${k.userName}@${k.hostName}  created ${k.created.replace(/\.\d+.*$/, '')}`,
        )
        .join('\n') || 'no keys',
    );
  },
});
