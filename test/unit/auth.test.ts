import { describe, expect, it } from 'vitest';
import type { Actor } from '../../bot/chat/adapter.ts';
import { authorize } from '../../bot/chat/auth.ts';

const admins = { irc: ['alice'], slack: ['U0ADMIN1'], console: ['root'] };
const irc = (id: string | null, name = 'alice'): Actor => ({
  backend: 'irc',
  id,
  name,
  ...(id === null ? { unverifiedReason: 'the nick alice is not logged in to a services account' } : {}),
});

describe('authorize', () => {
  it('lets an admin account run admin commands', () => {
    expect(authorize(irc('alice'), 'admin', admins)).toEqual({ allowed: true, isAdmin: true });
  });

  it('refuses the admin nick when it is not logged in, and says why', () => {
    expect(authorize(irc(null, 'alice'), 'admin', admins)).toEqual({
      allowed: false,
      reason: 'I cannot verify who you are: the nick alice is not logged in to a services account',
    });
  });

  it('refuses another account holding the admin nick', () => {
    expect(authorize(irc('mallory', 'alice'), 'admin', admins)).toEqual({
      allowed: false,
      reason: 'mallory is not an afsbot admin on irc',
    });
  });

  it('fails closed when no admin list is configured for the backend', () => {
    const d = authorize(irc('alice'), 'admin', { irc: [], slack: [], console: [] });
    expect(d).toMatchObject({
      allowed: false,
      reason: expect.stringMatching(/no admins are configured for irc/),
    });
  });

  it('does not let an admin of one backend act on another', () => {
    const d = authorize({ backend: 'console', id: 'alice', name: 'alice' }, 'admin', admins);
    expect(d.allowed).toBe(false);
  });

  it('lets anyone run public commands, and tells whether they are an admin', () => {
    expect(authorize(irc(null), 'public', admins)).toEqual({ allowed: true, isAdmin: false });
    expect(authorize(irc('alice'), 'public', admins)).toEqual({ allowed: true, isAdmin: true });
  });
});
