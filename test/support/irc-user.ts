// A person on the test IRC server: a real irc-framework client, optionally logged in with SASL, that
// records every message it sees so tests can wait for the bot's answers.
import { Client, type MessageEvent } from 'irc-framework';
import type { IrcInfo } from './peers.ts';

export interface Seen {
  nick: string;
  target: string;
  message: string;
  at: number;
}

export class IrcUser {
  readonly client = new Client();
  readonly seen: Seen[] = [];
  closed = false;
  /** The last lines from the server, for failure messages. */
  readonly rawLines: string[] = [];
  account: string | undefined;

  private constructor() {
    this.client.on('privmsg', (e: MessageEvent) => {
      this.seen.push({ nick: e.nick, target: e.target, message: e.message, at: Date.now() });
    });
    this.client.on('notice', (e: MessageEvent) => {
      this.seen.push({ nick: e.nick, target: e.target, message: e.message, at: Date.now() });
    });
    this.client.on('loggedin', (e: { account: string }) => {
      this.account = e.account;
    });
    this.client.on('close', () => {
      this.closed = true;
    });
    this.client.on('raw', (e: { line: string; from_server: boolean }) => {
      if (e.from_server) this.rawLines.push(e.line);
      if (this.rawLines.length > 50) this.rawLines.shift();
    });
  }

  /**
   * A user on the test IRC server, logged in to services as `account` (SASL, with the account's own
   * password) if given, and in `channel`.
   */
  static async inChannel(irc: IrcInfo, channel: string, nick: string, account?: string): Promise<IrcUser> {
    const u = await IrcUser.connect({
      host: irc.host,
      port: irc.port,
      nick,
      ...(account ? { sasl: { account, password: irc.passwords[account]! } } : {}),
    });
    await u.join(channel);
    return u;
  }

  static async connect(opts: {
    host: string;
    port: number;
    nick: string;
    sasl?: { account: string; password: string };
    autoReconnect?: boolean;
    /** Give up (and disconnect) when registration, SASL included, takes longer than this. */
    registerTimeoutMs?: number;
  }): Promise<IrcUser> {
    const u = new IrcUser();
    const limit = opts.registerTimeoutMs ?? 15_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        u.client.quit();
        reject(new Error(`${opts.nick} did not register within ${limit} ms`));
      }, limit);
      u.client.once('registered', () => {
        clearTimeout(timer);
        resolve();
      });
      u.client.connect({
        host: opts.host,
        port: opts.port,
        nick: opts.nick,
        username: opts.nick,
        gecos: 'afsbot test user',
        ...(opts.sasl ? { account: opts.sasl, sasl_disconnect_on_fail: true } : {}),
        auto_reconnect: opts.autoReconnect ?? false,
      });
    });
    if (opts.sasl && u.account !== opts.sasl.account) {
      throw new Error(`${opts.nick} registered but is not logged in as ${opts.sasl.account}`);
    }
    return u;
  }

  /** A user logged in as `account` (its password from the test server's accounts), in `channel`. */
  static async loggedInAs(
    irc: { host: string; port: number; passwords: Record<string, string> },
    account: string,
    nick: string,
    channel: string,
  ): Promise<IrcUser> {
    const u = await IrcUser.connect({
      host: irc.host,
      port: irc.port,
      nick,
      sasl: { account, password: irc.passwords[account]! },
    });
    await u.join(channel);
    return u;
  }

  async join(channel: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`could not join ${channel}`)), 10_000);
      const onJoin = (e: { nick: string; channel: string }) => {
        if (e.nick === this.client.user.nick && e.channel.toLowerCase() === channel.toLowerCase()) {
          clearTimeout(timer);
          this.client.off('join', onJoin);
          resolve();
        }
      };
      this.client.on('join', onJoin);
      this.client.join(channel);
    });
  }

  /**
   * The nick of the bot under test, the default sender of answers: test files run side by side
   * against one IRC server, so each harness gives its bot a nick of its own (startIrcBot sets this).
   */
  static bot = 'afsbot';

  say(target: string, text: string): void {
    this.client.say(target, text);
  }

  /** Messages from `from` after index `since`. */
  from(from: string, since = 0): Seen[] {
    return this.seen.slice(since).filter((s) => s.nick.toLowerCase() === from.toLowerCase());
  }

  /** Waits until `pred` holds for the messages from `from` received after `since`; returns them. */
  async waitFor(
    from: string,
    pred: (msgs: Seen[]) => boolean,
    timeoutMs = 15_000,
    since = 0,
  ): Promise<Seen[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const msgs = this.from(from, since);
      if (pred(msgs)) return msgs;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${from}; saw:\n${msgs.map((m) => m.message).join('\n') || '(nothing)'}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Says `text` to `target` and waits for the first line of the answer matching `re`. */
  async ask(
    target: string,
    text: string,
    re: RegExp,
    from = IrcUser.bot,
    timeoutMs = 15_000,
  ): Promise<string> {
    const since = this.seen.length;
    this.say(target, text);
    const msgs = await this.waitFor(from, (m) => m.some((x) => re.test(x.message)), timeoutMs, since);
    return msgs.find((x) => re.test(x.message))!.message;
  }

  async quit(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.client.quit('bye');
    });
  }
}
