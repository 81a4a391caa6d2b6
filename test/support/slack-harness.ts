// The real Bot with the real Slack adapter (Bolt), against the local fake of Slack's API.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlackAdapter, type SlackOptions } from '../../adapters/slack/slack-adapter.ts';
import { Bot } from '../../bot/bot.ts';
import { type Config, loadConfig } from '../../bot/platform/config.ts';
import { createLogger, type Logger } from '../../bot/platform/log.ts';
import { sandboxEnv } from './bot-env.ts';
import type { CellInfo } from './peers.ts';
import type { SlackFake } from './slack-fake.ts';

export const ALICE = 'UALICE001';
export const BOB = 'UBOB00001';
export const MALLORY = 'UMALLORY1';
export const OPS = 'C0OPS0001';

export const SIGNING_SECRET = 'a-signing-secret-for-the-tests';

export function slackAdapter(
  config: Config,
  log: Logger,
  fake: SlackFake,
  mode: 'socket' | 'http',
): SlackAdapter {
  return new SlackAdapter({
    mode,
    botToken: 'xoxb-fake-bot-token',
    ...(mode === 'socket' ? { appToken: 'xapp-fake-app-token' } : { signingSecret: SIGNING_SECRET }),
    host: '127.0.0.1',
    port: 0,
    apiUrl: fake.apiUrl,
    prefix: config.prefix,
    slashCommand: config.slack.slashCommand,
    progressIntervalMs: config.slack.progressIntervalMs,
    channels: config.slack.reportChannels,
    admins: config.admins.flatMap((person) => person.slack),
    log: log.child({ adapter: 'slack' }),
    clientPingTimeoutMs: 1000,
  });
}

/** The Slack adapter alone (no bot behind it), quiet, in Socket Mode against `fake`. */
export function bareSlackAdapter(
  fake: SlackFake,
  opts: { progressIntervalMs: number; editBudget?: SlackOptions['editBudget'] },
): SlackAdapter {
  return new SlackAdapter({
    mode: 'socket',
    botToken: 'xoxb-fake-bot-token',
    appToken: 'xapp-fake-app-token',
    host: '127.0.0.1',
    port: 0,
    apiUrl: fake.apiUrl,
    prefix: '!',
    slashCommand: '/afsbot',
    ...opts,
    log: { info: () => {}, warn: () => {}, error: () => {} },
  });
}

export interface SlackHarness {
  bot: Bot;
  adapter: SlackAdapter;
  config: Config;
  dir: string;
  stop(): Promise<void>;
}

export async function startSlackBot(opts: {
  fake: SlackFake;
  cell: CellInfo;
  mode: 'socket' | 'http';
  env?: Record<string, string>;
}): Promise<SlackHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'afsbot-slack-'));
  opts.fake.join(OPS); // the report channel, where the bot was invited
  const config = loadConfig({
    env: {
      ...sandboxEnv(opts.cell, dir),
      AFSBOT_TIME_ZONE: 'UTC',
      AFSBOT_ADMINS: `alice slack:${ALICE}; bob slack:${BOB}`,
      AFSBOT_SLACK_REPORT_CHANNELS: OPS,
      AFSBOT_SLACK_PROGRESS_INTERVAL_MS: '700',
      ...opts.env,
    },
  });
  const log = createLogger({ level: 'info', file: join(dir, 'afsbot.log') });
  const adapter = slackAdapter(config, log, opts.fake, opts.mode);
  const bot = new Bot({ config, log, adapters: [adapter] });
  await bot.start();
  return { bot, adapter, config, dir, stop: () => bot.stop() };
}

/** The bot's newest message's ts (the fake numbers them in order). */
export function lastTs(fake: SlackFake): number {
  return Math.max(0, ...[...fake.messages.keys()].map(Number));
}
