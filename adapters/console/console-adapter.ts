// The terminal as a chat: one line in, the answer out. The identity is the unix user running the
// process, which the operating system has already verified.
import { userInfo } from 'node:os';
import { createInterface, type Interface } from 'node:readline';
import {
  type AdapterStatus,
  type ChatAdapter,
  type Conversation,
  type EventHandler,
  formatProgress,
  type ProgressUpdate,
} from '../../bot/chat/adapter.ts';

export interface ConsoleOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Defaults to the unix user running the process. */
  user?: string;
  /** A terminal: show a prompt and a live progress line. Otherwise progress is a line every few seconds. */
  prompt?: boolean;
  /** Without a terminal, at most one progress line per job this often. */
  progressIntervalMs?: number;
  /**
   * Called after each line is handled, before the next is read. For a script (stdin not a terminal)
   * the caller passes "wait for the jobs it started", so `!dump x` then `!restore x` run in order.
   */
  afterLine?: () => Promise<void>;
}

export class ConsoleAdapter implements ChatAdapter {
  readonly backend = 'console' as const;
  private rl: Interface | undefined;
  private readonly user: string;
  private endedResolve!: () => void;
  /** Resolves when the input ends (end of a script, or Ctrl-D) and every line read has been handled. */
  readonly ended = new Promise<void>((resolve) => {
    this.endedResolve = resolve;
  });

  constructor(private readonly opts: ConsoleOptions) {
    this.user = opts.user ?? userInfo().username;
  }

  async start(onEvent: EventHandler): Promise<void> {
    const rl = createInterface({ input: this.opts.input, terminal: false });
    this.rl = rl;
    const conversation: Conversation = { id: 'console', kind: 'direct' };
    const loop = async () => {
      this.showPrompt();
      for await (const line of rl) {
        if (line.trim()) {
          await onEvent({
            actor: { backend: 'console', id: this.user, name: this.user },
            conversation,
            text: line,
          });
          await this.opts.afterLine?.();
        }
        this.showPrompt();
      }
      this.endedResolve();
    };
    void loop();
  }

  private showPrompt(): void {
    if (this.opts.prompt) this.opts.output.write('afsbot> ');
  }

  private live = false;
  private readonly lastProgress = new Map<number, number>();

  progress(_to: Conversation, update: ProgressUpdate): void {
    if (this.opts.prompt) {
      // A live line, redrawn in place; cleared when the job ends (its result follows).
      this.opts.output.write(update.final ? '\r\x1b[K' : `\r\x1b[K${formatProgress(update)}`);
      this.live = !update.final;
      return;
    }
    if (update.final) {
      this.lastProgress.delete(update.jobId);
      return;
    }
    const now = Date.now();
    const last = this.lastProgress.get(update.jobId);
    if (last === undefined) {
      this.lastProgress.set(update.jobId, now); // the "job N started" answer is on its way
      return;
    }
    if (now - last < (this.opts.progressIntervalMs ?? 5000)) return;
    this.lastProgress.set(update.jobId, now);
    this.opts.output.write(`${formatProgress(update)}\n`);
  }

  async send(_to: Conversation, text: string): Promise<void> {
    if (this.live) {
      this.opts.output.write('\r\x1b[K');
      this.live = false;
    }
    this.opts.output.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  status(): AdapterStatus {
    return { backend: 'console', connected: true, detail: `local user ${this.user}`, channels: [] };
  }

  async stop(): Promise<void> {
    this.rl?.close();
  }
}
