// IRC with irc-framework. Identity is the services account the server vouches for in each message
// (account-tag), never the nick, and never a WHOIS after the fact. Own reconnect loop with backoff and a registration timeout (irc-framework waits forever
// on SASL when services just died), rejoin after every reconnect, and a paced send queue.
import { Client, type MessageEvent } from 'irc-framework';
import { backoffDelays } from '../../actions/backoff.ts';
import {
  type Actor,
  type AdapterStatus,
  type ChatAdapter,
  type Conversation,
  type EventHandler,
  formatProgress,
  type MessageMeta,
  type ProgressUpdate,
  type ReportSummary,
  type Urgency,
} from '../../bot/chat/adapter.ts';
import { SendQueue } from './send-queue.ts';
import { maxTextBytes, splitForIrc } from './split.ts';

export interface IrcAdapterOptions {
  host: string;
  port: number;
  tls: boolean;
  tlsVerify: boolean;
  nick: string;
  username: string;
  realname: string;
  /** SASL PLAIN credentials; the password was read from its file by the caller. */
  sasl?: { account: string; password: string };
  channels: string[];
  sendBurst: number;
  sendIntervalMs: number;
  registerTimeoutMs: number;
  /** The first wait before identifying to NickServ when SASL did not complete; it doubles per retry. */
  identifyRetryMs?: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /**
   * The services server's name. IDENTIFY goes to NickServ@<it>, which the IRC server delivers only to a
   * NickServ on that server: never to a user who took the nick while services were away.
   */
  servicesServer?: string;
  /** At most one progress line per job this often (the channel should see it is alive, not be flooded). */
  progressIntervalMs?: number;
  /** The command prefix, for the line that says where the whole report is. */
  prefix?: string;
  log: {
    info(msg: string, f?: Record<string, unknown>): void;
    warn(msg: string, f?: Record<string, unknown>): void;
  };
}

/**
 * A nightly report in an IRC channel: the verdict, the counts on one line, the failures (at most five),
 * and where the whole text is. Every line of a long report would hold the channel for minutes.
 */
export function reportLines(r: ReportSummary, prefix: string): string {
  const date = /(\d{4}\.\d{2}\.\d{2})/.exec(r.title)?.[1];
  const shown = r.failures.slice(0, 5);
  return [
    `${r.title}: ${r.verdict}`,
    r.fields.map((f) => `${f.label} ${f.value}`).join(', '),
    ...shown,
    ...(r.failures.length > shown.length ? [`... and ${r.failures.length - shown.length} more`] : []),
    `the whole report: ${prefix}nightly report${date ? ` ${date}` : ''}`,
  ].join('\n');
}

export class IrcAdapter implements ChatAdapter {
  readonly backend = 'irc' as const;
  private readonly client = new Client();
  private readonly queue: SendQueue;
  private registered = false;
  private stopping = false;
  private failures = 0;
  /** The waits before the next reconnects; a new schedule once registered again. */
  private reconnectDelays: Generator<number, never> | undefined;
  private registerTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private identifyTimer: NodeJS.Timeout | undefined;
  /** Set when the server rejected the SASL credentials (a wrong password, not absent services). */
  private credentialsRejected = false;
  /** Set when a SASL exchange never finished: the next connection skips SASL. */
  private saslHung = false;
  private readonly joined = new Set<string>();
  /**
   * Where a private conversation's sender went: a nick changed (seen in a shared channel) maps to the
   * new one; a nick its sender left (quit, or gone by MONITOR, which also reports a nick change the bot
   * cannot see) maps to null, and nothing is sent to it until that nick itself writes to the bot again.
   * A reply must never reach whoever took the nick meanwhile.
   */
  private readonly moved = new Map<string, string | null>();
  /** Nicks that wrote to the bot privately, watched with MONITOR where the server has it. */
  private readonly watched = new Set<string>();
  private loggedInAs: string | undefined;
  private onEvent: EventHandler | undefined;
  private firstRegistration: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly opts: IrcAdapterOptions) {
    this.queue = new SendQueue({
      burst: opts.sendBurst,
      intervalMs: opts.sendIntervalMs,
      write: (line) => this.writeLine(line),
    });
    this.wire();
  }

  /** The account-tag capability is how the server tells us who sent each message. */
  private get hasAccountTag(): boolean {
    return this.client.network.cap.isEnabled('account-tag');
  }

  private wire(): void {
    const c = this.client;
    c.on('registered', () => {
      clearTimeout(this.registerTimer);
      this.saslHung = false;
      this.registered = true;
      this.failures = 0;
      this.reconnectDelays = undefined;
      this.joined.clear();
      this.opts.log.info('irc registered', {
        nick: c.user.nick,
        account: this.loggedInAs ?? null,
        accountTag: this.hasAccountTag,
      });
      if (!this.hasAccountTag) {
        this.opts.log.warn(
          'this IRC server does not offer the account-tag capability: it does not say who sent each message, so admin commands are refused on it',
        );
      }
      for (const ch of this.opts.channels) c.join(ch);
      this.queue.resume();
      if (this.opts.sasl && !this.loggedInAs) this.scheduleIdentify(1);
      this.firstRegistration?.resolve();
      this.firstRegistration = undefined;
    });
    c.on('loggedin', (e: { account: string }) => {
      this.loggedInAs = e.account;
      clearTimeout(this.identifyTimer);
    });
    c.on('sasl failed', (e: { reason: string; message?: string }) => {
      // Rejected credentials will not work through NickServ either: do not send them again.
      if (e.reason !== 'capability_missing') this.credentialsRejected = true;
      this.opts.log.warn('irc SASL login failed; continuing without an account', {
        reason: e.reason,
        message: e.message,
      });
    });
    c.on('join', (e: { nick: string; channel: string }) => {
      if (e.nick === c.user.nick) this.joined.add(e.channel.toLowerCase());
    });
    c.on('part', (e: { nick: string; channel: string }) => {
      if (e.nick === c.user.nick) this.joined.delete(e.channel.toLowerCase());
    });
    c.on('kick', (e: { kicked: string; channel: string }) => {
      if (e.kicked === c.user.nick) {
        this.joined.delete(e.channel.toLowerCase());
        setTimeout(() => c.join(e.channel), 5000).unref();
      }
    });
    c.on('nick in use', () => {
      if (!this.registered) c.changeNick(`${this.opts.nick}_${Math.floor(Math.random() * 100)}`);
    });
    c.on('privmsg', (e: MessageEvent) => {
      void this.incoming(e);
    });
    c.on('nick', (e: { nick: string; new_nick: string }) => {
      const old = e.nick.toLowerCase();
      if (this.watched.has(old) || this.moved.has(old)) this.moved.set(old, e.new_nick);
    });
    c.on('quit', (e: { nick: string }) => {
      const old = e.nick.toLowerCase();
      if (this.watched.has(old)) this.moved.set(old, null);
    });
    c.on('users offline', (e: { nicks: string[] }) => {
      for (const n of e.nicks) {
        const old = n.toLowerCase();
        // a nick change seen in a channel already says where they went
        if (this.watched.has(old) && !this.moved.get(old)) this.moved.set(old, null);
      }
    });
    c.on('socket close', () => {
      this.registered = false;
      this.loggedInAs = undefined;
      this.joined.clear();
      this.queue.pause();
      // what was not written goes back to the bot's outbox, which keeps it for when IRC is back
      this.queue.dropAll('the IRC connection closed');
    });
    c.on('close', () => {
      clearTimeout(this.registerTimer);
      if (this.stopping) return;
      if (this.firstRegistration) {
        // Do not hold up the rest of the bot (the console, other adapters) while IRC is unreachable.
        this.opts.log.warn('irc: first connection failed; the bot runs on and keeps retrying', {
          host: this.opts.host,
          port: this.opts.port,
        });
        this.firstRegistration.resolve();
        this.firstRegistration = undefined;
      }
      this.scheduleReconnect();
    });
  }

  private async incoming(e: MessageEvent): Promise<void> {
    if (!this.onEvent) return;
    if (e.nick.toLowerCase() === this.client.user.nick.toLowerCase()) return; // our own echo
    const isChannel = /^[#&]/.test(e.target);
    const conversation: Conversation = isChannel
      ? { id: e.target, kind: 'channel' }
      : { id: e.nick, kind: 'direct' };
    if (!isChannel) this.watch(e.nick);
    const actor = this.identify(e);
    await this.onEvent({ actor, conversation, text: e.message });
  }

  /**
   * Who sent a message: the services account the server vouches for in the message itself (IRCv3
   * account-tag; the server strips tags forged by clients). Never a WHOIS after the fact: by the time its
   * answer comes, the nick may belong to someone else (an impostor sends, changes nick, the admin's
   * bouncer takes the nick back, and the WHOIS names the admin).
   */
  private identify(e: MessageEvent): Actor {
    const base = { backend: 'irc' as const, name: e.nick };
    if (!this.hasAccountTag)
      return {
        ...base,
        id: null,
        unverifiedReason:
          'this IRC server does not say which services account sent each message (it offers no account-tag capability), so admin commands are refused here; use the console, Slack, or an IRC server with account-tag',
      };
    if (e.account) return { ...base, id: e.account };
    return {
      ...base,
      id: null,
      unverifiedReason: `the nick ${e.nick} is not logged in to a services account`,
    };
  }

  private writeLine(line: string): boolean {
    if (!this.registered || !this.client.connection.connected) return false;
    const sep = line.indexOf(' ');
    this.client.raw('PRIVMSG', line.slice(0, sep), line.slice(sep + 1));
    return true;
  }

  /**
   * SASL happens only at connect. When services were away then (they relink a few seconds after the
   * IRC server restarts), log in through NickServ once they are back, retrying with backoff: but only
   * as NickServ@<services server>, which the IRC server delivers to services alone. Services away is
   * exactly when anyone can take the nick NickServ; a plain "PRIVMSG NickServ" would hand them the
   * password. Without irc.servicesServer the bot stays logged out until its next connection.
   */
  private scheduleIdentify(attempt: number): void {
    clearTimeout(this.identifyTimer);
    if (!this.opts.servicesServer) {
      if (attempt === 1)
        this.opts.log.warn(
          'irc: not logged in to services (SASL did not complete); set irc.servicesServer to identify to NickServ on that server, or the bot logs in at its next connection',
        );
      return;
    }
    const delay = Math.min(60_000, (this.opts.identifyRetryMs ?? 2000) * 2 ** Math.min(attempt - 1, 5));
    if (attempt > 8 || this.credentialsRejected) return; // about ten minutes of trying (by default), then leave it
    this.identifyTimer = setTimeout(() => {
      if (!this.registered || this.loggedInAs || !this.opts.sasl) return;
      const target = `NickServ@${this.opts.servicesServer}`;
      this.opts.log.info('irc: not logged in to services; identifying to NickServ', { attempt, target });
      this.client.raw('PRIVMSG', target, `IDENTIFY ${this.opts.sasl.account} ${this.opts.sasl.password}`);
      this.scheduleIdentify(attempt + 1);
    }, delay);
  }

  private connect(): void {
    const o = this.opts;
    clearTimeout(this.registerTimer);
    const withSasl = Boolean(o.sasl) && !this.saslHung;
    this.registerTimer = setTimeout(() => {
      // irc-framework waits for SASL forever when services hang. Next time, connect without SASL and
      // log in through NickServ once services answer again.
      if (withSasl) this.saslHung = true;
      o.log.warn('irc registration timed out; reconnecting', {
        timeoutMs: o.registerTimeoutMs,
        sasl: withSasl,
      });
      this.client.connection.end(null, true);
    }, o.registerTimeoutMs);
    this.client.connect({
      host: o.host,
      port: o.port,
      tls: o.tls,
      rejectUnauthorized: o.tlsVerify,
      nick: o.nick,
      username: o.username,
      gecos: o.realname,
      ...(o.sasl && withSasl ? { account: o.sasl } : {}),
      auto_reconnect: false,
      ping_interval: 30,
      ping_timeout: 90,
      message_max_length: 2048, // splitting is ours (by bytes, per target); stop the library re-splitting
      version: 'afsbot',
    });
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    const o = this.opts;
    this.reconnectDelays ??= backoffDelays({
      initialMs: o.reconnectMinMs,
      maxMs: o.reconnectMaxMs,
      jitter: 0.2,
    });
    const wait = this.reconnectDelays.next().value;
    this.failures++;
    o.log.warn('irc connection lost; reconnecting', { inMs: wait, attempt: this.failures });
    this.reconnectTimer = setTimeout(() => this.connect(), wait);
  }

  start(onEvent: EventHandler): Promise<void> {
    this.onEvent = onEvent;
    return new Promise((resolve, reject) => {
      this.firstRegistration = { resolve, reject };
      this.connect();
    });
  }

  private readonly lastProgress = new Map<number, number>();

  progress(to: Conversation, update: ProgressUpdate): void {
    if (update.final) {
      this.lastProgress.delete(update.jobId); // the result message says how it ended
      return;
    }
    const now = Date.now();
    const last = this.lastProgress.get(update.jobId);
    const interval = this.opts.progressIntervalMs ?? 15_000;
    if (last === undefined) {
      this.lastProgress.set(update.jobId, now); // the "job N started" answer was just sent
      return;
    }
    if (now - last < interval) return;
    this.lastProgress.set(update.jobId, now);
    this.send(to, formatProgress(update), undefined, 'progress').catch(() => {}); // down: the next update will do
  }

  /** A private conversation begins (again) with whoever holds `nick` now. */
  private watch(nick: string): void {
    const n = nick.toLowerCase();
    this.moved.delete(n);
    if (this.watched.has(n)) return;
    this.watched.add(n);
    if (this.client.network.supports('MONITOR')) this.client.addMonitor(nick);
  }

  /** Where a private reply to `nick` goes now: its sender's current nick, or nowhere (undefined). */
  private recipient(nick: string): string | undefined {
    let cur = nick;
    for (let hops = 0; hops < 10; hops++) {
      const next = this.moved.get(cur.toLowerCase());
      if (next === undefined) return cur;
      if (next === null) return undefined;
      cur = next;
    }
    return undefined;
  }

  async send(to: Conversation, text: string, meta?: MessageMeta, urgency: Urgency = 'reply'): Promise<void> {
    if (!this.registered) throw new Error('not connected to IRC');
    if (to.kind === 'direct') {
      const who = this.recipient(to.id);
      if (who === undefined) {
        // delivered nowhere rather than to whoever holds the nick now; the outbox must not retry it
        this.opts.log.warn('irc: a private reply was not sent: its recipient left that nick', {
          nick: to.id,
        });
        return;
      }
      to = { ...to, id: who };
    }
    const shown = meta?.kind === 'report' ? reportLines(meta.summary, this.opts.prefix ?? '!') : text;
    const max = maxTextBytes(this.client.user.nick || this.opts.nick, to.id);
    await this.queue.push(
      splitForIrc(shown, max).map((l) => `${to.id} ${l}`),
      urgency,
    );
  }

  status(): AdapterStatus {
    const o = this.opts;
    const who = this.loggedInAs ? `logged in as ${this.loggedInAs}` : 'not logged in';
    return {
      backend: 'irc',
      connected: this.registered,
      detail: `${o.host}:${o.port} as ${this.client.user.nick || o.nick}, ${who}${this.hasAccountTag ? '' : ', no account-tag'}`,
      channels: [...this.joined],
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.identifyTimer);
    clearTimeout(this.registerTimer);
    if (this.registered) {
      await Promise.race([this.queue.idle(), new Promise((r) => setTimeout(r, 3000))]);
    }
    this.queue.pause();
    this.queue.dropAll('afsbot is stopping');
    if (this.client.connection.connected) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        this.client.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        this.client.quit('afsbot stopping');
      });
    }
    this.firstRegistration?.reject(new Error('stopped before the IRC connection was registered'));
  }
}
