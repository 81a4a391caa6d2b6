// Property-based fuzz test of the command pipeline: random and hostile chat lines go through the real
// Dispatcher (parse, registry lookup, the real zod argument schemas, authorization, the approval gate
// with its real table) from strangers and from an admin, in channels and in direct messages.
//
// Nothing touches AFS or starts a job: every command's run() (and a destructive command's plan()) is
// replaced by a recorder in a copy of the real registry. The recorder does what the line's "fate" says
// (return, reply, or throw each kind of error) so that every exit of the dispatcher is walked. What is
// checked, for every line:
//   1. handle() never throws or rejects, and leaves no unhandled rejection behind;
//   2. for a non-admin, no admin-only command runs or is planned, no approval request is made, and no
//      internal error text reaches them;
//   3. a line that parses as a command leaves exactly one audit row, settled, naming the sender; any
//      other line leaves none (and gets no answer);
//   4. for the admin, run() is called at most once, only for the command the line names, with arguments
//      that the command's own schema gives again from the line; a destructive command runs only through
//      a break-glass approval row; and the audit outcome is 'ok' exactly when run() (or the approval
//      request) went through.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Approvals } from '../../bot/approvals/approvals.ts';
import { ApprovalsTable } from '../../bot/approvals/table.ts';
import { buildServices } from '../../bot/bot.ts';
import type { Actor, ChatEvent, Conversation, MessageMeta } from '../../bot/chat/adapter.ts';
import type { AuditEntry, Outcome } from '../../bot/chat/audit.ts';
import { Dispatcher } from '../../bot/chat/dispatcher.ts';
import { NotNow, Refusal, UserError } from '../../bot/chat/errors.ts';
import { MAX_COMMAND_LENGTH, type Parsed, parseCommand } from '../../bot/chat/parse.ts';
import { type AnySpec, type CommandContext, type Permission, Registry } from '../../bot/chat/registry.ts';
import { commands } from '../../bot/commands/index.ts';
import { loadConfig } from '../../bot/platform/config.ts';
import { createLogger } from '../../bot/platform/log.ts';
import type { Services } from '../../bot/services.ts';

/** Lines per property; the two properties together feed 10,000 lines, each from three senders. */
const RUNS = 5000;

// ---- what a recorded handler does ------------------------------------------------------------------

const FATES = [
  'ok',
  'reply',
  'user-error',
  'not-now',
  'refusal',
  'error',
  'throw-string',
  'throw-undefined',
] as const;
type Fate = (typeof FATES)[number];

/** What a failing handler's error says: an admin may be shown its first line, a stranger nothing. */
const SECRET = 'internal-detail-7f3a';
const SECRET_LINE_2 = 'second-line-c41e';

async function act(fate: Fate, ctx: CommandContext<Services>): Promise<void> {
  switch (fate) {
    case 'ok':
      return;
    case 'reply':
      await ctx.reply('done');
      return;
    case 'user-error':
      throw new UserError('that is not right');
    case 'not-now':
      throw new NotNow('busy, try later');
    case 'refusal':
      throw new Refusal('not now, not you');
    case 'error':
      throw new Error(`${SECRET}: disk on fire\n${SECRET_LINE_2}`);
    case 'throw-string':
      // a handler (or a library under it) that throws something that is not an Error
      throw SECRET;
    case 'throw-undefined':
      throw undefined;
  }
}

function outcomeOf(fate: Fate): Outcome {
  if (fate === 'ok' || fate === 'reply') return 'ok';
  if (fate === 'refusal') return 'refused';
  if (fate === 'user-error' || fate === 'not-now') return 'rejected';
  return 'failed';
}

// ---- the harness: real services and database, a recording copy of the registry ---------------------

interface Call {
  kind: 'run' | 'plan';
  spec: string;
  permission: Permission;
  args: unknown;
  actor: Actor;
  approvalId: number | undefined;
}

interface Sent {
  event: ChatEvent;
  text: string;
  meta: MessageMeta | undefined;
  bulk: boolean | undefined;
}

interface ApprovalRowLite {
  id: number;
  command: string;
  requester: string;
  break_glass: number;
}

const discard = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

/** Rejections that nobody handled, as the process reports them (listened to while the tests run). */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => {
  unhandled.push(reason);
};

function harness(breakGlass: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'afsbot-fuzz-'));
  const config = loadConfig({
    env: {
      AFSBOT_DATABASE: join(dir, 'bot.db'),
      AFSBOT_ADMINS: 'alice irc:alice; bob irc:bob',
      AFSBOT_BREAK_GLASS: breakGlass ? '1' : '0',
      // belt and braces: nothing should reach these, and if something did it would fail at once
      AFSBOT_VOS: '/nonexistent/vos',
      AFSBOT_FS: '/nonexistent/fs',
      AFSBOT_DUMP_DIR: join(dir, 'dumps'),
      AFSBOT_STAGING_DIR: join(dir, 'staging'),
      AFSBOT_NIGHTLY_SCHEDULE: 'never',
      AFSBOT_MAINTENANCE_SCHEDULE: 'never',
      AFSBOT_METRICS: '0',
    },
  });
  // a real logger (its redaction and serialization run on every hostile line), writing nowhere
  const log = createLogger({ level: 'debug', stream: discard() });
  const real = buildServices({ config, log });
  const calls: Call[] = [];
  const sent: Sent[] = [];
  const fate: { run: Fate; plan: Fate } = { run: 'ok', plan: 'ok' };
  const record = (
    kind: Call['kind'],
    spec: AnySpec<Services>,
    ctx: CommandContext<Services>,
    args: unknown,
  ) =>
    calls.push({
      kind,
      spec: spec.name,
      permission: spec.permission,
      args,
      actor: ctx.actor,
      approvalId: ctx.approvalId,
    });
  const specs = real.registry.all().map(
    (spec): AnySpec<Services> => ({
      ...spec,
      async run(ctx, args) {
        record('run', spec, ctx, args);
        await act(fate.run, ctx);
      },
      ...(spec.destructive
        ? {
            destructive: {
              ...spec.destructive, // the real applies(): which forms of the command are destructive
              async plan(ctx: CommandContext<Services>, args: unknown) {
                record('plan', spec, ctx, args);
                await act(fate.plan, ctx);
                return { summary: 'fuzz plan', lines: ['a plan'], facts: { fuzz: true } };
              },
            },
          }
        : {}),
    }),
  );
  const registry = new Registry<Services>(specs);
  const clock = () => new Date();
  // the real gate, on the real approvals table, deciding over the recording registry
  const approvals = new Approvals<Services>({
    table: new ApprovalsTable(real.database.db, clock),
    registry,
    clock,
    prefix: config.prefix,
    settings: config.approvals,
    announce: () => {},
    report: () => {},
    decided: () => {},
  });
  const services: Services = { ...real, registry, approvals };
  const dispatcher = new Dispatcher<Services>({
    prefix: config.prefix,
    admins: config.admins,
    registry,
    audit: real.audit,
    log,
    services,
    gate: approvals,
    send: async (event, text, meta, bulk) => {
      sent.push({ event, text, meta, bulk });
    },
    databasePath: config.databasePath,
  });
  const db = real.database.db;
  const maxAudit = db.prepare('SELECT coalesce(max(id), 0) AS m FROM audit');
  const auditSince = db.prepare('SELECT * FROM audit WHERE id > ? ORDER BY id');
  const maxApproval = db.prepare('SELECT coalesce(max(id), 0) AS m FROM approvals');
  const approvalsSince = db.prepare(
    'SELECT id, command, requester, break_glass FROM approvals WHERE id > ? ORDER BY id',
  );
  return {
    registry,
    services,
    breakGlass,
    /** Feeds one line and reports everything it did. */
    async feed(event: ChatEvent, fates: { run: Fate; plan: Fate }) {
      calls.length = 0;
      sent.length = 0;
      fate.run = fates.run;
      fate.plan = fates.plan;
      const auditFrom = (maxAudit.get() as { m: number }).m;
      const approvalFrom = (maxApproval.get() as { m: number }).m;
      unhandled.length = 0;
      let threw: { error: unknown } | null = null;
      try {
        await dispatcher.handle(event);
      } catch (error) {
        threw = { error };
      }
      // let a rejection that nobody awaited surface before looking
      await new Promise((r) => setImmediate(r));
      return {
        threw,
        unhandled: unhandled.splice(0),
        rows: auditSince.all(auditFrom) as AuditEntry[],
        approvals: approvalsSince.all(approvalFrom) as ApprovalRowLite[],
        calls: [...calls],
        sent: [...sent],
      };
    },
    /** Approval requests in the table that are not an admin's (irc:alice or irc:bob). */
    foreignApprovals: () =>
      (
        db
          .prepare(
            "SELECT count(*) AS n FROM approvals WHERE (backend != 'irc' OR requester NOT IN ('alice', 'bob')) AND command != 'request-restore'",
          )
          .get() as { n: number }
      ).n,
    close: () => {
      real.database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
type Harness = ReturnType<typeof harness>;
type Observed = Awaited<ReturnType<Harness['feed']>>;

// ---- generators --------------------------------------------------------------------------------------

const NAMES = commands.map((c) => c.name);
const SUBWORDS = [
  'list',
  'get',
  'rescan',
  'run',
  '--dry-run',
  'status',
  'report',
  'maintenance',
  'forget',
  'check',
  'test-restore',
  'resume',
  'rollback',
  'from',
  'as',
  'full',
  'incremental',
  'today',
  'yesterday',
  'databases',
  'add',
  'remove',
  '--force',
  '-f',
  '--',
  '-',
];
const NUMBERS = [
  '0',
  '-1',
  '1',
  '00',
  '007',
  '#0',
  '#12',
  '##1',
  '12',
  '500',
  '501',
  '999999999',
  '1000000000',
  '4294967296',
  '9007199254740993',
  '1e999',
  '-1e999',
  '1e3',
  '0x10',
  '0xffffffff',
  '0b101',
  '0o17',
  'NaN',
  'Infinity',
  '-0',
  '+1',
  '1.5',
  '1,000',
  '١٢٣',
  '１２',
];
const VOLUMES = [
  'user.alice',
  'user.alice.restored',
  'user.alice.backup',
  'user.alice.readonly',
  'root.cell',
  'root.afs',
  'a'.repeat(22),
  'a'.repeat(23),
  'x'.repeat(300),
  '12345',
  '536870912',
  '0',
  '.',
  '..',
  '../../etc/passwd',
  'user..alice',
  'user.alice/',
  '/afs/x',
  '-user',
  'USER.ALICE',
  'user.alïce',
];
const DATES = ['2013.01.28', '2013-01-28', '2013.02.30', '0000.00.00', '9999.12.31', '2013.1.28', '20130128'];
const META = [
  ';',
  '|',
  '&&',
  '||',
  '`id`',
  '$(rm -rf /)',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, typed as a hostile user would
  '${IFS}',
  '>',
  '>>',
  '<',
  '*',
  '?',
  '~',
  '\\',
  '"',
  "'",
  "''",
  '""',
  '"a b"',
  "'a b'",
  '\\"',
  '#',
  '!',
  '!!',
  '%s%n',
  '{{x}}',
  '\u202e',
  '\u200b',
  '\ufeff',
  '\ufffd',
  '\u00a0',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  'toString',
];
const CONTROLS = [
  '\u0000',
  '\u0001',
  '\u0002',
  '\u0003',
  '\u000f',
  '\u0016',
  '\u001d',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\r',
  '\n',
  '\r\n',
  '\t',
  '\v',
  '\f',
  '\u2028',
  '\u2029',
];
const BREAK_GLASS = [
  '--break-glass',
  '--break-glass ""',
  '--break-glass ab',
  '--break-glass "  ab  "',
  '--break-glass "no time, disk died"',
  '--break-glass --break-glass',
  '--break-glass "--because"',
  '--BREAK-GLASS',
  '—break-glass',
  '--break-glass=reason',
];

/** Half of a surrogate pair, alone: not valid UTF-16. */
const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

const token = fc.oneof(
  fc.constantFrom(...NAMES),
  fc.constantFrom(...SUBWORDS),
  fc.constantFrom(...NUMBERS),
  fc.constantFrom(...VOLUMES),
  fc.constantFrom(...DATES),
  fc.constantFrom(...META),
  fc.constantFrom(...BREAK_GLASS),
  fc.integer().map(String),
  fc.bigInt().map(String),
  fc.double().map(String),
  fc.stringMatching(/^[0-9]{1,40}$/),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom(...CONTROLS),
  lone,
);
const sep = fc.constantFrom(' ', ' ', ' ', '  ', '\t', ' \t ', '\u00a0', '\u3000');
const prefix = fc.constantFrom('!', '!', '!', '!', '', '!!', '!!!', ' !', '! ', '！', '\t!', '!'.repeat(50));
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 2, arbitrary: fc.mixedCase(fc.constantFrom(...NAMES)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...NAMES), token).map(([n, t]) => n + t) },
  { weight: 1, arbitrary: token },
);

/** A line built from the real command names and their words, with random arguments. */
const commandLine = fc
  .tuple(
    prefix,
    name,
    fc.array(fc.tuple(sep, token), { maxLength: 8 }),
    fc.constantFrom('', '', ' ', '\t', '\n'),
  )
  .map(([p, n, args, end]) => `${p}${n}${args.map(([s, t]) => s + t).join('')}${end}`);

/** Such a line with something nasty put somewhere in it. */
const spiked = fc
  .tuple(commandLine, fc.nat(), fc.oneof(fc.constantFrom(...CONTROLS, ...META), lone))
  .map(([s, at, c]) => {
    const i = at % (s.length + 1);
    return s.slice(0, i) + c + s.slice(i);
  });

/** Any text at all. */
const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({
    unit: fc.oneof(
      fc.constantFrom(...CONTROLS, ...META, ' ', '!', '"', "'", '-'),
      lone,
      fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
    ),
    maxLength: 100,
  }),
);

/** Long lines, up to a few KB, and lines right at the length limit (padding counts too). */
const longLine = fc.oneof(
  fc
    .tuple(prefix, fc.constantFrom(...NAMES), token, fc.integer({ min: 900, max: 4096 }))
    .map(([p, n, t, len]) => `${p}${n} ${`${t} `.repeat(len)}`.slice(0, len)),
  fc
    .tuple(
      fc.constantFrom('!ping', '!help', '!audit 5', '!whoami', 'ping'),
      fc.integer({ min: MAX_COMMAND_LENGTH - 5, max: MAX_COMMAND_LENGTH + 5 }),
      fc.constantFrom(' ', 'x', '\t', 'é'),
      fc.boolean(),
    )
    .map(([cmd, len, pad, before]) => {
      const padding = pad.repeat(Math.max(0, len - cmd.length));
      return before ? padding + cmd : cmd + padding;
    }),
  fc.string({ unit: 'binary', minLength: 1000, maxLength: 4096 }).map((s) => `!${s}`),
);

const REASONS = [
  '"disk died, alone tonight"',
  "'no time'",
  'ab',
  'abc',
  '""',
  '"   "',
  '--now',
  '"-- x"',
  'x',
];
/** Words that may fill a slot of a form: volume names (made up, and all digits), dates, ids. */
const SLOTS: Record<string, fc.Arbitrary<string>> = {
  '<v>': fc.oneof(
    fc.constantFrom(...VOLUMES),
    fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}$/),
    fc.stringMatching(/^[0-9]{1,12}$/),
  ),
  '<d>': fc.constantFrom(...DATES, 'today', 'yesterday', 'Today'),
  '<n>': fc.oneof(
    { weight: 2, arbitrary: fc.nat({ max: 50 }).map(String) },
    { weight: 1, arbitrary: fc.nat({ max: 5 }).map((n) => `#${n}`) },
    { weight: 2, arbitrary: fc.constantFrom(...NUMBERS) },
  ),
  '<name>': fc.oneof(
    fc.constantFrom(...NAMES),
    fc.constantFrom(...NAMES).map((n) => `!${n}`),
    token,
  ),
  '<w>': token,
  '<r>': fc.constantFrom(...REASONS),
};
/** The right forms of the commands (and each command's own example), for lines that get past the schema. */
const FORMS = [
  ...commands.map((c) => c.example),
  ...NAMES,
  'help <name>',
  'audit <n>',
  'backup list <d>',
  'backup get <d> <v>',
  'backup get <d> databases',
  'backup rescan',
  'dump <v>',
  'dump <v> full',
  'dump <v> incremental',
  'restore <v>',
  'restore <d> <v>',
  'restore <v> as <v>',
  'restore <d> <v> as <v>',
  'restore-file <v> <w>',
  'restore-file <d> <v> <w> <w>',
  'mount <v>',
  'unmount <v>',
  'discard <v>',
  'job <n>',
  'cancel <n>',
  'approve <n>',
  'deny <n>',
  'deny <n> <w> <w>',
  'keys <w>',
  'promote <v>',
  'promote <v>',
  'promote <v> from <v>',
  'promote resume <n>',
  'promote rollback <n>',
  'promote <v> --break-glass <r>',
  'promote <v> --break-glass <r>',
  'promote <v> --break-glass <r>',
  'promote <v> from <v> --break-glass <r>',
  'promote --break-glass <r> <v>',
  'promote resume <n> --break-glass <r>',
  'nightly run',
  'nightly run --dry-run',
  'nightly status',
  'nightly report <d>',
  'nightly maintenance',
  'nightly maintenance forget',
  'nightly maintenance test-restore <v>',
];
const mutation = fc.tuple(
  fc.constantFrom('replace', 'insert', 'delete', 'break-glass', 'break-glass', 'quote'),
  fc.nat(),
  token,
  fc.constantFrom(...REASONS),
);

/** A right form with its slots filled, then (often) broken in a small way: a word changed, --break-glass put in. */
const formLine = fc
  .constantFrom(...FORMS)
  .chain((form) => fc.tuple(...form.split(' ').map((w) => SLOTS[w] ?? fc.constant(w))))
  .chain((words) =>
    fc.tuple(
      fc.constant(words),
      fc.oneof(
        { weight: 2, arbitrary: fc.constant([]) },
        { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 2 }) },
      ),
    ),
  )
  .chain(([words, muts]) => {
    const ws = [...words];
    for (const [kind, at, t, reason] of muts) {
      const i = 1 + (at % ws.length); // never the name itself
      if (kind === 'replace') ws[Math.min(i, ws.length - 1)] = t;
      else if (kind === 'insert') ws.splice(i, 0, t);
      else if (kind === 'delete' && ws.length > 1) ws.splice(Math.min(i, ws.length - 1), 1);
      else if (kind === 'break-glass') ws.splice(i, 0, '--break-glass', reason);
      else if (kind === 'quote') ws.splice(i, ws.length - i, `"${ws.slice(i).join(' ')}"`);
    }
    return fc
      .tuple(
        fc.constantFrom('!', '!', '!', '!', '!', '!', '', '!!', ' !'),
        fc.constantFrom(' ', ' ', ' ', '  ', '\t'),
      )
      .map(([p, s]) => p + ws.join(s));
  });

const line = fc.oneof(
  { weight: 10, arbitrary: formLine },
  { weight: 4, arbitrary: commandLine },
  { weight: 2, arbitrary: spiked },
  { weight: 2, arbitrary: anyText },
  { weight: 2, arbitrary: fc.tuple(prefix, anyText).map(([p, t]) => p + t) },
  { weight: 1, arbitrary: longLine },
);

const nick = fc.oneof(
  fc.constantFrom('alice', 'bob', 'Alice', 'mallory', 'alice_', 'alice\u200b', ''),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

/** Someone the bot cannot verify: anyone may use an admin's nick. */
const unverified = fc.record({
  backend: fc.constantFrom('irc' as const, 'slack' as const, 'console' as const),
  id: fc.constant(null),
  name: nick,
  unverifiedReason: fc.constantFrom('not logged in to services', 'no account data', ''),
});

/**
 * A verified identity that is no admin's: near misses of the admins' identities, and the admins'
 * identities on a backend where they are not admins.
 */
const verifiedStranger = fc.record({
  backend: fc.constant('irc' as const),
  id: fc.oneof(
    fc.constantFrom(
      'mallory',
      'Alice',
      'ALICE',
      'alice ',
      ' alice',
      'irc:alice',
      'alice;bob',
      'bob\u0000',
      '',
    ),
    fc.string({ maxLength: 12 }).filter((s) => s !== 'alice' && s !== 'bob'),
  ),
  name: nick,
});
const otherBackendStranger = fc.record({
  backend: fc.constantFrom('slack' as const, 'console' as const),
  id: fc.constantFrom('alice', 'bob', 'U0123ABCD', 'root'),
  name: nick,
});
const stranger: fc.Arbitrary<Actor> = fc.oneof(verifiedStranger, otherBackendStranger);

const admin: fc.Arbitrary<Actor> = fc.record({
  backend: fc.constant('irc' as const),
  id: fc.constantFrom('alice', 'bob'),
  name: nick,
});

/** Mostly a handler that works, so that lines get as far as they can; else every way of failing. */
const fate = fc.oneof({ weight: 1, arbitrary: fc.constant<Fate>('ok') }, fc.constantFrom(...FATES));
const fates = fc.record({ run: fate, plan: fate });

const channel = fc.record({
  id: fc.constantFrom('#ops', '#afs', '&local', '#'),
  kind: fc.constant('channel' as const),
});

// ---- the properties --------------------------------------------------------------------------------

/** A string with no half of a surrogate pair alone (which SQLite cannot keep as it was). */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** How often each path was taken, so that a generator that stops reaching one is noticed. */
const seen = new Map<string, number>();
const tally = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);

/** Property 1 and 3, for any sender. Returns the parse and the audit row (null when not a command). */
function common(
  event: ChatEvent,
  o: Observed,
  person: string | null,
): { parsed: Parsed; row: AuditEntry | null } {
  // 1. nothing throws, nothing is left rejecting
  expect(o.threw).toBeNull();
  expect(o.unhandled).toEqual([]);
  const parsed = parseCommand(event.text, '!', event.conversation.kind === 'direct');
  // 3. one settled audit row per command, none for chatter
  if (parsed.kind === 'none') {
    expect(o.rows).toEqual([]);
    expect(o.calls).toEqual([]);
    expect(o.sent).toEqual([]);
    expect(o.approvals).toEqual([]);
    return { parsed, row: null };
  }
  expect(o.rows).toHaveLength(1);
  const row = o.rows[0]!;
  expect(row.outcome).not.toBe('pending');
  expect(row).toMatchObject({
    backend: event.actor.backend,
    identity: event.actor.id,
    person,
    channel: event.conversation.id,
    command: parsed.kind === 'command' ? parsed.name : null,
  });
  const text = event.text.slice(0, 2000);
  if (wellFormed(text) && wellFormed(event.actor.name)) {
    expect(row.text).toBe(text);
    expect(row.name).toBe(event.actor.name);
  }
  // every answer goes to the sender; a non-admin's after everything else (bulk)
  for (const s of o.sent) {
    expect(s.event).toBe(event);
    expect(s.bulk).toBe(person === null);
  }
  return { parsed, row };
}

/** Property 2: what a non-admin may and may not cause. */
function strangerChecks(h: Harness, event: ChatEvent, o: Observed, f: { run: Fate; plan: Fate }): void {
  const { parsed, row } = common(event, o, null);
  // a command for logged-in users (a restore they ask for), asked by one whose identity is vouched for,
  // may be planned and make an approval request, which only an admin can approve; nothing else may
  const named = parsed.kind === 'command' ? h.registry.get(parsed.name) : undefined;
  const asUser = named?.permission === 'user' && event.actor.id !== null;
  expect(o.calls.filter((c) => c.permission === 'admin')).toEqual([]);
  expect(o.calls.filter((c) => c.kind === 'plan' && !asUser)).toEqual([]);
  if (!asUser) expect(o.approvals).toEqual([]);
  for (const a of o.approvals) {
    expect(a).toMatchObject({ command: named!.name, requester: event.actor.id, break_glass: 0 });
    tally('user request');
  }
  // an internal error is never shown to a stranger (an admin gets its first line)
  for (const s of o.sent) expect(s.text).not.toContain(SECRET);
  tally(`stranger ${row ? row.outcome : 'chatter'}`);
  if (parsed.kind !== 'command' || !row) return;
  const spec = h.registry.get(parsed.name);
  if (spec?.permission === 'admin') {
    expect(['refused', 'rejected']).toContain(row.outcome);
  }
  if (asUser) {
    // planned (never run: it waits for an admin), or refused before that
    expect(o.calls.filter((c) => c.kind === 'run')).toEqual([]);
    expect(o.calls.every((c) => c.spec === parsed.name && c.permission === 'user')).toBe(true);
    tally(`user ${row.outcome}`);
  } else if (o.calls.length > 0) {
    // only the public command the line names, once, with its own outcome
    expect(o.calls).toHaveLength(1);
    expect(o.calls[0]).toMatchObject({ kind: 'run', spec: parsed.name, permission: 'public' });
    expect(row.outcome).toBe(outcomeOf(f.run));
    tally('stranger public run');
  } else {
    expect(row.outcome).not.toBe('ok');
  }
}

/** Whether this form of the command goes through the approval gate (the command's own applies()). */
function isDestructive(h: Harness, event: ChatEvent, spec: AnySpec<Services>, args: unknown): boolean {
  if (!spec.destructive) return false;
  const ctx: CommandContext<Services> = {
    actor: event.actor,
    conversation: event.conversation,
    isAdmin: true,
    person: event.actor.id,
    ref: 0,
    reply: async () => {},
    services: h.services,
  };
  return spec.destructive.applies?.(args, ctx) ?? true;
}

/**
 * What the admin's line should do, worked out from the line alone with the real schemas: the form of
 * the command, whether it is destructive, and the break-glass rules of the config.
 */
function expectAdmin(h: Harness, event: ChatEvent, parsed: Parsed, f: { run: Fate; plan: Fate }) {
  type Expect = {
    outcome: Outcome;
    run?: { spec: AnySpec<Services>; args: unknown; tokens: string[] };
    plan?: boolean;
    approval?: 'request' | 'break-glass';
  };
  if (parsed.kind !== 'command') return { outcome: 'rejected' } as Expect;
  const spec = h.registry.get(parsed.name);
  if (!spec) return { outcome: 'rejected' } as Expect;
  let tokens = parsed.args;
  let reason: string | undefined;
  const bg = spec.destructive ? tokens.indexOf('--break-glass') : -1;
  if (bg >= 0) {
    reason = tokens[bg + 1] ?? '';
    tokens = [...tokens.slice(0, bg), ...tokens.slice(bg + 2)];
  }
  const v = spec.args.safeParse(tokens);
  if (!v.success) return { outcome: 'rejected' } as Expect;
  const run = { spec, args: v.data, tokens };
  if (!isDestructive(h, event, spec, v.data)) {
    return { outcome: outcomeOf(f.run), run } as Expect;
  }
  if (reason !== undefined && (!h.breakGlass || reason.trim().length < 3 || reason.startsWith('--')))
    return { outcome: 'refused' } as Expect;
  const planned = outcomeOf(f.plan);
  if (planned !== 'ok') return { outcome: planned, plan: true } as Expect;
  if (reason === undefined) return { outcome: 'ok', plan: true, approval: 'request' } as Expect;
  return { outcome: outcomeOf(f.run), plan: true, approval: 'break-glass', run } as Expect;
}

/** Property 4: the admin's command does what its line says, and only that. */
function adminChecks(h: Harness, event: ChatEvent, o: Observed, f: { run: Fate; plan: Fate }): void {
  const person = event.actor.id === 'alice' ? 'alice' : 'bob';
  const { parsed, row } = common(event, o, person);
  if (!row) return;
  const want = expectAdmin(h, event, parsed, f);
  const runs = o.calls.filter((c) => c.kind === 'run');
  const plans = o.calls.filter((c) => c.kind === 'plan');
  // at most one run, of the command the line names, with arguments its schema gives again
  expect(runs.length).toBeLessThanOrEqual(1);
  expect(plans.length).toBe(want.plan ? 1 : 0);
  if (want.run) {
    expect(runs).toHaveLength(1);
    const call = runs[0]!;
    expect(call.spec).toBe(want.run.spec.name);
    const again = want.run.spec.args.safeParse(want.run.tokens);
    expect(again.success).toBe(true);
    expect(call.args).toEqual(again.data);
    expect(call.actor).toBe(event.actor);
  } else {
    expect(runs).toEqual([]);
  }
  // a destructive command never runs on one admin's word, except through a recorded break-glass
  for (const c of runs) {
    const spec = h.registry.get(c.spec)!;
    if (isDestructive(h, event, spec, c.args)) {
      expect(h.breakGlass).toBe(true);
      expect(c.approvalId).toBeDefined();
      expect(o.approvals).toEqual([
        { id: c.approvalId, command: c.spec, requester: event.actor.id, break_glass: 1 },
      ]);
    } else {
      expect(c.approvalId).toBeUndefined();
    }
  }
  if (want.approval) {
    expect(o.approvals).toHaveLength(1);
    expect(o.approvals[0]).toMatchObject({
      requester: event.actor.id,
      break_glass: want.approval === 'break-glass' ? 1 : 0,
    });
  } else {
    expect(o.approvals).toEqual([]);
  }
  // the outcome is 'ok' exactly when run() went through, or the approval request was made
  const wentThrough =
    (runs.length === 1 && outcomeOf(f.run) === 'ok') ||
    (want.approval === 'request' && o.approvals.length === 1);
  expect(row.outcome === 'ok').toBe(wentThrough);
  expect(row.outcome).toBe(want.outcome);
  tally(`admin ${row.outcome}`);
  if (runs.length) tally('admin run');
  if (want.approval) tally(`admin ${want.approval}`);
  if (plans.length) tally('admin plan');
  // an internal failure is told to the admin, with its first line only
  const decided = want.plan && outcomeOf(f.plan) !== 'ok' ? f.plan : f.run;
  if (row.outcome === 'failed' && decided === 'error') {
    expect(o.sent.some((s) => s.text.includes(`${SECRET}: disk on fire`))).toBe(true);
  }
  for (const s of o.sent) expect(s.text).not.toContain(SECRET_LINE_2);
}

describe('fuzz: the command pipeline (parse, dispatch, authorize, approve)', () => {
  // break-glass allowed in one, not in the other
  let hs: [Harness, Harness];

  beforeAll(() => {
    hs = [harness(false), harness(true)];
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    for (const h of hs) h.close();
  });

  it('sanity: the recording registry is the real one', () => {
    for (const h of hs) {
      expect(
        h.registry
          .all()
          .map((s) => s.name)
          .sort(),
      ).toEqual([...NAMES].sort());
      expect(h.registry.all().some((s) => s.permission === 'public')).toBe(true);
      expect(h.registry.all().some((s) => s.destructive)).toBe(true);
    }
  });

  // Each generated line goes to three senders: an unverified one, a verified non-admin, and the admin.
  const property = (conversation: (n: string) => fc.Arbitrary<Conversation>) =>
    fc.asyncProperty(
      line,
      unverified,
      stranger,
      admin,
      fc.nat({ max: 1 }),
      fates,
      nick.chain((n) => conversation(n)),
      async (text, anon, known, adm, which, f, conv) => {
        const h = hs[which]!;
        for (const actor of [anon, known]) {
          const event: ChatEvent = { actor, conversation: conv, text };
          strangerChecks(h, event, await h.feed(event, f), f);
        }
        const event: ChatEvent = { actor: adm, conversation: conv, text };
        adminChecks(h, event, await h.feed(event, f), f);
      },
    );

  it(`holds for ${RUNS} lines in channels`, async () => {
    await fc.assert(
      property(() => channel),
      { numRuns: RUNS },
    );
  }, 60_000);

  it(`holds for ${RUNS} lines in direct messages`, async () => {
    await fc.assert(
      property((n) => fc.constant({ id: n || 'someone', kind: 'direct' as const })),
      { numRuns: RUNS },
    );
  }, 60_000);

  it('left no approval request of anyone but an admin in the databases (but the restores users ask for)', () => {
    // checked line by line above; this is the sum over both properties
    for (const h of hs) expect(h.foreignApprovals()).toBe(0);
  });

  it('reached every path of the pipeline', () => {
    // Each is taken tens to thousands of times in a run; a floor far below that catches a generator
    // that stopped reaching it (the properties above would then hold for want of cases).
    const floor: Record<string, number> = {
      'stranger chatter': 200,
      'stranger rejected': 500,
      'stranger refused': 500,
      'stranger public run': 50,
      'stranger failed': 5,
      'admin rejected': 500,
      'admin refused': 20,
      'admin failed': 50,
      'admin ok': 200,
      'admin run': 200,
      'admin plan': 20,
      'admin request': 10,
      'admin break-glass': 1,
      'user request': 1,
    };
    const short = Object.entries(floor).filter(([what, n]) => (seen.get(what) ?? 0) < n);
    expect(short.map(([what, n]) => `${what}: ${seen.get(what) ?? 0} < ${n}`)).toEqual([]);
  });
});
