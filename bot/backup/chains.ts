// Dump chains: which dumps restore a volume as of a date (a full, and at most one incremental on it),
// and where each one's bytes are (the local file, the wiki's legacy archive, or the restic archive),
// as sources the decoders in actions/ read from. And where a restored copy goes.
import { existsSync } from 'node:fs';
import type { DumpSource } from '../../actions/decode.ts';
import type { ChainError, ChainLink } from '../../actions/restore.ts';
import { UserError } from '../chat/errors.ts';
import type { Services } from '../services.ts';
import type { DumpRow } from './catalog.ts';

/** Where a catalogued dump's bytes are, as something the decoders can read. */
export function sourceOf(s: Services, row: DumpRow): DumpSource {
  if (row.kind === 'legacy' || row.kind === 'databases') {
    const keyFile = s.config.dumps.legacyKeyFile;
    if (!keyFile) {
      throw new UserError(
        `${row.location} is a legacy ccrypt archive, and no key file is configured (set dumps.legacyKeyFile or AFSBOT_LEGACY_KEY_FILE)`,
      );
    }
    return { kind: 'legacy', path: row.location, keyFile };
  }
  if (row.local && existsSync(row.location)) return { kind: 'zstd', path: row.location };
  if (row.archive_snapshot) return s.archive.sourceOf(row);
  throw new UserError(
    `the dump ${row.location} is gone from disk and was never archived; !backup rescan updates the catalog`,
  );
}

/** The chain's sources; `fromArchive` reads every archived link from the archive even when it is on disk. */
export function chainLinks(s: Services, rows: DumpRow[], opts: { fromArchive?: boolean } = {}): ChainLink[] {
  return rows.map((r) => {
    const source = opts.fromArchive && r.archive_snapshot ? s.archive.sourceOf(r) : sourceOf(s, r);
    const link: ChainLink = { source, level: r.level };
    if (r.clone_time !== null)
      link.expect = {
        cloneTime: r.clone_time,
        baseCloneTime: r.base_clone_time,
        volumeId: r.volume_id,
        sha256: r.sha256,
      };
    return link;
  });
}

/** The chain to restore `volume` as of `date`, or a UserError saying why there is none. */
export function chainFor(s: Services, volume: string, date?: string): DumpRow[] {
  const c = s.catalog.chain(volume, date);
  if ('error' in c) throw new UserError(c.error);
  return c.links;
}

/** Server and partition for a restored copy of `volume`: the config's, or where the volume lives. */
export async function restoreSite(
  s: Services,
  volume: string,
): Promise<{ server: string; partition: string }> {
  if (s.config.afs.server) return { server: s.config.afs.server, partition: s.config.afs.partition };
  const e = await s.vos.listvldbEntry(volume);
  if (!e.ok) throw new Error(`vos listvldb -name ${volume} failed: ${e.message}`);
  const site = e.entry?.sites.find((x) => x.type === 'RW') ?? e.entry?.sites[0];
  if (!site) {
    throw new UserError(
      `${volume} is not in the VLDB any more, so I do not know which file server to restore to; set afs.server (AFSBOT_AFS_SERVER)`,
    );
  }
  return { server: site.server, partition: site.partition.replace(/^\/vicep/, '') };
}

/** A refused chain, in words for the admin: with how to bring the catalog in line when that is why. */
export function chainRefusal(err: ChainError): string {
  return `refused: ${err.message}${err.catalogOutOfDate ? '; !backup rescan updates the catalog to what is on disk' : ''}`;
}
