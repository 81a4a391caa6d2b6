// Promote (the wiki's 1.7): the restored volume takes the live volume's name. The one step that
// destroys data, so: a full safety dump of the live volume first, then remove, rename, release,
// verify, each recorded in a journal before and after it runs. If afsbot dies anywhere in between,
// the journal says exactly where, and resume or rollback ends it with nothing lost.
import { existsSync } from 'node:fs';
import { restoreChain } from '../../actions/restore.ts';
import { UserError } from '../chat/errors.ts';
import type { RunningJob } from '../jobs/job.ts';
import { formatBytes, iso } from '../platform/format.ts';
import type { Services } from '../services.ts';
import { chainLinks, restoreSite } from './chains.ts';
import type { PromotionRow } from './promotions.ts';
import { dumpVolume } from './volumes.ts';

export const STEPS = [
  'safety dump of the live volume',
  'vos remove of the live volume',
  'vos rename of the restored volume',
  'vos release',
  'verify',
] as const;

/** What the journal and the VLDB say about a promotion, for a person deciding what to do. */
export async function describeState(s: Services, p: PromotionRow): Promise<string> {
  const journal = s.promotions.journal(p);
  const last = journal.filter((e) => e.event !== 'note').at(-1);
  const where =
    last === undefined
      ? 'before its first step'
      : last.event === 'start'
        ? `during step ${last.step} (${STEPS[last.step - 1]}), which started but did not finish`
        : `after step ${last.step} (${STEPS[last.step - 1]})`;
  const look = async (name: string) => {
    const ex = await s.vos.examine(name);
    if (ex.ok)
      return `${name} exists (id ${ex.fields.id}, ${ex.fields.filecount} files, last update ${iso(Number(ex.fields.updateDate))})`;
    return ex.missing ? `${name} does not exist` : `${name}: vos examine failed (${ex.message})`;
  };
  const safety = p.safety_dump ? `the safety dump is ${p.safety_dump}` : 'no safety dump was taken yet';
  return `promotion ${p.id} of ${p.source} to ${p.volume} stopped ${where}. Now: ${await look(p.volume)}; ${await look(p.source)}; ${safety}.`;
}

function faultInjection(step: number): void {
  // For the crash tests only: die right after a step is journaled as done, as a power cut would.
  if (process.env.AFSBOT_FAULT_KILL_AFTER_PROMOTE_STEP === String(step)) process.kill(process.pid, 'SIGKILL');
}

/** Runs (or resumes) a promotion from the step after the last completed one. */
export async function runPromotion(s: Services, job: RunningJob, id: number): Promise<string> {
  const promos = s.promotions;
  const restored = s.restored;
  const p = () => promos.get(id)!;
  promos.record(id, { step: p().step, event: 'note', detail: `job ${job.id} runs it` }, { state: 'running' });
  const report: string[] = [];
  try {
    for (let step = p().step + 1; step <= STEPS.length; step++) {
      promos.record(id, { step, event: 'start' });
      const cur = p();
      let detail = '';
      switch (step) {
        case 1: {
          const ex = await s.vos.examine(cur.volume, job.signal);
          if (!ex.ok)
            throw new Error(`vos examine ${cur.volume} failed before the safety dump: ${ex.message}`);
          if (Number(ex.fields.id) !== cur.old_volume_id) {
            throw new UserError(
              `${cur.volume} now has id ${ex.fields.id}, not ${cur.old_volume_id} as planned: stopped before touching anything`,
            );
          }
          const d = await dumpVolume(s, job, cur.volume, 'full', 'pre-promote');
          promos.record(
            id,
            { step, event: 'done', detail: d.row.location },
            { step, safety_dump: d.row.location },
          );
          detail = `safety dump ${d.row.location} (${formatBytes(d.row.stored_bytes)}, sha256 ${d.row.sha256?.slice(0, 16)}…)`;
          break;
        }
        case 2: {
          if (!cur.safety_dump)
            throw new Error('no safety dump is recorded; refusing to remove the live volume');
          const ex = await s.vos.examine(cur.volume, job.signal);
          if (ex.ok) {
            if (Number(ex.fields.id) !== cur.old_volume_id) {
              throw new UserError(
                `${cur.volume} now has id ${ex.fields.id}, not ${cur.old_volume_id}: stopped before removing it`,
              );
            }
            const rm = await s.vos.remove(cur.volume, job.signal);
            if (!rm.ok) throw new Error(`vos remove ${cur.volume} failed: ${rm.message}`);
          } else if (!ex.missing) throw new Error(`vos examine ${cur.volume} failed: ${ex.message}`);
          promos.record(id, { step, event: 'done' }, { step });
          detail = `removed ${cur.volume} (id ${cur.old_volume_id})`;
          break;
        }
        case 3: {
          const src = await s.vos.examine(cur.source, job.signal);
          if (src.ok) {
            const mv = await s.vos.run(
              ['rename', '-oldname', cur.source, '-newname', cur.volume],
              job.signal,
            );
            if (!mv.ok) throw new Error(`vos rename ${cur.source} ${cur.volume} failed: ${mv.message}`);
          } else {
            // Resuming: the rename may have happened just before the crash.
            const now = await s.vos.examine(cur.volume, job.signal);
            if (!(now.ok && Number(now.fields.id) === cur.source_volume_id)) {
              throw new Error(
                `neither ${cur.source} nor a renamed ${cur.volume} with id ${cur.source_volume_id} exists: look before going on`,
              );
            }
          }
          restored.discarded(cur.source); // it is the live volume now, no longer a restored copy
          promos.record(id, { step, event: 'done' }, { step });
          detail = `renamed ${cur.source} to ${cur.volume}`;
          break;
        }
        case 4: {
          const released: string[] = [];
          const e = await s.vos.listvldbEntry(cur.volume, job.signal);
          if (e.ok && e.entry?.sites.some((x) => x.type === 'RO')) {
            const r = await s.vos.release(cur.volume, job.signal);
            if (!r.ok) throw new Error(`vos release ${cur.volume} failed: ${r.message}`);
            released.push(cur.volume);
          }
          const parent = s.config.afs.scratchParentVolume;
          if (cur.mounted_path && parent) {
            const r = await s.vos.release(parent, job.signal);
            if (!r.ok) throw new Error(`vos release ${parent} failed: ${r.message}`);
            released.push(parent);
          }
          promos.record(id, { step, event: 'done', detail: released.join(' ') }, { step });
          detail = released.length
            ? `released ${released.join(', ')}`
            : 'nothing to release (no read-only sites, not mounted)';
          break;
        }
        case 5: {
          const ex = await s.vos.examine(cur.volume, job.signal);
          if (!ex.ok || Number(ex.fields.id) !== cur.source_volume_id) {
            throw new Error(
              `${cur.volume} is not the promoted volume (id ${cur.source_volume_id}) after the rename`,
            );
          }
          promos.record(id, { step, event: 'done' }, { step, state: 'done' });
          detail = `${cur.volume} is id ${ex.fields.id}: ${ex.fields.filecount} files, ${formatBytes(Number(ex.fields.diskused) * 1024)}, last update ${iso(Number(ex.fields.updateDate))}`;
          break;
        }
      }
      report.push(`${step}. ${STEPS[step - 1]}: ${detail}`);
      faultInjection(step);
    }
  } catch (err) {
    // Stopped on purpose (a check failed, a tool failed): not interrupted, but where it stands is kept.
    const why = err instanceof Error ? err.message : String(err);
    promos.record(id, { step: p().step, event: 'note', detail: `failed: ${why}` }, { state: 'failed' });
    throw err;
  }
  const done = p();
  return [
    `${done.source} is now ${done.volume}.`,
    ...report,
    `The old ${done.volume} is kept as the safety dump ${done.safety_dump}; it restores with !restore ${done.volume} from the pre-promote date.`,
  ].join('\n');
}

/** Puts the old volume back from the safety dump (and the restored copy back under its own name). */
export async function rollbackPromotion(s: Services, job: RunningJob, id: number): Promise<string> {
  const promos = s.promotions;
  const p = promos.get(id)!;
  const said: string[] = [];
  promos.record(id, { step: p.step, event: 'note', detail: `rollback by job ${job.id}` });
  const live = await s.vos.examine(p.volume, job.signal);
  if (live.ok && Number(live.fields.id) === p.old_volume_id) {
    promos.record(
      id,
      { step: p.step, event: 'note', detail: 'rolled back: the live volume was never removed' },
      { state: 'rolled-back' },
    );
    return `${p.volume} was never removed (id ${p.old_volume_id}); nothing to undo. ${p.source} is untouched.`;
  }
  // Before touching anything: the safety dump must be there to restore from.
  const row = p.safety_dump ? s.catalog.byLocation(p.safety_dump) : undefined;
  if (!p.safety_dump || !row || !existsSync(p.safety_dump)) {
    throw new UserError(
      `promotion ${id} has no usable safety dump (${p.safety_dump ?? 'none recorded'}${p.safety_dump && !row ? ', not in the catalog: !backup rescan' : ''}), so it cannot be rolled back; nothing was changed`,
    );
  }
  if (live.ok && Number(live.fields.id) === p.source_volume_id) {
    const mv = await s.vos.run(['rename', '-oldname', p.volume, '-newname', p.source], job.signal);
    if (!mv.ok) throw new Error(`vos rename ${p.volume} back to ${p.source} failed: ${mv.message}`);
    s.restored.finish(p.source, p.source_volume_id); // a restored copy again
    said.push(`renamed ${p.volume} back to ${p.source}`);
  } else if (live.ok) {
    throw new UserError(
      `${p.volume} has id ${live.fields.id}, neither the old (${p.old_volume_id}) nor the restored (${p.source_volume_id}) volume: look before rolling back`,
    );
  }
  const site = await restoreSite(s, p.source);
  const r = await restoreChain({
    stallMs: s.config.jobs.stallMs,
    vos: s.vos,
    tools: s.tools,
    chain: chainLinks(s, [row]),
    server: site.server,
    partition: site.partition,
    target: p.volume,
    signal: job.signal,
    onBytes: (n) => job.progress('restoring the safety dump', n, row.stored_bytes),
  });
  if (!r.ok) throw new Error(`restoring the safety dump into ${p.volume} failed: ${r.message}`);
  said.push(`restored ${p.volume} from the safety dump (${r.examine.filecount} files, id ${r.examine.id})`);
  promos.record(id, { step: p.step, event: 'note', detail: said.join('; ') }, { state: 'rolled-back' });
  return `promotion ${id} rolled back: ${said.join('; ')}.`;
}
