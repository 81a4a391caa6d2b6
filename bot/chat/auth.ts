// Authorization fails closed: no admins, an identity the backend could not verify, or an identity that
// is no admin's each mean "refused", with the reason in words. Admins are persons (config `admins`): an
// identity (backend and the id that backend vouches for) maps to at most one person.
import type { Config } from '../platform/config.ts';
import type { Actor } from './adapter.ts';
import type { Permission } from './registry.ts';

export type Admins = Config['admins'];

export type Authorization =
  | { allowed: true; isAdmin: boolean; person: string | null }
  | { allowed: false; reason: string };

/** The admin (person) an identity belongs to, if any. */
export function personOf(actor: Actor, admins: Admins): string | null {
  if (actor.id === null) return null;
  return admins.find((p) => p[actor.backend].includes(actor.id!))?.name ?? null;
}

export function isAdmin(actor: Actor, admins: Admins): boolean {
  return personOf(actor, admins) !== null;
}

export function authorize(actor: Actor, permission: Permission, admins: Admins): Authorization {
  const person = personOf(actor, admins);
  if (permission === 'public') return { allowed: true, isAdmin: person !== null, person };
  if (permission === 'user') {
    if (actor.id === null)
      return {
        allowed: false,
        reason: `I cannot verify who you are: ${actor.unverifiedReason ?? 'no verified identity'}; log in (on IRC: identify to services) and ask again`,
      };
    return { allowed: true, isAdmin: person !== null, person };
  }
  if (!admins.some((p) => p[actor.backend].length > 0)) {
    return {
      allowed: false,
      reason: `no admin has a ${actor.backend} identity, so admin commands are refused here (add one to a person in the config's admins)`,
    };
  }
  if (actor.id === null) {
    return {
      allowed: false,
      reason: `I cannot verify who you are: ${actor.unverifiedReason ?? 'no verified identity'}`,
    };
  }
  if (person === null) {
    return { allowed: false, reason: `${actor.id} is not an afsbot admin on ${actor.backend}` };
  }
  return { allowed: true, isAdmin: true, person };
}
