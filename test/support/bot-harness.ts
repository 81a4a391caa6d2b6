// Runs the real Bot with the real IRC adapter in the test process, against the real peers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { IrcAdapter } from '../../adapters/irc/irc-adapter.ts';
import { Bot } from '../../bot/bot.ts';
import type { ChatAdapter } from '../../bot/chat/adapter.ts';
import { type Config, loadConfig } from '../../bot/platform/config.ts';
import { createLogger, type Logger } from '../../bot/platform/log.ts';
import { sandboxEnv } from './bot-env.ts';
import { IrcUser } from './irc-user.ts';
import { MemoryAdapter } from './memory-adapter.ts';
import type { CellInfo, IrcInfo } from './peers.ts';

export interface Harness {
  bot: Bot;
  /** The bot's nick: its own per test file, since files run side by side on one server. */
  nick: string;
  config: Config;
  adapter: IrcAdapter;
  /** Everything the bot logged, as parsed JSON lines. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startIrcBot(opts: {
  irc: IrcInfo;
  cell?: CellInfo;
  channels: string[];
  admins?: string[];
  env?: Record<string, string>;
  registerTimeoutMs?: number;
  /** Default: afsbot-<first channel>. */
  nick?: string;
  /** More adapters beside IRC, in the same bot (Slack, for the both-at-once test). */
  also?: (config: Config, log: Logger) => ChatAdapter[];
  /** The SASL password it logs in with (default: the account's own). */
  saslPassword?: string;
  /** Where it connects (default: the test server): a test's own proxy in front of it. */
  port?: number;
  /** Returns once bot.start() has (without waiting to be in the channels). */
  noWait?: boolean;
}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'afsbot-it-'));
  const nick = opts.nick ?? `afsbot-${opts.channels[0]!.replace(/^#(ops-)?/, '')}`.slice(0, 30);
  IrcUser.bot = nick;
  const passwordFile = join(dir, 'irc-password');
  const password = opts.saslPassword ?? opts.irc.passwords.afsbot!;
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const config = loadConfig({
    env: {
      // everything under its own directory (with a cell: the whole sandbox, archive included)
      ...(opts.cell
        ? sandboxEnv(opts.cell, dir)
        : {
            AFSBOT_DUMP_DIR: join(dir, 'dumps'),
            AFSBOT_STAGING_DIR: join(dir, 'staging'),
            AFSBOT_NIGHTLY_SCHEDULE: 'never',
            AFSBOT_MAINTENANCE_SCHEDULE: 'never',
          }),
      AFSBOT_DATABASE: join(dir, 'afsbot.db'),
      AFSBOT_ADMINS: (opts.admins ?? ['alice', 'bob']).map((a) => `${a} irc:${a}`).join('; '),
      AFSBOT_IRC: '1',
      AFSBOT_IRC_HOST: opts.irc.host,
      AFSBOT_IRC_PORT: String(opts.port ?? opts.irc.port),
      AFSBOT_IRC_TLS: '0',
      AFSBOT_IRC_ACCOUNT: 'afsbot',
      AFSBOT_IRC_SERVICES_SERVER: opts.irc.servicesServer,
      AFSBOT_IRC_PASSWORD_FILE: passwordFile,
      AFSBOT_IRC_NICK: nick,
      AFSBOT_IRC_CHANNELS: opts.channels.join(','),
      AFSBOT_METRICS: '0',
      ...opts.env,
    },
  });
  const logStream = new PassThrough();
  const lines: string[] = [];
  let partial = '';
  logStream.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const log = createLogger({ level: 'debug', stream: logStream });
  const adapter = new IrcAdapter({
    ...config.irc,
    ...(opts.registerTimeoutMs ? { registerTimeoutMs: opts.registerTimeoutMs } : {}),
    progressIntervalMs: config.jobs.ircProgressIntervalMs,
    prefix: config.prefix,
    sasl: { account: 'afsbot', password },
    log: log.child({ adapter: 'irc' }),
  });
  const bot = new Bot({ config, log, adapters: [adapter, ...(opts.also?.(config, log) ?? [])] });
  await bot.start();
  // Ready means in every channel: tests talk to it there.
  const deadline = Date.now() + 15_000;
  while (!opts.noWait && adapter.status().channels.length < opts.channels.length) {
    if (Date.now() > deadline) throw new Error(`the bot did not join ${opts.channels.join(' ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    bot,
    nick,
    config,
    adapter,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: () => bot.stop(),
  };
}

export interface MemoryHarness {
  bot: Bot;
  config: Config;
  /** The AFSBOT_* settings it was started with (for the invariants, and a spawned process on the same store). */
  env: Record<string, string>;
  chat: MemoryAdapter;
  dir: string;
  stop(): Promise<void>;
}

/** The real bot on the real cell, typed at through an in-memory chat (as the unix user root, an admin). */
export async function startMemoryBot(opts: {
  cell: CellInfo;
  env?: Record<string, string>;
  clock?: () => Date;
  dir?: string;
}): Promise<MemoryHarness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'afsbot-mem-'));
  const env = { ...sandboxEnv(opts.cell, dir), AFSBOT_TIME_ZONE: 'UTC', ...opts.env };
  const config = loadConfig({ env });
  const chat = new MemoryAdapter();
  const log = createLogger({ level: 'warn', file: join(dir, 'afsbot.log') });
  const bot = new Bot({ config, log, adapters: [chat], ...(opts.clock ? { clock: opts.clock } : {}) });
  await bot.start();
  return { bot, config, env, chat, dir, stop: () => bot.stop() };
}
