import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Cancelled } from '../../actions/backoff.ts';
import { ChainError, extractChain } from '../../actions/restore.ts';
import { chainFor, chainLinks, chainRefusal } from '../backup/chains.ts';
import { newestDateHolding } from '../backup/file-search.ts';
import { checkVolumeArg, checkVolumePath } from '../backup/volumes.ts';
import { looksLikeDate, parseDate, tokens } from '../chat/args.ts';
import { UserError } from '../chat/errors.ts';
import { formatBytes } from '../platform/format.ts';
import { defineCommand } from '../services.ts';

/** The first part of `p` under `root` that is a symbolic link, if any. */
export function symlinkOnPath(root: string, p: string): string | undefined {
  let cur = root;
  for (const part of p.split('/')) {
    cur = join(cur, part);
    try {
      if (lstatSync(cur).isSymbolicLink()) return cur.slice(root.length + 1);
    } catch {
      return undefined; // not there: reported as missing
    }
  }
  return undefined;
}

function sizeOf(path: string): { files: number; bytes: number } {
  const st = lstatSync(path);
  if (!st.isDirectory()) return { files: 1, bytes: st.size };
  let files = 0;
  let bytes = 0;
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      files++;
      bytes += lstatSync(join(e.parentPath, e.name)).size;
    }
  }
  return { files, bytes };
}

export default defineCommand({
  name: 'restore-file',
  summary:
    'recover single files or directories from a dump without mounting anything (restorevol into the staging directory)',
  usage: 'restore-file [<date>] <volume> <path>... (no date: the newest night that holds the paths)',
  example: 'restore-file 2013.01.28 user.alice projects/plan.md',
  permission: 'admin',
  args: tokens
    .min(2, 'name the volume and at least one path in it')
    .max(22, 'at most 20 paths at once')
    .transform((t) => {
      const rest = [...t];
      const date = looksLikeDate(rest[0]!) ? rest.shift() : undefined;
      return { date, volume: rest.shift() ?? '', paths: rest };
    }),
  async run(ctx, args) {
    const s = ctx.services;
    const volume = checkVolumeArg(args.volume);
    if (args.paths.length === 0) throw new UserError('name at least one path inside the volume');
    const paths = args.paths.map(checkVolumePath);
    // no date: the newest night that holds the paths, when the file index knows the volume
    const date =
      args.date === undefined
        ? newestDateHolding(s, volume, paths)
        : parseDate(args.date, s.clock(), s.config.timeZone);
    const rows = chainFor(s, volume, date);
    const links = chainLinks(s, rows);
    const asOf = rows.at(-1)!.date;
    await s.jobs.start(
      ctx,
      {
        kind: 'restore-file',
        heavy: true,
        title: `restore-file ${volume} of ${asOf}`,
        volumes: [volume], // so that retention does not remove a dump file it is reading
        run: async (job) => {
          const work = join(s.config.dumps.stagingDir, `job-${job.id}-extract`);
          const out = join(s.config.dumps.stagingDir, `job-${job.id}-${volume}-${asOf}`);
          job.leftover(`dir:${work}`);
          try {
            const r = await extractChain({
              stallMs: s.config.jobs.stallMs,
              tools: s.tools,
              chain: links,
              dir: work,
              signal: job.signal,
              onBytes: (n) =>
                job.progress(
                  'extracting',
                  n,
                  rows.reduce((a, b) => a + b.stored_bytes, 0),
                ),
            });
            if (!r.ok) {
              if (r.cancelled) throw new Cancelled();
              throw new Error(`restorevol failed: ${r.message}`);
            }
            const root = join(work, r.headers[0]!.volumeName.replace(/\.backup$/, ''));
            const found: string[] = [];
            const missing: string[] = [];
            const symlinks: string[] = [];
            for (const p of paths) {
              const src = join(root, p);
              // A symbolic link in the dump (a user's own, or a mount point as restorevol writes it) is
              // never followed: it could point anywhere on this machine.
              const link = symlinkOnPath(root, p);
              if (link) {
                symlinks.push(`${p} (${link} is a symbolic link in the dump; not followed)`);
                continue;
              }
              if (!existsSync(src)) {
                missing.push(p);
                continue;
              }
              const dst = join(out, p);
              mkdirSync(out, { recursive: true, mode: 0o700 });
              chmodSync(out, 0o700); // the hand-over directory is root's alone, like the extraction
              mkdirSync(dirname(dst), { recursive: true, mode: 0o700 });
              renameSync(src, dst);
              const { files, bytes } = sizeOf(dst);
              found.push(
                files === 1 && !lstatSync(dst).isDirectory()
                  ? `${p} (${formatBytes(bytes)})`
                  : `${p}/ (${files} files, ${formatBytes(bytes)})`,
              );
            }
            if (found.length === 0) {
              throw new UserError(
                `none of ${paths.join(', ')} is in ${volume} as of ${asOf}${symlinks.length ? ` (${symlinks.join('; ')})` : ''}; nothing was kept`,
              );
            }
            return [
              `from ${volume} as of ${asOf}, in ${out}:`,
              ...found,
              ...(missing.length ? [`not in the dump: ${missing.join(', ')}`] : []),
              ...(symlinks.length ? [`not copied: ${symlinks.join('; ')}`] : []),
            ].join('\n');
          } catch (err) {
            if (err instanceof ChainError) throw new UserError(chainRefusal(err));
            throw err;
          } finally {
            rmSync(work, { recursive: true, force: true });
            job.settled(`dir:${work}`);
          }
        },
      },
      `extracting ${paths.length} path${paths.length === 1 ? '' : 's'} from ${volume} as of ${asOf}`,
    );
  },
});
