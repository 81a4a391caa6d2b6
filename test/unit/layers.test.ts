// The architecture's import rules, enforced (docs/architecture.md explains them): actions/ knows
// nothing of chat or the bot; adapters and the core meet only at bot/chat/adapter.ts; inside bot/ each
// room imports only the rooms below it; no module imports itself through a cycle.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** The project files a file imports (type-only imports too: they are a dependency of the design). */
function importsOf(file: string, text = readFileSync(join(root, file), 'utf8')): string[] {
  const specs = [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ];
  return specs
    .map((m) => m[1] ?? m[2] ?? '')
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(root, resolve(root, file, '..', s)));
}

const violations = (dir: string, allowed: (target: string, file: string) => boolean) =>
  sources(dir).flatMap((f) =>
    importsOf(f)
      .filter((t) => !allowed(t, f))
      .map((t) => `${f} -> ${t}`),
  );

const under =
  (...dirs: string[]) =>
  (t: string) =>
    dirs.some((d) => t.startsWith(`${d}/`) || t === d);

/** Every import cycle among `files`, each as the list of files around it. */
function cycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    path.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') found.push([...path.slice(path.indexOf(t)), t]);
      else if (!state.has(t)) visit(t);
    }
    path.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

describe('layers', () => {
  it('finds the imports it checks', () => {
    expect(importsOf('bot/bot.ts')).toContain('actions/vos.ts');
    expect(importsOf('bot/services.ts')).toContain('bot/chat/registry.ts');
    expect(sources('adapters').length).toBeGreaterThan(2);
    expect(sources('bot/backup').length).toBeGreaterThan(10);
  });

  it('actions/ imports nothing from bot/ or adapters/', () => {
    expect(violations('actions', under('actions'))).toEqual([]);
  });

  it('adapters/ reach the core only through bot/chat/adapter.ts', () => {
    expect(
      violations(
        'adapters',
        (t) => under('adapters')(t) || t === 'bot/chat/adapter.ts' || t === 'actions/backoff.ts',
      ),
    ).toEqual([]);
  });

  it('bot/ never imports an adapter', () => {
    expect(violations('bot', (t) => !t.startsWith('adapters/'))).toEqual([]);
  });

  it('bot/platform/ is the floor: it imports nothing else of bot/', () => {
    expect(violations('bot/platform', under('bot/platform'))).toEqual([]);
  });

  it('the chat pipeline (bot/chat/) knows nothing of jobs, approvals, backups or commands', () => {
    expect(violations('bot/chat', under('bot/chat', 'bot/platform'))).toEqual([]);
  });

  it('bot/jobs/ is generic: no backup workflow, no command, no approval', () => {
    expect(
      // (actions/faults.ts: the fault suite's hook, so a test can stop a real process holding a lock)
      violations(
        'bot/jobs',
        under('bot/jobs', 'bot/chat', 'bot/platform', 'actions/backoff.ts', 'actions/faults.ts'),
      ),
    ).toEqual([]);
  });

  it('bot/approvals/ gates any destructive command without knowing which', () => {
    expect(violations('bot/approvals', under('bot/approvals', 'bot/chat', 'bot/platform'))).toEqual([]);
  });

  it('the backup workflows never import a command, the approval gate or the composition root', () => {
    expect(
      violations(
        'bot/backup',
        under('bot/backup', 'bot/jobs', 'bot/chat', 'bot/platform', 'bot/services.ts', 'actions'),
      ),
    ).toEqual([]);
  });

  it('inside bot/backup/, archive/ never imports nightly/', () => {
    expect(violations('bot/backup/archive', (t) => !t.startsWith('bot/backup/nightly/'))).toEqual([]);
  });

  it('commands are thin: a command never imports another command, or the composition root', () => {
    expect(
      violations(
        'bot/commands',
        (t, f) =>
          !t.startsWith('adapters/') &&
          t !== 'bot/bot.ts' &&
          (!t.startsWith('bot/commands/') || f === 'bot/commands/index.ts'),
      ),
    ).toEqual([]);
  });

  it('bot/services.ts imports only types (it is what handlers see, not a wiring)', () => {
    const text = readFileSync(join(root, 'bot/services.ts'), 'utf8');
    expect([...text.matchAll(/^import (?!type )/gm)]).toEqual([]);
  });

  it('no module reaches itself through a cycle of imports', () => {
    expect(cycles([...sources('bot'), ...sources('adapters'), ...sources('actions')])).toEqual([]);
  });

  it('no file in bot/ is over about 400 lines', () => {
    const long = sources('bot')
      .map((f) => ({ f, lines: readFileSync(join(root, f), 'utf8').split('\n').length }))
      .filter((x) => x.lines > 420);
    expect(long).toEqual([]);
  });

  it('fails when a forbidden import is added (the rules are not vacuous)', () => {
    const text =
      "import { startJob } from '../backup/nightly/job.ts';\nimport type { X } from './adapter.ts';";
    expect(importsOf('bot/chat/dispatcher.ts', text)).toEqual([
      'bot/backup/nightly/job.ts',
      'bot/chat/adapter.ts',
    ]);
    expect(under('bot/chat', 'bot/platform')('bot/backup/nightly/job.ts')).toBe(false);
  });
});
