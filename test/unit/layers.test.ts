// The architecture's one-way data flow, enforced: actions/ knows nothing of chat or the bot; adapters
// and the core meet only through bot/chat.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specs = [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ];
  return specs
    .map((m) => m[1] ?? m[2] ?? '')
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(root, resolve(root, file, '..', s)));
}

const violations = (dir: string, allowed: (target: string) => boolean) =>
  sources(dir).flatMap((f) =>
    imports(f)
      .filter((t) => !allowed(t))
      .map((t) => `${f} -> ${t}`),
  );

describe('layers', () => {
  it('finds the imports it checks', () => {
    expect(imports('bot/bot.ts')).toContain('actions/vos.ts');
    expect(sources('adapters').length).toBeGreaterThan(2);
  });

  it('actions/ imports nothing from bot/ or adapters/', () => {
    expect(violations('actions', (t) => t.startsWith('actions/'))).toEqual([]);
  });

  it('adapters/ reach the core only through bot/chat.ts', () => {
    expect(violations('adapters', (t) => t.startsWith('adapters/') || t === 'bot/chat.ts')).toEqual([]);
  });

  it('bot/ never imports an adapter', () => {
    expect(violations('bot', (t) => !t.startsWith('adapters/'))).toEqual([]);
  });
});
