// The composition root of the core: builds every part from the config (buildServices), and the Bot,
// which puts the dispatcher behind a set of chat adapters and routes what jobs and workflows say to
// them. It knows chat only through the ChatAdapter interface and AFS only through actions/.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { FsDriver } from '../actions/fs.ts';
import { Pts } from '../actions/pts.ts';
import { Vos } from '../actions/vos.ts';
import { Approvals } from './approvals/approvals.ts';
import { ApprovalsTable } from './approvals/table.ts';
import { Archive } from './backup/archive/archive.ts';
import { MaintenanceRuns } from './backup/archive/maintenance-runs.ts';
import { Catalog } from './backup/catalog.ts';
import { FileIndex } from './backup/file-index.ts';
import { startHealthServer } from './backup/health.ts';
import { NightlyRuns } from './backup/nightly/history.ts';
import { catchUpMissed, checkDeadMan, registerSchedules } from './backup/nightly/schedule.ts';
import { Promotions } from './backup/promotions.ts';
import { recoverInterrupted } from './backup/recovery.ts';
import { expireRequests } from './backup/restore-requests.ts';
import { RestoreRequests } from './backup/restore-requests-table.ts';
import { RestoredVolumes } from './backup/restored.ts';
import type { AdapterStatus, ApprovalDecision, ChatAdapter } from './chat/adapter.ts';
import { AuditLog } from './chat/audit.ts';
import { StrangerBudget } from './chat/budget.ts';
import { Dispatcher, type Send } from './chat/dispatcher.ts';
import { Outbox } from './chat/outbox.ts';
import { type AnySpec, Registry } from './chat/registry.ts';
import { ChatRouter, type ReportOptions } from './chat/router.ts';
import { commands } from './commands/index.ts';
import { JobsTable } from './jobs/jobs-table.ts';
import { VolumeLocks } from './jobs/locks.ts';
import { type JobDeps, JobManager } from './jobs/manager.ts';
import { Scheduler } from './jobs/scheduler.ts';
import type { Config } from './platform/config.ts';
import { parseCron } from './platform/cron.ts';
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
  announce(text: string): void;
  report(text: string, opts?: ReportOptions): void;
  decided(d: ApprovalDecision): void;
}

const noChat: ChatOutlet = {
  adapters: () => [],
  post: () => {},
  progress: () => {},
  announce: () => {},
  report: () => {},
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
      longTimeoutMs: config.afs.longTimeoutMs,
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
      lockWaitMs: config.jobs.lockWaitMs,
      maxHeavy: config.jobs.maxHeavy,
    }),
    schedule: new Scheduler({
      clock,
      log,
      report: (t) => chat.report(t, { urgency: 'result' }),
      ...(config.timeZone ? { timeZone: config.timeZone } : {}),
    }),
    catalog,
    files: new FileIndex(db),
    requests: new RestoreRequests(db),
    pts: new Pts({
      binary: config.afs.pts,
      localauth: config.afs.localauth,
      timeoutMs: config.afs.timeoutMs,
      ...(config.afs.configDir ? { configDir: config.afs.configDir } : {}),
      ...(config.afs.cell ? { cell: config.afs.cell } : {}),
    }),
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
        chat.report(t, {
          except: { backend: except.backend, identity: null, conversation: except.conversation },
          meta,
          urgency: 'result',
        }),
      decided: (d) => chat.decided(d),
    }),
    tools: config.tools,
    clock,
    version,
    startedAt: new Date(),
    adapters: () => chat.adapters(),
    announce: (t) => chat.announce(t),
    tell: (origin, t) => chat.post(origin, t),
    report: (t, o) => chat.report(t, o),
    decided: (d) => chat.decided(d),
  };
  registerSchedules(s);
  // restores users asked for leave once their days are over
  s.schedule.add({ name: 'restore-requests', cron: parseCron('*/5 * * * *'), fire: () => expireRequests(s) });
  return s;
}

/** The dispatcher of a set of services, answering through `send`. */
export function dispatcherFor(s: Services, send: Send): Dispatcher<Services> {
  const c = s.config.chat;
  return new Dispatcher<Services>({
    prefix: s.config.prefix,
    budget: new StrangerBudget({
      burst: c.strangerBurst,
      perMinute: c.strangerPerMinute,
      allPerMinute: c.strangersPerMinute,
    }),
    admins: s.config.admins,
    registry: s.registry,
    audit: s.audit,
    log: s.log,
    services: s,
    gate: s.approvals,
    send,
    databasePath: s.config.databasePath,
    pageLines: s.config.chat.pageLines,
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
  /** Every line for a chat goes through it: nothing waits for a chat. */
  readonly outbox: Outbox;
  private readonly router: ChatRouter;
  private readonly dispatcher: Dispatcher<Services>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly adapters: ChatAdapter[];
  /** The /metrics and /healthz server, when it runs. */
  health: Server | undefined;

  constructor(opts: BotOptions) {
    this.adapters = opts.adapters;
    const database = new Database(opts.config.databasePath);
    this.outbox = new Outbox(database.db, opts.log);
    this.router = new ChatRouter(this.adapters, this.outbox, opts.config);
    const r = this.router;
    this.services = buildServices({
      config: opts.config,
      log: opts.log,
      database,
      ...(opts.extraCommands ? { extraCommands: opts.extraCommands } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      chat: {
        adapters: () => this.adapters.map((a) => a.status()),
        post: (origin, text, meta) => r.post(origin, text, meta),
        progress: (origin, update) => r.progress(origin, update),
        announce: (text) => r.announce(text),
        report: (text, o) => r.report(text, o),
        decided: (d) => r.decided(d),
      },
    });
    this.dispatcher = dispatcherFor(this.services, async (event, text, meta, bulk) =>
      r.reply(event.actor.backend, event.conversation, text, meta, bulk),
    );
  }

  /** The database the bot works on (tests and backup-manager read it). */
  get database(): Database {
    return this.services.database;
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
    // Each chat starts on its own: one that cannot connect now keeps trying by itself, and holds up
    // neither the others nor the schedule.
    await Promise.all(
      this.adapters.map((a) =>
        a
          .start((event) => this.track(this.dispatcher.handle(event)))
          .catch((err: unknown) => {
            log.error('a chat adapter could not start; the bot runs on without it', {
              backend: a.backend,
              error: err,
            });
          }),
      ),
    );
    this.outbox.start(this.adapters);
    if (opts.schedule !== false && this.services.config.metrics.enabled) {
      try {
        this.health = await startHealthServer(this.services);
      } catch (err) {
        log.error('metrics and health endpoint not started; the bot runs on without it', { error: err });
      }
    }
    if (opts.schedule !== false) {
      this.services.schedule.start();
      try {
        const caught = catchUpMissed(this.services);
        if (caught) log.warn('schedule', { did: caught });
        checkDeadMan(this.services);
      } catch (err) {
        log.error('the start-up checks of the schedule failed', { error: err });
      }
    }
    if (opts.recover === false) return;
    // Not awaited: freeing a volume that a killed restore holds can take the volserver a minute.
    void this.track(recoverInterrupted(this.services, (origin, text) => this.router.post(origin, text)));
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

  /**
   * Stops within `deadlineMs` whatever chat does: running jobs are cancelled (they clean up after
   * themselves) unless `wait` lets them finish; a job still going at the deadline is left for the next
   * start's recovery, and the log says so. Lines not yet sent stay in the outbox for the next start.
   */
  async stop(opts: { wait?: boolean; deadlineMs?: number } = {}): Promise<void> {
    const { log, jobs, schedule, database } = this.services;
    const until = Date.now() + (opts.deadlineMs ?? 25_000);
    const left = () => Math.max(0, until - Date.now());
    const within = async (what: string, work: Promise<unknown>, ms: number): Promise<boolean> => {
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        work.then(() => true),
        new Promise<false>((r) => {
          timer = setTimeout(() => r(false), ms);
        }),
      ]);
      clearTimeout(timer);
      if (!done) log.warn(`stopping: ${what} did not finish in time; going on`, { waitedMs: ms });
      return done;
    };
    schedule.stop();
    this.health?.close();
    await within(
      'commands in progress',
      (async () => {
        while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
      })(),
      left() * 0.3,
    );
    const jobsDone = await within(
      opts.wait ? 'the jobs' : 'cancelling the jobs',
      opts.wait ? jobs.drain() : jobs.stopAll(),
      opts.wait ? Number.POSITIVE_INFINITY : left() * 0.8,
    );
    if (!jobsDone) log.warn('jobs still running at shutdown are left for the next start to recover');
    await this.outbox.flush(Math.min(3000, left()));
    this.outbox.stop();
    for (const adapter of this.adapters)
      await within(
        `the ${adapter.backend} adapter`,
        adapter.stop().catch((err: unknown) => {
          log.warn('adapter did not stop cleanly', { backend: adapter.backend, error: err });
        }),
        Math.max(500, Math.min(5000, left())),
      );
    const unsent = this.outbox.pending();
    if (unsent) log.info('stopping: lines not sent yet stay in the outbox for the next start', { unsent });
    if (jobsDone) database.close();
    log.info('stopped');
  }
}
