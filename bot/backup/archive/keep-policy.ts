// The keep policy, over dump dates and dump chains. restic's own --keep-* judges snapshots by their
// time and knows nothing of chains, so afsbot decides which snapshots to forget itself: a kept date
// keeps, for every volume, the dump a restore of that date uses; a kept incremental keeps its full;
// each volume's newest dump and every pre-promote safety dump are always kept.
import type { DumpRow } from '../catalog.ts';

export interface KeepPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

/** Monday of the ISO week of a YYYY.MM.DD date, as YYYY.MM.DD. */
function weekOf(date: string): string {
  const d = new Date(`${date.replaceAll('.', '-')}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10).replaceAll('-', '.');
}

/**
 * The dump dates a keep policy keeps: the newest `daily` dates, the newest date of each of the newest
 * `weekly` weeks, and of each of the newest `monthly` months (restic's --keep-* rules, over dump dates).
 */
export function keepDates(dates: string[], p: KeepPolicy): Set<string> {
  const desc = [...new Set(dates)].sort().reverse();
  const keep = new Set(desc.slice(0, p.daily));
  const newestPer = (key: (d: string) => string, n: number) => {
    const seen = new Set<string>();
    for (const d of desc) {
      if (seen.size >= n) break;
      if (seen.has(key(d))) continue;
      seen.add(key(d));
      keep.add(d);
    }
  };
  newestPer(weekOf, p.weekly);
  newestPer((d) => d.slice(0, 7), p.monthly);
  return keep;
}

/** Of archived dumps, the ones the policy keeps (see the top of this file). */
export function keptDumps(rows: DumpRow[], p: KeepPolicy): DumpRow[] {
  const dates = keepDates(
    rows.filter((r) => r.kind === 'scheduled').map((r) => r.date),
    p,
  );
  // For each kept date and each volume: the dump that `!restore <date> <volume>` would use, the newest
  // on or before that date (a volume unchanged for days has none on the date itself). For the newest
  // date that is each volume's newest dump.
  const kept = rows.filter((r) => r.kind === 'pre-promote');
  const byVolume = new Map<string, DumpRow[]>();
  for (const r of rows.filter((x) => x.kind === 'scheduled'))
    byVolume.set(r.volume, [...(byVolume.get(r.volume) ?? []), r]);
  for (const list of byVolume.values()) {
    list.sort((x, y) => (x.clone_time ?? 0) - (y.clone_time ?? 0));
    for (const d of [...dates, '9999.99.99']) {
      const asOf = list.filter((r) => r.date <= d).at(-1);
      if (asOf && !kept.includes(asOf)) kept.push(asOf);
    }
  }
  for (const r of kept.filter((x) => x.level === 'incremental')) {
    const base = rows.find(
      (f) => f.volume === r.volume && f.level === 'full' && f.clone_time === r.base_clone_time,
    );
    if (base && !kept.includes(base)) kept.push(base);
  }
  return kept;
}
