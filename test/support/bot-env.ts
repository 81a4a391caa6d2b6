// The settings that point a bot at the test cell with its own store, dump store and staging area
// under `dir`, as AFSBOT_* variables: for the spawned program, the in-process harness and the benches.
import { join } from 'node:path';
import type { CellInfo } from './peers.ts';

export function sandboxEnv(cell: CellInfo, dir: string): Record<string, string> {
  return {
    AFSBOT_STORE: join(dir, 'afsbot.db'),
    AFSBOT_LOG_FILE: join(dir, 'afsbot.log'),
    AFSBOT_ADMINS_CONSOLE: 'root',
    AFSBOT_DUMP_DIR: join(dir, 'dumps'),
    AFSBOT_STAGING_DIR: join(dir, 'staging'),
    AFSBOT_AFS_CONFIG_DIR: cell.configDir,
    AFSBOT_AFS_CELL: cell.cell,
    AFSBOT_AFS_SERVER: cell.server,
    AFSBOT_AFS_PARTITION: cell.partition,
  };
}
