// What afsbot asks of an archive engine (restic or borg): the one interface the nightly run,
// retention, maintenance, restores and the catalog's reconciliation use. Each engine encrypts on the
// client, reads its password from a file named in its environment (never argv), and can run as
// another unix user. They differ in what they keep: restic stores the zstd dump files as they are;
// borg stores dumps decompressed (fed through named pipes, no second copy on disk), because its finer
// content-defined chunks find an incremental's unchanged bytes only in the raw dump (bench/README.md).
import type { z } from 'zod';
import type { ToolFailure, ToolResult } from './exec.ts';

/** A lock on the repository, with who holds it. */
export interface EngineLock {
  id: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  /** ISO time it was taken (borg: when its lock roster was last written). */
  time: string;
}

/** One local file to archive, and the name it gets in the archive (borg; restic keeps the path). */
export interface ArchiveItem {
  file: string;
  name: string;
}

export interface EngineBackup {
  ok: true;
  snapshot: string;
  /** Bytes the repository grew by, and bytes the engine read. */
  added: number;
  processed: number;
  /** Where each item went in the snapshot, in the order given. */
  paths: string[];
}

/** A program whose stdout is a file from the archive, for the next stage of a pipeline to read. */
export interface EngineCommand {
  program: string;
  args: string[];
  env: Record<string, string>;
}

export interface ArchiveEngine {
  readonly kind: 'restic' | 'borg';
  /** Whether a dump is kept decompressed: `dumpCommand` then gives the raw dump, not its .zst file. */
  readonly storesRaw: boolean;
  /** Creates the repository unless it exists. */
  init(): Promise<{ ok: true; created: boolean } | ToolFailure>;
  /** The repository's locks; a failure that `isMissing` says the repository is not there at all. */
  locks(): Promise<{ ok: true; locks: EngineLock[] } | ToolFailure>;
  isMissing(failure: ToolFailure): boolean;
  /** Removes the locks the engine itself proves stale (never a live holder's). */
  unlock(): Promise<ToolResult>;
  backup(
    items: ArchiveItem[],
    tags: string[],
    opts?: { signal?: AbortSignal; onBytes?: (n: number) => void },
  ): Promise<EngineBackup | ToolFailure>;
  /** afsbot's snapshots, each by its id and the short form the catalog may hold. */
  snapshots(
    signal?: AbortSignal,
  ): Promise<{ ok: true; snapshots: { id: string; short: string }[] } | ToolFailure>;
  ls(
    snapshot: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; files: { path: string; size: number }[] } | ToolFailure>;
  /** A small file out of a snapshot, as text (a sidecar). */
  cat(
    snapshot: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; text: string } | ToolFailure>;
  dumpCommand(snapshot: string, path: string): EngineCommand;
  /** Drops these snapshots (their data stays until `prune`). */
  forget(snapshots: string[], signal?: AbortSignal): Promise<ToolResult>;
  prune(signal?: AbortSignal): Promise<ToolResult>;
  /** Verifies subset `n` of `of` of the archived data, so that `of` checks read everything. */
  check(n: number, of: number, signal?: AbortSignal): Promise<ToolResult>;
}

export function toolFailure(program: string, message: string): ToolFailure {
  return {
    ok: false,
    program,
    args: [],
    exitCode: null,
    stdout: '',
    stderr: '',
    timedOut: false,
    cancelled: false,
    message,
    durationMs: 0,
  };
}

/** Parses a tool's JSON output with a schema; a mismatch is a failure that quotes what the tool said. */
export function parseToolJson<T>(
  tool: string,
  schema: z.ZodType<T>,
  text: string,
  what: string,
): { ok: true; value: T } | ToolFailure {
  try {
    const r = schema.safeParse(JSON.parse(text));
    if (r.success) return { ok: true, value: r.data };
    return toolFailure(
      tool,
      `unexpected ${what} from ${tool}: ${r.error.issues[0]?.message ?? 'schema mismatch'}`,
    );
  } catch {
    return toolFailure(tool, `${tool} printed no JSON for ${what}: ${text.slice(0, 200)}`);
  }
}
