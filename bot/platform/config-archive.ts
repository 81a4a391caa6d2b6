// The archive's part of the configuration schema (restic or borg).
import { z } from 'zod';
import { bool, DAY, doc, int, optText, text } from './config-kit.ts';

const borg = z.strictObject({
  binary: text('borg', 'the borg binary (1.2)', { env: 'AFSBOT_BORG' }),
  chunkerParams: text(
    'buzhash,14,20,16,4095',
    'borg --chunker-params: 64 KiB average chunks, so a small change in a big file costs little (bench/README.md)',
    { env: 'AFSBOT_BORG_CHUNKER_PARAMS' },
  ),
  compression: text('zstd,3', 'borg --compression (borg gets the dumps decompressed)', {
    env: 'AFSBOT_BORG_COMPRESSION',
  }),
  rsh: optText('BORG_RSH for an ssh:// repository: the ssh command, with its own key and known_hosts', {
    example: 'ssh -i /etc/afsbot/borg-key -o UserKnownHostsFile=/etc/afsbot/known_hosts',
    env: 'AFSBOT_BORG_RSH',
  }),
});

export const archive = z.strictObject({
  enabled: bool(true, 'send dumps to the archive', { env: 'AFSBOT_ARCHIVE' }),
  engine: z
    .enum(['restic', 'borg'])
    .default('borg')
    .meta(
      doc(
        'borg (64 KiB chunks: the archive grows by about what changed; a remote needs borg serve) or restic (a key per admin, plain SFTP remotes; its ~1 MiB chunks store 10 to 20 times what changed, bench/README.md)',
        { env: 'AFSBOT_ARCHIVE_ENGINE' },
      ),
    ),
  repository: text(
    '/var/lib/afsbot/archive',
    'the repository: a local path; restic: or sftp:user@host:/path; borg: or ssh://user@host:port/path',
  ),
  passwordFile: text('/var/lib/afsbot/archive.password', 'file holding the repository password, mode 0600'),
  sftpCommand: optText(
    'the ssh command restic runs for an SFTP repository, with its own key and known_hosts',
    {
      example: 'ssh -i /etc/afsbot/sftp-key -o UserKnownHostsFile=/etc/afsbot/known_hosts user@host -s sftp',
    },
  ),
  runAs: optText('unix user restic runs as (dumps need root, the upload does not)', {
    example: 'hcoopbackup',
  }),
  cacheDir: optText("restic's cache directory"),
  restic: text('restic', 'the restic binary'),
  compression: z
    .enum(['off', 'auto', 'max'])
    .default('off')
    .meta(doc("restic's own compression (the dumps are zstd already)")),
  timeoutMs: int(1000, 7 * DAY, 6 * 3600_000, 'longest a restic call may take'),
  localKeepDays: int(
    0,
    3650,
    14,
    'days local dump files are kept once archived; 0: archive-only, each batch leaves the disk once archived',
    {
      env: 'AFSBOT_LOCAL_KEEP_DAYS',
    },
  ),
  keepDaily: int(1, 3650, 14, 'forget keeps the newest N dump dates'),
  keepWeekly: int(0, 520, 8, 'and the newest date of N weeks'),
  keepMonthly: int(0, 1200, 24, 'and the newest date of N months'),
  checkSubsets: int(1, 1000, 7, 'restic check --read-data-subset n/N: each check reads the next 1/N'),
  batchBytes: int(
    0,
    Number.MAX_SAFE_INTEGER,
    512 * 1024 * 1024,
    'start a restic batch once this many bytes wait',
  ),
  lockWaitMs: int(0, DAY, 30 * 60_000, "how long a job waits for another process's lock on the archive"),
  borg: borg.prefault({}),
});
