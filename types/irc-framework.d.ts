// irc-framework ships no types and there is no @types package: the small part of its API afsbot uses.
declare module 'irc-framework' {
  import { EventEmitter } from 'node:events';

  export interface ConnectOptions {
    host: string;
    port: number;
    nick: string;
    username?: string;
    gecos?: string;
    tls?: boolean;
    rejectUnauthorized?: boolean;
    account?: { account: string; password: string };
    auto_reconnect?: boolean;
    auto_reconnect_max_retries?: number;
    ping_interval?: number;
    ping_timeout?: number;
    message_max_length?: number;
    enable_echomessage?: boolean;
    sasl_disconnect_on_fail?: boolean;
    version?: string;
  }

  export interface MessageEvent {
    nick: string;
    ident: string;
    hostname: string;
    target: string;
    message: string;
    /** The sender's services account from the account-tag; undefined when absent. */
    account?: string;
    tags: Record<string, string>;
    type: string;
  }

  export interface WhoisEvent {
    nick: string;
    account?: string;
    error?: string;
  }

  export class Client extends EventEmitter {
    constructor(options?: Partial<ConnectOptions>);
    connect(options?: ConnectOptions): void;
    quit(message?: string): void;
    raw(...args: (string | number)[]): void;
    join(channel: string, key?: string): void;
    say(target: string, message: string): void;
    changeNick(nick: string): void;
    whois(nick: string, cb: (event: WhoisEvent) => void): void;
    requestCap(cap: string | string[]): void;
    user: { nick: string; username: string; host?: string };
    /** MONITOR + nick: the server reports when the nick comes and goes ('users online'/'users offline'). */
    addMonitor(target: string): void;
    network: {
      cap: { isEnabled(name: string): boolean; enabled: string[]; available: Map<string, string> };
      /** An ISUPPORT token's value (MONITOR, CHANTYPES, ...); false when the server does not send it. */
      supports(name: string): string | boolean;
    };
    connection: { connected: boolean; end(data?: string | null, hadError?: boolean): void };
  }
}
