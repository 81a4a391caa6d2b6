// Which engine the archive uses, built from the configuration: restic, or borg with its own base
// directory and the directory of named pipes it is fed through.
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Borg } from '../../../actions/borg.ts';
import { Restic } from '../../../actions/restic.ts';
import type { Config } from '../../platform/config.ts';
import { processAlive } from '../../platform/process.ts';

export function resticOf(config: Config): Restic {
  const a = config.archive;
  return new Restic({
    binary: a.restic,
    repository: a.repository,
    passwordFile: a.passwordFile,
    compression: a.compression,
    timeoutMs: a.timeoutMs,
    stallMs: config.jobs.stallMs,
    ...(a.sftpCommand ? { sftpCommand: a.sftpCommand } : {}),
    ...(a.runAs ? { runAs: a.runAs } : {}),
    ...(a.cacheDir ? { cacheDir: a.cacheDir } : {}),
  });
}

/** borg's own directory (cache, config, the security records that detect a replaced repository). */
export function borgBaseDir(config: Config): string {
  return config.archive.cacheDir ?? join(dirname(config.databasePath), 'borg');
}

/**
 * Where borg's named pipes are made, one directory per backup: beside the dumps, which the user borg
 * runs as can already reach. Root's, and only readable by that user's group: were the directory the
 * archive user's, it could swap a pipe for a link and have root's zstd write a dump over any file.
 */
export function borgFeedDir(config: Config): string {
  return join(config.dumps.dir, '.borg-feed');
}

export function borgOf(config: Config, feedGid?: number): Borg {
  const a = config.archive;
  return new Borg({
    binary: a.borg.binary,
    repository: a.repository,
    passwordFile: a.passwordFile,
    baseDir: borgBaseDir(config),
    compression: a.borg.compression,
    chunkerParams: a.borg.chunkerParams,
    timeoutMs: a.timeoutMs,
    stallMs: config.jobs.stallMs,
    lockWaitSeconds: Math.ceil(a.lockWaitMs / 1000),
    zstd: config.tools.zstd,
    feedDir: borgFeedDir(config),
    ...(feedGid !== undefined ? { feedGid } : {}),
    ...(a.borg.rsh ? { rsh: a.borg.rsh } : {}),
    ...(a.runAs ? { runAs: a.runAs } : {}),
  });
}

/** Feeds of named pipes that a dead afsbot left (their directory names carry its pid). */
export function removeDeadFeeds(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(/^borg-feed-(\d+)-/.exec(n)?.[1]);
    if (pid && !processAlive(pid)) rmSync(join(dir, n), { recursive: true, force: true });
  }
}
