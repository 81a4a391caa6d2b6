// Restores users ask for (`!request-restore`), once an admin approved: the dump chain of the date
// restored into a staging volume of the request's own (`rq.<n>`; vos restore keeps the dump's access
// lists, so only those who had rights then can read it), mounted where the user can reach it when
// selfService.mountDir is set, and removed after selfService.keepDays, the user told each time.
import { Cancelled } from '../../actions/backoff.ts';
import { ChainError, restoreChain } from '../../actions/restore.ts';
import { UserError } from '../chat/errors.ts';
import type { Origin, RunningJob } from '../jobs/job.ts';
import { formatBytes } from '../platform/format.ts';
import type { Services } from '../services.ts';
import { chainFor, chainLinks, chainRefusal, restoreSite } from './chains.ts';

/** The approved restore: the chain into the staging volume, then the mount point. Returns what the user is told. */
export async function runRequestedRestore(s: Services, job: RunningJob, id: number): Promise<string> {
  const req = s.requests.get(id)!;
  const rows = chainFor(s, req.volume, req.date);
  const links = chainLinks(s, rows);
  const site = await restoreSite(s, req.volume);
  const total = rows.reduce((n, r) => n + r.stored_bytes, 0);
  s.requests.update(id, { job_id: job.id });
  let createdId: number | undefined;
  const fail = async (why: string): Promise<never> => {
    const rm =
      createdId === undefined
        ? { gone: true }
        : await s.vos.removeAfterAbort(req.staging, { expectId: createdId });
    if (rm.gone) s.restored.discarded(req.staging);
    s.requests.update(id, { state: 'failed', ended_at: s.clock().toISOString() });
    throw new Error(
      `${why}; ${rm.gone ? `nothing of ${req.staging} is left` : `${req.staging} could not be removed: !discard ${req.staging}`}`,
    );
  };
  let r: Awaited<ReturnType<typeof restoreChain>>;
  try {
    r = await restoreChain({
      stallMs: s.config.jobs.stallMs,
      vos: s.vos,
      tools: s.tools,
      chain: links,
      server: site.server,
      partition: site.partition,
      target: req.staging,
      signal: job.signal,
      onBytes: (n) => job.progress(`restoring ${req.volume} of ${req.date}`, n, total),
      onCreated: (volumeId) => {
        createdId = volumeId;
        s.restored.begin(req.staging, req.volume, req.date, job.id, volumeId);
        job.leftover(`volume:${req.staging}`);
      },
    });
  } catch (err) {
    if (err instanceof ChainError) return fail(`${chainRefusal(err)}. Nothing was restored`);
    throw err;
  }
  if (!r.ok) {
    if (r.cancelled) {
      await fail('cancelled').catch(() => undefined);
      throw new Cancelled();
    }
    return fail(`vos restore into ${req.staging} failed: ${r.message}`);
  }
  s.restored.finish(req.staging, Number(r.examine.id));
  job.settled(`volume:${req.staging}`);
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
  const f = r.examine;
  return [
    `request ${id}: ${req.path} of ${req.volume} as of ${req.date} is restored for ${req.afs_user} in ${where}, until ${until.toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    `${req.staging}: ${f.filecount} files, ${formatBytes(Number(f.diskused) * 1024)}; the whole volume as of that night, with the access lists it had: you see what you could see then. Copy what you need: it is removed after ${cfg.keepDays} days.`,
  ].join('\n');
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
