import { describe, expect, it } from 'vitest';
import type { Actor } from '../../bot/chat/adapter.ts';
import { authorize, personOf } from '../../bot/chat/auth.ts';

const admins = [
  { name: 'alice', irc: ['alice'], slack: ['U0ADMIN1'], console: ['alice'] },
  { name: 'ops', irc: [], slack: [], console: ['root'] },
];
const irc = (id: string | null, name = 'alice'): Actor => ({
  backend: 'irc',
  id,
  name,
  ...(id === null ? { unverifiedReason: 'the nick alice is not logged in to a services account' } : {}),
});

describe('authorize', () => {
  it('lets an admin account run admin commands', () => {
    expect(authorize(irc('alice'), 'admin', admins)).toEqual({
      allowed: true,
      isAdmin: true,
      person: 'alice',
    });
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

  it('fails closed when no admin has an identity on the backend', () => {
    const d = authorize(irc('alice'), 'admin', [{ name: 'ops', irc: [], slack: [], console: ['root'] }]);
    expect(d).toMatchObject({
      allowed: false,
      reason: expect.stringMatching(/no admin has a irc identity/),
    });
    expect(authorize(irc('alice'), 'admin', [])).toMatchObject({ allowed: false });
  });

  it('does not let an identity of one backend act on another', () => {
    const d = authorize({ backend: 'console', id: 'U0ADMIN1', name: 'x' }, 'admin', admins);
    expect(d.allowed).toBe(false);
    expect(authorize({ backend: 'slack', id: 'alice', name: 'alice' }, 'admin', admins).allowed).toBe(false);
  });

  it('maps every identity of a person to that person, and nothing else to anyone', () => {
    expect(personOf(irc('alice'), admins)).toBe('alice');
    expect(personOf({ backend: 'slack', id: 'U0ADMIN1', name: 'Alice A.' }, admins)).toBe('alice');
    expect(personOf({ backend: 'console', id: 'alice', name: 'alice' }, admins)).toBe('alice');
    expect(personOf({ backend: 'console', id: 'root', name: 'root' }, admins)).toBe('ops');
    expect(personOf(irc(null), admins)).toBeNull();
    expect(personOf(irc('ops'), admins)).toBeNull();
  });

  it('lets anyone run public commands, and tells whether they are an admin', () => {
    expect(authorize(irc(null), 'public', admins)).toEqual({ allowed: true, isAdmin: false, person: null });
    expect(authorize(irc('alice'), 'public', admins)).toEqual({
      allowed: true,
      isAdmin: true,
      person: 'alice',
    });
  });
});
