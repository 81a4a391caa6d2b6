// fs, the AFS cache manager's tool, needs the kernel module, which cannot load on every machine (and
// not on the test machines). So every fs call afsbot makes goes through this one narrow driver: the
// argv is built here, in one place, and tests check it exactly.
import { runTool, type ToolResult } from './exec.ts';

export class FsDriver {
  constructor(private readonly opts: { binary: string; timeoutMs: number }) {}

  static mkmountArgv(dir: string, volume: string): string[] {
    return ['mkmount', '-dir', dir, '-vol', volume];
  }

  static rmmountArgv(dir: string): string[] {
    return ['rmmount', '-dir', dir];
  }

  mkmount(dir: string, volume: string, signal?: AbortSignal): Promise<ToolResult> {
    return runTool(this.opts.binary, FsDriver.mkmountArgv(dir, volume), {
      timeoutMs: this.opts.timeoutMs,
      ...(signal ? { signal } : {}),
    });
  }

  rmmount(dir: string, signal?: AbortSignal): Promise<ToolResult> {
    return runTool(this.opts.binary, FsDriver.rmmountArgv(dir), {
      timeoutMs: this.opts.timeoutMs,
      ...(signal ? { signal } : {}),
    });
  }
}
