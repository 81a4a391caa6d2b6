// Text formatters shared by commands, reports and progress lines: one way to write bytes, durations,
// instants and a trend.

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

/** Seconds with a tenth under a minute (`7.4s`), else as formatDuration. */
export function formatSeconds(v: number): string {
  return v < 60 ? `${v.toFixed(1)}s` : formatDuration(v * 1000);
}

/**
 * An archive snapshot as a person reads it: a restic id by its first 8 hex digits (as restic prints
 * it), a borg archive by its whole name (its first 8 characters are the same for every archive).
 */
export function snapshotName(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 8) : id;
}

/** An epoch second as ISO 8601 without milliseconds; `unknown` for null. */
export function iso(epoch: number | null): string {
  return epoch === null ? 'unknown' : new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
}

const BARS = '▁▂▃▄▅▆▇█';

/** A text sparkline that reads the same on IRC and Slack: one bar per value, scaled to the largest. */
export function sparkline(values: number[]): string {
  const max = Math.max(0, ...values);
  if (max === 0) return BARS[0]!.repeat(values.length);
  return values
    .map((v) => BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1)))])
    .join('');
}
