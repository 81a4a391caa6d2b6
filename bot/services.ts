// What a command handler and a workflow may use: the parts of the bot, built once at start by the
// composition root (bot.ts) and passed in each command's context. Types only; nothing here runs.
import type { Tools } from '../actions/decode.ts';
import type { FsDriver } from '../actions/fs.ts';
import type { Pts } from '../actions/pts.ts';
import type { Vos } from '../actions/vos.ts';
import type { Approvals } from './approvals/approvals.ts';
import type { Archive } from './backup/archive/archive.ts';
import type { MaintenanceRuns } from './backup/archive/maintenance-runs.ts';
import type { Catalog } from './backup/catalog.ts';
import type { FileIndex } from './backup/file-index.ts';
import type { NightlyRuns } from './backup/nightly/history.ts';
import type { Promotions } from './backup/promotions.ts';
import type { RestoreRequests } from './backup/restore-requests-table.ts';
import type { RestoredVolumes } from './backup/restored.ts';
import type { AdapterStatus, ApprovalDecision } from './chat/adapter.ts';
import type { AuditLog } from './chat/audit.ts';
import type { CommandSpec, Registry } from './chat/registry.ts';
import type { Origin, ReportOptions } from './chat/router.ts';
import type { JobManager } from './jobs/manager.ts';
import type { Scheduler } from './jobs/scheduler.ts';
import type { Config } from './platform/config.ts';
import type { Database } from './platform/database.ts';
import type { Logger } from './platform/log.ts';

export interface Services {
  config: Config;
  /** The SQLite file itself (its size, its schema version); each table has its own class below. */
  database: Database;
  audit: AuditLog;
  registry: Registry<Services>;
  log: Logger;
  vos: Vos;
  /** The AFS cache manager's `fs` tool: mount points only. */
  mounts: FsDriver;
  jobs: JobManager;
  schedule: Scheduler;
  catalog: Catalog;
  /** Every path of every indexed dump (bot/backup/file-index.ts). */
  files: FileIndex;
  /** Restores users asked for (bot/backup/restore-requests.ts). */
  requests: RestoreRequests;
  /** The protection server: users' ids and groups. */
  pts: Pts;
  restored: RestoredVolumes;
  promotions: Promotions;
  /** The restic archive. */
  archive: Archive;
  maintenanceRuns: MaintenanceRuns;
  nightlyRuns: NightlyRuns;
  approvals: Approvals<Services>;
  tools: Tools & { restorevol: string; tar: string };
  /** Now. Injectable so that a simulated week can run in a test. */
  clock(): Date;
  version: string;
  startedAt: Date;
  adapters(): AdapterStatus[];
  /** Says something in every ops channel of every adapter (break-glass, a stopped promotion). Never waits. */
  announce(text: string): void;
  /** Says something to one person where they asked (a restore they asked for has expired). Never waits. */
  tell(origin: Origin, text: string): void;
  /**
   * Says something in the report channels of every adapter (nightly runs, maintenance), except in the
   * conversation of `opts.except`, which gets the job's own result anyway. Never waits for a chat.
   */
  report(text: string, opts?: ReportOptions): void;
  /** Tells every adapter that an approval request was decided, so that a request shown with buttons is updated. */
  decided(d: ApprovalDecision): void;
}

/** A command, type-checked against the Services its handler gets. */
export type Command<A> = CommandSpec<A, Services>;

export function defineCommand<A>(spec: Command<A>): Command<A> {
  return spec;
}
