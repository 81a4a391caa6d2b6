// The configuration schema: every key, its type, default and description, and (where it differs from
// the one derived from its path) its environment variable. This (with config-archive.ts for the
// archive's keys, built from config-kit.ts) is the one place a key is defined; config.ts loads it, and
// .env.example is generated from it.
import { z } from 'zod';
import { archive } from './config-archive.ts';
import { bool, DAY, doc, int, type KeyMeta, list, type More, optText, text } from './config-kit.ts';
import { selfService } from './config-self-service.ts';
import { parseCron } from './cron.ts';

export type { KeyMeta };

const account = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\s,]+$/, 'expected an account name without spaces or commas');
const channel = z.string().regex(/^[#&][^\s,]{1,49}$/, 'expected an IRC channel name such as "#ops"');
const slackChannel = z
  .string()
  .regex(/^[CDG][A-Z0-9]{2,}$/, 'expected a Slack channel ID such as "C024BE91L"');
const slackUser = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user ID such as "U024BE7LH"');

/**
 * An admin is a person, with the identities they use on each backend. Authorization, the audit and
 * approvals go by the person, so one person can never be the requester and an approver of the same
 * request, whatever identities they use.
 */
const person = z
  .strictObject({
    name: z
      .string()
      .regex(
        /^[A-Za-z][A-Za-z0-9._-]{0,31}$/,
        'expected a person name such as "alice" (letters, digits, . _ -)',
      ),
    irc: z.array(account).default([]),
    slack: z.array(slackUser).default([]),
    console: z.array(account).default([]),
  })
  .refine((p) => p.irc.length + p.slack.length + p.console.length > 0, {
    message:
      'a person needs at least one identity: irc (services account), slack (user ID) or console (unix user)',
  });
export type Person = z.output<typeof person>;

const admins = z
  .array(person)
  .default([])
  .superRefine((persons, ctx) => {
    const names = new Set<string>();
    const owner = new Map<string, string>();
    for (const [i, p] of persons.entries()) {
      if (names.has(p.name))
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `${p.name} is listed twice; merge the entries`,
        });
      names.add(p.name);
      for (const backend of ['irc', 'slack', 'console'] as const)
        for (const id of p[backend]) {
          const key = `${backend}:${id}`;
          const other = owner.get(key);
          if (other && other !== p.name)
            ctx.addIssue({
              code: 'custom',
              path: [i, backend],
              message: `${key} belongs to both ${other} and ${p.name}; an identity is one person's`,
            });
          owner.set(key, p.name);
        }
    }
  })
  .meta(
    doc(
      'the admins: persons, each with their identities (IRC services accounts, Slack user IDs, unix users)',
      { example: 'alice irc:alice slack:U024BE7LH console:alice; bob irc:bob' },
    ),
  );

/** A cron expression, or "" / "never" for never. */
export function isNever(cron: string): boolean {
  return cron.trim() === '' || cron.trim() === 'never';
}
const cron = (dflt: string, d: string, m?: More) =>
  z
    .string()
    .superRefine((t, ctx) => {
      if (isNever(t)) return;
      try {
        parseCron(t);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .default(dflt)
    .meta(doc(d, m));

const irc = z.strictObject({
  enabled: bool(false, 'connect to IRC', { env: 'AFSBOT_IRC' }),
  host: text('127.0.0.1', 'IRC server host', { example: 'irc.example.org' }),
  port: int(1, 65535, 6697, 'IRC server port'),
  tls: bool(true, 'connect with TLS'),
  tlsVerify: bool(true, "check the server's TLS certificate (off only for a test network's own)"),
  nick: z
    .string()
    .regex(/^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/, 'expected an IRC nick')
    .default('afsbot')
    .meta(doc("the bot's nick")),
  username: text('afsbot', 'the IRC user name'),
  realname: text('afsbot, OpenAFS backups', 'the IRC real name'),
  account: optText('services account the bot logs in as (SASL PLAIN)', { example: 'afsbot' }),
  passwordFile: optText('file holding the SASL password (one line)', { example: '/etc/afsbot/irc-password' }),
  channels: list(channel, [], 'channels to join', { example: '#ops' }),
  reportChannels: list(channel, [], 'channels for reports and approval requests; default every channel', {
    example: '#ops',
  }),
  sendBurst: int(1, 50, 4, 'lines sent at once before pacing'),
  sendIntervalMs: int(50, 60_000, 1100, 'after the burst, one line per this many ms'),
  servicesServer: optText(
    "the services server's name: when SASL did not complete, the bot identifies to NickServ on that server only (NickServ@server), never to whoever holds the nick NickServ; unset, it does not identify that way",
    { example: 'services.example.org' },
  ),
  registerTimeoutMs: int(
    1000,
    600_000,
    20_000,
    'give up on a connection not registered (SASL too) in this time',
  ),
  identifyRetryMs: int(
    100,
    60_000,
    2000,
    'when SASL did not complete: the first wait before identifying to NickServ on irc.servicesServer; each retry waits twice as long, at most a minute',
  ),
  reconnectMinMs: int(100, 600_000, 1000, 'first reconnect wait'),
  reconnectMaxMs: int(100, 3_600_000, 60_000, 'longest reconnect wait'),
});

const slack = z.strictObject({
  enabled: bool(false, 'connect to Slack', { env: 'AFSBOT_SLACK' }),
  mode: z
    .enum(['socket', 'http'])
    .default('socket')
    .meta(doc('socket (Socket Mode, no public URL) or http (Events API on a local port)')),
  botTokenFile: optText('file holding the bot token (xoxb-)', { example: '/etc/afsbot/slack-bot-token' }),
  appTokenFile: optText('Socket Mode: file holding the app token (xapp-)', {
    example: '/etc/afsbot/slack-app-token',
  }),
  signingSecretFile: optText('HTTP mode: file holding the signing secret every request is checked against', {
    example: '/etc/afsbot/slack-signing-secret',
  }),
  host: text('127.0.0.1', 'HTTP mode: listen address'),
  port: int(0, 65535, 3000, 'HTTP mode: listen port'),
  apiUrl: z.string().url().default('https://slack.com/api/').meta(doc("Slack's Web API base URL")),
  reportChannels: list(slackChannel, [], 'channel IDs for reports and approval requests', {
    example: 'C024BE91L',
  }),
  progressIntervalMs: int(100, 600_000, 3000, "at most one edit of a job's message this often"),
  slashCommand: z
    .string()
    .regex(/^\/[a-z0-9_-]{1,31}$/, 'expected a slash command such as "/afsbot"')
    .default('/afsbot')
    .meta(doc('the slash command the app is configured with')),
});

const afs = z.strictObject({
  vos: text('vos', 'the vos binary', { env: 'AFSBOT_VOS' }),
  pts: text('pts', 'the pts binary (who a user is, and their groups, for !request-restore)'),
  configDir: optText('server config dir for -localauth (vos -config); default the system one'),
  cell: optText('AFS cell name', { example: 'example.org' }),
  localauth: bool(true, 'run vos with -localauth (the bot runs on a file server)'),
  timeoutMs: int(100, DAY, 60_000, 'timeout of each short vos call (examine, listvldb, rename)'),
  longTimeoutMs: int(1000, 7 * DAY, 4 * 3600_000, 'timeout of vos backupsys, backup, release and remove'),
  server: optText('file server for restored volumes; default where the volume lives'),
  partition: z
    .string()
    .regex(/^[a-z]{1,2}$/, 'expected a partition letter such as "a"')
    .default('a')
    .meta(doc('partition for restored volumes')),
  fs: text('fs', 'the fs binary (needs the AFS kernel module; only !mount and !unmount use it)', {
    env: 'AFSBOT_FS',
  }),
  scratchMountDir: optText('AFS directory under which !mount makes mount points', {
    env: 'AFSBOT_SCRATCH_MOUNT_DIR',
    example: '/afs/example.org/.old/tmp-mount',
  }),
  scratchParentVolume: optText('volume holding that directory, released after each mount and unmount', {
    env: 'AFSBOT_SCRATCH_PARENT_VOLUME',
    example: 'old',
  }),
});

const dumps = z.strictObject({
  dir: text(
    '/var/lib/afsbot/dumps',
    'the local dump store: <dir>/<YYYY.MM.DD>/<vol>.<level>.<clone>.dump.zst',
    {
      env: 'AFSBOT_DUMP_DIR',
    },
  ),
  stagingDir: text(
    '/var/lib/afsbot/staging',
    'where !backup get and !restore-file leave files for an admin',
    {
      env: 'AFSBOT_STAGING_DIR',
    },
  ),
  zstdLevel: int(1, 19, 3, 'zstd compression level of dump files'),
  reserveBytes: int(
    0,
    Number.MAX_SAFE_INTEGER,
    1024 ** 3,
    'a dump starts only if this much stays free besides it (and 10%)',
  ),
  stagingKeepDays: int(
    1,
    365,
    7,
    'what !backup get and !restore-file left in the staging directory is removed after this',
  ),
  index: bool(true, 'index the files of every dump as it is made (!backup find, !backup versions)', {
    env: 'AFSBOT_FILE_INDEX',
  }),
  rsyncable: bool(true, 'zstd --rsyncable, so the archive deduplicates an incremental against its full', {
    env: 'AFSBOT_ZSTD_RSYNCABLE',
  }),
  legacyDir: optText("the wiki's old archives (YYYY.MM.DD-<vol>.dump.gz.aescrypt)", {
    env: 'AFSBOT_LEGACY_DIR',
  }),
  legacyKeyFile: optText('the ccrypt key file of those archives', {
    env: 'AFSBOT_LEGACY_KEY_FILE',
    example: '/etc/backup-encryption-key',
  }),
});

const tools = z.strictObject({
  zstd: text('zstd', 'the zstd binary'),
  ccrypt: text('ccrypt', 'the ccrypt binary (legacy archives)'),
  gzip: text('gzip', 'the gzip binary (legacy archives)'),
  restorevol: text('restorevol', 'the restorevol binary (!restore-file)'),
  tar: text('tar', 'the tar binary (legacy database archives)'),
});

const chat = z.strictObject({
  strangerBurst: int(0, 100, 3, 'answers a non-admin gets at once; then strangerPerMinute'),
  strangerPerMinute: int(0, 600, 1, 'answers a non-admin gets a minute; past that the bot is silent'),
  strangersPerMinute: int(0, 6000, 20, 'answers all non-admins together get a minute'),
  pageLines: int(5, 1000, 40, 'lines of a long answer shown at once; --page N shows the others'),
});

const metrics = z.strictObject({
  enabled: bool(true, 'serve /metrics (Prometheus) and /healthz', { env: 'AFSBOT_METRICS' }),
  host: text('127.0.0.1', 'the address they are served on (keep it on loopback or a private network)'),
  port: int(0, 65535, 9469, 'their port (0: any free port, said in the log)'),
});

const jobs = z.strictObject({
  ircProgressIntervalMs: int(1000, DAY, 15_000, 'IRC: at most one progress line per job this often', {
    env: 'AFSBOT_IRC_PROGRESS_INTERVAL_MS',
  }),
  stallMs: int(
    1000,
    DAY,
    300_000,
    'a tool (vos dump, zstd, restic, restorevol) that moves no byte this long is stopped',
  ),
  lockWaitMs: int(
    0,
    7 * DAY,
    2 * 3600_000,
    "a job waits this long at most for another job's volume lock, then fails naming it",
  ),
  maxHeavy: int(1, 64, 4, 'restores, extractions and fetches running at once; more wait in line'),
  whenBusy: z
    .enum(['queue', 'refuse'])
    .default('queue')
    .meta(doc("when a job's volume is busy: wait in line (queue) or refuse at once")),
});

const approvals = z.strictObject({
  required: int(1, 5, 1, 'how many admins (persons) other than the requester must approve'),
  ttlMinutes: int(1, 7 * 24 * 60, 30, 'minutes a request stays open', { env: 'AFSBOT_APPROVAL_TTL_MINUTES' }),
  breakGlass: bool(false, 'allow --break-glass "<reason>": one admin alone, announced and audited', {
    env: 'AFSBOT_BREAK_GLASS',
  }),
});

const nightly = z.strictObject({
  prefixes: list(
    z.string().min(1),
    ['user.', 'db.', 'mail.'],
    'vos backupsys -prefix: the volumes it covers',
  ),
  xprefixes: list(
    z.string().min(1),
    [],
    'vos backupsys -xprefix: volumes left out although a prefix matches',
  ),
  fullWeekday: int(0, 6, 0, 'the day of the weekly full dump, 0 Sunday .. 6 Saturday (in timeZone)'),
  perServer: int(1, 16, 2, 'dumps running at once per file server'),
  schedule: cron('15 2 * * *', 'when the nightly run starts: a cron expression in timeZone, or "never"'),
  maintenanceSchedule: cron('30 7 * * *', 'when archive maintenance runs: a cron expression, or "never"', {
    env: 'AFSBOT_MAINTENANCE_SCHEDULE',
  }),
  testRestoreWeekday: int(0, 6, 3, 'the day of the weekly test restore, 0 Sunday .. 6 Saturday'),
  staleDays: int(1, 3650, 3, 'the report warns about a volume whose last good dump is this many days old'),
  deadlineHours: z
    .number()
    .positive()
    .max(168)
    .default(20)
    .meta(doc('a run still going after this many hours is stopped, and its report says what was not done')),
  catchUpHours: int(
    0,
    168,
    12,
    'at start, a scheduled run missed within this many hours runs now (0: never)',
  ),
  alertAfterHours: int(
    1,
    24 * 30,
    26,
    'no OK nightly run for this long raises an alert in every report channel, daily',
  ),
});

export const configSchema = z.strictObject({
  name: text('afsbot', 'name shown in !status'),
  prefix: z.string().min(1).max(3).default('!').meta(doc('what starts a command in a channel')),
  databasePath: text(
    '/var/lib/afsbot/afsbot.db',
    "the bot's SQLite database (audit, jobs, catalog, approvals)",
    {
      env: 'AFSBOT_DATABASE',
    },
  ),
  log: z
    .strictObject({
      level: z
        .enum(['debug', 'info', 'warn', 'error'])
        .default('info')
        .meta(doc('debug, info, warn or error')),
      file: optText('log file (JSON lines); default stderr'),
    })
    .prefault({}),
  admins: admins,
  console: z
    .strictObject({ enabled: bool(false, 'read commands from stdin', { env: 'AFSBOT_CONSOLE' }) })
    .prefault({}),
  irc: irc.prefault({}),
  slack: slack.prefault({}),
  afs: afs.prefault({}),
  dumps: dumps.prefault({}),
  tools: tools.prefault({}),
  chat: chat.prefault({}),
  metrics: metrics.prefault({}),
  jobs: jobs.prefault({}),
  approvals: approvals.prefault({}),
  nightly: nightly.prefault({}),
  archive: archive.prefault({}),
  selfService: selfService.prefault({}),
  timeZone: optText('time zone for dump dates and schedules; default the system one'),
});
