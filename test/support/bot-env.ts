// The settings that point a bot at the test cell with its own store, dump store and staging area
// under `dir`, as AFSBOT_* variables: for the spawned program, the in-process harness and the benches.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CellInfo } from './peers.ts';

export function sandboxEnv(cell: CellInfo, dir: string): Record<string, string> {
  // the archive's password: random per sandbox, readable by its owner alone
  const password = join(dir, 'archive.password');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(password))
    writeFileSync(password, `${randomBytes(24).toString('base64')}\n`, { mode: 0o600 });
  return {
    AFSBOT_DATABASE: join(dir, 'afsbot.db'),
    AFSBOT_LOG_FILE: join(dir, 'afsbot.log'),
    AFSBOT_ADMINS: 'root console:root',
    AFSBOT_DUMP_DIR: join(dir, 'dumps'),
    AFSBOT_STAGING_DIR: join(dir, 'staging'),
    AFSBOT_AFS_CONFIG_DIR: cell.configDir,
    AFSBOT_AFS_CELL: cell.cell,
    AFSBOT_AFS_SERVER: cell.server,
    AFSBOT_AFS_PARTITION: cell.partition,
    // a test decides when a run starts (scheduler.tick), never the wall clock
    AFSBOT_NIGHTLY_SCHEDULE: 'never',
    // no fixed port: test files run side by side (a test that wants it sets its own)
    AFSBOT_METRICS: '0',
    AFSBOT_MAINTENANCE_SCHEDULE: 'never',
    AFSBOT_ARCHIVE_REPOSITORY: join(dir, 'archive'),
    AFSBOT_ARCHIVE_PASSWORD_FILE: join(dir, 'archive.password'),
    AFSBOT_ARCHIVE_CACHE_DIR: join(dir, 'restic-cache'),
  };
}
