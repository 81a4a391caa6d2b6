import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildServices, dispatcherFor } from '../../bot/bot.ts';
import type { Actor, ChatEvent } from '../../bot/chat/adapter.ts';
import { noArgs } from '../../bot/chat/args.ts';
import { UserError } from '../../bot/chat/errors.ts';
import { loadConfig } from '../../bot/platform/config.ts';
import { createLogger } from '../../bot/platform/log.ts';
import { defineCommand } from '../../bot/services.ts';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'afsbot-dispatch-'));
  const config = loadConfig({
    env: { AFSBOT_DATABASE: join(dir, 'bot.db'), AFSBOT_ADMINS: 'alice irc:alice' },
  });
  const logStream = new PassThrough();
  let logText = '';
  logStream.on('data', (d: Buffer) => {
    logText += d.toString();
  });
  const boom = defineCommand({
    name: 'boom',
    summary: 'throws',
    usage: 'boom',
    example: 'boom',
    permission: 'admin',
    args: noArgs,
    async run() {
      throw new Error('disk on fire', { cause: new Error('EIO') });
    },
  });
  const long = defineCommand({
    name: 'long',
    summary: 'a long answer',
    usage: 'long',
    example: 'long',
    permission: 'admin',
    args: noArgs,
    async run(ctx) {
      await ctx.reply(Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n'));
    },
  });
  const oops = defineCommand({
    name: 'oops',
    summary: 'user error',
    usage: 'oops',
    example: 'oops',
    permission: 'public',
    args: noArgs,
    async run() {
      throw new UserError('no dumps for 2013.01.28');
    },
  });
  const replies: string[] = [];
  const services = buildServices({
    config: { ...config, afs: { ...config.afs, vos: '/nonexistent/vos', timeoutMs: 1000 } },
    log: createLogger({ level: 'debug', stream: logStream }),
    extraCommands: [boom, oops, long],
  });
  const dispatcher = dispatcherFor(services, async (_e, text) => {
    replies.push(text);
  });
  const store = services.audit;
  const say = (text: string, actor: Actor = { backend: 'irc', id: 'alice', name: 'alice' }) => {
    const e: ChatEvent = { actor, conversation: { id: '#ops', kind: 'channel' }, text };
    return dispatcher.handle(e);
  };
  return { store, replies, say, log: () => logText };
}

describe('Dispatcher', () => {
  it('answers a command and audits it as ok', async () => {
    const t = setup();
    await t.say('!ping');
    expect(t.replies).toEqual(['pong']);
    expect(t.store.recent(1)[0]).toMatchObject({
      text: '!ping',
      command: 'ping',
      outcome: 'ok',
      identity: 'alice',
    });
  });

  it('ignores chatter without auditing it', async () => {
    const t = setup();
    await t.say('hello everyone');
    expect(t.replies).toEqual([]);
    expect(t.store.recent(5)).toEqual([]);
  });

  it('refuses a spoofed admin nick and audits the refusal', async () => {
    const t = setup();
    await t.say('!audit', { backend: 'irc', id: 'mallory', name: 'alice' });
    expect(t.replies).toEqual(['refused: mallory is not an afsbot admin on irc']);
    expect(t.store.recent(1)[0]).toMatchObject({
      identity: 'mallory',
      name: 'alice',
      outcome: 'refused',
    });
  });

  it('refuses a stranger before looking at the arguments: no usage, nothing echoed', async () => {
    const t = setup();
    await t.say('!audit <script>lots</script>', { backend: 'irc', id: 'mallory', name: 'mallory' });
    expect(t.replies).toEqual(['refused: mallory is not an afsbot admin on irc']);
    expect(t.store.recent(1)[0]?.outcome).toBe('refused');
  });

  it('pages a long answer, and says how to get the next page', async () => {
    const t = setup();
    await t.say('!long');
    const first = t.replies[0]!.split('\n');
    expect(first).toHaveLength(41);
    expect(first.slice(0, 2)).toEqual(['line 1', 'line 2']);
    expect(first.at(-1)).toBe('(page 1 of 3, 100 lines; !long --page 2 for the next)');
    await t.say('!long --page 3');
    expect(t.replies[1]!.split('\n')).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `line ${i + 81}`),
      '(page 3 of 3, 100 lines)',
    ]);
    await t.say('!long --page 4');
    expect(t.replies[2]).toMatch(/^error: there are 3 pages of it; ask for page 1 to 3/);
    await t.say('!long --page x');
    expect(t.replies[3]).toBe('error: --page needs a page number, such as --page 2');
    expect(t.store.recent(1)[0]?.outcome).toBe('rejected');
  });

  it('shows bad arguments with the usage line and changes nothing', async () => {
    const t = setup();
    await t.say('!audit lots');
    expect(t.replies).toEqual([
      'error: "lots" is not a number from 1 to 500. usage: !audit [<n>] (e.g. !audit 20)',
    ]);
    expect(t.store.recent(1)[0]?.outcome).toBe('rejected');
  });

  it('shows an unknown command with a pointer to help', async () => {
    const t = setup();
    await t.say('!frobnicate now');
    expect(t.replies).toEqual(['error: unknown command "frobnicate"; !help lists the commands']);
  });

  it('shows a user error verbatim with the usage', async () => {
    const t = setup();
    await t.say('!oops');
    expect(t.replies).toEqual(['error: no dumps for 2013.01.28. usage: !oops (e.g. !oops)']);
  });

  it('tells an admin what an internal error was, with a ref, and logs its cause and stack', async () => {
    const t = setup();
    await t.say('!boom');
    const ref = t.store.recent(1)[0]!;
    expect(t.replies).toEqual([`!boom failed: disk on fire (ref ${ref.id}; the details are in the log)`]);
    expect(ref).toMatchObject({ outcome: 'failed', detail: 'disk on fire' });
    const logged = JSON.parse(t.log().trim().split('\n').pop()!);
    expect(logged).toMatchObject({ level: 'error', ref: ref.id, command: 'boom' });
    expect(logged.error.stack).toMatch(/disk on fire/);
    expect(logged.error.cause.message).toBe('EIO');
  });

  it('reports a cell that does not answer instead of failing', async () => {
    const t = setup();
    await t.say('!status');
    expect(t.replies[0]).toMatch(/AFS cell: NOT answering \(\/nonexistent\/vos not found on PATH\)/);
  });
});
