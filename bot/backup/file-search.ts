// `!backup find`, `!backup versions` and `!backup reindex`: the file index (bot/backup/file-index.ts)
// asked which dumps hold a file, and what each version of it was.
import { UserError } from '../chat/errors.ts';
import type { RunningJob } from '../jobs/job.ts';
import { formatBytes, iso } from '../platform/format.ts';
import type { Services } from '../services.ts';
import type { DumpRow } from './catalog.ts';
import { sourceOf } from './chains.ts';
import { type FileIndex, indexDump, type VersionRow } from './file-index.ts';

const FIND_LIMIT = 20;

/** Whether the indexed dump of clone time `clone` holds the version `r`. */
const holds = (r: VersionRow, clone: number) =>
  clone >= r.first_clone && (r.last_clone === null || clone <= r.last_clone);

/** The dates of the volume's indexed dumps that hold `path` (in any version), oldest first. */
export function datesHolding(s: Services, volume: string, path: string): string[] {
  const rows = s.files.versions(volume, path);
  return s.files
    .dumps(volume)
    .filter((d) => rows.some((r) => holds(r, d.clone_time)))
    .map((d) => d.date);
}

/** The dumps of the volume's index a version is in: its first and last date, and how many. */
function span(index: FileIndex, r: VersionRow): string {
  const dumps = index.dumps(r.volume).filter((d) => holds(r, d.clone_time));
  const n = `${dumps.length} dump${dumps.length === 1 ? '' : 's'}`;
  if (r.last_clone === null) return `${r.first_date} to now (${n}, still there)`;
  return r.first_date === r.last_date ? `${r.first_date} (${n})` : `${r.first_date} to ${r.last_date} (${n})`;
}

/**
 * `/afs/<cell>/a/b` as (volume, path in it): from root.cell down through the mount points the index
 * holds. Without `/afs/`, the argument is a volume name.
 */
export function resolveTarget(s: Services, target: string): { volume: string; under: string } {
  if (!target.startsWith('/afs/')) {
    if (!s.files.latest(target))
      throw new UserError(
        `the file index has nothing of ${target}: it holds the dumps made since it was built (!backup reindex indexes the older ones)`,
      );
    return { volume: target, under: '' };
  }
  const [cell, ...parts] = target.slice('/afs/'.length).replace(/^\./, '').split('/').filter(Boolean);
  const cellName = s.config.afs.cell ?? cell;
  if (cell !== cellName)
    throw new UserError(`${target} is not in this cell (${cellName}); name a path under /afs/${cellName}/`);
  let volume = 'root.cell';
  let rest = parts;
  for (;;) {
    if (!s.files.latest(volume))
      throw new UserError(
        `${target} goes through ${volume}, which the file index does not hold: /afs paths are followed through the mount points of indexed volumes (add its prefix to nightly.prefixes, or name the volume)`,
      );
    const mps = s.files.mountPoints(volume);
    const hit = mps
      .filter((m) => rest.join('/') === m.path || rest.join('/').startsWith(`${m.path}/`))
      .sort((a, b) => b.path.length - a.path.length)[0];
    if (!hit) return { volume, under: rest.join('/') };
    volume = hit.mount.volume.replace(/\.(readonly|backup)$/, '');
    rest = rest.slice(hit.path.split('/').length);
  }
}

export function find(s: Services, target: string, glob: string): string {
  if (glob.length > 200 || /[\0\n]/.test(glob)) throw new UserError('give a shorter pattern, such as *.tex');
  const { volume, under } = resolveTarget(s, target);
  const pattern = under ? (glob.includes('/') ? `${under}/${glob}` : glob) : glob;
  const { rows, more } = s.files.find([volume], pattern, FIND_LIMIT, under);
  if (rows.length === 0)
    return `nothing in the index of ${volume}${under ? ` under ${under}` : ''} matches ${glob} (a pattern without / matches file names, with / whole paths; * and ? as in a shell)`;
  const lines = rows.map(
    (r) =>
      `${r.volume}:/${r.path}  ${r.kind === 'symlink' ? `-> ${r.target}` : formatBytes(r.size)}  ${span(s.files, r)}`,
  );
  if (more > 0) lines.push(`and ${more} more: narrow the pattern`);
  return lines.join('\n');
}

export function versions(s: Services, target: string, path: string): string {
  const { volume, under } = resolveTarget(s, target);
  const full = [under, path.replace(/^\/+|\/+$/g, '')].filter(Boolean).join('/');
  const rows = s.files.versions(volume, full);
  if (rows.length === 0) {
    const near = nearest(s, volume, full);
    throw new UserError(
      `the index of ${volume} has never seen ${full}${near.length ? `; nearest: ${near.join(', ')}` : ''}`,
    );
  }
  const lines = rows.map(
    (r, i) =>
      `${i + 1}. ${span(s.files, r)}: ${r.kind}${r.kind === 'symlink' ? ` -> ${r.target}` : `, ${formatBytes(r.size)}`}, modified ${iso(r.mtime)}, data version ${r.data_version}`,
  );
  const last = rows.at(-1)!;
  if (last.last_clone !== null) lines.push(`gone after ${last.last_date}`);
  return `${volume}:/${full}, ${rows.length} version${rows.length === 1 ? '' : 's'}:\n${lines.join('\n')}`;
}

/**
 * For `!restore-file` without a date: the newest indexed date whose dump holds every one of `paths`
 * (a file removed since is restored from its last night). Undefined when the index does not hold the
 * volume; a path it has never seen, or paths no one date holds together, are refused saying so.
 */
export function newestDateHolding(s: Services, volume: string, paths: string[]): string | undefined {
  const dumps = s.files.dumps(volume);
  if (dumps.length === 0) return undefined;
  let common = new Set(dumps.map((d) => d.date));
  for (const path of paths) {
    const holding = new Set(datesHolding(s, volume, path));
    if (holding.size === 0) {
      const near = nearest(s, volume, path);
      throw new UserError(
        `no dump of ${volume} in the file index holds ${path}${near.length ? `; nearest: ${near.join(', ')}` : ''}`,
      );
    }
    common = new Set([...common].filter((d) => holding.has(d)));
  }
  const newest = [...common].sort().at(-1);
  if (!newest)
    throw new UserError(
      `no one date holds all of ${paths.join(', ')}: restore them one at a time, or give a date`,
    );
  return newest;
}

/** Paths whose name is like the last part of `path` (for the error that it was never seen). */
function nearest(s: Services, volume: string, path: string): string[] {
  const name = path.slice(path.lastIndexOf('/') + 1).replace(/[*?[\]]/g, '');
  const stem = name.split('.')[0]!;
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.')) : '';
  // the whole name, its stem, the stem's first letters, its extension: the first that finds anything
  const likes = [`*${name}*`, `*${stem}*`, `${stem.slice(0, 4)}*`, ext.length > 1 ? `*${ext}` : ''];
  for (const like of likes.filter((x) => x.replaceAll('*', '').length >= 2)) {
    const paths = [...new Set(s.files.find([volume], like, 10).rows.map((r) => r.path))];
    if (paths.length) return paths.slice(0, 3);
  }
  return [];
}

/** The catalogued dumps the index can take, oldest first. */
function indexable(s: Services, volume: string): DumpRow[] {
  return s.catalog
    .forVolume(volume)
    .filter((d) => (d.kind === 'scheduled' || d.kind === 'pre-promote') && d.clone_time !== null)
    .sort((a, b) => a.clone_time! - b.clone_time!);
}

/**
 * Rebuilds the index of every volume with a dump on `date` that is not indexed (all of them without a
 * date), each from its first catalogued dump on: from the local file, or else the archive.
 */
export async function reindex(s: Services, job: RunningJob, date?: string): Promise<string> {
  const volumes = s.catalog
    .volumes()
    .filter((v) =>
      indexable(s, v).some((d) => (date === undefined || d.date === date) && !s.files.isIndexed(d.id)),
    );
  let dumps = 0;
  const problems: string[] = [];
  for (const [i, volume] of volumes.entries()) {
    job.progress(`indexing ${volume} (${i} of ${volumes.length} volumes done)`, i, volumes.length);
    s.files.forget(volume);
    for (const d of indexable(s, volume)) {
      let source: ReturnType<typeof sourceOf>;
      try {
        source = sourceOf(s, d);
      } catch (err) {
        problems.push(`${volume} of ${d.date}: ${(err as Error).message}`);
        continue;
      }
      const r = await indexDump(s.files, d, source, s.tools, {
        signal: job.signal,
        stallMs: s.config.jobs.stallMs,
      });
      if (r.ok) dumps++;
      else if (!r.skipped) problems.push(`${volume} of ${d.date}: ${r.message}`);
    }
  }
  const what = date ? `of ${date}` : 'in the catalog';
  const head =
    volumes.length === 0
      ? `every dump ${what} is indexed already`
      : `indexed ${dumps} dumps of ${volumes.length} volumes (${volumes.slice(0, 5).join(', ')}${volumes.length > 5 ? ', ...' : ''})`;
  return problems.length ? `${head}; not indexed: ${problems.slice(0, 5).join('; ')}` : head;
}
