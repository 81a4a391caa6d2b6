// The catalog never claims more than the archive's own listing shows. Before retention deletes a
// local dump, and at every maintenance, the catalog is compared with `restic snapshots --tag afsbot`:
// a dump placed in a snapshot the archive does not have is archived again (or, with no local file,
// said to be lost and dropped); a snapshot of afsbot's that no catalogued dump is in (restic finished
// after afsbot died) is adopted, its dumps catalogued as archive-only from their names and sidecars.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { DATE_DIR, parseDumpFileName, sidecarSchema } from '../../../actions/dump-store.ts';
import { snapshotName } from '../../platform/format.ts';
import type { Services } from '../../services.ts';

export interface Reconciled {
  /** The ids of the afsbot snapshots the archive lists now. */
  listed: Set<string>;
  /** One line per thing that did not agree, and what was done about it. */
  notes: string[];
}

/**
 * The archive's own list of afsbot's snapshots, each by its id and by its short form (restic 0.14's
 * backup summary gives the short id, which is what the catalog holds for a dump it archived; a borg
 * archive's name is both). Throws when the engine cannot list them.
 */
export async function archiveListing(s: Services, signal?: AbortSignal): Promise<Set<string>> {
  return new Set((await snapshotsOf(s, signal)).flatMap((x) => [x.id, x.short]));
}

async function snapshotsOf(s: Services, signal?: AbortSignal): Promise<{ id: string; short: string }[]> {
  const r = await s.archive.engine.snapshots(signal);
  if (!r.ok) throw new Error(`listing the archive's snapshots failed: ${r.message}`);
  return r.snapshots;
}

export async function reconcile(s: Services, signal?: AbortSignal): Promise<Reconciled> {
  const snapshots = await snapshotsOf(s, signal);
  const listed = new Set(snapshots.flatMap((x) => [x.id, x.short]));
  const notes: string[] = [];
  const known = new Set<string>();
  for (const row of s.catalog.archivedRows()) {
    known.add(row.archive_snapshot!);
    if (listed.has(row.archive_snapshot!)) continue;
    if (row.forgetting) {
      // a forget the last process began and did not record: finish it
      s.catalog.forgotten([row]);
      notes.push(`${row.volume} of ${row.date}: finished a forget that was interrupted`);
      continue;
    }
    if (row.local && existsSync(row.location)) {
      s.catalog.unarchive(row.id);
      notes.push(
        `${row.volume} of ${row.date}: the catalog placed it in snapshot ${snapshotName(row.archive_snapshot!)}, which the archive does not have; its local file goes in again next night`,
      );
    } else {
      s.catalog.remove(row.id);
      notes.push(
        `LOST ${row.volume} of ${row.date}: the catalog placed it in snapshot ${snapshotName(row.archive_snapshot!)}, which the archive does not have, and its local file is gone; dropped from the catalog`,
      );
    }
  }
  for (const x of snapshots) {
    if (known.has(x.id) || known.has(x.short)) continue;
    notes.push(await adopt(s, x.id, signal));
  }
  s.catalog.clearForgetting(); // what is still listed was not forgotten: the next forget decides again
  return { listed, notes };
}

function parseSidecar(text: string) {
  try {
    const r = sidecarSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined; // no sidecar (an old dump): the file name says enough
  }
}

/** Catalogues the dumps of a snapshot that afsbot made but never recorded. */
async function adopt(s: Services, snapshot: string, signal?: AbortSignal): Promise<string> {
  const ls = await s.archive.engine.ls(snapshot, signal);
  if (!ls.ok)
    return `snapshot ${snapshotName(snapshot)} is in no catalogued dump, and listing it failed: ${ls.message}`;
  const adopted: string[] = [];
  const refused: string[] = [];
  for (const f of ls.files) {
    const location = s.archive.localLocation(f.path);
    const name = parseDumpFileName(basename(location));
    const date = basename(dirname(location));
    if (!name || !DATE_DIR.test(date)) continue;
    const side = await s.archive.engine.cat(snapshot, `${f.path}.json`, signal);
    const sc = side.ok ? parseSidecar(side.text) : undefined;
    // borg keeps the dump itself: one shorter than its sidecar says was cut off on its way in
    if (s.archive.engine.storesRaw && (!sc || f.size !== sc.rawBytes)) {
      refused.push(
        `${basename(location)} (${f.size} bytes in the archive, ${sc ? `${sc.rawBytes} in its sidecar: cut off on its way in` : 'and no sidecar to check them against'})`,
      );
      continue;
    }
    s.catalog.add({
      volume: sc?.volume ?? name.volume,
      volume_id: sc?.volumeId ?? null,
      clone_id: sc?.cloneId ?? null,
      date,
      level: sc?.level ?? name.level,
      kind: sc?.kind ?? 'scheduled',
      clone_time: sc?.cloneTime ?? name.cloneTime,
      base_clone_time: sc?.baseCloneTime ?? null,
      raw_bytes: sc?.rawBytes ?? null,
      stored_bytes: sc?.storedBytes ?? f.size, // borg's listing gives the raw dump's size
      sha256: sc?.sha256 ?? null,
      location,
      job_id: null,
      files: sc?.files ?? null,
      disk_kb: sc?.diskKb ?? null,
    });
    const row = s.catalog.byLocation(location)!;
    s.catalog.markArchived([row], snapshot, new Date().toISOString(), [f.path]);
    if (!existsSync(location) || statSync(location).size !== row.stored_bytes) s.catalog.markRemoved(row.id);
    adopted.push(`${row.volume} of ${date}`);
  }
  const left = refused.length ? `; not adopted: ${refused.join(', ')}` : '';
  return adopted.length
    ? `adopted snapshot ${snapshotName(snapshot)}, which afsbot made but never recorded: ${adopted.join(', ')}${left}`
    : `snapshot ${snapshotName(snapshot)} is tagged afsbot but holds no whole dump; left alone${left}`;
}
