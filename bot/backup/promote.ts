// Promote (the wiki's 1.7): the restored content becomes the live volume's. The one step that
// destroys data, so it is done over the live volume's own id, which keeps its VLDB entry, its
// read-only sites and every mount point (a vos remove and rename cannot: with read-only sites the
// VLDB entry stays, the rename and any rollback's create fail, and the volume is down until someone
// repairs the VLDB by hand):
//   1. the restored copy is dumped to a file;
//   2. the live volume is taken off line, so no write can land after the safety dump;
//   3. its safety dump is made of the read-write volume itself, and sent to the archive;
//   4. the copy's dump is restored over the live volume (vos restore -overwrite full, same id);
//   5. vos release for its read-only sites; 6. verify. Its next dump is a full one (the content changed
//   under the same id, so no incremental may build on an older full: Promotions.replacedAt).
// Every step is journaled before and after it runs; a destructive step checks its preconditions right
// before it acts. If afsbot dies anywhere, the journal says exactly where, and resume or rollback ends
// it with nothing lost. The restored copy is left as it was; !discard removes it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readStoredHeader } from '../../actions/decode.ts';
import { dumpToFile } from '../../actions/dump.ts';
import { removeQuietly, sha256File } from '../../actions/dump-store.ts';
import { type ChainLink, restoreChain } from '../../actions/restore.ts';
import type { VolumeFields } from '../../actions/vos.ts';
import { UserError } from '../chat/errors.ts';
import type { RunningJob } from '../jobs/job.ts';
import { formatBytes, iso, snapshotName } from '../platform/format.ts';
import type { Services } from '../services.ts';
import { chainLinks } from './chains.ts';
import type { PromotionRow } from './promotions.ts';
import { dumpOfflineVolume, requireFreeSpace } from './volumes.ts';

export const STEPS = [
  'dump of the restored copy',
  'live volume off line',
  'safety dump of the live volume',
  'vos restore of the restored content over the live volume',
  'vos release',
  'verify',
] as const;

const RESTORE_STEP = 4;

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
      return `${name} exists (id ${ex.fields.id}, ${ex.fields.filecount} files, last update ${iso(Number(ex.fields.updateDate))}${ex.fields.inUse === 'N' ? ', off line' : ''})`;
    return ex.missing ? `${name} does not exist` : `${name}: vos examine failed (${ex.message})`;
  };
  const safety = p.safety_dump ? `the safety dump is ${p.safety_dump}` : 'no safety dump was taken yet';
  return `promotion ${p.id} of ${p.source} to ${p.volume} stopped ${where}. Now: ${await look(p.volume)}; ${await look(p.source)}; ${safety}.`;
}

function faultInjection(step: number): void {
  // For the crash tests only: die right after a step is journaled as done, as a power cut would.
  if (process.env.AFSBOT_FAULT_KILL_AFTER_PROMOTE_STEP === String(step)) process.kill(process.pid, 'SIGKILL');
}

/** Where step 1 writes the restored copy's dump (in the dump store, beside the safety dumps). */
function contentFile(s: Services, p: PromotionRow): string {
  return join(s.config.dumps.dir, 'promote', `promotion-${p.id}.${p.source}.dump.zst`);
}

/** The sha256 step 1 recorded for the restored copy's dump. */
function contentSha(s: Services, p: PromotionRow): string | undefined {
  return s.promotions.journal(p).findLast((e) => e.step === 1 && e.event === 'done')?.detail;
}

/** Whether step 4 (the only one that changes the live volume's content) ever started. */
function restoreStarted(s: Services, p: PromotionRow): boolean {
  return s.promotions.journal(p).some((e) => e.step === RESTORE_STEP && e.event === 'start');
}

/** The live volume as vos examine sees it now, checked to be the one planned (same id). */
async function liveVolume(
  s: Services,
  job: RunningJob,
  p: PromotionRow,
  before: string,
): Promise<VolumeFields> {
  const ex = await s.vos.examine(p.volume, job.signal);
  if (!ex.ok)
    throw new Error(
      ex.missing
        ? `${p.volume} is not in the VLDB any more: stopped ${before}`
        : `vos examine ${p.volume} failed ${before}: ${ex.message}`,
    );
  if (Number(ex.fields.id) !== p.old_volume_id)
    throw new UserError(
      `${p.volume} now has id ${ex.fields.id}, not ${p.old_volume_id} as planned: stopped ${before}`,
    );
  return ex.fields;
}

async function setOnline(s: Services, job: RunningJob, live: VolumeFields, volume: string, on: boolean) {
  const r = await s.vos.run(
    [on ? 'online' : 'offline', '-server', live.serv ?? '', '-partition', live.part ?? '', '-id', volume],
    job.signal,
  );
  if (!r.ok) throw new Error(`vos ${on ? 'online' : 'offline'} ${volume} failed: ${r.message}`);
}

/** Runs (or resumes) a promotion from the step after the last completed one. */
export async function runPromotion(s: Services, job: RunningJob, id: number): Promise<string> {
  const promos = s.promotions;
  const p = () => promos.get(id)!;
  promos.record(id, { step: p().step, event: 'note', detail: `job ${job.id} runs it` }, { state: 'running' });
  const report: string[] = [];
  try {
    for (let step = p().step + 1; step <= STEPS.length; step++) {
      promos.record(id, { step, event: 'start' });
      const cur = p();
      let detail = '';
      let done: string | undefined;
      switch (step) {
        case 1: {
          const src = await s.vos.examine(cur.source, job.signal);
          if (!src.ok || Number(src.fields.id) !== cur.source_volume_id)
            throw new UserError(
              `${cur.source} is not the restored copy with id ${cur.source_volume_id} any more (${src.ok ? `it has id ${src.fields.id}` : src.message}): stopped before touching anything`,
            );
          await liveVolume(s, job, cur, 'before touching anything');
          requireFreeSpace(s, Number(src.fields.diskused ?? 0) * 1024, `the dump of ${cur.source}`);
          const file = contentFile(s, cur);
          const r = await dumpToFile({
            stallMs: s.config.jobs.stallMs,
            vos: s.vos,
            volume: cur.source,
            since: 0,
            path: file,
            zstd: { binary: s.tools.zstd, level: s.config.dumps.zstdLevel, rsyncable: false },
            signal: job.signal,
            onBytes: (n) => job.progress('dumping the restored copy', n),
          });
          if (!r.ok) throw new Error(`vos dump of ${cur.source} failed: ${r.message}`);
          done = r.sha256;
          detail = `${cur.source} dumped to ${file} (${formatBytes(r.storedBytes)}, sha256 ${r.sha256.slice(0, 16)}…)`;
          break;
        }
        case 2: {
          const live = await liveVolume(s, job, cur, 'before taking it off line');
          const file = contentFile(s, cur);
          if (!existsSync(file) || (await sha256File(file)) !== contentSha(s, cur))
            throw new Error(`${file}, the restored copy's dump, is gone or changed: resume to make it again`);
          await setOnline(s, job, live, cur.volume, false);
          detail = `${cur.volume} is off line: nothing can be written to it until the promote is done`;
          break;
        }
        case 3: {
          await liveVolume(s, job, cur, 'before the safety dump');
          const d = await dumpOfflineVolume(s, job, cur.volume);
          promos.record(id, { step, event: 'note', detail: d.row.location }, { safety_dump: d.row.location });
          // it must be safe off this machine too before the live content is replaced
          let where = 'kept locally (the archive is off)';
          if (s.config.archive.enabled) {
            const row = s.catalog.byLocation(d.row.location)!;
            if (!row.archive_snapshot) {
              job.progress('sending the safety dump to the archive', 0);
              const note = await s.archive.ready();
              const sent = await s.archive.send([row], { signal: job.signal });
              where = `in archive snapshot ${snapshotName(sent.snapshot)}${note ? ` (${note})` : ''}`;
            } else where = `in archive snapshot ${snapshotName(row.archive_snapshot)}`;
          }
          done = d.row.location;
          detail = `safety dump ${d.row.location} (${formatBytes(d.row.stored_bytes)}, sha256 ${d.row.sha256?.slice(0, 16)}…), ${where}`;
          break;
        }
        case RESTORE_STEP: {
          // every precondition again, right before the live content is replaced
          const live = await liveVolume(s, job, cur, 'before replacing its content');
          const safety = cur.safety_dump ? s.catalog.byLocation(cur.safety_dump) : undefined;
          if (
            !safety ||
            !existsSync(safety.location) ||
            (await sha256File(safety.location)) !== safety.sha256
          )
            throw new Error(
              `the safety dump (${cur.safety_dump ?? 'none recorded'}) is not whole on disk: the live volume is not touched`,
            );
          if (s.config.archive.enabled && !safety.archive_snapshot)
            throw new Error('the safety dump is not in the archive yet: the live volume is not touched');
          const file = contentFile(s, cur);
          const sha = contentSha(s, cur);
          const chain: ChainLink[] = [
            {
              source: { kind: 'zstd', path: file },
              level: 'full',
              // the file's own sha256 is checked before a byte of it is restored
              ...(sha
                ? {
                    expect: {
                      cloneTime: await headerTime(s, file),
                      baseCloneTime: null,
                      volumeId: null,
                      sha256: sha,
                    },
                  }
                : {}),
            },
          ];
          const r = await restoreChain({
            stallMs: s.config.jobs.stallMs,
            vos: s.vos,
            tools: s.tools,
            chain,
            server: live.serv ?? '',
            partition: live.part ?? '',
            target: cur.volume,
            overwriteExisting: true,
            signal: job.signal,
            onBytes: (n) => job.progress('restoring over the live volume', n),
          });
          if (!r.ok) throw new Error(`vos restore over ${cur.volume} failed: ${r.message}`);
          await setOnline(s, job, live, cur.volume, true); // vos restore does; this says so for certain
          detail = `${cur.volume} (id ${r.examine.id}) holds the restored content: ${r.examine.filecount} files`;
          break;
        }
        case 5: {
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
          done = released.join(' ');
          detail = released.length
            ? `released ${released.join(', ')}`
            : 'nothing to release (no read-only sites)';
          break;
        }
        case 6: {
          const ex = await liveVolume(s, job, cur, 'at the check');
          // compared with the restored copy only while it is still that copy: one replaced or removed
          // since step 1 is not what was promoted (step 1's dump of it is)
          const src = await s.vos.examine(cur.source, job.signal);
          const same = src.ok && Number(src.fields.id) === cur.source_volume_id;
          if (same && src.fields.filecount !== ex.filecount)
            throw new Error(
              `${cur.volume} has ${ex.filecount} files, but the restored copy ${cur.source} has ${src.fields.filecount}`,
            );
          removeQuietly(contentFile(s, cur));
          detail = `${cur.volume} is id ${ex.id}, as before: ${ex.filecount} files, ${formatBytes(Number(ex.diskused) * 1024)}, last update ${iso(Number(ex.updateDate))}; its next dump is a full one${same ? '' : `; ${cur.source} ${src.ok ? 'is not the restored copy any more (replaced since step 1 dumped it)' : `could not be examined (${src.message})`}, so its file count was not compared`}`;
          break;
        }
      }
      promos.record(
        id,
        { step, event: 'done', ...(done !== undefined ? { detail: done } : {}) },
        { step, ...(step === STEPS.length ? { state: 'done' as const } : {}) },
      );
      report.push(`${step}. ${STEPS[step - 1]}: ${detail}`);
      faultInjection(step);
    }
  } catch (err) {
    // Stopped on purpose (a check failed, a tool failed): not interrupted, but where it stands is kept.
    const why = err instanceof Error ? err.message : String(err);
    let state = '';
    const cur = p();
    if (cur.step >= 1 && !restoreStarted(s, cur)) {
      // nothing of the live volume was changed: it goes back on line, and a resume starts again from
      // the off-line step (writes may come meanwhile; a new safety dump will hold them)
      const back = await putBackOnline(s, job, cur);
      state = ` ${back}`;
      promos.record(id, { step: cur.step, event: 'note', detail: back }, { step: Math.min(cur.step, 1) });
    }
    promos.record(id, { step: p().step, event: 'note', detail: `failed: ${why}` }, { state: 'failed' });
    throw new Error(`${why}.${state}`);
  }
  const done = p();
  return [
    `${done.volume} holds the content of ${done.source} now (same volume id, sites and mount points).`,
    ...report,
    `The old content is the safety dump ${done.safety_dump}; it restores with !restore ${s.catalog.byLocation(done.safety_dump ?? '')?.date ?? ''} ${done.volume} as <name>. ${done.source} is left as it was: !discard ${done.source} removes it.`,
  ].join('\n');
}

/** The dump header's end time of a stored file, which restoreChain checks against the expectation. */
async function headerTime(s: Services, file: string): Promise<number> {
  return (await readStoredHeader({ kind: 'zstd', path: file }, s.tools)).toTime;
}

/** Puts the live volume back on line when the promote stopped before its content was touched. */
async function putBackOnline(s: Services, job: RunningJob, p: PromotionRow): Promise<string> {
  const ex = await s.vos.examine(p.volume, job.signal);
  if (!ex.ok || Number(ex.fields.id) !== p.old_volume_id)
    return `${p.volume} could not be checked (${ex.ok ? `id ${ex.fields.id}` : ex.message}); look at it`;
  const on = await s.vos.run(
    ['online', '-server', ex.fields.serv ?? '', '-partition', ex.fields.part ?? '', '-id', p.volume],
    job.signal,
  );
  return on.ok
    ? `${p.volume} is on line again, its content untouched.`
    : `${p.volume} could not be put back on line (${on.message}): vos online it by hand; its content is untouched.`;
}

/** Puts the old content back: from the live volume itself if it was never touched, else from the safety dump. */
export async function rollbackPromotion(s: Services, job: RunningJob, id: number): Promise<string> {
  const promos = s.promotions;
  const p = promos.get(id)!;
  promos.record(id, { step: p.step, event: 'note', detail: `rollback by job ${job.id}` });
  if (!restoreStarted(s, p)) {
    const back = await putBackOnline(s, job, p);
    removeQuietly(contentFile(s, p));
    promos.record(
      id,
      { step: p.step, event: 'note', detail: `rolled back: ${back}` },
      { state: 'rolled-back' },
    );
    return `promotion ${id} rolled back: the live volume was never changed. ${back} ${p.source} is untouched.`;
  }
  // Before touching anything: the safety dump must be there, whole, to restore from.
  const row = p.safety_dump ? s.catalog.byLocation(p.safety_dump) : undefined;
  if (!p.safety_dump || !row || !existsSync(p.safety_dump)) {
    throw new UserError(
      `promotion ${id} has no usable safety dump (${p.safety_dump ?? 'none recorded'}${p.safety_dump && !row ? ', not in the catalog: !backup rescan' : ''}), so it cannot be rolled back; nothing was changed`,
    );
  }
  const live = await s.vos.examine(p.volume, job.signal);
  if (live.ok && Number(live.fields.id) !== p.old_volume_id)
    throw new UserError(
      `${p.volume} has id ${live.fields.id}, not ${p.old_volume_id}: someone replaced it; look before rolling back`,
    );
  if (!live.ok && !live.missing) throw new Error(`vos examine ${p.volume} failed: ${live.message}`);
  const site = live.ok
    ? { server: live.fields.serv ?? '', partition: live.fields.part ?? '' }
    : { server: s.config.afs.server ?? '', partition: s.config.afs.partition };
  const r = await restoreChain({
    stallMs: s.config.jobs.stallMs,
    vos: s.vos,
    tools: s.tools,
    chain: chainLinks(s, [row]),
    server: site.server,
    partition: site.partition,
    target: p.volume,
    overwriteExisting: true,
    signal: job.signal,
    onBytes: (n) => job.progress('restoring the safety dump', n, row.stored_bytes),
  });
  if (!r.ok) throw new Error(`restoring the safety dump into ${p.volume} failed: ${r.message}`);
  const said = [
    `restored ${p.volume} from the safety dump (${r.examine.filecount} files, id ${r.examine.id})`,
  ];
  const e = await s.vos.listvldbEntry(p.volume, job.signal);
  if (e.ok && e.entry?.sites.some((x) => x.type === 'RO')) {
    const rel = await s.vos.release(p.volume, job.signal);
    said.push(
      rel.ok ? `released ${p.volume}` : `vos release ${p.volume} failed (${rel.message}): release it by hand`,
    );
  }
  removeQuietly(contentFile(s, p));
  promos.record(id, { step: p.step, event: 'note', detail: said.join('; ') }, { state: 'rolled-back' });
  return `promotion ${id} rolled back: ${said.join('; ')}. ${p.source} is untouched.`;
}
