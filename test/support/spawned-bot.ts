// The real program (bin/afsbot --console), spawned, for tests where it must die: scripted sessions,
// and a run killed with SIGKILL at a chosen moment (a named fault point, or the moment one of its
// tools starts), as a power cut would; or one stopped at a fault point (AFSBOT_FAULT=<point>:stop),
// a real second afsbot process holding what it holds there.

import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { isStopped } from '../../actions/exec.ts';
import { repoRoot } from './peers.ts';

const bin = join(repoRoot, 'bin/afsbot');

/** Runs a scripted console session to its end (the console waits for the jobs it started). */
export async function session(
  env: Record<string, string>,
  input: string,
  timeoutMs = 180_000,
): Promise<string> {
  const r = await execa(bin, ['--console'], { env, input, reject: false, timeout: timeoutMs });
  if (r.exitCode !== 0) throw new Error(`the session exited with ${r.exitCode}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The processes started by `pid`, at any depth: [pid, command line]. */
export function descendants(pid: number): { pid: number; cmdline: string }[] {
  const parent = new Map<number, number>();
  const cmd = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmd.set(Number(name), readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim());
    } catch {
      // gone meanwhile
    }
  }
  const out: { pid: number; cmdline: string }[] = [];
  for (const [p] of parent) {
    for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q))
      if (q === pid) {
        out.push({ pid: p, cmdline: cmd.get(p) ?? '' });
        break;
      }
  }
  return out;
}

/** A process at any depth below `pid` whose command line matches; waits for it to appear. */
export async function waitForProcess(pid: number, re: RegExp, ms = 60_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = descendants(pid).find((d) => re.test(d.cmdline));
    if (hit) return hit.pid;
    if (Date.now() > deadline) throw new Error(`no process matching ${re} appeared`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Runs a session and kills the bot with SIGKILL when `when` says: `{ fault }` sets AFSBOT_FAULT (the bot
 * kills itself at that point); `{ tool }` kills it the moment one of its descendants' command lines
 * matches. Resolves with what it printed before it died. Throws if it was never killed.
 */
export async function killedSession(
  env: Record<string, string>,
  input: string,
  when: { fault: string } | { tool: RegExp; powerCut?: boolean },
  timeoutMs = 120_000,
): Promise<{ out: string; killedAt: string }> {
  const proc = execa(bin, ['--console'], {
    env: 'fault' in when ? { ...env, AFSBOT_FAULT: when.fault } : env,
    input,
    reject: false,
    timeout: timeoutMs,
  });
  let killedAt = 'fault' in when ? when.fault : '';
  if ('tool' in when) {
    const deadline = Date.now() + timeoutMs;
    while (proc.exitCode === null && Date.now() < deadline) {
      const hit = descendants(proc.pid!).find((d) => when.tool.test(d.cmdline));
      if (hit) {
        killedAt = hit.cmdline;
        // a power cut takes the tools with it; a kill of the bot alone leaves them running, orphaned
        const tree = when.powerCut ? descendants(proc.pid!) : [];
        proc.kill('SIGKILL');
        for (const d of tree) {
          try {
            process.kill(d.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const r = await proc;
  if (r.signal !== 'SIGKILL')
    throw new Error(
      `the bot was never killed (${killedAt || JSON.stringify(when)}):\n${r.stdout}\n${r.stderr}`,
    );
  return { out: String(r.stdout), killedAt };
}

/** Waits until `child` has stopped itself at its fault point; fails if it exits first, naming `what`. */
export async function stoppedAtFault(child: ChildProcess, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!isStopped(child.pid)) {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode} before its fault point`);
    if (Date.now() > deadline) throw new Error(`${what} never reached its fault point`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
