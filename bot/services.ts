// What a command handler may use. Built once at start by the Bot and passed in each context.
import type { Tools } from '../actions/decode.ts';
import type { FsDriver } from '../actions/fs.ts';
import type { Vos } from '../actions/vos.ts';
import type { Archive } from './archive.ts';
import type { Catalog } from './catalog.ts';
import type { AdapterStatus, Decision, MessageMeta } from './chat.ts';
import type { Config } from './config.ts';
import type { JobManager, Origin } from './jobs.ts';
import type { Logger } from './log.ts';
import type { Registry } from './registry.ts';
import type { Store } from './store.ts';

export interface Services {
  config: Config;
  store: Store;
  registry: Registry;
  log: Logger;
  vos: Vos;
  fs: FsDriver;
  jobs: JobManager;
  catalog: Catalog;
  /** The restic archive. */
  archive: Archive;
  tools: Tools & { restorevol: string; tar: string };
  /** Now. Injectable so that a simulated week can run in a test. */
  clock(): Date;
  version: string;
  startedAt: Date;
  adapters(): AdapterStatus[];
  /** Says something in every ops channel of every adapter (break-glass, a stopped promotion). */
  announce(text: string): Promise<void>;
  /**
   * Says something in the report channels of every adapter (nightly runs, maintenance), except in the
   * conversation of `except`, which gets the job's own result anyway.
   */
  report(text: string, except?: Origin, meta?: MessageMeta): Promise<void>;
  /** Tells every adapter that an approval request was decided, so that a request shown with buttons is updated. */
  decided(d: Decision): void;
  /** When the nightly run starts next by the schedule (undefined: no schedule running). */
  nextNightly(): Date | undefined;
}
