// Which dump each volume gets tonight (the wiki's 3.2): full on the configured weekday, when it has no
// full yet, or when its chain is broken; otherwise incremental since the clone time of its newest
// full; nothing at all when it has not changed since its last dump.

export interface VolumeFacts {
  volume: string;
  /** The read-write volume's id now. */
  volumeId: number;
  /** When the read-write volume last changed (vos examine updateDate, epoch s). */
  updated: number;
  /** When a promote last replaced its content under the same id (epoch s), if one did. */
  replacedAt?: number;
}

export interface DumpFacts {
  level: 'full' | 'incremental';
  volumeId: number | null;
  cloneTime: number;
  baseCloneTime: number | null;
}

export type LevelChoice =
  | { level: 'full'; why: string }
  | { level: 'incremental'; since: number; why: string }
  | { level: 'unchanged'; why: string };

/**
 * @param dumps this volume's catalogued dumps (any order)
 * @param fullToday whether today is the weekly full day
 */
export function chooseLevel(v: VolumeFacts, dumps: DumpFacts[], fullToday: boolean): LevelChoice {
  const fulls = dumps.filter((d) => d.level === 'full').sort((a, b) => b.cloneTime - a.cloneTime);
  const newestFull = fulls[0];
  const last = [...dumps].sort((a, b) => b.cloneTime - a.cloneTime)[0];
  if (!newestFull) return { level: 'full', why: 'it has no full dump yet' };
  if (v.replacedAt !== undefined && newestFull.cloneTime <= v.replacedAt)
    return { level: 'full', why: 'a promote replaced its content since its newest full' };
  if (newestFull.volumeId !== null && newestFull.volumeId !== v.volumeId) {
    return {
      level: 'full',
      why: `its volume id changed (${newestFull.volumeId} -> ${v.volumeId}), so the old chain does not apply`,
    };
  }
  // times are whole seconds: a change in the second of the last clone may have come after it, and vos
  // dump -time T takes every vnode changed at T or later (serverModifyTime >= T, src/volser/dumpstuff.c),
  // so only a volume last changed before that second is known to be unchanged
  if (last && v.updated < last.cloneTime)
    return { level: 'unchanged', why: 'nothing changed since its last dump' };
  if (fullToday) return { level: 'full', why: 'today is the weekly full dump' };
  return { level: 'incremental', since: newestFull.cloneTime, why: 'since its newest full' };
}
