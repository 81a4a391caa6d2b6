import { describe, expect, it } from 'vitest';
import { noArgs } from '../../bot/chat/args.ts';
import { Registry } from '../../bot/chat/registry.ts';
import { commands } from '../../bot/commands/index.ts';
import { defineCommand } from '../../bot/services.ts';

const spec = (name: string) =>
  defineCommand({
    name,
    summary: 's',
    usage: name,
    example: name,
    permission: 'public',
    args: noArgs,
    async run() {},
  });

describe('Registry', () => {
  it('refuses two commands with one name at start-up', () => {
    expect(() => new Registry([spec('status'), spec('status')])).toThrow(/two commands are named "status"/);
  });

  it('refuses a name a user could not type', () => {
    expect(() => new Registry([spec('Bad Name')])).toThrow(/lower-case/);
  });

  it('lists commands by name and finds them', () => {
    const r = new Registry([spec('ping'), spec('audit')]);
    expect(r.all().map((s) => s.name)).toEqual(['audit', 'ping']);
    expect(r.get('ping')?.name).toBe('ping');
    expect(r.get('nope')).toBeUndefined();
  });

  it('holds the standard commands, each with an example that starts with its own name', () => {
    const r = new Registry(commands);
    for (const s of r.all()) {
      expect(s.example.split(' ')[0]).toBe(s.name);
      expect(s.usage.split(' ')[0]).toBe(s.name);
    }
    expect(r.get('restore')?.permission).toBe('admin');
    for (const open of ['help', 'whoami', 'ping']) expect(r.get(open)?.permission).toBe('public');
    // everything else is admin-only
    expect(
      r
        .all()
        .filter((s) => s.permission === 'public')
        .map((s) => s.name),
    ).toEqual(['help', 'ping', 'whoami']);
  });

  it('every example passes its own argument schema', () => {
    for (const s of new Registry(commands).all()) {
      const args = s.example.split(' ').slice(1);
      expect(s.args.safeParse(args).success, `${s.name}: ${s.example}`).toBe(true);
    }
  });
});
