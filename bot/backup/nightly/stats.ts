// What a nightly run found and did, kept as it goes and stored with its report; and where a run in
// progress is, for !nightly status.
import type { MaintenanceRow } from '../archive/maintenance-runs.ts';
import type { LevelChoice } from '../levels.ts';

export interface VolumeResult {
  volume: string;
  server: string;
  choice: LevelChoice | { level: 'failed'; why: string };
  /** What the dump is expected to be, raw (a dry run shows it). */
  estimate?: number;
  rawBytes?: number;
  storedBytes?: number;
  seconds?: number;
  error?: string;
}

export interface NightlyStats {
  date: string;
  dryRun: boolean;
  startedAt: string;
  endedAt?: string;
  phases: Record<string, number>;
  backupsys: { backedUp: number; failed: number };
  volumes: VolumeResult[];
  archive: {
    enabled: boolean;
    snapshots: number;
    /** Bytes restic read, and bytes the repository grew by. */
    processed: number;
    added: number;
    /** Dumps that should be in the archive and are not (they are retried next night). */
    pending: number;
    errors: string[];
    notes: string[];
  };
  retention: {
    removed: number;
    freed: number;
    cutoff: string;
    keptUnarchived: number;
    /** Staged files (of !backup get, !restore-file) removed after dumps.stagingKeepDays. */
    stagingRemoved: number;
    stagingKeepDays: number;
  };
  /**
   * Tonight's dumps on local disk: all of them (`dumped`), and the most there were at once (`peak`,
   * counted as each dump completes and each archived batch leaves in archive-only mode). Reports stored
   * before this was kept have none.
   */
  local?: { dumped: number; peak: number; now: number };
  /** The file index: tonight's dumps it took, and why it did not take the others (reports before it have none). */
  index?: { indexed: number; failures: string[] };
  /** Covered volumes whose content has no good dump for staleDays or more. */
  stale: { volume: string; last: string | null }[];
  /** Read-write volumes in the VLDB that no prefix covers, and those an xprefix leaves out. */
  uncovered: string[];
  excluded: string[];
  maintenance: MaintenanceRow[];
  /** Archived bytes of the last nights, oldest first, tonight last. */
  trend: number[];
  /** Set when the run passed nightly.deadlineHours and was stopped: why, in words. */
  deadline?: string;
}

export function emptyStats(date: string, dryRun: boolean, archiveOn: boolean): NightlyStats {
  return {
    date,
    dryRun,
    startedAt: new Date().toISOString(),
    phases: {},
    backupsys: { backedUp: 0, failed: 0 },
    volumes: [],
    archive: { enabled: archiveOn, snapshots: 0, processed: 0, added: 0, pending: 0, errors: [], notes: [] },
    retention: { removed: 0, freed: 0, cutoff: '', keptUnarchived: 0, stagingRemoved: 0, stagingKeepDays: 0 },
    local: { dumped: 0, peak: 0, now: 0 },
    stale: [],
    uncovered: [],
    excluded: [],
    maintenance: [],
    trend: [],
  };
}

/** Where a run in progress is, for !nightly status. */
export interface NightlyLive {
  jobId: number;
  date: string;
  phase: string;
  startedAt: number;
  volumesDone: number;
  volumesTotal: number;
  bytes: number;
  expected: number;
  archived: number;
}

/** A dump of tonight's came onto local disk (bytes > 0) or left it (bytes < 0). */
export function localSpace(stats: NightlyStats, bytes: number): void {
  stats.local ??= { dumped: 0, peak: 0, now: 0 };
  const l = stats.local;
  l.now += bytes;
  if (bytes > 0) l.dumped += bytes;
  l.peak = Math.max(l.peak, l.now);
}
