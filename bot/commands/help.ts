import { optionalWord } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { usageLine } from '../chat/registry.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'help',
  summary: 'list the commands, or explain one',
  usage: 'help [<command>]',
  example: 'help audit',
  permission: 'public',
  args: optionalWord('command name', /^!?[a-z][a-z0-9-]*$/i),
  async run(ctx, name) {
    const { registry, config } = ctx.services;
    const p = config.prefix;
    if (name) {
      const spec = registry.get(name.replace(/^!/, '').toLowerCase());
      if (!spec) throw new UserError(`there is no command "${name}"; ${p}help lists them`);
      await ctx.reply(
        [
          `${p}${spec.name}: ${spec.summary}${spec.permission === 'admin' ? ' (admins only)' : spec.permission === 'user' ? ' (logged-in users)' : ''}`,
          usageLine(p, spec),
        ].join('\n'),
      );
      return;
    }
    const lines = registry
      .all()
      .map(
        (s) =>
          `${p}${s.usage}: ${s.summary}${s.permission === 'admin' ? ' (admins only)' : s.permission === 'user' ? ' (logged-in users)' : ''}`,
      );
    await ctx.reply([...lines, `${p}help <command> shows an example.`].join('\n'));
  },
});
