// The bot: store, registry and dispatcher behind a set of chat adapters. It knows chat only through
// the ChatAdapter interface and AFS only through actions/.
import { readFileSync } from 'node:fs';
import { FsDriver } from '../actions/fs.ts';
import { Vos } from '../actions/vos.ts';
import { Archive } from './archive.ts';
import { Catalog } from './catalog.ts';
import type { AdapterStatus, Backend, ChatAdapter, Decision, MessageMeta } from './chat.ts';
import { commands } from './commands/index.ts';
import type { Config } from './config.ts';
import { Dispatcher } from './dispatcher.ts';
import { type JobDeps, JobManager, type Origin } from './jobs.ts';
import type { Logger } from './log.ts';
import { recoverInterrupted } from './recovery.ts';
import { type CommandSpec, Registry } from './registry.ts';
import { Scheduler } from './scheduler.ts';
import type { Services } from './services.ts';
import { Store } from './store.ts';

export const version: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Everything a command handler uses, built from the config. */
export function buildServices(opts: {
  config: Config;
  log: Logger;
  registry: Registry;
  store?: Store;
  clock?: () => Date;
  adapters?: () => AdapterStatus[];
  post?: JobDeps['post'];
  progress?: JobDeps['progress'];
  announce?: (text: string) => Promise<void>;
  report?: (text: string, except?: Origin, meta?: MessageMeta) => Promise<void>;
  decided?: (d: Decision) => void;
}): Services {
  const { config, log } = opts;
  const store = opts.store ?? new Store(config.storePath);
  const vos = new Vos({
    binary: config.afs.vos,
    localauth: config.afs.localauth,
    timeoutMs: config.afs.timeoutMs,
    ...(config.afs.configDir ? { configDir: config.afs.configDir } : {}),
    ...(config.afs.cell ? { cell: config.afs.cell } : {}),
  });
  const catalog = new Catalog(store);
  return {
    config,
    store,
    registry: opts.registry,
    log,
    vos,
    fs: new FsDriver({ binary: config.afs.fs, timeoutMs: config.afs.timeoutMs }),
    jobs: new JobManager({
      store,
      log,
      post: opts.post ?? (async () => {}),
      progress: opts.progress ?? (() => {}),
      whenBusy: config.jobs.whenBusy,
    }),
    catalog,
    archive: new Archive({ config, catalog, log, store }),
    tools: config.tools,
    clock: opts.clock ?? (() => new Date()),
    version,
    startedAt: new Date(),
    adapters: opts.adapters ?? (() => []),
    announce: opts.announce ?? (async () => {}),
    report: opts.report ?? (async () => {}),
    nextNightly: () => undefined,
    decided: opts.decided ?? (() => {}),
  };
}

export interface BotOptions {
  config: Config;
  log: Logger;
  adapters: ChatAdapter[];
  /** Extra commands (tests); the standard set is always there, and a clash with it fails at start. */
  extraCommands?: CommandSpec<unknown>[];
  clock?: () => Date;
}

export class Bot {
  readonly store: Store;
  readonly services: Services;
  private readonly dispatcher: Dispatcher;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly adapters: ChatAdapter[];
  readonly scheduler: Scheduler;

  constructor(opts: BotOptions) {
    this.adapters = opts.adapters;
    const registry = new Registry([...commands, ...(opts.extraCommands ?? [])]);
    this.store = new Store(opts.config.storePath);
    this.services = buildServices({
      config: opts.config,
      log: opts.log,
      registry,
      store: this.store,
      ...(opts.clock ? { clock: opts.clock } : {}),
      adapters: () => this.adapters.map((a) => a.status()),
      post: (origin, text, meta) =>
        origin.reports
          ? this.report(text, undefined, meta)
          : this.adapterOf(origin.backend).send(origin.conversation, text, meta),
      progress: (origin, update) => {
        if (!origin.reports) this.adapterOf(origin.backend).progress?.(origin.conversation, update);
      },
      announce: (text) => this.announce(text),
      report: (text, except, meta) => this.report(text, except, meta),
      decided: (d) => {
        for (const a of this.adapters) a.decided?.(d);
      },
    });
    this.scheduler = new Scheduler(this.services);
    this.services.nextNightly = () => this.scheduler.nextNightly();
    this.dispatcher = new Dispatcher(this.services, (event, text, meta) =>
      this.adapterOf(event.actor.backend).send(event.conversation, text, meta),
    );
  }

  /** Every channel the adapters are in; the console when it is one of them. */
  private async announce(text: string): Promise<void> {
    for (const a of this.adapters) {
      const st = a.status();
      const targets = st.channels.length ? st.channels : a.backend === 'console' ? ['console'] : [];
      for (const id of targets) {
        try {
          await a.send({ id, kind: a.backend === 'console' ? 'direct' : 'channel' }, text);
        } catch (err) {
          this.services.log.warn('could not announce', { backend: a.backend, channel: id, error: err });
        }
      }
    }
  }

  /** The report channels of each adapter (IRC: irc.reportChannels, else every channel it is in). */
  private async report(text: string, except?: Origin, meta?: MessageMeta): Promise<void> {
    for (const a of this.adapters) {
      const st = a.status();
      const { irc, slack } = this.services.config;
      const configured =
        a.backend === 'irc' ? irc.reportChannels : a.backend === 'slack' ? slack.reportChannels : [];
      const targets = configured.length
        ? configured
        : st.channels.length
          ? st.channels
          : a.backend === 'console'
            ? ['console']
            : [];
      for (const id of targets) {
        if (except && !except.reports && except.backend === a.backend && except.conversation.id === id)
          continue;
        try {
          await a.send({ id, kind: a.backend === 'console' ? 'direct' : 'channel' }, text, meta);
        } catch (err) {
          this.services.log.warn('could not post a report', { backend: a.backend, channel: id, error: err });
        }
      }
    }
  }

  private adapterOf(backend: Backend): ChatAdapter {
    const adapter = this.adapters.find((a) => a.backend === backend);
    if (!adapter) throw new Error(`no adapter for ${backend}`);
    return adapter;
  }

  /**
   * `schedule: false` and `recover: false` are for backup-manager: a one-shot tool on the same store
   * leaves the schedule and crash recovery to the bot.
   */
  async start(opts: { schedule?: boolean; recover?: boolean } = {}): Promise<void> {
    const { log } = this.services;
    log.info('starting', { version, adapters: this.adapters.map((a) => a.backend), store: this.store.path });
    for (const adapter of this.adapters) {
      await adapter.start((event) => this.track(this.dispatcher.handle(event)));
    }
    if (opts.schedule !== false) this.scheduler.start();
    if (opts.recover === false) return;
    // Not awaited: freeing a volume that a killed restore holds can take the volserver a minute.
    void this.track(
      recoverInterrupted(this.services, (origin, text) =>
        this.adapterOf(origin.backend).send(origin.conversation, text),
      ),
    );
  }

  /** Keeps a handler's promise so that stop() can wait for work in progress. */
  private track(work: Promise<void>): Promise<void> {
    const p = work.catch((err: unknown) => this.services.log.error('handler crashed', { error: err }));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Waits for every command in progress and every job they started. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    await this.services.jobs.drain();
  }

  /** Stops: running jobs are cancelled (and clean up after themselves) unless `wait` lets them finish. */
  async stop(opts: { wait?: boolean } = {}): Promise<void> {
    this.scheduler.stop();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    if (opts.wait) await this.services.jobs.drain();
    else await this.services.jobs.stopAll();
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
