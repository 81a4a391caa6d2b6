import { optionalCount } from '../chat/args.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'audit',
  summary: 'show the last n commands the bot received, refused or not',
  usage: 'audit [<n>]',
  example: 'audit 20',
  permission: 'admin',
  args: optionalCount('how many entries, default 10', 1, 500, 10),
  async run(ctx, n) {
    // The newest entry is this very command; leave it out so "the last n" means the n before it.
    const entries = ctx.services.audit.recent(n + 1).filter((e) => e.id !== ctx.ref);
    const shown = entries.slice(-n);
    if (shown.length === 0) {
      await ctx.reply('the audit trail is empty');
      return;
    }
    const lines = shown.map((e) => {
      const who =
        e.identity === null
          ? `${e.name} (unverified)`
          : e.identity === e.name
            ? e.name
            : `${e.identity} as ${e.name}`;
      // the person behind the identity, when it is not the same word
      const person = e.person && e.person !== e.identity ? ` [${e.person}]` : '';
      const detail = e.detail ? `: ${e.detail.slice(0, 100)}` : '';
      return `#${e.id} ${e.time.slice(0, 19).replace('T', ' ')} ${e.backend} ${who}${person} in ${e.channel}: ${JSON.stringify(e.text.slice(0, 120))} ${e.outcome}${detail}`;
    });
    await ctx.reply(lines.join('\n'));
  },
});
