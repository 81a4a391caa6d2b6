// backup-manager: the wiki's command-line tool, rebuilt on the bot's own commands. Each subcommand is
// one bot command run in this process as the local unix user (checked against the admins' console identities), with
// the same store, the same catalog and the same locks as the bot, so it works when chat is down and
// never collides with a running bot.
import { Readable } from 'node:stream';
import { ConsoleAdapter } from '../adapters/console/console-adapter.ts';
import { Bot } from '../bot/bot.ts';
import { ConfigError, loadConfig } from '../bot/platform/config.ts';
import { Database } from '../bot/platform/database.ts';
import { createLogger } from '../bot/platform/log.ts';
import { keysMain, keysUsage } from './keys.ts';

interface Sub {
  usage: string;
  help: string;
  /** The bot command for these arguments, or undefined when they are wrong. */
  command(args: string[]): string | undefined;
}

const subs: Record<string, Sub> = {
  list: {
    usage: 'backup-manager list [<date>]',
    help: 'Lists the dates that have dumps, or the dumps of one date (local, archived, or both).',
    command: (a) => (a.length <= 1 ? `backup list ${a.join(' ')}`.trim() : undefined),
  },
  get: {
    usage: 'backup-manager get <date> <volume>',
    help: 'Puts the dump chain of a volume for a date (full, and the incremental if any) in the staging directory, from local disk or from the archive.',
    command: (a) => (a.length === 2 ? `backup get ${a[0]} ${a[1]}` : undefined),
  },
  restore: {
    usage: 'backup-manager restore <date> <volume> <newname>',
    help: 'Restores a volume as of a date into a new volume <newname> (vos restore of its chain; it never overwrites).',
    command: (a) => (a.length === 3 ? `restore ${a[0]} ${a[1]} as ${a[2]}` : undefined),
  },
  nightly: {
    usage: 'backup-manager nightly [--dry-run | status]',
    help: 'Runs the nightly run now (refused while one is going), or shows what it would do, or where the running one is.',
    command: (a) =>
      a.length === 0
        ? 'nightly run'
        : a.length === 1 && a[0] === '--dry-run'
          ? 'nightly run --dry-run'
          : a.length === 1 && a[0] === 'status'
            ? 'nightly status'
            : undefined,
  },
  report: {
    usage: 'backup-manager report [<date>]',
    help: 'Shows the stored report of the last nightly run, or of a date.',
    command: (a) => (a.length <= 1 ? `nightly report ${a.join(' ')}`.trim() : undefined),
  },
};

const usage = `usage: backup-manager <command> [arguments]   (--help after a command for its own)
  ${Object.values(subs)
    .map((s) => s.usage.replace('backup-manager ', ''))
    .join('\n  ')}
  keys list | keys add <admin> | keys remove <id>

The same store, catalog and locks as the bot (config: --config FILE or AFSBOT_CONFIG, and AFSBOT_*).`;

async function main(argv: string[]): Promise<number> {
  let args = [...argv];
  let configFile = process.env.AFSBOT_CONFIG;
  if (args[0] === '--config') {
    configFile = args[1];
    args = args.slice(2);
  }
  const [name, ...rest] = args;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name ? 0 : 2;
  }
  if (name !== 'keys' && !subs[name]) {
    process.stderr.write(`backup-manager: "${name}" is not a command\n${usage}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(
      name === 'keys' ? `${keysUsage}\n` : `usage: ${subs[name]!.usage}\n${subs[name]!.help}\n`,
    );
    return 0;
  }
  const config = loadConfig(configFile ? { file: configFile } : {});
  const log = createLogger({
    level: config.log.file ? config.log.level : 'warn',
    ...(config.log.file ? { file: config.log.file } : {}),
  });
  if (name === 'keys') {
    const database = new Database(config.databasePath);
    try {
      return await keysMain(rest, { config, database, log });
    } finally {
      database.close();
    }
  }
  const command = subs[name]!.command(rest);
  if (command === undefined) {
    process.stderr.write(`usage: ${subs[name]!.usage}\n`);
    return 2;
  }
  let bot: Bot | undefined;
  const adapter = new ConsoleAdapter({
    input: Readable.from([`${command}\n`]),
    output: process.stdout,
    prompt: false,
    afterLine: async () => bot?.drain(),
  });
  bot = new Bot({ config, log, adapters: [adapter] });
  const started = new Date().toISOString();
  const stop = () => void bot.stop().then(() => process.exit(130));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await bot.start({ schedule: false, recover: false });
  await adapter.ended;
  await bot.drain();
  // The exit status: the command's audit outcome, and every job this process ran.
  const s = bot.services;
  const audit = s.audit.lastSince('console', started);
  const jobs = s.jobs.statusesOf(process.pid, started);
  // a nightly run that ended but is NOT SAFE (a volume failed, the archive failed) is a failure too,
  // so that a cron wrapper around `backup-manager nightly` alerts
  const night = s.nightlyRuns.startedSince(started);
  await bot.stop({ wait: true });
  log.close();
  const safe = night === undefined || /^nightly \S+: OK\./.test(night.report);
  const ok = audit?.outcome === 'ok' && jobs.every((j) => j === 'ok') && safe;
  return ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`backup-manager: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
