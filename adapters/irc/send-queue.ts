// Outgoing flood control. IRC servers throttle or kill a client that sends too fast (InspIRCd's default
// class lets ~10 lines through, then 1 per second, and kills on RecvQ overflow), and irc-framework has no
// queue of its own. A token bucket: `burst` lines at once, then one line every `intervalMs`. While
// paused (disconnected) lines wait, in order, and go out after reconnect.

export interface SendQueueOptions {
  burst: number;
  intervalMs: number;
  /** Writes one line; returns false when the connection is not there (the line is then kept and retried). */
  write(line: string): boolean;
  now?: () => number;
}

interface Item {
  line: string;
  done: () => void;
}

export class SendQueue {
  private readonly items: Item[] = [];
  private tokens: number;
  private lastRefill: number;
  private timer: NodeJS.Timeout | undefined;
  private paused = true;
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

  /** Queues lines in order; resolves when the last of them has been written. */
  push(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      lines.forEach((line, i) => {
        this.items.push({ line, done: i === lines.length - 1 ? resolve : () => {} });
      });
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

  /** Drops everything queued (at shutdown when the connection is gone for good). */
  clear(): void {
    const items = this.items.splice(0);
    for (const item of items) item.done();
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
    if (this.paused || this.timer) return;
    this.refill();
    while (this.items.length > 0 && this.tokens > 0) {
      const item = this.items[0]!;
      if (!this.opts.write(item.line)) {
        this.pause();
        return;
      }
      this.items.shift();
      this.tokens--;
      item.done();
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
