// The nightly run (the wiki's 3.2): vos backupsys, the clones and their times, a level per volume,
// then the dumps, several at once with a per-file-server limit. A volume that fails does not stop the
// others: its error, in the tool's own words, goes to the report. (Archiving to restic, local
// retention and the schedule build on this.)
import type { VolumeFields } from '../actions/vos.ts';
import { dumpDate } from './dates.ts';
import { formatBytes, formatDuration } from './format.ts';
import type { RunningJob } from './jobs.ts';
import { chooseLevel, type LevelChoice } from './levels.ts';
import type { Services } from './services.ts';
import { dumpClone } from './volumes.ts';

export interface VolumeResult {
  volume: string;
  server: string;
  choice: LevelChoice | { level: 'failed'; why: string };
  rawBytes?: number;
  storedBytes?: number;
  seconds?: number;
  error?: string;
}

export interface NightlyStats {
  date: string;
  dryRun: boolean;
  phases: Record<string, number>;
  backupsys: { backedUp: number; failed: number };
  volumes: VolumeResult[];
}

/** Today's weekday (0 Sunday) in the configured time zone. */
function weekday(d: Date, timeZone?: string): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short' }).format(d);
  return ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(name);
}

function covered(name: string, prefixes: string[], xprefixes: string[]): boolean {
  return prefixes.some((p) => name.startsWith(p)) && !xprefixes.some((p) => name.startsWith(p));
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

export async function runNightly(s: Services, job: RunningJob, dryRun: boolean): Promise<NightlyStats> {
  const cfg = s.config.nightly;
  const now = s.clock();
  const stats: NightlyStats = {
    date: dumpDate(now, s.config.timeZone),
    dryRun,
    phases: {},
    backupsys: { backedUp: 0, failed: 0 },
    volumes: [],
  };
  const phase = async <R>(name: string, fn: () => Promise<R>): Promise<R> => {
    const t = Date.now();
    job.progress(name, 0);
    try {
      return await fn();
    } finally {
      stats.phases[name] = (Date.now() - t) / 1000;
    }
  };

  // 1. clone everything the prefixes cover (a dry run only asks what it would clone)
  const bs = await phase('vos backupsys', () =>
    s.vos.backupsys({ prefixes: cfg.prefixes, xprefixes: cfg.xprefixes, dryRun }, job.signal),
  );
  if (!bs.ok) throw new Error(`vos backupsys failed: ${bs.message}`);
  stats.backupsys = { backedUp: bs.backedUp, failed: bs.failed };

  // 2. the read-write volumes covered, with their clones' times
  const facts = await phase('listing the clones', async () => {
    const vldb = await s.vos.listvldb(job.signal);
    if (!vldb.ok) throw new Error(`vos listvldb failed: ${vldb.message}`);
    const out: { volume: string; server: string; rw: VolumeFields; clone?: VolumeFields; error?: string }[] =
      [];
    for (const e of vldb.entries.filter(
      (x) => x.rw !== undefined && covered(x.name, cfg.prefixes, cfg.xprefixes),
    )) {
      const server = e.sites.find((x) => x.type === 'RW')?.server ?? '';
      const rw = await s.vos.examine(e.name, job.signal);
      if (!rw.ok) {
        out.push({ volume: e.name, server, rw: {}, error: rw.message });
        continue;
      }
      const clone = await s.vos.examine(`${e.name}.backup`, job.signal);
      out.push(
        clone.ok
          ? { volume: e.name, server, rw: rw.fields, clone: clone.fields }
          : {
              volume: e.name,
              server,
              rw: rw.fields,
              error: dryRun ? undefined : `no clone: ${clone.message}`,
            },
      );
    }
    return out;
  });

  // 3. a level per volume
  const fullToday = weekday(now, s.config.timeZone) === cfg.fullWeekday;
  for (const f of facts) {
    if (f.error) {
      stats.volumes.push({
        volume: f.volume,
        server: f.server,
        choice: { level: 'failed', why: f.error },
        error: f.error,
      });
      continue;
    }
    const dumps = s.catalog
      .forVolume(f.volume)
      .filter((d) => d.kind === 'scheduled' && d.clone_time !== null)
      .map((d) => ({
        level: d.level,
        volumeId: d.volume_id,
        cloneTime: d.clone_time!,
        baseCloneTime: d.base_clone_time,
      }));
    const choice = chooseLevel(
      { volume: f.volume, volumeId: Number(f.rw.id), updated: Number(f.rw.updateDate) },
      dumps,
      fullToday,
    );
    stats.volumes.push({ volume: f.volume, server: f.server, choice });
  }
  if (dryRun) return stats;

  // 4. the dumps, per file server at most perServer at once; one failing volume stops no other
  const todo = stats.volumes.filter((v) => v.choice.level === 'full' || v.choice.level === 'incremental');
  const running = new Map<string, number>();
  let done = 0;
  await phase('dumping', async () => {
    const byServer = new Map<string, VolumeResult[]>();
    for (const v of todo) byServer.set(v.server, [...(byServer.get(v.server) ?? []), v]);
    await Promise.all(
      [...byServer.values()].map((list) =>
        pool(list, cfg.perServer, async (v) => {
          if (job.signal.aborted) return;
          const t = Date.now();
          const choice = v.choice as Extract<LevelChoice, { level: 'full' | 'incremental' }>;
          try {
            const d = await dumpClone(s, job, v.volume, choice.level, 'scheduled', {
              ...(choice.level === 'incremental' ? { since: choice.since } : {}),
              onBytes: (n) => {
                running.set(v.volume, n);
                job.progress(
                  `dumping (${done} of ${todo.length} volumes done)`,
                  [...running.values()].reduce((a, b) => a + b, 0),
                );
              },
            });
            v.rawBytes = d.row.raw_bytes ?? 0;
            v.storedBytes = d.row.stored_bytes;
          } catch (err) {
            v.error = (err as Error).message;
          } finally {
            v.seconds = (Date.now() - t) / 1000;
            done++;
          }
        }),
      ),
    );
  });
  return stats;
}

/** The report: whether last night is safe, at a glance, then the details. */
export function renderReport(st: NightlyStats): string {
  const count = (l: string) =>
    st.volumes.filter((v) => (l === 'failed' ? v.error : !v.error && v.choice.level === l)).length;
  const failed = st.volumes.filter((v) => v.error);
  const raw = st.volumes.reduce((a, v) => a + (v.rawBytes ?? 0), 0);
  const stored = st.volumes.reduce((a, v) => a + (v.storedBytes ?? 0), 0);
  const verdict = failed.length === 0 && st.backupsys.failed === 0 ? 'OK' : 'NOT SAFE';
  const lines = [
    `nightly ${st.date}${st.dryRun ? ' (dry run)' : ''}: ${verdict}. ${st.volumes.length} volumes: ${count('full')} full, ${count('incremental')} incremental, ${count('unchanged')} unchanged, ${failed.length} failed.`,
    `dumped ${formatBytes(raw)} raw, ${formatBytes(stored)} stored. vos backupsys: ${st.backupsys.backedUp} cloned, ${st.backupsys.failed} failed.`,
    `phases: ${Object.entries(st.phases)
      .map(
        ([k, v]) =>
          `${k} ${formatDuration(v * 1000) === '0s' ? `${v.toFixed(1)}s` : formatDuration(v * 1000)}`,
      )
      .join(', ')}`,
  ];
  for (const v of failed) lines.push(`FAILED ${v.volume}: ${v.error}`);
  if (st.dryRun) {
    for (const v of st.volumes)
      lines.push(
        `${v.volume}: ${v.choice.level}${'since' in v.choice ? ` since ${new Date(v.choice.since * 1000).toISOString()}` : ''} (${v.choice.why})`,
      );
  } else {
    const slow = st.volumes
      .filter((v) => v.seconds !== undefined)
      .sort((a, b) => b.seconds! - a.seconds!)
      .slice(0, 3);
    if (slow.length)
      lines.push(`slowest: ${slow.map((v) => `${v.volume} ${v.seconds!.toFixed(1)}s`).join(', ')}`);
  }
  return lines.join('\n');
}
