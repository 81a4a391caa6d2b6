// Restores users ask for (`!request-restore`), once an admin approved: the path asked for, as of the
// night, restored alone into a staging volume of the request's own (`rq.<n>`, with the access lists
// the night had, so only those who had rights then can read it), mounted where the user can reach it
// when selfService.mountDir is set, and removed after selfService.keepDays, the user told each time.
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Cancelled } from '../../actions/backoff.ts';
import { DumpParser, type DumpVnode, type DumpVolumeInfo } from '../../actions/dump-parser.ts';
import { subtreeDump } from '../../actions/dump-subtree.ts';
import { writeDump } from '../../actions/dump-writer.ts';
import { ChainError, restoreChain } from '../../actions/restore.ts';
import { UserError } from '../chat/errors.ts';
import type { Origin, RunningJob } from '../jobs/job.ts';
import type { Services } from '../services.ts';
import { chainFor, chainLinks, chainRefusal, restoreSite } from './chains.ts';
import { requireFreeSpace } from './volumes.ts';

/**
 * The approved restore. The night's chain goes into a scratch volume (`rq.<n>.t`), whose full dump is
 * cut down to the path asked for (actions/dump-subtree.ts: the path, and the directories down to it
 * with the one name on the way, every access list kept) and restored as `rq.<n>`; the scratch volume
 * and the two dump files go. Then the mount point. Returns what the user is told.
 */
export async function runRequestedRestore(s: Services, job: RunningJob, id: number): Promise<string> {
  const req = s.requests.get(id)!;
  const rows = chainFor(s, req.volume, req.date);
  const links = chainLinks(s, rows);
  const site = await restoreSite(s, req.volume);
  const total = rows.reduce((n, r) => n + r.stored_bytes, 0);
  const scratchVol = `${req.staging}.t`;
  const whole = join(s.config.dumps.stagingDir, `request-${id}.whole.dump`);
  const cut = join(s.config.dumps.stagingDir, `request-${id}.cut.dump`);
  s.requests.update(id, { job_id: job.id });
  requireFreeSpace(s, 2 * (rows.at(-1)!.raw_bytes ?? total), `the restore request ${id}`);
  mkdirSync(s.config.dumps.stagingDir, { recursive: true });
  const made = new Map<string, number>(); // volume -> the id this job's vos restore gave it
  const cleanUp = async (keepStaging: boolean): Promise<string[]> => {
    for (const f of [whole, cut]) rmSync(f, { force: true });
    const left: string[] = [];
    for (const [name, volumeId] of made) {
      if (keepStaging && name === req.staging) continue;
      const rm = await s.vos.removeAfterAbort(name, { expectId: volumeId });
      if (rm.gone) {
        s.restored.discarded(name);
        job.settled(`volume:${name}`);
      } else left.push(`${name} could not be removed (${rm.why}): !discard ${name}`);
    }
    return left;
  };
  const fail = async (why: string): Promise<never> => {
    const left = await cleanUp(false);
    s.requests.update(id, { state: 'failed', ended_at: s.clock().toISOString() });
    throw new Error(`${why}; ${left.length ? left.join('; ') : 'nothing of it is left'}`);
  };
  const created = (name: string) => (volumeId: number) => {
    made.set(name, volumeId);
    s.restored.begin(name, req.volume, req.date, job.id, volumeId);
    job.leftover(`volume:${name}`);
  };
  try {
    let r: Awaited<ReturnType<typeof restoreChain>>;
    try {
      r = await restoreChain({
        stallMs: s.config.jobs.stallMs,
        vos: s.vos,
        tools: s.tools,
        chain: links,
        server: site.server,
        partition: site.partition,
        target: scratchVol,
        signal: job.signal,
        onBytes: (n) => job.progress(`restoring ${req.volume} of ${req.date}`, n, total),
        onCreated: created(scratchVol),
      });
    } catch (err) {
      if (err instanceof ChainError) return fail(`${chainRefusal(err)}. Nothing was restored`);
      throw err;
    }
    if (!r.ok) {
      if (r.cancelled) throw new Cancelled();
      return fail(`vos restore into ${scratchVol} failed: ${r.message}`);
    }
    job.progress(`cutting out ${req.path}`, 0);
    const dumped = await s.vos.run(['dump', '-id', scratchVol, '-time', '0', '-file', whole], job.signal);
    if (!dumped.ok) return fail(`vos dump of ${scratchVol} failed: ${dumped.message}`);
    const vnodes: DumpVnode[] = [];
    let info: DumpVolumeInfo | undefined;
    await pipeline(
      createReadStream(whole),
      new DumpParser({
        volume: (v) => {
          info = v;
        },
        vnode: (v) => vnodes.push(v),
      }),
      { signal: job.signal },
    );
    const only = subtreeDump(info!, vnodes, whole, req.path, req.staging);
    await pipeline(Readable.from(writeDump(only)), createWriteStream(cut), { signal: job.signal });
    const restored = await s.vos.run(
      ['restore', '-server', site.server, '-partition', site.partition, '-name', req.staging, '-file', cut],
      job.signal,
    );
    const ex = await s.vos.examine(req.staging, job.signal);
    if (ex.ok) created(req.staging)(Number(ex.fields.id));
    if (!restored.ok || !ex.ok)
      return fail(
        `vos restore of ${req.path} into ${req.staging} failed: ${restored.ok ? (ex as { message: string }).message : restored.message}`,
      );
    s.restored.finish(req.staging, Number(ex.fields.id));
    job.settled(`volume:${req.staging}`);
    const left = await cleanUp(true);
    if (left.length) return fail(left.join('; '));
    const cfg = s.config.selfService;
    let where = `the volume ${req.staging} (an admin can mount it for you)`;
    if (cfg.mountDir) {
      const path = `${cfg.mountDir}/${req.afs_user}-${id}`;
      const mk = await s.mounts.mkmount(path, req.staging, job.signal);
      if (!mk.ok) return fail(`fs mkmount ${path} failed: ${mk.message}`);
      s.requests.update(id, { mount_path: path });
      s.restored.setMount(req.staging, path);
      if (cfg.parentVolume) {
        const rel = await s.vos.release(cfg.parentVolume, job.signal);
        if (!rel.ok) return fail(`vos release ${cfg.parentVolume} failed: ${rel.message}`);
      }
      where = path;
    }
    const until = new Date(s.clock().getTime() + cfg.keepDays * 86_400_000);
    s.requests.update(id, { state: 'ready', expires_at: until.toISOString() });
    return [
      `request ${id}: ${req.path} of ${req.volume} as of ${req.date} is restored for ${req.afs_user} in ${where}, until ${until.toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
      `${req.staging} holds ${req.path} alone (and the directories down to it), with the access lists it had that night. Copy what you need: it is removed after ${cfg.keepDays} days.`,
    ].join('\n');
  } catch (err) {
    if (err instanceof Cancelled || job.signal.aborted) {
      await fail('cancelled').catch(() => undefined);
      throw new Cancelled();
    }
    if (s.requests.get(id)?.state === 'failed') throw err;
    return fail((err as Error).message);
  }
}

/** Removes what has expired (unmount, vos remove), telling each user. Returns what it did, for the log. */
export async function expireRequests(s: Services): Promise<string | undefined> {
  const done: string[] = [];
  for (const req of s.requests.due(s.clock())) {
    const cfg = s.config.selfService;
    if (req.mount_path) {
      const rm = await s.mounts.rmmount(req.mount_path);
      if (!rm.ok) {
        done.push(`request ${req.id}: fs rmmount ${req.mount_path} failed: ${rm.message}`);
        continue;
      }
      if (cfg.parentVolume) await s.vos.release(cfg.parentVolume);
    }
    const gone = await s.vos.removeAfterAbort(req.staging, {
      expectId: s.restored.get(req.staging)?.volume_id ?? undefined,
    });
    if (!gone.gone) {
      done.push(`request ${req.id}: ${req.staging} could not be removed: ${gone.why}`);
      continue;
    }
    s.restored.discarded(req.staging);
    s.requests.update(req.id, { state: 'expired', ended_at: s.clock().toISOString() });
    s.tell(
      JSON.parse(req.origin) as Origin,
      `request ${req.id}: the restored copy of ${req.path} (${req.volume} of ${req.date}) has expired and is removed${req.mount_path ? ` from ${req.mount_path}` : ''}.`,
    );
    done.push(`request ${req.id}: ${req.staging} removed`);
  }
  return done.length ? done.join('; ') : undefined;
}

/** The AFS user a chat identity stands for: selfService.users, else the identity itself (not on Slack). */
export function afsUserOf(s: Services, backend: string, identity: string): string {
  const mapped = s.config.selfService.users.find((u) => u.startsWith(`${backend}:${identity}=`));
  if (mapped) return mapped.slice(mapped.indexOf('=') + 1);
  if (backend === 'slack')
    throw new UserError(
      `no AFS user is known for your Slack account (${identity}); an admin adds "slack:${identity}=<afs user>" to selfService.users`,
    );
  return identity;
}
