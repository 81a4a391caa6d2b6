// At start: the jobs a dead process left behind. Each is marked interrupted, what it recorded as
// possibly left behind is cleaned up where that is safe (partial files, volumes the bot was in the
// middle of restoring) or listed, and the channel that asked for the job is told.
import { existsSync, rmSync, statSync } from 'node:fs';
import {
  listDumpFiles,
  listPartials,
  listSidecars,
  partialWriter,
  readSidecar,
  removeQuietly,
} from '../../actions/dump-store.ts';
import type { Conversation } from '../chat/adapter.ts';
import type { Origin } from '../jobs/job.ts';
import { processAlive } from '../platform/process.ts';
import type { Services } from '../services.ts';
import { rowFromSidecar } from './catalog-rescan.ts';
import { describeState } from './promote.ts';

function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * The dump store and the catalog, made to agree after a crash: a complete dump (its sidecar says so)
 * that was never catalogued is catalogued; a sidecar whose dump never got its name is removed; a
 * catalogued dump whose file is gone is read from the archive from now on, or, when the archive does
 * not have it either, said to be lost. Returns what it found, in words.
 */
export function recoverDumpStore(s: Services): string[] {
  const said: string[] = [];
  const files = listDumpFiles(s.config.dumps.dir);
  const onDisk = new Set(files.map((f) => f.path));
  const adopted: string[] = [];
  for (const f of files) {
    if (s.catalog.byLocation(f.path)) continue;
    const side = readSidecar(f.path);
    if (!side || side.storedBytes !== f.size) continue; // a dump of another process, still being described
    s.catalog.add(rowFromSidecar(f, side));
    adopted.push(`${side.volume} of ${f.date}`);
  }
  if (adopted.length)
    said.push(`catalogued ${adopted.length} complete dumps the last process had not: ${adopted.join(', ')}`);
  for (const sidecar of listSidecars(s.config.dumps.dir)) {
    const dump = sidecar.slice(0, -'.json'.length);
    if (!onDisk.has(dump) && Date.now() - mtimeMs(sidecar) > 60_000 && !s.catalog.byLocation(dump)?.local)
      removeQuietly(sidecar);
  }
  for (const row of s.catalog.localRows()) {
    if (onDisk.has(row.location) || existsSync(row.location)) continue;
    if (row.archive_snapshot) s.catalog.markRemoved(row.id);
    else {
      s.catalog.remove(row.id);
      said.push(
        `LOST: the dump ${row.location} (${row.volume} of ${row.date}) is gone from disk and was never archived; dropped from the catalog, and the next nightly run dumps ${row.volume} again`,
      );
    }
  }
  return said;
}

export async function recoverInterrupted(
  s: Services,
  post?: (origin: Origin, text: string) => void,
): Promise<void> {
  const rows = s.jobs.interrupted();
  const restored = s.restored;
  // Partial dump files are never valid; remove every one no live process is still writing (another
  // afsbot process, backup-manager, may be in the middle of its own dump).
  const partials = listPartials(s.config.dumps.dir).filter((p) => {
    const pid = partialWriter(p);
    return pid === undefined || pid === process.pid || !processAlive(pid);
  });
  for (const p of partials) removeQuietly(p);
  if (partials.length) s.log.warn('removed partial dump files at start', { partials });
  const store = recoverDumpStore(s);
  if (store.length) {
    s.log.warn('the dump store and the catalog disagreed at start', { store });
    s.report(`at start: ${store.join('; ')}`, { urgency: 'result' });
  }
  // Promotions first: their journal says exactly where they stopped.
  const promos = s.promotions;
  for (const p of promos.unfinished()) {
    promos.record(
      p.id,
      { step: p.step, event: 'note', detail: 'afsbot restarted; the promotion was interrupted' },
      { state: 'interrupted' },
    );
    const text = `${await describeState(s, p)} Nothing is lost: !promote resume ${p.id} finishes it, or !promote rollback ${p.id} puts the old ${p.volume} back${p.safety_dump ? ' from the safety dump' : ''}.`;
    s.log.warn('interrupted promotion found at start', { promotion: p.id, step: p.step });
    try {
      await post?.(promos.origin(p), text);
    } catch (err) {
      s.log.warn('could not report an interrupted promotion', { promotion: p.id, error: err });
    }
  }
  for (const row of rows) {
    if (row.kind.startsWith('promote')) continue; // reported above, from the promotion's own journal
    const cleaned: string[] = [];
    const left: string[] = [];
    for (const item of JSON.parse(row.leftovers ?? '[]') as string[]) {
      const { kind, what } = splitLeftover(item);
      if (kind === 'busy') {
        const [server, id] = what.split('/') as [string, string];
        const ended = await s.vos.endTransactions(server, Number(id));
        cleaned.push(
          ended
            ? `ended ${ended} volserver transaction${ended === 1 ? '' : 's'} left open on volume ${id}`
            : `volume ${id} was not left busy`,
        );
      } else if (kind === 'file') {
        removeQuietly(what);
        cleaned.push(`removed ${what}`);
      } else if (kind === 'dir') {
        rmSync(what, { recursive: true, force: true });
        cleaned.push(`removed ${what}`);
      } else if (kind === 'volume') {
        const rec = restored.get(what);
        const ex = await s.vos.examine(what);
        if (!ex.ok && ex.missing) {
          if (rec) restored.discarded(what);
          cleaned.push(`${what} was never created`);
        } else if (rec && rec.state === 'restoring' && rec.job_id === row.id) {
          const rm = await s.vos.removeAfterAbort(
            what,
            rec.volume_id === null ? {} : { expectId: rec.volume_id },
          );
          if (rm.gone) {
            restored.discarded(what);
            cleaned.push(`removed the half-restored volume ${what}`);
          } else
            left.push(`the half-restored volume ${what} (vos remove failed: ${rm.why}; !discard ${what})`);
        } else left.push(what);
      } else left.push(item);
    }
    if (row.kind === 'dump' && partials.length)
      cleaned.push(`removed the partial dump file${partials.length === 1 ? '' : 's'}`);
    const text = `job ${row.id} (${row.title}) was interrupted: afsbot stopped while it ran.${cleaned.length ? ` Cleaned up: ${cleaned.join('; ')}.` : ''}${left.length ? ` Still left, for an admin to see to: ${left.join('; ')}.` : ' Nothing is left behind.'} Run it again if it is still wanted.`;
    s.log.warn('interrupted job found at start', { job: row.id, cleaned, left });
    const origin: Origin = {
      backend: row.backend,
      identity: row.identity,
      conversation: JSON.parse(row.conversation) as Conversation,
    };
    try {
      await post?.(origin, text);
    } catch (err) {
      s.log.warn('could not report an interrupted job', { job: row.id, error: err });
    }
  }
}

/**
 * A job's leftover, "kind:what", split at the first colon only: what (a path, a server/id) may hold
 * colons itself, and a path cut short at one would be removed in its place.
 */
export function splitLeftover(item: string): { kind: string; what: string } {
  const at = item.indexOf(':');
  return at < 0 ? { kind: item, what: '' } : { kind: item.slice(0, at), what: item.slice(at + 1) };
}
