// Configuration: one JSON file plus AFSBOT_* environment overrides, validated by zod at start. A bad
// value stops the bot with the key, the value, where it came from and what is expected.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseCron } from './cron.ts';

const account = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\s,]+$/, 'expected an account name without spaces or commas');
const channel = z.string().regex(/^[#&][^\s,]{1,49}$/, 'expected an IRC channel name such as "#ops"');

/** A cron expression, or "" / "never" for never. */
export function isNever(text: string): boolean {
  return text.trim() === '' || text.trim() === 'never';
}
const cronText = z.string().superRefine((text, ctx) => {
  if (isNever(text)) return;
  try {
    parseCron(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const ircSchema = z.object({
  enabled: z.boolean().default(false),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(6697),
  tls: z.boolean().default(true),
  /** Check the server's certificate. Only for a test network with a self-signed certificate may this be off. */
  tlsVerify: z.boolean().default(true),
  nick: z
    .string()
    .regex(/^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/, 'expected an IRC nick')
    .default('afsbot'),
  username: z.string().min(1).default('afsbot'),
  realname: z.string().min(1).default('afsbot, OpenAFS backups'),
  /** Services account the bot logs in as with SASL PLAIN. */
  account: z.string().min(1).optional(),
  /** File holding the SASL password (one line). Required with `account`. Never put the password itself in config. */
  passwordFile: z.string().min(1).optional(),
  channels: z.array(channel).default([]),
  /** Where nightly reports and approval requests go. Default: every channel in `channels`. */
  reportChannels: z.array(channel).default([]),
  /** Outgoing flood control: this many lines at once, then one line per intervalMs. */
  sendBurst: z.number().int().min(1).max(50).default(4),
  sendIntervalMs: z.number().int().min(50).max(60_000).default(1100),
  /** Give up on a connection that has not finished registration (SASL included) in this time. */
  registerTimeoutMs: z.number().int().min(1000).max(600_000).default(20_000),
  reconnectMinMs: z.number().int().min(100).max(600_000).default(1000),
  reconnectMaxMs: z.number().int().min(100).max(3_600_000).default(60_000),
});

const slackChannel = z
  .string()
  .regex(/^[CDG][A-Z0-9]{2,}$/, 'expected a Slack channel ID such as "C024BE91L"');

const slackSchema = z.object({
  enabled: z.boolean().default(false),
  /** Socket Mode (no public URL; right for a bot on a file server) or HTTP (Events API on a local port). */
  mode: z.enum(['socket', 'http']).default('socket'),
  /** File holding the bot token (xoxb-...). */
  botTokenFile: z.string().min(1).optional(),
  /** Socket Mode: file holding the app-level token (xapp-...). */
  appTokenFile: z.string().min(1).optional(),
  /** HTTP mode: file holding the signing secret every request is checked against. */
  signingSecretFile: z.string().min(1).optional(),
  /** HTTP mode: where the Events API and interactivity endpoint (/slack/events) listens. */
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(3000),
  /** Slack's Web API base URL (a test points it at a local fake). */
  apiUrl: z.string().url().default('https://slack.com/api/'),
  /** Where nightly reports and approval requests go (channel IDs). */
  reportChannels: z.array(slackChannel).default([]),
  /** A job's progress message is edited at most this often. */
  progressIntervalMs: z.number().int().min(100).max(600_000).default(3000),
  /** The slash command the app is configured with. */
  slashCommand: z
    .string()
    .regex(/^\/[a-z0-9_-]{1,31}$/, 'expected a slash command such as "/afsbot"')
    .default('/afsbot'),
});

const afsSchema = z.object({
  /** The vos binary. */
  vos: z.string().min(1).default('vos'),
  /** Server config dir for -localauth (ThisCell, CellServDB, KeyFileExt). Default: the system's own. */
  configDir: z.string().min(1).optional(),
  cell: z.string().min(1).optional(),
  localauth: z.boolean().default(true),
  timeoutMs: z.number().int().min(100).default(60_000),
  /** Where restored volumes are created. Default: the site of the volume being restored. */
  server: z.string().min(1).optional(),
  partition: z
    .string()
    .regex(/^[a-z]{1,2}$/, 'expected a partition letter such as "a"')
    .default('a'),
  /** The fs binary. fs needs the AFS kernel module; it is only used by !mount and !unmount. */
  fs: z.string().min(1).default('fs'),
  /** Directory in AFS under which !mount makes mount points (the wiki's /afs/<cell>/.old/tmp-mount). */
  scratchMountDir: z.string().min(1).optional(),
  /** The volume that holds scratchMountDir, released after each mount and unmount (the wiki's "old"). */
  scratchParentVolume: z.string().min(1).optional(),
});

const dumpsSchema = z.object({
  /** The local dump store: <dir>/<YYYY.MM.DD>/<vol>.<full|incr>.<clone time>.dump.zst */
  dir: z.string().min(1).default('/var/lib/afsbot/dumps'),
  /** Where !backup get and !restore-file leave files for an admin. */
  stagingDir: z.string().min(1).default('/var/lib/afsbot/staging'),
  zstdLevel: z.number().int().min(1).max(19).default(3),
  /**
   * zstd --rsyncable: block boundaries follow the content, so the archive deduplicates an incremental
   * against the full it builds on (1% changed: about a third of the bytes added). Costs zstd ~2x CPU.
   */
  rsyncable: z.boolean().default(true),
  /** The wiki's old archives (YYYY.MM.DD-<vol>.dump.gz.aescrypt); listed and restorable. */
  legacyDir: z.string().min(1).optional(),
  /** The ccrypt key file for the legacy archives (the wiki's /etc/backup-encryption-key). */
  legacyKeyFile: z.string().min(1).optional(),
});

const toolsSchema = z.object({
  zstd: z.string().min(1).default('zstd'),
  ccrypt: z.string().min(1).default('ccrypt'),
  gzip: z.string().min(1).default('gzip'),
  restorevol: z.string().min(1).default('restorevol'),
  tar: z.string().min(1).default('tar'),
});

export const configSchema = z.object({
  /** Shown in !status. */
  name: z.string().min(1).default('afsbot'),
  /** What starts a command in a channel. */
  prefix: z.string().min(1).max(3).default('!'),
  storePath: z.string().min(1).default('/var/lib/afsbot/afsbot.db'),
  log: z
    .object({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      /** Log file (JSON lines). Default: stderr. */
      file: z.string().min(1).optional(),
    })
    .prefault({}),
  admins: z
    .object({
      irc: z.array(account).default([]),
      slack: z
        .array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user ID such as "U024BE7LH"'))
        .default([]),
      console: z.array(account).default([]),
    })
    .prefault({}),
  console: z.object({ enabled: z.boolean().default(false) }).prefault({}),
  irc: ircSchema.prefault({}),
  slack: slackSchema.prefault({}),
  afs: afsSchema.prefault({}),
  dumps: dumpsSchema.prefault({}),
  tools: toolsSchema.prefault({}),
  jobs: z
    .object({
      /** IRC: at most one progress line per job this often. */
      ircProgressIntervalMs: z.number().int().min(1000).default(15_000),
      /** When a job's volume is busy: wait in line, or refuse at once. */
      whenBusy: z.enum(['queue', 'refuse']).default('queue'),
    })
    .prefault({}),
  approvals: z
    .object({
      /** How many admins other than the requester must approve a destructive command. */
      required: z.number().int().min(1).max(5).default(1),
      ttlMinutes: z
        .number()
        .int()
        .min(1)
        .max(7 * 24 * 60)
        .default(30),
      /** Allow `--break-glass "<reason>"`: one admin alone, announced loudly and audited. */
      breakGlass: z.boolean().default(false),
    })
    .prefault({}),
  nightly: z
    .object({
      /** vos backupsys -prefix: the volumes the nightly run covers. */
      prefixes: z.array(z.string().min(1)).default(['user.', 'db.', 'mail.']),
      /** vos backupsys -xprefix: volumes left out although a prefix matches. */
      xprefixes: z.array(z.string().min(1)).default([]),
      /** The day of the weekly full dump: 0 Sunday .. 6 Saturday (in timeZone). */
      fullWeekday: z.number().int().min(0).max(6).default(0),
      /** Dumps running at once on one file server. */
      perServer: z.number().int().min(1).max(16).default(2),
      /** When the run starts by itself: a cron expression (minute hour day month weekday) in timeZone; "never" for never. */
      schedule: cronText.default('15 2 * * *'),
      /** Maintenance (restic forget+prune, check, the weekly test restore): a cron expression; "never" for never. */
      maintenanceSchedule: cronText.default('30 7 * * *'),
      /** The day of the weekly test restore: 0 Sunday .. 6 Saturday. */
      testRestoreWeekday: z.number().int().min(0).max(6).default(3),
      /** The report warns about a volume whose last good dump is older than this. */
      staleDays: z.number().int().min(1).default(3),
    })
    .prefault({}),
  /** The encrypted off-site archive (restic). */
  archive: z
    .object({
      enabled: z.boolean().default(true),
      /** A local path (the default) or sftp:user@host:/path (the wiki's rsync.net). */
      repository: z.string().min(1).default('/var/lib/afsbot/archive'),
      /** File holding the repository password, readable only by the user restic runs as (mode 0600 or 0400). */
      passwordFile: z.string().min(1).default('/var/lib/afsbot/archive.password'),
      /** For SFTP: the ssh command restic runs, with its own key and known_hosts (`ssh -i KEY ... -s sftp`). */
      sftpCommand: z.string().min(1).optional(),
      /** Run restic as this unix user, not as root (the wiki's hcoopbackup): dumps need root, the upload does not. */
      runAs: z.string().min(1).optional(),
      cacheDir: z.string().min(1).optional(),
      restic: z.string().min(1).default('restic'),
      /** The dumps are zstd already, so restic's own compression is off unless asked for. */
      compression: z.enum(['off', 'auto', 'max']).default('off'),
      timeoutMs: z
        .number()
        .int()
        .min(1000)
        .default(6 * 3600_000),
      /** Keep local dump files this many days; older ones live only in the archive. Pre-promote dumps are never removed. */
      localKeepDays: z.number().int().min(0).max(3650).default(14),
      /** restic forget --keep-daily/--keep-weekly/--keep-monthly, then prune. */
      keepDaily: z.number().int().min(1).default(14),
      keepWeekly: z.number().int().min(0).default(8),
      keepMonthly: z.number().int().min(0).default(24),
      /** restic check --read-data-subset n/N: each check reads the next 1/N of the data. */
      checkSubsets: z.number().int().min(1).max(1000).default(7),
      /** The nightly run starts a restic batch once this many dump bytes wait (and at the end). */
      batchBytes: z
        .number()
        .int()
        .min(0)
        .default(512 * 1024 * 1024),
      /** How long a job waits for a live restic lock held by someone else. */
      lockWaitMs: z
        .number()
        .int()
        .min(0)
        .default(30 * 60_000),
    })
    .prefault({}),
  /** Time zone for dump dates (YYYY.MM.DD). Default: the system's. */
  timeZone: z.string().min(1).optional(),
});

export type Config = z.infer<typeof configSchema>;
export type IrcConfig = Config['irc'];

type Kind = 'string' | 'int' | 'bool' | 'list';

/** Every environment variable afsbot reads. `.env.example` documents each one; a test keeps them in step. */
export const envOverrides: { env: string; path: string[]; kind: Kind; doc: string }[] = [
  { env: 'AFSBOT_NAME', path: ['name'], kind: 'string', doc: 'name shown in !status' },
  { env: 'AFSBOT_PREFIX', path: ['prefix'], kind: 'string', doc: 'command prefix in channels' },
  { env: 'AFSBOT_STORE', path: ['storePath'], kind: 'string', doc: 'the SQLite file' },
  { env: 'AFSBOT_LOG_LEVEL', path: ['log', 'level'], kind: 'string', doc: 'debug, info, warn or error' },
  {
    env: 'AFSBOT_LOG_FILE',
    path: ['log', 'file'],
    kind: 'string',
    doc: 'log file (JSON lines); default stderr',
  },
  {
    env: 'AFSBOT_ADMINS_IRC',
    path: ['admins', 'irc'],
    kind: 'list',
    doc: 'IRC services accounts, comma-separated',
  },
  {
    env: 'AFSBOT_ADMINS_SLACK',
    path: ['admins', 'slack'],
    kind: 'list',
    doc: 'Slack user IDs, comma-separated',
  },
  {
    env: 'AFSBOT_ADMINS_CONSOLE',
    path: ['admins', 'console'],
    kind: 'list',
    doc: 'local unix users, comma-separated',
  },
  { env: 'AFSBOT_CONSOLE', path: ['console', 'enabled'], kind: 'bool', doc: 'read commands from stdin' },
  { env: 'AFSBOT_IRC', path: ['irc', 'enabled'], kind: 'bool', doc: 'connect to IRC' },
  { env: 'AFSBOT_IRC_HOST', path: ['irc', 'host'], kind: 'string', doc: 'IRC server host' },
  { env: 'AFSBOT_IRC_PORT', path: ['irc', 'port'], kind: 'int', doc: 'IRC server port' },
  { env: 'AFSBOT_IRC_TLS', path: ['irc', 'tls'], kind: 'bool', doc: 'use TLS' },
  {
    env: 'AFSBOT_IRC_TLS_VERIFY',
    path: ['irc', 'tlsVerify'],
    kind: 'bool',
    doc: "check the server's certificate",
  },
  { env: 'AFSBOT_IRC_NICK', path: ['irc', 'nick'], kind: 'string', doc: "the bot's nick" },
  {
    env: 'AFSBOT_IRC_ACCOUNT',
    path: ['irc', 'account'],
    kind: 'string',
    doc: 'services account for SASL PLAIN',
  },
  {
    env: 'AFSBOT_IRC_PASSWORD_FILE',
    path: ['irc', 'passwordFile'],
    kind: 'string',
    doc: 'file holding the SASL password',
  },
  {
    env: 'AFSBOT_IRC_CHANNELS',
    path: ['irc', 'channels'],
    kind: 'list',
    doc: 'channels to join, comma-separated',
  },
  {
    env: 'AFSBOT_IRC_SEND_BURST',
    path: ['irc', 'sendBurst'],
    kind: 'int',
    doc: 'lines sent at once before pacing',
  },
  {
    env: 'AFSBOT_IRC_SEND_INTERVAL_MS',
    path: ['irc', 'sendIntervalMs'],
    kind: 'int',
    doc: 'pace after the burst, ms per line',
  },
  { env: 'AFSBOT_SLACK', path: ['slack', 'enabled'], kind: 'bool', doc: 'connect to Slack' },
  { env: 'AFSBOT_SLACK_MODE', path: ['slack', 'mode'], kind: 'string', doc: 'socket or http' },
  {
    env: 'AFSBOT_SLACK_BOT_TOKEN_FILE',
    path: ['slack', 'botTokenFile'],
    kind: 'string',
    doc: 'file holding the bot token (xoxb-)',
  },
  {
    env: 'AFSBOT_SLACK_APP_TOKEN_FILE',
    path: ['slack', 'appTokenFile'],
    kind: 'string',
    doc: 'Socket Mode: file holding the app token (xapp-)',
  },
  {
    env: 'AFSBOT_SLACK_SIGNING_SECRET_FILE',
    path: ['slack', 'signingSecretFile'],
    kind: 'string',
    doc: 'HTTP mode: file holding the signing secret',
  },
  { env: 'AFSBOT_SLACK_HOST', path: ['slack', 'host'], kind: 'string', doc: 'HTTP mode: listen address' },
  { env: 'AFSBOT_SLACK_PORT', path: ['slack', 'port'], kind: 'int', doc: 'HTTP mode: listen port' },
  { env: 'AFSBOT_SLACK_API_URL', path: ['slack', 'apiUrl'], kind: 'string', doc: "Slack's Web API base URL" },
  {
    env: 'AFSBOT_SLACK_REPORT_CHANNELS',
    path: ['slack', 'reportChannels'],
    kind: 'list',
    doc: 'Slack channel IDs for reports and approval requests',
  },
  {
    env: 'AFSBOT_SLACK_PROGRESS_INTERVAL_MS',
    path: ['slack', 'progressIntervalMs'],
    kind: 'int',
    doc: "at most one edit of a job's message this often",
  },
  { env: 'AFSBOT_VOS', path: ['afs', 'vos'], kind: 'string', doc: 'the vos binary' },
  { env: 'AFSBOT_AFS_CONFIG_DIR', path: ['afs', 'configDir'], kind: 'string', doc: 'vos -config directory' },
  { env: 'AFSBOT_AFS_CELL', path: ['afs', 'cell'], kind: 'string', doc: 'AFS cell name' },
  {
    env: 'AFSBOT_AFS_SERVER',
    path: ['afs', 'server'],
    kind: 'string',
    doc: 'file server for restored volumes',
  },
  {
    env: 'AFSBOT_AFS_PARTITION',
    path: ['afs', 'partition'],
    kind: 'string',
    doc: 'partition for restored volumes',
  },
  { env: 'AFSBOT_FS', path: ['afs', 'fs'], kind: 'string', doc: 'the fs binary (!mount, !unmount)' },
  {
    env: 'AFSBOT_SCRATCH_MOUNT_DIR',
    path: ['afs', 'scratchMountDir'],
    kind: 'string',
    doc: 'AFS directory for !mount',
  },
  {
    env: 'AFSBOT_SCRATCH_PARENT_VOLUME',
    path: ['afs', 'scratchParentVolume'],
    kind: 'string',
    doc: 'volume holding that directory, released after !mount',
  },
  { env: 'AFSBOT_DUMP_DIR', path: ['dumps', 'dir'], kind: 'string', doc: 'the local dump store' },
  {
    env: 'AFSBOT_STAGING_DIR',
    path: ['dumps', 'stagingDir'],
    kind: 'string',
    doc: 'where files are left for admins',
  },
  {
    env: 'AFSBOT_LEGACY_DIR',
    path: ['dumps', 'legacyDir'],
    kind: 'string',
    doc: 'old .dump.gz.aescrypt archives',
  },
  {
    env: 'AFSBOT_LEGACY_KEY_FILE',
    path: ['dumps', 'legacyKeyFile'],
    kind: 'string',
    doc: 'ccrypt key file for them',
  },
  {
    env: 'AFSBOT_ZSTD_RSYNCABLE',
    path: ['dumps', 'rsyncable'],
    kind: 'bool',
    doc: 'zstd --rsyncable, for dedup in the archive',
  },
  { env: 'AFSBOT_TIME_ZONE', path: ['timeZone'], kind: 'string', doc: 'time zone for dump dates' },
  {
    env: 'AFSBOT_NIGHTLY_PREFIXES',
    path: ['nightly', 'prefixes'],
    kind: 'list',
    doc: 'volume prefixes the nightly run covers',
  },
  {
    env: 'AFSBOT_NIGHTLY_XPREFIXES',
    path: ['nightly', 'xprefixes'],
    kind: 'list',
    doc: 'prefixes it leaves out',
  },
  {
    env: 'AFSBOT_NIGHTLY_FULL_WEEKDAY',
    path: ['nightly', 'fullWeekday'],
    kind: 'int',
    doc: 'weekly full day, 0 = Sunday',
  },
  {
    env: 'AFSBOT_NIGHTLY_PER_SERVER',
    path: ['nightly', 'perServer'],
    kind: 'int',
    doc: 'dumps at once per file server',
  },
  {
    env: 'AFSBOT_NIGHTLY_SCHEDULE',
    path: ['nightly', 'schedule'],
    kind: 'string',
    doc: 'cron expression for the nightly run; empty for never',
  },
  {
    env: 'AFSBOT_MAINTENANCE_SCHEDULE',
    path: ['nightly', 'maintenanceSchedule'],
    kind: 'string',
    doc: 'cron expression for archive maintenance',
  },
  {
    env: 'AFSBOT_NIGHTLY_STALE_DAYS',
    path: ['nightly', 'staleDays'],
    kind: 'int',
    doc: 'warn when a volume has no good dump this many days',
  },
  {
    env: 'AFSBOT_ARCHIVE',
    path: ['archive', 'enabled'],
    kind: 'bool',
    doc: 'send dumps to the restic archive',
  },
  {
    env: 'AFSBOT_ARCHIVE_REPOSITORY',
    path: ['archive', 'repository'],
    kind: 'string',
    doc: 'restic repository: a path or sftp:user@host:/path',
  },
  {
    env: 'AFSBOT_ARCHIVE_PASSWORD_FILE',
    path: ['archive', 'passwordFile'],
    kind: 'string',
    doc: 'file holding the repository password (mode 0600)',
  },
  {
    env: 'AFSBOT_ARCHIVE_SFTP_COMMAND',
    path: ['archive', 'sftpCommand'],
    kind: 'string',
    doc: 'ssh command for an SFTP repository',
  },
  {
    env: 'AFSBOT_ARCHIVE_RUN_AS',
    path: ['archive', 'runAs'],
    kind: 'string',
    doc: 'unix user restic runs as',
  },
  {
    env: 'AFSBOT_ARCHIVE_CACHE_DIR',
    path: ['archive', 'cacheDir'],
    kind: 'string',
    doc: "restic's cache directory",
  },
  {
    env: 'AFSBOT_ARCHIVE_KEEP_DAILY',
    path: ['archive', 'keepDaily'],
    kind: 'int',
    doc: 'archive keeps the newest N dump dates',
  },
  {
    env: 'AFSBOT_ARCHIVE_KEEP_WEEKLY',
    path: ['archive', 'keepWeekly'],
    kind: 'int',
    doc: 'and the newest date of N weeks',
  },
  {
    env: 'AFSBOT_ARCHIVE_KEEP_MONTHLY',
    path: ['archive', 'keepMonthly'],
    kind: 'int',
    doc: 'and the newest date of N months',
  },
  {
    env: 'AFSBOT_ARCHIVE_BATCH_BYTES',
    path: ['archive', 'batchBytes'],
    kind: 'int',
    doc: 'start a restic batch once this many dump bytes wait',
  },
  {
    env: 'AFSBOT_ARCHIVE_LOCK_WAIT_MS',
    path: ['archive', 'lockWaitMs'],
    kind: 'int',
    doc: "how long to wait for another process's restic lock",
  },
  {
    env: 'AFSBOT_LOCAL_KEEP_DAYS',
    path: ['archive', 'localKeepDays'],
    kind: 'int',
    doc: 'days local dump files are kept',
  },
  {
    env: 'AFSBOT_IRC_REPORT_CHANNELS',
    path: ['irc', 'reportChannels'],
    kind: 'list',
    doc: 'IRC channels for reports and approval requests',
  },
  {
    env: 'AFSBOT_APPROVALS_REQUIRED',
    path: ['approvals', 'required'],
    kind: 'int',
    doc: 'admins who must approve',
  },
  {
    env: 'AFSBOT_APPROVAL_TTL_MINUTES',
    path: ['approvals', 'ttlMinutes'],
    kind: 'int',
    doc: 'minutes a request stays open',
  },
  { env: 'AFSBOT_BREAK_GLASS', path: ['approvals', 'breakGlass'], kind: 'bool', doc: 'allow --break-glass' },
  {
    env: 'AFSBOT_IRC_PROGRESS_INTERVAL_MS',
    path: ['jobs', 'ircProgressIntervalMs'],
    kind: 'int',
    doc: 'IRC: one progress line per job this often',
  },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function convert(raw: string, kind: Kind): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'int':
      return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw; // left as text: zod then names the bad value
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw.trim())) return true;
      if (/^(0|false|no|off)$/i.test(raw.trim())) return false;
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * Builds the config from a file (optional) and the environment. Throws ConfigError whose message lists
 * every bad key: `irc.port = "abc" (from AFSBOT_IRC_PORT): expected number, received string`.
 */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv }): Config {
  const env = opts.env ?? process.env;
  let input: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read the config file ${opts.file}: ${(err as Error).message}. Point --config or AFSBOT_CONFIG at a readable JSON file.`,
      );
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('the top level must be a JSON object');
      }
      input = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`the config file ${opts.file} is not valid JSON: ${(err as Error).message}`);
    }
  }
  const sources = new Map<string, string>();
  for (const o of envOverrides) {
    const raw = env[o.env];
    if (raw === undefined || raw === '') continue;
    setPath(input, o.path, convert(raw, o.kind));
    sources.set(o.path.join('.'), o.env);
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(top level)';
      const value = getPath(input, issue.path);
      const where = sources.get(key) ?? (opts.file ? opts.file : 'defaults');
      const shown = value === undefined ? '(missing)' : JSON.stringify(value);
      return `  ${key} = ${shown} (from ${where}): ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  if (config.irc.enabled && config.irc.account && !config.irc.passwordFile) {
    throw new ConfigError(
      `invalid configuration:\n  irc.passwordFile = (missing): irc.account is set, so the SASL password must come from a file; set irc.passwordFile or AFSBOT_IRC_PASSWORD_FILE`,
    );
  }
  return config;
}
