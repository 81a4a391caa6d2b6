// Outgoing flood control. IRC servers throttle or kill a client that sends too fast (InspIRCd's default
// class lets ~10 lines through, then 1 per second, and kills on RecvQ overflow), and irc-framework has no
// queue of its own. A token bucket: `burst` lines at once, then one line every `intervalMs`.
// Lines go most urgent first (answers, then results, then progress, then reports), and `reserve`
// tokens are kept for answers: bulk lines never spend the last of them, so an answer to a command goes
// out at once even while a long report is being paced. When the connection goes, every queued line is
// given back (its promise rejects): the bot's outbox keeps it and sends it, or a summary, once back.
import type { Urgency } from '../../bot/chat/adapter.ts';

export interface SendQueueOptions {
  burst: number;
  intervalMs: number;
  /** Tokens only an answer ('reply') may spend. Default 1. */
  reserve?: number;
  /** Writes one line; returns false when the connection is not there (the line is then kept and retried). */
  write(line: string): boolean;
  now?: () => number;
}

interface Item {
  line: string;
  urgency: Urgency;
  /** Its place in line: urgency first, then the order it was pushed. */
  seq: number;
  message: Message;
}

/** One push: its lines go in order, and it settles once all are written or given back. */
interface Message {
  left: number;
  resolve: () => void;
  reject: (err: Error) => void;
  settled: boolean;
}

const rank: Record<Urgency, number> = { reply: 0, result: 1, progress: 2, report: 3 };

export class SendQueue {
  private readonly items: Item[] = [];
  private tokens: number;
  private lastRefill: number;
  private timer: NodeJS.Timeout | undefined;
  private paused = true;
  private seq = 0;
  private readonly now: () => number;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: SendQueueOptions) {
    this.tokens = opts.burst;
    this.now = opts.now ?? Date.now;
    this.lastRefill = this.now();
  }

  get pending(): number {
    return this.items.length;
  }

  /** Queues lines in order; resolves when the last of them has been written, rejects if given back. */
  push(lines: readonly string[], urgency: Urgency = 'reply'): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const message: Message = { left: lines.length, resolve, reject, settled: false };
      for (const line of lines) this.items.push({ line, urgency, seq: this.seq++, message });
      this.items.sort((a, b) => rank[a.urgency] - rank[b.urgency] || a.seq - b.seq);
      this.pump();
    });
  }

  pause(): void {
    this.paused = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Resolves when nothing is queued. */
  idle(): Promise<void> {
    if (this.items.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Gives every queued line back: each message not written whole rejects with `why`. */
  dropAll(why: string): void {
    const items = this.items.splice(0);
    for (const item of items) {
      if (!item.message.settled) {
        item.message.settled = true;
        item.message.reject(new Error(why));
      }
    }
    this.notifyIdle();
  }

  private refill(): void {
    const now = this.now();
    const gained = Math.floor((now - this.lastRefill) / this.opts.intervalMs);
    if (gained > 0) {
      this.tokens = Math.min(this.opts.burst, this.tokens + gained);
      this.lastRefill += gained * this.opts.intervalMs;
    }
    if (this.tokens >= this.opts.burst) this.lastRefill = now;
  }

  private pump(): void {
    if (this.paused) return;
    // a new line may go before the wait is over (an answer, with tokens kept for it): look again now
    clearTimeout(this.timer);
    this.timer = undefined;
    this.refill();
    const reserve = Math.min(this.opts.reserve ?? 1, this.opts.burst - 1);
    while (this.items.length > 0) {
      const item = this.items[0]!;
      // an answer may spend the last tokens; anything else leaves `reserve` of them for one
      if (this.tokens <= (item.urgency === 'reply' ? 0 : reserve)) break;
      if (!this.opts.write(item.line)) {
        this.pause();
        return;
      }
      this.items.shift();
      this.tokens--;
      if (--item.message.left === 0 && !item.message.settled) {
        item.message.settled = true;
        item.message.resolve();
      }
    }
    if (this.items.length === 0) {
      this.notifyIdle();
      return;
    }
    const wait = Math.max(1, this.lastRefill + this.opts.intervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, wait);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters.splice(0);
    for (const w of waiters) w();
  }
}
