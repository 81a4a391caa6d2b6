// What must hold of a bot's dump store, catalog and archive whatever happened to it: the fault suite
// checks these after every fault. Each returns the violations in words (none: all holds).
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { listDumpFiles } from '../../actions/dump-store.ts';
import type { DumpRow } from '../../bot/backup/catalog.ts';
import { Database } from '../../bot/platform/database.ts';

export interface Sandbox {
  env: Record<string, string>;
}

/** The archive's own listing of afsbot snapshots (full ids; borg's are archive names). */
export async function archiveSnapshots(env: Record<string, string>): Promise<Set<string>> {
  if (env.AFSBOT_ARCHIVE_ENGINE === 'borg') return borgArchives(env);
  const r = await execa(
    'restic',
    ['-r', env.AFSBOT_ARCHIVE_REPOSITORY!, 'snapshots', '--no-lock', '--json', '--tag', 'afsbot'],
    {
      env: {
        RESTIC_PASSWORD_FILE: env.AFSBOT_ARCHIVE_PASSWORD_FILE!,
        RESTIC_CACHE_DIR: env.AFSBOT_ARCHIVE_CACHE_DIR!,
      },
      reject: false,
    },
  );
  if (r.exitCode !== 0) {
    if (/Is there a repository|unable to open config/.test(r.stderr)) return new Set();
    throw new Error(`restic snapshots: ${r.stderr}`);
  }
  // full and short ids: the catalog holds restic 0.14's short one for a dump it archived
  return new Set(
    ((JSON.parse(r.stdout || '[]') as { id: string }[] | null) ?? []).flatMap((s) => [
      s.id,
      s.id.slice(0, 8),
    ]),
  );
}

/** borg's own listing of the repository's archives, read with borg itself (no lock taken). */
async function borgArchives(env: Record<string, string>): Promise<Set<string>> {
  const r = await execa('borg', ['list', '--json', '--bypass-lock', env.AFSBOT_ARCHIVE_REPOSITORY!], {
    env: {
      BORG_PASSCOMMAND: `cat -- ${env.AFSBOT_ARCHIVE_PASSWORD_FILE}`,
      BORG_BASE_DIR: env.AFSBOT_ARCHIVE_CACHE_DIR!,
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'no',
    },
    reject: false,
  });
  if (r.exitCode !== 0) {
    if (/does not exist|is not a valid repository/i.test(r.stderr)) return new Set();
    throw new Error(`borg list: ${r.stderr}`);
  }
  return new Set((JSON.parse(r.stdout) as { archives: { name: string }[] }).archives.map((a) => a.name));
}

export function catalogRows(env: Record<string, string>): DumpRow[] {
  const db = new Database(env.AFSBOT_DATABASE!);
  try {
    return db.db.prepare('SELECT * FROM dumps').all() as DumpRow[];
  } finally {
    db.close();
  }
}

/**
 * The catalog agrees with the disk and the archive: every dump it places in the archive is in the
 * archive's listing; every dump it says is local has its file; every dump file on disk is catalogued;
 * and every dump that is no longer local is in the archive (nothing was deleted that only it had).
 */
export async function agreement(env: Record<string, string>): Promise<string[]> {
  const listed = await archiveSnapshots(env);
  const rows = catalogRows(env).filter((r) => r.kind === 'scheduled' || r.kind === 'pre-promote');
  const bad: string[] = [];
  for (const r of rows) {
    if (r.archive_snapshot && !listed.has(r.archive_snapshot))
      bad.push(
        `${r.location}: catalogued in snapshot ${r.archive_snapshot.slice(0, 8)}, which the archive does not list`,
      );
    if (r.local && !existsSync(r.location)) bad.push(`${r.location}: catalogued as local, but not on disk`);
    if (!r.local && !r.archive_snapshot) bad.push(`${r.location}: neither local nor archived`);
  }
  const known = new Set(rows.map((r) => r.location));
  for (const f of listDumpFiles(env.AFSBOT_DUMP_DIR!))
    if (!known.has(f.path)) bad.push(`${f.path}: on disk, not in the catalog`);
  return bad;
}
