// Who may ask for a file back without being an admin: the owner of the volume (by the configured
// patterns, `user.{user}` and the like), or a user whom the dump's own access lists gave the right to
// read it then: lookup (l) on every directory down to it, and read (r) on the directory that holds it
// (or on the directory itself). The lists name users and groups by PTS id; negative entries take
// rights away, as the file server does. Everything comes from the file index, as of that dump.

import type { AclEntry } from '../../actions/dump-parser.ts';
import { ANYUSER, AUTHUSER } from '../../actions/pts.ts';
import type { FileIndex } from './file-index.ts';

export const READ = 1;
export const LOOKUP = 2;

/** The rights an access list gives someone who is all of `ids` (a user, its groups, anyuser, authuser). */
export function rightsOf(acl: { positive: AclEntry[]; negative: AclEntry[] }, ids: Set<number>): number {
  const sum = (list: AclEntry[]) => list.filter((e) => ids.has(e.id)).reduce((a, e) => a | e.rights, 0);
  return sum(acl.positive) & ~sum(acl.negative);
}

export type AccessDecision = { allowed: true; why: string } | { allowed: false; why: string };

/**
 * Whether `user` (an AFS user with PTS id `userId` in groups `groupIds`) may have `path` of `volume`
 * as the dump of `clone` held it.
 */
export function mayRestore(
  index: FileIndex,
  req: { user: string; userId: number; groupIds: number[]; volume: string; path: string; clone: number },
  ownPatterns: string[],
): AccessDecision {
  const own = ownPatterns.map((p) => p.replaceAll('{user}', req.user));
  if (own.includes(req.volume)) return { allowed: true, why: `${req.volume} is ${req.user}'s own volume` };
  const target = index.at(req.volume, req.path, req.clone);
  if (!target) return { allowed: false, why: `the dump does not hold ${req.path}` };
  const ids = new Set([req.userId, ...req.groupIds, ANYUSER, AUTHUSER]);
  const parts = req.path.split('/');
  const dirs = parts.map((_, i) => parts.slice(0, i).join('/'));
  if (target.kind === 'dir') dirs.push(req.path);
  for (const [i, dir] of dirs.entries()) {
    const row = index.at(req.volume, dir, req.clone);
    const acl = row?.acl
      ? (JSON.parse(row.acl) as { positive: AclEntry[]; negative: AclEntry[] })
      : undefined;
    const rights = acl ? rightsOf(acl, ids) : 0;
    const where = dir === '' ? 'the volume root' : dir;
    if (!(rights & LOOKUP))
      return { allowed: false, why: `${req.user} had no lookup right on ${where} then` };
    // read on the directory that holds the file (or on the directory asked for): the last one
    if (i === dirs.length - 1 && !(rights & READ))
      return { allowed: false, why: `${req.user} had no read right on ${where} then` };
  }
  return {
    allowed: true,
    why: `the access lists of that night gave ${req.user} read and lookup rights on it`,
  };
}
