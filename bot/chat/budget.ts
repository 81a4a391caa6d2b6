// How much a stranger (anyone who is not an admin) may make the bot say: a few answers, then one a
// minute; and all strangers together no more than a small number a minute. Past that the bot stays
// silent (and audits the line), so nobody on the network can fill its send queue for hours and keep
// the admins' answers and the night's reports waiting. Admins are never limited.

interface Bucket {
  tokens: number;
  at: number;
}

export interface BudgetOptions {
  /** Answers one stranger gets at once. */
  burst: number;
  /** Then this many a minute. */
  perMinute: number;
  /** All strangers together, a minute (and at once). */
  allPerMinute: number;
  now?: () => number;
}

export class StrangerBudget {
  private readonly senders = new Map<string, Bucket>();
  private readonly all: Bucket;
  private readonly now: () => number;

  constructor(private readonly o: BudgetOptions) {
    this.now = o.now ?? Date.now;
    this.all = { tokens: o.allPerMinute, at: this.now() };
  }

  private refill(b: Bucket, perMinute: number, cap: number): void {
    const t = this.now();
    b.tokens = Math.min(cap, b.tokens + ((t - b.at) / 60_000) * perMinute);
    b.at = t;
  }

  /** Takes one answer from the budget of `sender`; false when it (or all strangers') is spent. */
  take(sender: string): boolean {
    let b = this.senders.get(sender);
    if (!b) {
      if (this.senders.size > 10_000) this.senders.clear(); // many nicks: start over rather than grow
      b = { tokens: this.o.burst, at: this.now() };
      this.senders.set(sender, b);
    }
    this.refill(b, this.o.perMinute, this.o.burst);
    this.refill(this.all, this.o.allPerMinute, this.o.allPerMinute);
    if (b.tokens < 1 || this.all.tokens < 1) return false;
    b.tokens--;
    this.all.tokens--;
    return true;
  }
}
