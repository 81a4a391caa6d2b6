// What a command handler may use. Built once at start by the Bot and passed in each context.
import type { Vos } from '../actions/vos.ts';
import type { AdapterStatus } from './chat.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import type { Registry } from './registry.ts';
import type { Store } from './store.ts';

export interface Services {
  config: Config;
  store: Store;
  registry: Registry;
  log: Logger;
  vos: Vos;
  version: string;
  startedAt: Date;
  adapters(): AdapterStatus[];
}
