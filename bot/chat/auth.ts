// Authorization fails closed: no admin list, an identity the backend could not verify, or an identity
// not on the list each mean "refused", with the reason in words.
import type { Config } from '../platform/config.ts';
import type { Actor } from './adapter.ts';
import type { Permission } from './registry.ts';

export type Authorization = { allowed: true; isAdmin: boolean } | { allowed: false; reason: string };

export function isAdmin(actor: Actor, admins: Config['admins']): boolean {
  if (actor.id === null) return false;
  return admins[actor.backend].includes(actor.id);
}

export function authorize(actor: Actor, permission: Permission, admins: Config['admins']): Authorization {
  const admin = isAdmin(actor, admins);
  if (permission === 'public') return { allowed: true, isAdmin: admin };
  const list = admins[actor.backend];
  if (list.length === 0) {
    return {
      allowed: false,
      reason: `no admins are configured for ${actor.backend}, so admin commands are refused (set admins.${actor.backend} in the config)`,
    };
  }
  if (actor.id === null) {
    return {
      allowed: false,
      reason: `I cannot verify who you are: ${actor.unverifiedReason ?? 'no verified identity'}`,
    };
  }
  if (!admin) {
    return { allowed: false, reason: `${actor.id} is not an afsbot admin on ${actor.backend}` };
  }
  return { allowed: true, isAdmin: true };
}
