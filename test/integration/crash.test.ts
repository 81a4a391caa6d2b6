// The bot process dies (SIGKILL) in the middle of a dump and of a restore. The next start marks each
// job interrupted, cleans up what it left (the partial file, the clone kept busy on the volserver,
// the half-restored volume), and says so.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseStatus } from '../../actions/vos.ts';
import { sandboxEnv } from '../support/bot-env.ts';
import {
  busyTransactions,
  cellVos,
  freshVolume,
  removeIfThere,
  vosOk,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { repoRoot } from '../support/peers.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const VOL = 'user.t3crash';
const dir = mkdtempSync(join(tmpdir(), 'afsbot-crash-'));
const env = sandboxEnv(cell, dir);

function start() {
  let out = '';
  const proc = execa(join(repoRoot, 'bin/afsbot'), ['--console'], { env, stdin: 'pipe', reject: false });
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { proc, out: () => out };
}

/** Runs a scripted session to its end (the console waits for the jobs it started). */
async function session(input: string): Promise<string> {
  const r = await execa(join(repoRoot, 'bin/afsbot'), ['--console'], {
    env,
    input,
    reject: false,
    timeout: 120_000,
  });
  expect(r.exitCode).toBe(0);
  return r.stdout;
}

async function waitFor(out: () => string, re: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(out());
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got:\n${out()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  await removeIfThere(cell, 't3.crash');
  await freshVolume(cell, VOL);
  for (let i = 0; i < 4; i++) writeVolumeFile(cell, VOL, `blob${i}.bin`, randomBytes(40_000_000));
}, 120_000);

describe('a crash in the middle of a job', () => {
  it('mid-dump: the next start removes the partial file and frees the clone', async () => {
    const bot = start();
    bot.proc.stdin!.write(`!dump ${VOL} full\n`);
    const id = (await waitFor(bot.out, /job (\d+) started/))[1];
    // kill it once the partial file is being written
    const deadline = Date.now() + 30_000;
    const partial = () =>
      readdirSync(join(dir, 'dumps'), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.partial'));
    while (Date.now() < deadline) {
      try {
        if (partial().length > 0) break;
      } catch {
        // the date directory is not there yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    bot.proc.kill('SIGKILL');
    await bot.proc;
    expect(partial()).toHaveLength(1);

    const out = await session('!jobs\n');
    expect(out).toMatch(
      new RegExp(
        `job ${id} \\(full dump of ${VOL.replace('.', '\\.')}\\) was interrupted: afsbot stopped while it ran\\. Cleaned up: .*removed the partial dump file`,
      ),
    );
    expect(out).toMatch(new RegExp(`job ${id} interrupted full dump of`));
    expect(partial()).toEqual([]);
    expect(await busyTransactions(cell, VOL)).toBe(0);
  });

  it('mid-restore: the next start removes the half-restored volume', { timeout: 240_000 }, async () => {
    const dumped = await session(`!dump ${VOL} full\n`);
    expect(dumped).toMatch(/done: full dump of user\.t3crash/);

    const bot = start();
    bot.proc.stdin!.write(`!restore ${VOL} as t3.crash\n`);
    const id = (await waitFor(bot.out, /job (\d+) started/))[1];
    // kill it while vos restore is writing into this volume (other test files restore on the same
    // server: only a transaction on t3.crash's own id counts)
    const deadline = Date.now() + 30_000;
    const restoring = async () => {
      const e = await vos.listvldbEntry('t3.crash'); // the VLDB: vos examine would find it busy
      const id = e.ok ? e.entry?.rw : undefined;
      if (id === undefined) return false;
      return parseStatus(await vosOk(vos, ['status', '-server', cell.server])).some(
        (t) => t.procedure === 'Restore' && t.volumeId === id,
      );
    };
    while (!(await restoring())) {
      if (Date.now() > deadline) throw new Error('the restore never started writing');
      await new Promise((r) => setTimeout(r, 50));
    }
    bot.proc.kill('SIGKILL');
    await bot.proc;

    const out = await session('!jobs\n');
    expect(out).toMatch(
      new RegExp(
        `job ${id} \\(restore ${VOL.replace('.', '\\.')} of .* as t3\\.crash\\) was interrupted: afsbot stopped while it ran\\. Cleaned up: removed the half-restored volume t3\\.crash\\. Nothing is left behind\\.`,
      ),
    );
    // the VLDB answered, and has no such entry
    expect(await vos.listvldbEntry('t3.crash')).toEqual({ ok: true, entry: undefined });
  });
});
