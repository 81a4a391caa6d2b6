// The AFS protection server, read only: a user's PTS id and the groups it is in, for deciding what a
// user may ask to have restored (the access lists in a dump name users and groups by PTS id).
import { runTool, saidFailure, type ToolFailure } from './exec.ts';

export interface PtsOptions {
  binary: string;
  cell?: string;
  localauth: boolean;
  configDir?: string;
  timeoutMs: number;
}

/** The ids that stand for everyone (system:anyuser) and every authenticated user (system:authuser). */
export const ANYUSER = -101;
export const AUTHUSER = -102;

export class Pts {
  constructor(private readonly opts: PtsOptions) {}

  argv(args: readonly string[]): string[] {
    return [
      ...args,
      ...(this.opts.cell ? ['-cell', this.opts.cell] : []),
      ...(this.opts.localauth ? ['-localauth'] : []),
      ...(this.opts.configDir ? ['-config', this.opts.configDir] : []),
    ];
  }

  private run(args: string[], signal?: AbortSignal) {
    return runTool(this.opts.binary, this.argv(args), {
      timeoutMs: this.opts.timeoutMs,
      ...(signal ? { signal } : {}),
    });
  }

  /** `pts examine`: the id of a user or group; `missing` when the protection database has no such name. */
  async id(
    name: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true; id: number } | (ToolFailure & { missing: boolean })> {
    const r = await this.run(['examine', '-nameorid', name], signal);
    if (!r.ok) return { ...r, missing: /doesn't exist|no such|not found/i.test(`${r.stderr}${r.stdout}`) };
    const m = /\bid: (-?\d+)/.exec(r.stdout);
    if (!m)
      return {
        ...saidFailure(
          r,
          this.opts.binary,
          this.argv(['examine', '-nameorid', name]),
          `pts examine ${name} printed no id`,
        ),
        missing: false,
      };
    return { ok: true, id: Number(m[1]) };
  }

  /** The ids of the groups a user is in (`pts membership`, each named group examined for its id). */
  async groupIds(user: string, signal?: AbortSignal): Promise<{ ok: true; ids: number[] } | ToolFailure> {
    const r = await this.run(['membership', '-nameorid', user], signal);
    if (!r.ok) return r;
    const names = r.stdout
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .filter(Boolean);
    const ids: number[] = [];
    for (const n of names) {
      const g = await this.id(n, signal);
      if (!g.ok) return g;
      ids.push(g.id);
    }
    return { ok: true, ids };
  }
}
