// vos, the AFS volume tool: one typed client plus parsers for the text it prints. The parsers are pure
// so they can be tested on captured output; the client only builds argv and calls runTool().
import { poll } from './backoff.ts';
import { lastLine, runTool, saidFailure, type ToolFailure, type ToolResult } from './exec.ts';

export interface VosOptions {
  /** Path or name of the vos binary. */
  binary: string;
  /** Directory with ThisCell, CellServDB and KeyFileExt for -localauth (vos -config). Omit for the default. */
  configDir?: string;
  cell?: string;
  /** Run as the server's own identity (-localauth); the bot runs on a file server as root. */
  localauth: boolean;
  /** Timeout of a short call (examine, listvldb, rename, ...). */
  timeoutMs: number;
  /**
   * Timeout of a call whose time grows with the cell or the volume (backupsys, backup, release,
   * remove): stopped early, it would leave a transaction open on the volserver. Default 4 hours.
   */
  longTimeoutMs?: number;
  /** How long an examine waits for a volume another operation holds (status BUSY). Default 2 minutes. */
  busyWaitMs?: number;
}

/** Subcommands whose time grows with the cell or the volume. */
const LONG_CALLS = new Set([
  'backupsys',
  'backup',
  'release',
  'remove',
  'addsite',
  'syncvldb',
  'syncserv',
  'dump',
  'restore',
]);

export interface VldbSite {
  server: string;
  partition: string;
  type: string;
}

export interface VldbEntry {
  name: string;
  rw?: number;
  ro?: number;
  backup?: number;
  sites: VldbSite[];
}

/** `vos listvldb` has no -format in 1.8.9, so this reads the human form: blank-line separated blocks. */
export function parseListvldb(text: string): VldbEntry[] {
  const entries: VldbEntry[] = [];
  let current: VldbEntry | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!line.trim()) {
      current = undefined;
      continue;
    }
    if (/^VLDB entries for /.test(line) || /^Total entries:/.test(line)) continue;
    if (!current && !/^\s/.test(line)) {
      current = { name: line.trim(), sites: [] };
      entries.push(current);
      continue;
    }
    if (!current) continue;
    for (const m of line.matchAll(/(RWrite|ROnly|Backup):\s+(\d+)/g)) {
      const id = Number(m[2]);
      if (m[1] === 'RWrite') current.rw = id;
      else if (m[1] === 'ROnly') current.ro = id;
      else current.backup = id;
    }
    const site = /^\s+server (\S+) partition (\S+) (\S+) Site/.exec(line);
    if (site) current.sites.push({ server: site[1]!, partition: site[2]!, type: site[3]! });
  }
  return entries;
}

/** `vos examine -format` / `listvol -format`: tab-separated `key value [text]` lines. Dates are epoch seconds. */
export type VolumeFields = Record<string, string>;

export function parseFormatBlock(text: string): VolumeFields {
  const fields: VolumeFields = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9]+)\t+(\S*)/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  return fields;
}

/** `vos listvol -format`: one block per volume between BEGIN_OF_ENTRY and END_OF_ENTRY. */
export function parseListvolFormat(text: string): VolumeFields[] {
  return [...text.matchAll(/BEGIN_OF_ENTRY\n([\s\S]*?)END_OF_ENTRY/g)].map((m) => parseFormatBlock(m[1]!));
}

/** The volume names a `vos backupsys -dryrun` would clone (indented lines). */
export function parseBackupsysDryRun(text: string): string[] {
  return [...text.matchAll(/(?:^|\.\. )\s+([A-Za-z0-9._-]+)\s*$/gm)].map((m) => m[1]!);
}

export interface BackupsysSummary {
  backedUp: number;
  failed: number;
  /** Each volume it could not clone, with the line vos printed just before saying so. */
  failedVolumes: { volume: string; why: string }[];
}

/**
 * `vos backupsys` exits 0 even when every volume failed: the truth is in its last line. It names each
 * volume it could not clone on stdout ("Could not backup X") and says why on stderr, one block per
 * failure ("Failed to clone the volume N" then the reason); the reasons are matched up in order when
 * the counts agree.
 */
export function parseBackupsys(stdout: string, stderr = ''): BackupsysSummary | undefined {
  const m = /Total volumes backed up: (\d+); failed to backup: (\d+)/.exec(stdout);
  if (!m) return undefined;
  const names = [...stdout.matchAll(/^\s*Could not backup (\S+)\s*$/gm)].map((f) => f[1]!);
  const blocks = stderr
    .split(/\n(?=Failed to |Could not )/)
    .map((b) => {
      const why = [
        ...new Set(
          b
            .trim()
            .split('\n')
            .slice(1)
            .map((l) => l.trim())
            .filter(Boolean),
        ),
      ];
      return why.join('; ') || b.trim();
    })
    .filter(Boolean);
  const failedVolumes = names.map((volume, i) => ({
    volume,
    why:
      blocks.length === names.length
        ? blocks[i]!
        : `vos backupsys could not clone it${stderr.trim() ? ` (vos said: ${stderr.trim().split('\n').at(-1)})` : ''}`,
  }));
  return { backedUp: Number(m[1]), failed: Number(m[2]), failedVolumes };
}

export interface Transaction {
  id: number;
  volumeId: number;
  procedure: string;
}

/** `vos status <server>`: the volserver's open transactions. */
export function parseStatus(text: string): Transaction[] {
  const out: Transaction[] = [];
  let id: number | undefined;
  for (const line of text.split('\n')) {
    const t = /^transaction: (\d+)/.exec(line);
    if (t) id = Number(t[1]);
    const v = /^volume: (\d+)\s+partition: \S+\s+procedure: (\S+)/.exec(line);
    if (v && id !== undefined) {
      out.push({ id, volumeId: Number(v[1]), procedure: v[2]! });
      id = undefined;
    }
  }
  return out;
}

export class Vos {
  constructor(private readonly opts: VosOptions) {}

  /**
   * Common trailing options for every vos call. -noresolve always: the bot needs addresses, not names,
   * and a reverse lookup per server would reach for DNS on every call.
   */
  private common(): string[] {
    const args: string[] = ['-noresolve'];
    if (this.opts.cell) args.push('-cell', this.opts.cell);
    if (this.opts.localauth) args.push('-localauth');
    if (this.opts.configDir) args.push('-config', this.opts.configDir);
    return args;
  }

  get binary(): string {
    return this.opts.binary;
  }

  /** The full argv for a vos subcommand, with the common options. */
  argv(args: readonly string[]): string[] {
    return [...args, ...this.common()];
  }

  run(args: readonly string[], signal?: AbortSignal): Promise<ToolResult> {
    const long = LONG_CALLS.has(args[0] ?? '');
    return runTool(this.opts.binary, this.argv(args), {
      timeoutMs: long ? (this.opts.longTimeoutMs ?? 4 * 3600_000) : this.opts.timeoutMs,
      ...(signal ? { signal } : {}),
    });
  }

  async listvldb(signal?: AbortSignal): Promise<{ ok: true; entries: VldbEntry[] } | ToolFailure> {
    const r = await this.run(['listvldb', '-nosort'], signal);
    if (!r.ok) return r;
    return { ok: true, entries: parseListvldb(r.stdout) };
  }

  /**
   * `vos size -dump -time <since>`: the exact size in bytes of the dump `vos dump -time <since>` would
   * write now (the volserver walks the volume's vnode index; it reads no file data).
   */
  async dumpSize(
    volume: string,
    since: number,
    signal?: AbortSignal,
  ): Promise<{ ok: true; bytes: number } | ToolFailure> {
    const r = await this.run(['size', '-id', volume, '-dump', '-time', String(since)], signal);
    if (!r.ok) return r;
    const m = /^dump_size: (\d+)$/m.exec(r.stdout);
    if (!m)
      return {
        ok: false,
        program: this.binary,
        args: ['size', '-id', volume, '-dump', '-time', String(since)],
        exitCode: 0,
        stdout: r.stdout,
        stderr: r.stderr,
        timedOut: false,
        cancelled: false,
        message: `vos size printed no dump_size: ${r.stdout.trim().slice(0, 200)}`,
        durationMs: r.durationMs,
      };
    return { ok: true, bytes: Number(m[1]) };
  }

  /**
   * `vos examine -format`: the volume's fields, or a failure; `missing` when the VLDB has no such volume.
   * A volume another operation holds (a clone, a dump, a release, another admin's vos) reads as
   * `status BUSY` with no dates or counts, and vos exits 0: that is waited out (opts.busyWaitMs), never
   * read as a volume; one the volserver cannot attach is a failure.
   */
  async examine(
    volume: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; fields: VolumeFields } | (ToolFailure & { missing: boolean })> {
    const args = ['examine', '-id', volume, '-format'];
    const waitMs = this.opts.busyWaitMs ?? 120_000;
    let last: ToolResult = await this.run(args, signal);
    const busy = (r: ToolResult) => r.ok && parseFormatBlock(r.stdout).status === 'BUSY';
    if (busy(last)) {
      await poll(
        async () => {
          last = await this.run(args, signal);
          return busy(last) ? undefined : true;
        },
        { initialMs: 250, maxMs: 5000, deadlineMs: waitMs, ...(signal ? { signal } : {}) },
      );
    }
    const r = last;
    if (!r.ok) {
      // vos ends with "Dump only information from VLDB"; the line that says why is an earlier one
      const why = `${r.stderr}\n${r.stdout}`
        .split('\n')
        .find((l) => /communication failure|does not exist|could not/i.test(l));
      const message = why && !isNoSuchVolume(r) ? `vos exited with ${r.exitCode}: ${why.trim()}` : r.message;
      return { ...r, message, missing: isNoSuchVolume(r) };
    }
    const fields = parseFormatBlock(r.stdout);
    if (fields.status === 'OK') return { ok: true, fields };
    const where = fields.serv ?? 'its server';
    const stillBusy = fields.status === 'BUSY';
    const message = stillBusy
      ? `${volume} stayed busy for ${Math.round(waitMs / 1000)} s: another volume operation holds it (vos status ${where} shows which)`
      : `${volume} cannot be read on ${where} (vos examine says status ${fields.status ?? 'nothing'}): it may need a salvage (bos salvage)`;
    return { ...saidFailure(r, this.opts.binary, this.argv(args), message, stillBusy), missing: false };
  }

  /**
   * `vos backupsys`: clones every matching read-write volume. It exits 0 even when every clone
   * failed, so the result is read from its summary line; no summary is a failure.
   */
  async backupsys(
    opts: { prefixes: string[]; xprefixes?: string[]; server?: string; dryRun?: boolean },
    signal?: AbortSignal,
  ): Promise<({ ok: true; volumes: string[] } & BackupsysSummary) | ToolFailure> {
    const args = ['backupsys'];
    if (opts.prefixes.length) args.push('-prefix', ...opts.prefixes);
    if (opts.xprefixes?.length) args.push('-xprefix', ...opts.xprefixes);
    if (opts.server) args.push('-server', opts.server);
    if (opts.dryRun) args.push('-dryrun');
    const r = await this.run(args, signal);
    if (!r.ok) return r;
    const summary = parseBackupsys(r.stdout, r.stderr);
    if (!summary) {
      return {
        ...r,
        ok: false,
        exitCode: 0,
        timedOut: false,
        cancelled: false,
        program: this.binary,
        args,
        message: `vos backupsys printed no summary: ${lastLine(r.stderr) || lastLine(r.stdout)}`,
      };
    }
    return { ok: true, ...summary, volumes: opts.dryRun ? parseBackupsysDryRun(r.stdout) : [] };
  }

  /** `vos listvol -format` of a server (and partition): every volume's fields. */
  async listvol(
    server: string,
    partition?: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; volumes: VolumeFields[] } | ToolFailure> {
    const r = await this.run(
      ['listvol', '-server', server, ...(partition ? ['-partition', partition] : []), '-format'],
      signal,
    );
    if (!r.ok) return r;
    return { ok: true, volumes: parseListvolFormat(r.stdout) };
  }

  /** `vos backup`: (re)makes the .backup clone of a read-write volume. */
  backup(volume: string, signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['backup', '-id', volume], signal);
  }

  remove(volume: string, signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['remove', '-id', volume], signal);
  }

  release(volume: string, signal?: AbortSignal): Promise<ToolResult> {
    return this.run(['release', '-id', volume], signal);
  }

  /**
   * A vos client killed in the middle of a dump or restore leaves its volserver transaction open, and
   * the volume stays busy (no backup, remove or restore) until the volserver times it out. Ends the
   * transactions on `volumeId`; returns how many.
   */
  async endTransactions(server: string, volumeId: number, waitMs = 120_000): Promise<number> {
    const open = async () => {
      const st = await this.run(['status', '-server', server]);
      return st.ok ? parseStatus(st.stdout).filter((x) => x.volumeId === volumeId) : [];
    };
    const found = await open();
    for (const t of found) await this.run(['endtrans', '-server', server, '-transaction', String(t.id)]);
    // The volserver lets go once the aborted call unwinds: usually a second or two, but up to about a
    // minute when it has to wait out its call to the dead client.
    if (found.length > 0)
      await poll(async () => ((await open()).length === 0 ? true : undefined), {
        initialMs: 250,
        maxMs: 2000,
        deadlineMs: waitMs,
      });
    return found.length;
  }

  /**
   * Removes a volume that a killed vos restore may have left half-made: its open transactions are
   * ended first, or the volserver would refuse. `gone` is true when the volume no longer exists.
   */
  async removeAfterAbort(
    volume: string,
    opts: { expectId?: number; waitMs?: number } = {},
  ): Promise<{ gone: boolean; why?: string }> {
    let why = `${volume} stayed busy`;
    const r = await poll(
      async (): Promise<{ gone: boolean; why?: string } | undefined> => {
        const e = await this.listvldbEntry(volume);
        if (e.ok && !e.entry) return { gone: true };
        if (e.ok && opts.expectId !== undefined && e.entry?.rw !== opts.expectId) {
          return {
            gone: false,
            why: `${volume} is now id ${e.entry?.rw}, not the ${opts.expectId} this job made; left alone`,
          };
        }
        if (e.ok && e.entry?.rw) {
          for (const site of e.entry.sites) await this.endTransactions(site.server, e.entry.rw, 2000);
        }
        const rm = await this.remove(volume);
        if (rm.ok || isNoSuchVolume(rm)) return { gone: true };
        why = rm.message;
        // A restore whose client died holds the volume until the volserver's call times out (about a minute).
        return /busy/i.test(`${rm.stderr}${rm.stdout}`) ? undefined : { gone: false, why };
      },
      { initialMs: 2000, maxMs: 5000, deadlineMs: opts.waitMs ?? 120_000 },
    );
    return r ?? { gone: false, why };
  }

  async listvldbEntry(
    volume: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; entry: VldbEntry | undefined } | ToolFailure> {
    const r = await this.run(['listvldb', '-name', volume], signal);
    if (!r.ok) return isNoSuchVolume(r) ? { ok: true, entry: undefined } : r;
    return { ok: true, entry: parseListvldb(r.stdout)[0] };
  }
}

/** vos says "VLDB: no such entry" (or "no such entry") when a volume does not exist. */
export function isNoSuchVolume(r: ToolFailure): boolean {
  return /no such entry/i.test(r.stderr) || /no such entry/i.test(r.stdout);
}

/**
 * The VLDB names the volume but its server has none: `vos examine` of a .backup clone that was never
 * made says "Could not fetch the information about volume N from the server".
 */
export function isNotOnServer(r: ToolFailure): boolean {
  return /could not fetch the info/i.test(r.stderr) || /could not fetch the info/i.test(r.stdout);
}

export const VOLUME_NAME_MAX = 22;

/** Why a name cannot be a volume name, or undefined when it can. */
export function volumeNameProblem(name: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    return `"${name}" is not a volume name (letters, digits, dots, dashes, underscores)`;
  if (name.length > VOLUME_NAME_MAX)
    return `"${name}" is ${name.length} characters long; AFS volume names have at most ${VOLUME_NAME_MAX}`;
  if (/\.(backup|readonly)$/.test(name))
    return `"${name}" ends in .backup or .readonly, which AFS reserves for clones`;
  // vos takes an all-digit argument as a volume id: "!promote 536870915 ..." would act on whatever
  // volume has that id
  if (/^\d+$/.test(name))
    return `"${name}" is all digits, which vos reads as a volume id, not a name; give the volume's name (vos examine ${name} shows it)`;
  return undefined;
}
