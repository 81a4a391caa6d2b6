// The outbox: a line is kept until its chat has it; a chat that is down holds up nobody; a long
// backlog is summarised when the chat comes back; progress lines coalesce; a restart sends what was left.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type {
  AdapterStatus,
  Backend,
  ChatAdapter,
  Conversation,
  MessageMeta,
  Urgency,
} from '../../bot/chat/adapter.ts';
import { Outbox } from '../../bot/chat/outbox.ts';
import { Database } from '../../bot/platform/database.ts';
import { createLogger } from '../../bot/platform/log.ts';

/** A chat that can be down: while down, send rejects, as the IRC adapter's does. */
class FlakyChat implements ChatAdapter {
  readonly backend: Backend = 'irc';
  up = true;
  readonly got: { to: string; text: string; urgency?: Urgency }[] = [];
  async start(): Promise<void> {}
  async send(to: Conversation, text: string, _meta?: MessageMeta, urgency?: Urgency): Promise<void> {
    if (!this.up) throw new Error('not connected');
    this.got.push({ to: to.id, text, ...(urgency ? { urgency } : {}) });
  }
  status(): AdapterStatus {
    return { backend: 'irc', connected: this.up, detail: '', channels: ['#ops'] };
  }
  async stop(): Promise<void> {}
}

const log = createLogger({ level: 'error', stream: new PassThrough() });
const ops: Conversation = { id: '#ops', kind: 'channel' };
const dbFile = () => join(mkdtempSync(join(tmpdir(), 'afsbot-outbox-')), 'afsbot.db');
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('Outbox', () => {
  it('hands a line over at once and forgets it once written', async () => {
    const db = new Database(dbFile());
    const chat = new FlakyChat();
    const o = new Outbox(db.db, log);
    o.start([chat]);
    o.enqueue('irc', ops, 'pong', { urgency: 'reply' });
    expect(chat.got).toEqual([{ to: '#ops', text: 'pong', urgency: 'reply' }]);
    await settle();
    expect(o.pending()).toBe(0);
    o.stop();
  });

  it('keeps lines while the chat is down, never blocking the caller, and sends them when it is back', async () => {
    const db = new Database(dbFile());
    const chat = new FlakyChat();
    chat.up = false;
    const o = new Outbox(db.db, log, { retryMs: 20 });
    o.start([chat]);
    const t = performance.now();
    for (let i = 0; i < 3; i++) o.enqueue('irc', ops, `line ${i}`, { urgency: 'result' });
    expect(performance.now() - t).toBeLessThan(1000); // no waiting on a chat that is down
    await settle();
    expect(chat.got).toEqual([]);
    expect(o.pending('irc')).toBe(3);
    chat.up = true;
    await new Promise((r) => setTimeout(r, 100));
    expect(chat.got.map((g) => g.text)).toEqual(['line 0', 'line 1', 'line 2']);
    expect(o.pending()).toBe(0);
    o.stop();
  });

  it('summarises a long backlog when the chat comes back: the results stay, the progress goes', async () => {
    const db = new Database(dbFile());
    const chat = new FlakyChat();
    chat.up = false;
    const o = new Outbox(db.db, log, { retryMs: 20, summariseOver: 5 });
    o.start([chat]);
    for (let i = 0; i < 40; i++) o.enqueue('irc', ops, `progress ${i}`, { urgency: 'progress' });
    o.enqueue('irc', ops, 'job 7 (nightly run) done', { urgency: 'result' });
    o.enqueue('irc', ops, 'report 1', { urgency: 'report' });
    o.enqueue('irc', ops, 'report 2', { urgency: 'report' });
    chat.up = true;
    await new Promise((r) => setTimeout(r, 100));
    const texts = chat.got.map((g) => g.text);
    expect(texts[0]).toMatch(
      /^\(while this chat was unreachable, since .*, 43 lines waited; 41 older progress lines and reports are left out here/,
    );
    expect(texts.slice(1)).toEqual(['job 7 (nightly run) done', 'report 2']);
    o.stop();
  });

  it('sends the most urgent first, and a newer progress line replaces an unsent one with its key', async () => {
    const db = new Database(dbFile());
    const chat = new FlakyChat();
    chat.up = false;
    const o = new Outbox(db.db, log, { retryMs: 20 });
    o.start([chat]);
    o.enqueue('irc', ops, 'the report', { urgency: 'report' });
    o.enqueue('irc', ops, 'phase 1 done', { urgency: 'progress', coalesce: 'phase' });
    o.enqueue('irc', ops, 'phase 2 done', { urgency: 'progress', coalesce: 'phase' });
    o.enqueue('irc', ops, 'pong', { urgency: 'reply' });
    chat.up = true;
    await new Promise((r) => setTimeout(r, 100));
    expect(chat.got.map((g) => g.text)).toEqual(['pong', 'phase 2 done', 'the report']);
    o.stop();
  });

  it('sends what an earlier process left after a restart, but drops another process console lines', async () => {
    const file = dbFile();
    const db = new Database(file);
    const down = new FlakyChat();
    down.up = false;
    const first = new Outbox(db.db, log);
    first.start([down]);
    first.enqueue('irc', ops, 'job 3 (restore) done', { urgency: 'result' });
    first.stop();
    db.db.prepare(`UPDATE outbox SET pid = 1`).run(); // as if written by a process now gone
    db.db
      .prepare(
        `INSERT INTO outbox (backend, conversation, text, urgency, pid, created_at) VALUES ('console', '{"id":"console","kind":"direct"}', 'old terminal', 'reply', 1, ?)`,
      )
      .run(new Date().toISOString());
    const chat = new FlakyChat();
    const again = new Outbox(db.db, log);
    again.start([chat]);
    await settle();
    expect(chat.got.map((g) => g.text)).toEqual(['job 3 (restore) done']);
    expect(again.pending()).toBe(0);
    again.stop();
  });
});
