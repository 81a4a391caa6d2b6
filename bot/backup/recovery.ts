// At start: the jobs a dead process left behind. Each is marked interrupted, what it recorded as
// possibly left behind is cleaned up where that is safe (partial files, volumes the bot was in the
// middle of restoring) or listed, and the channel that asked for the job is told.
import { rmSync } from 'node:fs';
import { listPartials, removeQuietly } from '../../actions/dump-store.ts';
import type { Conversation } from '../chat/adapter.ts';
import type { Origin } from '../jobs/job.ts';
import type { Services } from '../services.ts';
import { describeState } from './promote.ts';

export async function recoverInterrupted(
  s: Services,
  post?: (origin: Origin, text: string) => void,
): Promise<void> {
  const rows = s.jobs.interrupted();
  const restored = s.restored;
  // Partial dump files are never valid; remove every one, whichever job made it.
  const partials = listPartials(s.config.dumps.dir);
  for (const p of partials) removeQuietly(p);
  if (partials.length) s.log.warn('removed partial dump files at start', { partials });
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
      const [kind, what] = item.split(':', 2) as [string, string];
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
