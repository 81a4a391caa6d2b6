import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { decodeInto } from '../../actions/decode.ts';
import { sha256File } from '../../actions/dump-store.ts';
import type { DumpRow } from '../backup/catalog.ts';
import { rescanCatalog } from '../backup/catalog-rescan.ts';
import { chainFor, sourceOf } from '../backup/chains.ts';
import { find, reindex, versions } from '../backup/file-search.ts';
import { checkVolumeArg } from '../backup/volumes.ts';
import { bad, parseDate, tokens } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import type { CommandContext } from '../chat/registry.ts';
import type { RunningJob } from '../jobs/job.ts';
import { formatBytes, iso, snapshotName } from '../platform/format.ts';
import { defineCommand, type Services } from '../services.ts';

type Args =
  | { sub: 'list'; date?: string }
  | { sub: 'get'; date: string; what: string }
  | { sub: 'rescan' }
  | { sub: 'find'; target: string; glob: string }
  | { sub: 'versions'; target: string; path: string }
  | { sub: 'reindex'; date?: string };

const usage =
  'backup list [<date>] | backup get <date> <volume|databases> | backup find <volume|/afs/path> <pattern> | backup versions <volume|/afs/path> <path> | backup reindex [<date>] | backup rescan';

/** A volume name (checked) or an /afs/ path. */
function fileTarget(t: string): string {
  return t.startsWith('/afs/') ? t : checkVolumeArg(t);
}

function describe(d: DumpRow): string {
  if (d.kind === 'databases')
    return `databases  legacy database archive, ${formatBytes(d.stored_bytes)}, ${d.location}`;
  if (d.kind === 'legacy')
    return `${d.volume}  legacy full (.dump.gz.aescrypt), ${formatBytes(d.stored_bytes)}`;
  const kind = d.kind === 'pre-promote' ? ' (safety dump before a promote)' : '';
  const base = d.level === 'incremental' ? `, base ${iso(d.base_clone_time)}` : '';
  const raw = d.raw_bytes !== null ? `${formatBytes(d.raw_bytes)} raw, ` : '';
  const where = d.local ? (d.archive_snapshot ? 'local + archive' : 'local only') : 'archive only';
  return `${d.volume}  ${d.level}${kind}, ${raw}${formatBytes(d.stored_bytes)} stored, clone ${iso(d.clone_time)}${base} [${where}]`;
}

async function list(ctx: CommandContext<Services>, date?: string): Promise<void> {
  const { catalog } = ctx.services;
  if (!date) {
    const dates = catalog.dates();
    if (dates.length === 0) {
      await ctx.reply(
        'the catalog is empty: no dumps yet (!dump <volume> makes one; !backup rescan reads the dump store)',
      );
      return;
    }
    await ctx.reply(
      dates
        .map((d) => {
          const legacy = d.legacy ? `, ${d.legacy} legacy` : '';
          return `${d.date}: ${d.volumes} volume${d.volumes === 1 ? '' : 's'}, ${d.full} full, ${d.incremental} incremental${legacy}, ${formatBytes(d.bytes)}`;
        })
        .join('\n'),
    );
    return;
  }
  const rows = catalog.onDate(date);
  if (rows.length === 0) {
    const near = catalog
      .dates()
      .slice(0, 5)
      .map((d) => d.date);
    throw new UserError(
      `there are no dumps for ${date}${near.length ? `; the newest dates are ${near.join(', ')}` : ''}`,
    );
  }
  await ctx.reply(rows.map(describe).join('\n'));
}

/** Hard link when the staging directory is on the same file system, a copy when not. */
function place(src: string, dir: string): string {
  const dst = join(dir, basename(src));
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
  return dst;
}

async function get(s: Services, job: RunningJob, date: string, what: string): Promise<string> {
  const dir = join(s.config.dumps.stagingDir, `job-${job.id}-${date}-${what}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (what === 'databases') {
    const row = s.catalog.onDate(date).find((d) => d.kind === 'databases');
    if (!row) throw new UserError(`there is no database archive for ${date}`);
    job.leftover(`dir:${dir}`);
    const r = await decodeInto({
      stallMs: s.config.jobs.stallMs,
      source: sourceOf(s, row),
      tools: s.tools,
      consumer: { program: s.tools.tar, args: ['-x', '-f', '-', '-C', dir] },
      signal: job.signal,
      onBytes: (n) => job.progress('extracting', n),
    });
    if (!r.ok) throw new Error(`extracting ${row.location} failed: ${r.message}`);
    job.settled(`dir:${dir}`);
    const entries = readdirSync(dir, { recursive: true }).length;
    return `the database archive of ${date} is extracted in ${dir}: ${entries} entries, from a ${formatBytes(r.storedBytes)} archive`;
  }
  const rows = chainFor(s, what, date);
  const lines: string[] = [];
  for (const row of rows) {
    const placed = join(dir, basename(row.location));
    let from = '';
    if (row.kind === 'legacy' || (row.local && existsSync(row.location))) {
      place(row.location, dir);
      if (row.kind !== 'legacy') {
        try {
          place(`${row.location}.json`, dir);
        } catch {
          // no sidecar: the file and its checksum below are what matters
        }
      }
    } else if (row.archive_snapshot && row.archive_path) {
      // retention removed the local file: stream it out of the archive, and check it
      job.leftover(`dir:${dir}`);
      job.progress(`fetching ${basename(row.location)} from the archive`, 0, row.stored_bytes);
      try {
        await s.archive.fetch(row.archive_snapshot, row.archive_path, placed, job.signal);
      } catch (err) {
        // a chain with a link missing is no use to anyone: the directory goes, with what was placed
        rmSync(dir, { recursive: true, force: true });
        job.settled(`dir:${dir}`);
        throw err;
      }
      await s.archive
        .fetch(row.archive_snapshot, `${row.archive_path}.json`, `${placed}.json`, job.signal)
        .catch(() => undefined); // an old dump may have gone in without its sidecar
      const sum = await sha256File(placed);
      if (row.sha256 && sum !== row.sha256)
        throw new Error(
          `${basename(placed)} from the archive has sha256 ${sum}, but the catalog says ${row.sha256}; it is left in ${dir} for inspection`,
        );
      job.settled(`dir:${dir}`);
      from = `, from archive snapshot ${snapshotName(row.archive_snapshot)}${row.sha256 ? ', checksum verified' : ''}`;
    } else {
      throw new UserError(
        `${row.location} is gone from disk and was never archived; !backup rescan updates the catalog`,
      );
    }
    lines.push(
      `${basename(placed)} (${row.level}, ${formatBytes(row.stored_bytes)}${row.sha256 ? `, sha256 ${row.sha256}` : ''}${from})`,
    );
  }
  const how =
    rows[0]!.kind === 'legacy'
      ? `restore with: ccrypt -cdk <key file> < FILE | gunzip | vos restore <server> <partition> <name>`
      : `restore with: zstd -dc FULL | vos restore <server> <partition> <name>, then zstd -dc INCR | vos restore ... -overwrite incremental`;
  return `the dump chain of ${what} for ${date} is in ${dir}:\n${lines.join('\n')}\n${how}`;
}

export default defineCommand({
  name: 'backup',
  summary:
    'list the dumps by date, fetch a dump chain into the staging directory, find files in every dump and their versions, or rebuild the catalog or the file index',
  usage,
  example: 'backup list 2013.01.28',
  permission: 'admin',
  args: tokens.transform((t, ctx): Args => {
    const [sub, a, b, ...rest] = t;
    if (sub === 'list' && b === undefined) return a === undefined ? { sub } : { sub, date: a };
    if (sub === 'get' && a !== undefined && b !== undefined && rest.length === 0)
      return { sub, date: a, what: b };
    if (sub === 'rescan' && a === undefined) return { sub };
    if (sub === 'find' && a !== undefined && b !== undefined && rest.length === 0)
      return { sub, target: a, glob: b };
    if (sub === 'versions' && a !== undefined && b !== undefined && rest.length === 0)
      return { sub, target: a, path: b };
    if (sub === 'reindex' && b === undefined) return a === undefined ? { sub } : { sub, date: a };
    return bad(
      ctx,
      sub
        ? `"backup ${t.join(' ').slice(0, 60)}" is not one of the backup commands`
        : 'say what to do: list, get, find, versions, reindex or rescan',
    );
  }),
  async run(ctx, args) {
    const s = ctx.services;
    if (args.sub === 'list') {
      await list(
        ctx,
        args.date === undefined ? undefined : parseDate(args.date, s.clock(), s.config.timeZone),
      );
      return;
    }
    if (args.sub === 'find') {
      await ctx.reply(find(s, fileTarget(args.target), args.glob));
      return;
    }
    if (args.sub === 'versions') {
      await ctx.reply(versions(s, fileTarget(args.target), args.path));
      return;
    }
    if (args.sub === 'reindex') {
      const date = args.date === undefined ? undefined : parseDate(args.date, s.clock(), s.config.timeZone);
      await s.jobs.start(
        ctx,
        {
          kind: 'reindex',
          title: `file index of ${date ?? 'every dump'}`,
          volumes: [],
          run: (job) => reindex(s, job, date),
        },
        `indexing the files of ${date ? `the dumps of ${date}` : 'every catalogued dump'}`,
      );
      return;
    }
    if (args.sub === 'rescan') {
      // a job holding the archive's lock: never while a nightly run catalogues the same dates
      await s.jobs.start(
        ctx,
        {
          kind: 'rescan',
          title: 'rescan of the dump store',
          volumes: ['@archive'],
          run: async () => {
            const r = await rescanCatalog(s.catalog, {
              dumpDir: s.config.dumps.dir,
              ...(s.config.dumps.legacyDir ? { legacyDir: s.config.dumps.legacyDir } : {}),
              tools: s.tools,
            });
            const skipped = r.skipped.length
              ? `; skipped ${r.skipped.length}: ${r.skipped.slice(0, 3).join('; ')}`
              : '';
            return `catalog rebuilt from the files: ${r.added} added, ${r.removed} removed (their files are gone)${skipped}`;
          },
        },
        'rebuilding the catalog from the dump store (after any nightly run that is going)',
      );
      return;
    }
    const date = parseDate(args.date, s.clock(), s.config.timeZone);
    const what = args.what === 'databases' ? 'databases' : checkVolumeArg(args.what);
    if (what !== 'databases') chainFor(s, what, date); // fail now, not in the job
    await s.jobs.start(
      ctx,
      {
        kind: 'get',
        heavy: true,
        title: `get ${what} of ${date}`,
        volumes: what === 'databases' ? [] : [what], // so that retention does not remove what it copies
        run: (job) => get(s, job, date, what),
      },
      `fetching ${what} of ${date} into the staging directory`,
    );
  },
});
