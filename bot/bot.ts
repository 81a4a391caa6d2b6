// The bot: store, registry and dispatcher behind a set of chat adapters. It knows chat only through
// the ChatAdapter interface and AFS only through actions/.
import { readFileSync } from 'node:fs';
import { Vos } from '../actions/vos.ts';
import type { ChatAdapter, ChatEvent } from './chat.ts';
import { commands } from './commands/index.ts';
import type { Config } from './config.ts';
import { Dispatcher } from './dispatcher.ts';
import type { Logger } from './log.ts';
import { type CommandSpec, Registry } from './registry.ts';
import type { Services } from './services.ts';
import { Store } from './store.ts';

export const version: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface BotOptions {
  config: Config;
  log: Logger;
  adapters: ChatAdapter[];
  /** Extra commands (tests); the standard set is always there, and a clash with it fails at start. */
  extraCommands?: CommandSpec<unknown>[];
}

export class Bot {
  readonly store: Store;
  readonly services: Services;
  private readonly dispatcher: Dispatcher;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly adapters: ChatAdapter[];

  constructor(opts: BotOptions) {
    this.adapters = opts.adapters;
    const registry = new Registry([...commands, ...(opts.extraCommands ?? [])]);
    this.store = new Store(opts.config.storePath);
    this.services = {
      config: opts.config,
      store: this.store,
      registry,
      log: opts.log,
      vos: new Vos({
        binary: opts.config.afs.vos,
        localauth: opts.config.afs.localauth,
        timeoutMs: opts.config.afs.timeoutMs,
        ...(opts.config.afs.configDir ? { configDir: opts.config.afs.configDir } : {}),
        ...(opts.config.afs.cell ? { cell: opts.config.afs.cell } : {}),
      }),
      version,
      startedAt: new Date(),
      adapters: () => this.adapters.map((a) => a.status()),
    };
    this.dispatcher = new Dispatcher(this.services, (event, text) =>
      this.adapterFor(event).send(event.conversation, text),
    );
  }

  private adapterFor(event: ChatEvent): ChatAdapter {
    const adapter = this.adapters.find((a) => a.backend === event.actor.backend);
    if (!adapter) throw new Error(`no adapter for ${event.actor.backend}`);
    return adapter;
  }

  async start(): Promise<void> {
    const { log } = this.services;
    log.info('starting', { version, adapters: this.adapters.map((a) => a.backend), store: this.store.path });
    for (const adapter of this.adapters) {
      await adapter.start((event) => this.track(this.dispatcher.handle(event)));
    }
  }

  /** Keeps a handler's promise so that stop() can wait for work in progress. */
  private track(work: Promise<void>): Promise<void> {
    const p = work.catch((err: unknown) => this.services.log.error('handler crashed', { error: err }));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Waits for every command in progress. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  async stop(): Promise<void> {
    await this.drain();
    for (const adapter of this.adapters) {
      try {
        await adapter.stop();
      } catch (err) {
        this.services.log.warn('adapter did not stop cleanly', { backend: adapter.backend, error: err });
      }
    }
    this.store.close();
    this.services.log.info('stopped');
  }
}
