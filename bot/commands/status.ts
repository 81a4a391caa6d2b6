import { noArgs } from '../chat/args.ts';
import { formatBytes, formatDuration } from '../platform/format.ts';
import { defineCommand } from '../services.ts';

export default defineCommand({
  name: 'status',
  summary: 'version, uptime, chat connections, whether the AFS cell answers, the database',
  usage: 'status',
  example: 'status',
  permission: 'admin',
  args: noArgs,
  async run(ctx) {
    const s = ctx.services;
    const lines = [`${s.config.name} ${s.version}, up ${formatDuration(Date.now() - s.startedAt.getTime())}`];
    for (const a of s.adapters()) {
      const channels = a.channels.length ? `, channels ${a.channels.join(' ')}` : '';
      lines.push(`${a.backend}: ${a.connected ? 'connected' : 'NOT connected'} (${a.detail})${channels}`);
    }
    const vldb = await s.vos.listvldb();
    if (vldb.ok) {
      const cell = s.config.afs.cell ? ` ${s.config.afs.cell}` : '';
      lines.push(`AFS cell${cell}: answers, ${vldb.entries.length} volumes in the VLDB`);
    } else {
      lines.push(`AFS cell: NOT answering (${vldb.message})`);
    }
    lines.push(
      `database: ${s.database.path}, ${formatBytes(s.database.sizeBytes())}, schema ${s.database.schemaVersion}`,
    );
    await ctx.reply(lines.join('\n'));
  },
});
