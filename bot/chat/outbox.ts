// The outbox: every line the bot says goes in here first (a row in the database) and the caller goes
// on at once; no job, command or shutdown ever waits for a chat. A courier per chat hands the rows to
// its adapter, which orders them by urgency and paces them; a row is deleted only once the adapter has
// written it. While a chat is down its rows wait; when it comes back, or the bot restarts with rows
// left, a long backlog is summarised rather than replayed line by line. Progress lines with the same
// key replace each other: only the newest is ever sent.

import type { Sqlite } from '../platform/database.ts';
import type { Logger } from '../platform/log.ts';
import type { Backend, ChatAdapter, Conversation, MessageMeta, Urgency } from './adapter.ts';

interface Row {
  id: number;
  backend: Backend;
  conversation: string;
  text: string;
  meta: string | null;
  urgency: Urgency;
  coalesce_key: string | null;
  pid: number;
  created_at: string;
}

export interface OutboxOptions {
  /** More unsent lines than this for one conversation, after a chat was away, are summarised. */
  summariseOver?: number;
  /** How often a chat that is down is looked at again. */
  retryMs?: number;
}

const rank: Record<Urgency, number> = { reply: 0, result: 1, progress: 2, report: 3 };
/** Lines kept in memory while the database cannot be written, at most. */
const MEMORY_CAP = 1000;

export class Outbox {
  private readonly adapters = new Map<Backend, ChatAdapter>();
  /** Rows handed to an adapter and not yet written. */
  private readonly inFlight = new Set<number>();
  /** Whether each chat was connected at its last pump: a chat that comes back gets its backlog summarised. */
  private readonly wasUp = new Map<Backend, boolean>();
  private timer: NodeJS.Timeout | undefined;
  private readonly idleWaiters: (() => void)[] = [];
  /**
   * Lines the database would not take (its disk is full): kept here, with negative ids, and sent like
   * the others; they are lost only if the process ends before their chat takes them.
   */
  private readonly memory: Row[] = [];
  private nextMemoryId = -1;

  constructor(
    private readonly db: Sqlite,
    private readonly log: Logger,
    private readonly opts: OutboxOptions = {},
  ) {}

  /** Starts the couriers. Console lines a dead process left are dropped: that terminal is gone. */
  start(adapters: ChatAdapter[]): void {
    for (const a of adapters) this.adapters.set(a.backend, a);
    const dropped = this.db
      .prepare(`DELETE FROM outbox WHERE backend = 'console' AND pid <> ?`)
      .run(process.pid).changes;
    if (dropped) this.log.info('outbox: dropped console lines of an earlier process', { dropped });
    // lines left by an earlier process are a backlog like any other: summarised if long
    for (const a of adapters) this.wasUp.set(a.backend, false);
    this.timer = setInterval(() => this.pumpAll(), this.opts.retryMs ?? 1000);
    this.timer.unref();
    this.pumpAll();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Queues a line for a chat and returns at once. A `coalesce` key replaces any unsent line with the
   * same key (progress: the newest wins).
   */
  enqueue(
    backend: Backend,
    to: Conversation,
    text: string,
    opts: { meta?: MessageMeta; urgency: Urgency; coalesce?: string },
  ): void {
    try {
      if (opts.coalesce) {
        const old = this.db
          .prepare('SELECT id FROM outbox WHERE backend = ? AND coalesce_key = ?')
          .all(backend, opts.coalesce) as { id: number }[];
        for (const o of old) if (!this.inFlight.has(o.id)) this.delete(o.id);
      }
      this.db
        .prepare(
          `INSERT INTO outbox (backend, conversation, text, meta, urgency, coalesce_key, pid, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          backend,
          JSON.stringify(to),
          text,
          opts.meta ? JSON.stringify(opts.meta) : null,
          opts.urgency,
          opts.coalesce ?? null,
          process.pid,
          new Date().toISOString(),
        );
    } catch (err) {
      // a full disk must not take a job down with it, nor make the bot mute: the line waits in memory
      this.keepInMemory(backend, to, text, opts, err);
    }
    this.pump(backend);
  }

  private keepInMemory(
    backend: Backend,
    to: Conversation,
    text: string,
    opts: { meta?: MessageMeta; urgency: Urgency; coalesce?: string },
    err: unknown,
  ): void {
    if (this.memory.length === 0)
      this.log.error('outbox: the database cannot be written; lines wait in memory until it can', {
        backend,
        error: err,
      });
    if (opts.coalesce) {
      const old = this.memory.findIndex(
        (r) => r.backend === backend && r.coalesce_key === opts.coalesce && !this.inFlight.has(r.id),
      );
      if (old >= 0) this.memory.splice(old, 1);
    }
    // bounded: past the cap the oldest goes (a chat that is down, and a database that is full)
    if (this.memory.length >= MEMORY_CAP) this.memory.shift();
    this.memory.push({
      id: this.nextMemoryId--,
      backend,
      conversation: JSON.stringify(to),
      text,
      meta: opts.meta ? JSON.stringify(opts.meta) : null,
      urgency: opts.urgency,
      coalesce_key: opts.coalesce ?? null,
      pid: process.pid,
      created_at: new Date().toISOString(),
    });
  }

  /** How many lines wait for `backend` (all chats when not given). */
  pending(backend?: Backend): number {
    const kept = (
      (backend
        ? this.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE backend = ?').get(backend)
        : this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get()) as { n: number }
    ).n;
    return kept + this.memory.filter((r) => !backend || r.backend === backend).length;
  }

  /** Resolves once every line is written, or after `deadlineMs` (the rest stays for the next start). */
  async flush(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && [...this.adapters.keys()].some((b) => this.pendingHere(b) > 0)) {
      this.pumpAll();
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(100, Math.max(1, until - Date.now())));
        this.idleWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Lines this process can send on `backend` (a console line of another process is not its). */
  private pendingHere(backend: Backend): number {
    const kept = this.db
      .prepare(`SELECT COUNT(*) AS n FROM outbox WHERE backend = ? AND (backend <> 'console' OR pid = ?)`)
      .get(backend, process.pid) as { n: number };
    return kept.n + this.memory.filter((r) => r.backend === backend).length;
  }

  private pumpAll(): void {
    for (const b of this.adapters.keys()) this.pump(b);
  }

  private delete(id: number): void {
    if (id < 0) {
      const i = this.memory.findIndex((r) => r.id === id);
      if (i >= 0) this.memory.splice(i, 1);
      return;
    }
    try {
      this.db.prepare('DELETE FROM outbox WHERE id = ?').run(id);
    } catch (err) {
      this.log.error('outbox: could not delete a sent line', { id, error: err });
    }
  }

  /** Hands every waiting line of `backend` to its adapter, most urgent first, when the chat is up. */
  private pump(backend: Backend): void {
    const adapter = this.adapters.get(backend);
    if (!adapter) return;
    const up = adapter.status().connected;
    const cameBack = up && this.wasUp.get(backend) === false;
    this.wasUp.set(backend, up);
    if (!up) return;
    let rows: Row[];
    try {
      if (cameBack) this.summarise(backend);
      rows = (
        this.db
          .prepare(`SELECT * FROM outbox WHERE backend = ? AND (backend <> 'console' OR pid = ?) ORDER BY id`)
          .all(backend, process.pid) as Row[]
      ).filter((r) => !this.inFlight.has(r.id));
    } catch (err) {
      this.log.error('outbox: could not read the waiting lines', { backend, error: err });
      rows = [];
    }
    rows.push(...this.memory.filter((r) => r.backend === backend && !this.inFlight.has(r.id)));
    rows.sort((a, b) => rank[a.urgency] - rank[b.urgency] || a.id - b.id);
    for (const r of rows) {
      this.inFlight.add(r.id);
      const meta = r.meta ? (JSON.parse(r.meta) as MessageMeta) : undefined;
      adapter
        .send(JSON.parse(r.conversation) as Conversation, r.text, meta, r.urgency)
        .then(
          () => this.delete(r.id),
          (err: unknown) => this.log.debug('outbox: not written; kept for later', { id: r.id, error: err }),
        )
        .finally(() => {
          this.inFlight.delete(r.id);
          for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  /**
   * A chat came back (or the bot restarted) with more than summariseOver lines waiting for one
   * conversation: it gets what still matters (the answers, the job results and approval requests, the
   * newest report) and one line that says what was left out, not every progress line since.
   */
  private summarise(backend: Backend): void {
    const limit = this.opts.summariseOver ?? 10;
    const rows = (
      this.db
        .prepare(`SELECT * FROM outbox WHERE backend = ? AND (backend <> 'console' OR pid = ?) ORDER BY id`)
        .all(backend, process.pid) as Row[]
    ).filter((r) => !this.inFlight.has(r.id));
    const byConversation = new Map<string, Row[]>();
    for (const r of rows)
      byConversation.set(r.conversation, [...(byConversation.get(r.conversation) ?? []), r]);
    for (const [conversation, list] of byConversation) {
      if (list.length <= limit) continue;
      const reports = list.filter((r) => r.urgency === 'report');
      const keep = new Set<number>([
        ...list
          .filter((r) => r.urgency === 'reply' || r.urgency === 'result')
          .slice(-limit)
          .map((r) => r.id),
        ...(reports.length ? [reports.at(-1)!.id] : []),
      ]);
      const dropped = list.filter((r) => !keep.has(r.id));
      if (dropped.length === 0) continue;
      const since = list[0]!.created_at.slice(0, 16).replace('T', ' ');
      this.db.transaction(() => {
        for (const d of dropped) this.db.prepare('DELETE FROM outbox WHERE id = ?').run(d.id);
        // in the place of the oldest line it stands for, so that it comes before what was kept
        this.db
          .prepare(
            `INSERT INTO outbox (id, backend, conversation, text, meta, urgency, coalesce_key, pid, created_at)
             VALUES (?, ?, ?, ?, NULL, 'result', NULL, ?, ?)`,
          )
          .run(
            dropped[0]!.id,
            backend,
            conversation,
            `(while this chat was unreachable, since ${since} UTC, ${list.length} lines waited; ${dropped.length} older progress lines and reports are left out here: !jobs, !job <id> and !nightly report have them)`,
            process.pid,
            new Date().toISOString(),
          );
      })();
      this.log.info('outbox: summarised a backlog', {
        backend,
        conversation,
        waited: list.length,
        dropped: dropped.length,
      });
    }
  }
}
