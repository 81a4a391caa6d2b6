// The benchmarks' way to run programs: each in its own process group, remembered, so that Ctrl-C
// (SIGINT) or SIGTERM stops exactly what the benchmark started and nothing else.
import { type ChildProcess, spawn } from 'node:child_process';

const running = new Set<ChildProcess>();
let interrupted = false;

/** Installs the SIGINT/SIGTERM handlers once; `say` reports the interrupt. */
export function stopChildrenOnSignal(say: (text: string) => void): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      interrupted = true;
      say(`${sig}: stopping what this benchmark started`);
      for (const c of running)
        if (c.pid)
          try {
            process.kill(-c.pid, 'SIGTERM');
          } catch {
            // already gone
          }
    });
}

/** Runs a program in its own process group; resolves with its output and wall time, rejects on failure. */
export function run(
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stdout: string; ms: number }> {
  if (interrupted) return Promise.reject(new Error('interrupted'));
  const started = performance.now();
  const child = spawn(program, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-8192);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      running.delete(child);
      if (code === 0) resolve({ stdout, ms: performance.now() - started });
      else
        reject(new Error(`${program} ${args.join(' ').slice(0, 300)} exited ${code}: ${stderr || stdout}`));
    });
  });
}
