// The nightly report: whether last night is safe, at a glance (the verdict first), then the details;
// and the same numbers as a summary for chats that lay them out (Slack's blocks).
import type { ReportSummary } from '../../chat/adapter.ts';
import { formatBytes, formatSeconds as seconds, sparkline } from '../../platform/format.ts';
import type { MaintenanceRow } from '../archive/maintenance-runs.ts';
import type { NightlyStats } from './stats.ts';

/** The verdict and why: "OK", or "NOT SAFE" with what is wrong. */
/** What vos says when it cannot reach a file server (or a tool stalls waiting for one). */
const UNREACHABLE =
  /communication failure|could not fetch the information|could not start transaction|stalled/i;

/**
 * A file server that could not be reached tonight: how many of its volumes failed that way, and why
 * (the first in vos's words). Said once per server, before the volumes' own lines.
 */
export function serverLines(st: NightlyStats): string[] {
  const byServer = new Map<string, { all: number; failed: number; why?: string }>();
  for (const v of st.volumes) {
    const c = byServer.get(v.server) ?? { all: 0, failed: 0 };
    c.all++;
    if (v.error && UNREACHABLE.test(v.error)) {
      c.failed++;
      c.why ??= v.error;
    }
    byServer.set(v.server, c);
  }
  return [...byServer]
    .filter(([server, c]) => server && c.failed > 0)
    .map(
      ([server, c]) =>
        `FILE SERVER ${server}: ${c.failed} of its ${c.all} volumes failed as if it were down or hanging (${c.why})`,
    );
}

export function verdict(st: NightlyStats): string {
  const why: string[] = [];
  if (st.deadline) why.push('stopped at its deadline');
  const failed = st.volumes.filter((v) => v.error).length;
  if (failed) why.push(`${failed} failed`);
  if (st.backupsys.failed) why.push(`vos backupsys failed for ${st.backupsys.failed}`);
  if (st.archive.errors.length) why.push('the archive failed');
  else if (st.archive.pending) why.push(`${st.archive.pending} dumps not archived`);
  if (st.stale.length) why.push(`${st.stale.length} stale`);
  return why.length ? `NOT SAFE (${why.join(', ')})` : 'OK';
}

function describeMaintenance(m: MaintenanceRow): string {
  return `${m.kind} ${m.started_at.slice(0, 10)} ${m.ok ? 'ok' : 'FAILED'}: ${m.summary}`;
}

/** The run's totals, as the report and its summary both show them. */
function totals(st: NightlyStats) {
  return {
    /** Volumes at a level (full, incremental, unchanged) that did not fail. */
    count: (level: string) => st.volumes.filter((v) => !v.error && v.choice.level === level).length,
    failed: st.volumes.filter((v) => v.error),
    raw: st.volumes.reduce((a, v) => a + (v.rawBytes ?? 0), 0),
    stored: st.volumes.reduce((a, v) => a + (v.storedBytes ?? 0), 0),
    seconds: Object.values(st.phases).reduce((a, b) => a + b, 0),
  };
}

export function reportSummary(st: NightlyStats): ReportSummary {
  const { count, failed, raw, stored, seconds: total } = totals(st);
  const v = verdict(st);
  return {
    title: `nightly ${st.date}`,
    ok: v === 'OK',
    verdict: v,
    fields: [
      { label: 'volumes', value: String(st.volumes.length) },
      { label: 'full', value: String(count('full')) },
      { label: 'incremental', value: String(count('incremental')) },
      { label: 'unchanged', value: String(count('unchanged')) },
      { label: 'failed', value: String(failed.length) },
      { label: 'raw / compressed', value: `${formatBytes(raw)} / ${formatBytes(stored)}` },
      { label: 'added to the archive', value: formatBytes(st.archive.added) },
      { label: 'took', value: seconds(total) },
    ],
    failures: [
      ...(st.deadline ? [st.deadline] : []),
      ...serverLines(st),
      ...failed.map((x) => `${x.volume}: ${x.error}`),
      ...st.archive.errors.map((e) => `archive: ${e}`),
      ...st.stale.map((x) => `${x.volume}: stale, last good dump ${x.last ?? 'never'}`),
    ],
  };
}

/** The report: whether last night is safe, at a glance, then the details. */
export function renderReport(st: NightlyStats): string {
  const { count, failed, raw, stored, seconds: total } = totals(st);
  const lines = [
    `nightly ${st.date}${st.dryRun ? ' (dry run)' : ''}: ${verdict(st)}. ${st.volumes.length} volume${st.volumes.length === 1 ? '' : 's'}: ${count('full')} full, ${count('incremental')} incremental, ${count('unchanged')} unchanged, ${failed.length} failed.`,
  ];
  if (!st.dryRun) {
    const archive = st.archive.enabled
      ? `${formatBytes(st.archive.added)} added to the archive (${st.archive.snapshots} snapshot${st.archive.snapshots === 1 ? '' : 's'})`
      : 'archive off';
    lines.push(
      `bytes: ${formatBytes(raw)} raw, ${formatBytes(stored)} compressed, ${archive}. vos backupsys: ${st.backupsys.backedUp} cloned, ${st.backupsys.failed} failed.`,
    );
  }
  lines.push(
    `phases: ${Object.entries(st.phases)
      .map(([k, v]) => `${k} ${seconds(v)}`)
      .join(', ')} (total ${seconds(total)})`,
  );
  if (st.deadline) lines.push(`STOPPED: ${st.deadline}`);
  lines.push(...serverLines(st));
  for (const v of failed) lines.push(`FAILED ${v.volume}: ${v.error}`);
  for (const e of st.archive.errors) lines.push(`ARCHIVE FAILED ${e}`);
  if (st.archive.pending)
    lines.push(`not archived yet: ${st.archive.pending} dumps (they stay on disk and go in next night)`);
  for (const n of st.archive.notes) lines.push(`archive: ${n}`);
  if (st.index && (st.index.indexed || st.index.failures.length))
    lines.push(
      `file index: ${st.index.indexed} dumps indexed${st.index.failures.length ? `; not indexed: ${st.index.failures.join('; ')}` : ''}`,
    );
  if (st.dryRun) {
    for (const v of st.volumes)
      lines.push(
        `${v.volume}: ${v.choice.level}${'since' in v.choice ? ` since ${new Date(v.choice.since * 1000).toISOString()}` : ''}${v.estimate ? `, about ${formatBytes(v.estimate)}` : ''} (${v.choice.why})`,
      );
  } else {
    const slow = st.volumes
      .filter((v) => v.seconds !== undefined && !v.error)
      .sort((a, b) => b.seconds! - a.seconds!)
      .slice(0, 3);
    if (slow.length)
      lines.push(
        `slowest: ${slow.map((v) => `${v.volume} ${seconds(v.seconds!)} (${formatBytes(v.rawBytes ?? 0)})`).join(', ')}`,
      );
  }
  if (st.stale.length)
    lines.push(
      `STALE (changed, and no good dump for days): ${st.stale.map((x) => `${x.volume} (last ${x.last ?? 'never'})`).join(', ')}`,
    );
  if (st.uncovered.length)
    lines.push(
      `not covered by any prefix: ${st.uncovered.slice(0, 20).join(', ')}${st.uncovered.length > 20 ? ` and ${st.uncovered.length - 20} more` : ''}`,
    );
  if (st.excluded.length) lines.push(`left out by xprefix: ${st.excluded.join(', ')}`);
  if (!st.dryRun && st.retention.cutoff)
    lines.push(
      `retention: removed ${st.retention.removed} local dump${st.retention.removed === 1 ? '' : 's'} from before ${st.retention.cutoff} (${formatBytes(st.retention.freed)}), all in the archive${st.retention.keptUnarchived ? `; kept ${st.retention.keptUnarchived} not archived yet` : ''}${st.retention.stagingRemoved ? `; staging: removed ${st.retention.stagingRemoved} handed-over item${st.retention.stagingRemoved === 1 ? '' : 's'} older than ${st.retention.stagingKeepDays} days` : ''}`,
    );
  if (!st.dryRun && st.local?.dumped)
    lines.push(
      `local space: at most ${formatBytes(st.local.peak)} of tonight's ${formatBytes(st.local.dumped)} of dumps on disk at once${st.local.peak < st.local.dumped ? ' (archive-only: each batch left the disk once archived)' : ''}`,
    );
  for (const kind of ['check', 'test-restore', 'forget'] as const) {
    const m = st.maintenance.find((x) => x.kind === kind);
    lines.push(m ? `last ${describeMaintenance(m)}` : `last ${kind}: none yet`);
  }
  if (st.trend.length)
    lines.push(
      `archived per night, last ${st.trend.length}: ${sparkline(st.trend)} (tonight ${formatBytes(st.trend.at(-1) ?? 0)})`,
    );
  return lines.join('\n');
}
