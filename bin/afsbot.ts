// The program: reads the config, builds the adapters and the bot, and runs until a signal. A chat
// adapter is loaded only when it is enabled (Slack's SDK alone is a good part of the bot's memory).
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConsoleAdapter } from '../adapters/console/console-adapter.ts';
import { Bot, version } from '../bot/bot.ts';
import type { ChatAdapter } from '../bot/chat/adapter.ts';
import { type Config, ConfigError, loadConfig } from '../bot/platform/config.ts';
import { Database } from '../bot/platform/database.ts';
import { createLogger, type Logger } from '../bot/platform/log.ts';
import { keysMain } from './keys.ts';

const usage = `usage: afsbot [--config FILE] [--console [--exit-at-eof]]
       afsbot keys list | keys add <admin> | keys remove <id>

Runs the bot with the adapters enabled in the config (IRC, Slack, console) until SIGINT or SIGTERM.
  --config FILE   JSON config file (or AFSBOT_CONFIG); environment variables AFSBOT_* override it
  --console       also read commands from this terminal, as the local unix user
  --exit-at-eof   when the console's input ends, let the jobs it started finish and stop (the
                  default only when the console is the only chat; with IRC or Slack the bot runs on)
  --version       print the version`;

function readSecret(file: string, what: string, envName: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `the ${what} file ${file} is unreadable (${(err as NodeJS.ErrnoException).code}): set ${envName} to a readable file`,
    );
  }
  // a secret others can read is no secret: refused, as the archive's password is
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077)
    throw new ConfigError(
      `the ${what} file ${file} can be read by others (mode ${mode.toString(8)}): chmod 600 ${file}`,
    );
  const secret = text.split('\n')[0]?.trim() ?? '';
  if (!secret) throw new ConfigError(`the ${what} file ${file} is empty: put the secret on its first line`);
  return secret;
}

async function buildAdapters(
  config: Config,
  log: Logger,
  forceConsole: boolean,
  jobsDone: () => Promise<void>,
): Promise<{ adapters: ChatAdapter[]; console?: ConsoleAdapter }> {
  const adapters: ChatAdapter[] = [];
  let consoleAdapter: ConsoleAdapter | undefined;
  if (config.irc.enabled) {
    const { IrcAdapter } = await import('../adapters/irc/irc-adapter.ts');
    const irc = config.irc;
    adapters.push(
      new IrcAdapter({
        ...irc,
        ...(irc.account && irc.passwordFile
          ? {
              sasl: {
                account: irc.account,
                password: readSecret(irc.passwordFile, 'IRC password', 'AFSBOT_IRC_PASSWORD_FILE'),
              },
            }
          : {}),
        progressIntervalMs: config.jobs.ircProgressIntervalMs,
        prefix: config.prefix,
        log: log.child({ adapter: 'irc' }),
      }),
    );
  }
  if (config.slack.enabled) {
    const { SlackAdapter } = await import('../adapters/slack/slack-adapter.ts');
    const sl = config.slack;
    const need = (file: string | undefined, what: string, env: string) => {
      if (!file) throw new ConfigError(`Slack is enabled but ${env} (the ${what} file) is not set`);
      return readSecret(file, what, env);
    };
    adapters.push(
      new SlackAdapter({
        mode: sl.mode,
        botToken: need(sl.botTokenFile, 'Slack bot token', 'AFSBOT_SLACK_BOT_TOKEN_FILE'),
        ...(sl.mode === 'socket'
          ? { appToken: need(sl.appTokenFile, 'Slack app token', 'AFSBOT_SLACK_APP_TOKEN_FILE') }
          : {
              signingSecret: need(
                sl.signingSecretFile,
                'Slack signing secret',
                'AFSBOT_SLACK_SIGNING_SECRET_FILE',
              ),
            }),
        host: sl.host,
        port: sl.port,
        apiUrl: sl.apiUrl,
        prefix: config.prefix,
        slashCommand: sl.slashCommand,
        progressIntervalMs: sl.progressIntervalMs,
        channels: sl.reportChannels,
        admins: config.admins.flatMap((person) => person.slack),
        log: log.child({ adapter: 'slack' }),
      }),
    );
  }
  if (config.console.enabled || forceConsole) {
    const script = !process.stdin.isTTY;
    consoleAdapter = new ConsoleAdapter({
      input: process.stdin,
      output: process.stdout,
      prompt: !script,
      ...(script ? { afterLine: () => jobsDone() } : {}),
    });
    adapters.push(consoleAdapter);
  }
  if (adapters.length === 0) {
    throw new ConfigError(
      'no chat adapter is enabled: set irc.enabled, slack.enabled or console.enabled (AFSBOT_IRC=1, AFSBOT_SLACK=1, AFSBOT_CONSOLE=1), or pass --console',
    );
  }
  return consoleAdapter ? { adapters, console: consoleAdapter } : { adapters };
}

async function main(): Promise<number> {
  // afsbot keys list|add|remove: the archive's key slots, on the command line only
  if (process.argv[2] === 'keys') {
    const config = loadConfig(process.env.AFSBOT_CONFIG ? { file: process.env.AFSBOT_CONFIG } : {});
    const log = createLogger({ level: 'warn', ...(config.log.file ? { file: config.log.file } : {}) });
    const database = new Database(config.databasePath);
    try {
      return await keysMain(process.argv.slice(3), { config, database, log });
    } finally {
      database.close();
    }
  }
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      console: { type: 'boolean', default: false },
      'exit-at-eof': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      version: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values.version) {
    console.log(version);
    return 0;
  }
  const file = values.config ?? process.env.AFSBOT_CONFIG;
  const config = loadConfig(file ? { file } : {});
  const log = createLogger({
    level: config.log.level,
    ...(config.log.file ? { file: config.log.file } : {}),
  });
  let bot: Bot | undefined;
  const { adapters, console: consoleAdapter } = await buildAdapters(config, log, values.console, async () =>
    bot?.services.jobs.drain(),
  );
  bot = new Bot({ config, log, adapters });
  const running = bot;

  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    if (!stopping) {
      log.info('stopping', { why });
      stopping = running.stop().then(() => log.close());
    }
    return stopping;
  };
  // Within 30 s whatever chat does: Bot.stop has its own deadline (25 s); this is the last word.
  const onSignal = (sig: string) => {
    setTimeout(() => {
      log.error('stopping took over 30 s; exiting anyway (the next start recovers what was left)');
      process.exit(1);
    }, 30_000).unref();
    void stop(sig).then(() => process.exit(0));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // A rejected promise nobody awaited is a bug to log, not a reason to leave a nightly run half done.
  process.on('unhandledRejection', (err) =>
    log.error('unhandled rejected promise; the bot runs on', { error: err }),
  );

  await running.start();
  if (consoleAdapter) {
    await consoleAdapter.ended;
    const others = adapters.filter((a) => a !== consoleAdapter).map((a) => a.backend);
    if (others.length === 0 || values['exit-at-eof']) {
      // A scripted session: let the jobs it started finish and report before shutting down.
      await running.drain();
      await stop('end of console input');
      return 0;
    }
    // A service's stdin may be /dev/null: the bot does not stop because the console has nothing to say.
    log.info('console input ended; the bot runs on', { adapters: others });
  }
  await new Promise<never>(() => {}); // run until a signal
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`afsbot: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`afsbot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
