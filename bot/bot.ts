// The composition root of the core: builds every part from the config (buildServices), and the Bot,
// which puts the dispatcher behind a set of chat adapters and routes what jobs and workflows say to
// them. It knows chat only through the ChatAdapter interface and AFS only through actions/.
import { readFileSync } from 'node:fs';
import { FsDriver } from '../actions/fs.ts';
import { Vos } from '../actions/vos.ts';
import { Approvals } from './approvals/approvals.ts';
import { ApprovalsTable } from './approvals/table.ts';
import { Archive } from './backup/archive/archive.ts';
import { MaintenanceRuns } from './backup/archive/maintenance-runs.ts';
import { Catalog } from './backup/catalog.ts';
import { NightlyRuns } from './backup/nightly/history.ts';
import { registerSchedules } from './backup/nightly/schedule.ts';
import { Promotions } from './backup/promotions.ts';
import { recoverInterrupted } from './backup/recovery.ts';
import { RestoredVolumes } from './backup/restored.ts';
import type { AdapterStatus, ApprovalDecision, Backend, ChatAdapter, MessageMeta } from './chat/adapter.ts';
import { AuditLog } from './chat/audit.ts';
import { Dispatcher, type Send } from './chat/dispatcher.ts';
import { type AnySpec, Registry } from './chat/registry.ts';
import { commands } from './commands/index.ts';
import { JobsTable } from './jobs/jobs-table.ts';
import { VolumeLocks } from './jobs/locks.ts';
import { type JobDeps, JobManager, type Origin } from './jobs/manager.ts';
import { Scheduler } from './jobs/scheduler.ts';
import type { Config } from './platform/config.ts';
import { Database } from './platform/database.ts';
import type { Logger } from './platform/log.ts';
import type { Services } from './services.ts';

/** The version in package.json, found from here whether this runs as TypeScript or from dist/. */
function readVersion(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      return (
        JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name: string; version: string }
      ).version;
    } catch {
      if (dir.pathname === '/') return 'unknown';
    }
  }
}
export const version: string = readVersion();

/** How the parts reach the chats; the Bot gives the real ones, a one-shot tool or a test may give none. */
export interface ChatOutlet {
  adapters(): AdapterStatus[];
  post: JobDeps['post'];
  progress: JobDeps['progress'];
  announce(text: string): Promise<void>;
  report(text: string, except?: Origin, meta?: MessageMeta): Promise<void>;
  decided(d: ApprovalDecision): void;
}

const noChat: ChatOutlet = {
  adapters: () => [],
  post: async () => {},
  progress: () => {},
  announce: async () => {},
  report: async () => {},
  decided: () => {},
};

/** Everything a command handler uses, built from the config. */
export function buildServices(opts: {
  config: Config;
  log: Logger;
  extraCommands?: AnySpec<Services>[];
  database?: Database;
  clock?: () => Date;
  chat?: ChatOutlet;
}): Services {
  const { config, log } = opts;
  const chat = opts.chat ?? noChat;
  const database = opts.database ?? new Database(config.databasePath);
  const db = database.db;
  const clock = opts.clock ?? (() => new Date());
  const registry = new Registry<Services>([...commands, ...(opts.extraCommands ?? [])]);
  const catalog = new Catalog(db);
  const s: Services = {
    config,
    database,
    audit: new AuditLog(db),
    registry,
    log,
    vos: new Vos({
      binary: config.afs.vos,
      localauth: config.afs.localauth,
      timeoutMs: config.afs.timeoutMs,
      ...(config.afs.configDir ? { configDir: config.afs.configDir } : {}),
      ...(config.afs.cell ? { cell: config.afs.cell } : {}),
    }),
    mounts: new FsDriver({ binary: config.afs.fs, timeoutMs: config.afs.timeoutMs }),
    jobs: new JobManager({
      table: new JobsTable(db),
      locks: new VolumeLocks(db),
      log,
      post: chat.post,
      progress: chat.progress,
      whenBusy: config.jobs.whenBusy,
    }),
    schedule: new Scheduler({
      clock,
      log,
      report: (t) => chat.report(t),
      ...(config.timeZone ? { timeZone: config.timeZone } : {}),
    }),
    catalog,
    restored: new RestoredVolumes(db),
    promotions: new Promotions(db),
    archive: new Archive({ config, catalog, log }),
    maintenanceRuns: new MaintenanceRuns(db),
    nightlyRuns: new NightlyRuns(db),
    approvals: new Approvals<Services>({
      table: new ApprovalsTable(db, clock),
      registry,
      clock,
      prefix: config.prefix,
      settings: config.approvals,
      announce: (t) => chat.announce(t),
      report: (t, except, meta) =>
        chat.report(t, { backend: except.backend, identity: null, conversation: except.conversation }, meta),
      decided: (d) => chat.decided(d),
    }),
    tools: config.tools,
    clock,
    version,
    startedAt: new Date(),
    adapters: () => chat.adapters(),
    announce: (t) => chat.announce(t),
    report: (t, except, meta) => chat.report(t, except, meta),
    decided: (d) => chat.decided(d),
  };
  registerSchedules(s);
  return s;
}

/** The dispatcher of a set of services, answering through `send`. */
export function dispatcherFor(s: Services, send: Send): Dispatcher<Services> {
  return new Dispatcher<Services>({
    prefix: s.config.prefix,
    admins: s.config.admins,
    registry: s.registry,
    audit: s.audit,
    log: s.log,
    services: s,
    gate: s.approvals,
    send,
  });
}

export interface BotOptions {
  config: Config;
  log: Logger;
  adapters: ChatAdapter[];
  /** Extra commands (tests); the standard set is always there, and a clash with it fails at start. */
  extraCommands?: AnySpec<Services>[];
  clock?: () => Date;
}

export class Bot {
  readonly services: Services;
  private readonly dispatcher: Dispatcher<Services>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly adapters: ChatAdapter[];

  constructor(opts: BotOptions) {
    this.adapters = opts.adapters;
    this.services = buildServices({
      config: opts.config,
      log: opts.log,
      ...(opts.extraCommands ? { extraCommands: opts.extraCommands } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      chat: {
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
      },
    });
    this.dispatcher = dispatcherFor(this.services, (event, text, meta) =>
      this.adapterOf(event.actor.backend).send(event.conversation, text, meta),
    );
  }

  /** The database the bot works on (tests and backup-manager read it). */
  get database(): Database {
    return this.services.database;
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
   * `schedule: false` and `recover: false` are for backup-manager: a one-shot tool on the same database
   * leaves the schedule and crash recovery to the bot.
   */
  async start(opts: { schedule?: boolean; recover?: boolean } = {}): Promise<void> {
    const { log } = this.services;
    log.info('starting', {
      version,
      adapters: this.adapters.map((a) => a.backend),
      database: this.services.database.path,
    });
    for (const adapter of this.adapters) {
      await adapter.start((event) => this.track(this.dispatcher.handle(event)));
    }
    if (opts.schedule !== false) this.services.schedule.start();
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
    this.services.schedule.stop();
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
    this.services.database.close();
    this.services.log.info('stopped');
  }
}
