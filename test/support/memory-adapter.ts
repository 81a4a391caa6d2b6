// A chat transport with no network: tests type as an admin and read every answer, including the job
// results and progress that arrive later. Everything behind it (dispatcher, jobs, actions, vos) is real.
import type {
  AdapterStatus,
  Backend,
  ChatAdapter,
  Conversation,
  EventHandler,
  MessageMeta,
  ProgressUpdate,
} from '../../bot/chat/adapter.ts';

export class MemoryAdapter implements ChatAdapter {
  readonly backend: Backend = 'console';
  readonly said: string[] = [];
  /** The metadata of each message in `said`, at the same index. */
  readonly meta: (MessageMeta | undefined)[] = [];
  readonly progressSeen: ProgressUpdate[] = [];
  private onEvent: EventHandler | undefined;
  private readonly conversation: Conversation = { id: 'console', kind: 'direct' };

  constructor(private readonly user = 'root') {}

  async start(onEvent: EventHandler): Promise<void> {
    this.onEvent = onEvent;
  }

  async send(_to: Conversation, text: string, meta?: MessageMeta): Promise<void> {
    this.said.push(text);
    this.meta.push(meta);
  }

  /** Called with each progress update as it comes: a test acts while a job is surely running. */
  onProgress: ((update: ProgressUpdate) => void) | undefined;

  progress(_to: Conversation, update: ProgressUpdate): void {
    this.progressSeen.push(update);
    this.onProgress?.(update);
  }

  status(): AdapterStatus {
    return { backend: this.backend, connected: true, detail: 'in memory', channels: [] };
  }

  async stop(): Promise<void> {}

  /** Types a command and returns the immediate answer. */
  async type(text: string, as = this.user): Promise<string> {
    const before = this.said.length;
    await this.onEvent!({
      actor: { backend: this.backend, id: as, name: as },
      conversation: this.conversation,
      text,
    });
    return this.said.slice(before).join('\n');
  }

  /** Waits for a message matching `re` that arrived after index `since`. */
  async waitFor(re: RegExp, timeoutMs = 60_000, since = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.said.slice(since).find((m) => re.test(m));
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${re}; the bot said:\n${this.said.slice(since).join('\n')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Types a command that starts a job and waits for that job's result line. */
  async job(text: string, timeoutMs = 120_000): Promise<{ id: number; started: string; result: string }> {
    const before = this.said.length;
    const started = await this.type(text);
    const meta = this.meta.slice(before).find((m) => m?.kind === 'job-started');
    if (meta?.kind !== 'job-started') throw new Error(`"${text}" did not start a job: ${started}`);
    const id = meta.jobId;
    const result = await this.waitFor(new RegExp(`^job ${id} \\(.*\\) (done|failed|cancelled)`), timeoutMs);
    return { id, started, result };
  }
}
