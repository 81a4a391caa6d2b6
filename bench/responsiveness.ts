// Benchmark: an admin's !ping round trip, on IRC (InspIRCd's default connect class: about 10 lines at
// once, then one a second) and on the console, while the bot is idle and while a nightly run posts its
// lines and report into the same IRC channel and the console. One bot, real peers, one run; prints
// percentiles and the ratios busy/idle. Asserts nothing.
//
//   sudo npx tsx bench/responsiveness.ts          (from the repo root)
//
// Goals (issue 11): p99 under 250 ms on IRC and under 50 ms on the console while a run posts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ConsoleAdapter } from '../adapters/console/console-adapter.ts';
import { IrcAdapter } from '../adapters/irc/irc-adapter.ts';
import { Bot } from '../bot/bot.ts';
import { loadConfig } from '../bot/platform/config.ts';
import { createLogger } from '../bot/platform/log.ts';
import { sandboxEnv } from '../test/support/bot-env.ts';
import { freshVolume, writeVolumeFile } from '../test/support/cell-tools.ts';
import { IrcUser } from '../test/support/irc-user.ts';
import { cellDown, cellUp, ircDown, ircUp } from '../test/support/peers.ts';

const NAME = 'respbench';
const VOLUMES = Number(process.env.AFSBOT_BENCH_VOLUMES ?? 20);
const PINGS = Number(process.env.AFSBOT_BENCH_PINGS ?? 30);
const say = (t: string) => process.stderr.write(`[responsiveness] ${t}\n`);

function stats(ms: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? 0;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? 0 };
}

async function main(): Promise<void> {
  const [cell, irc] = await Promise.all([cellUp(NAME), ircUp(NAME, ['--class', 'default'])]);
  try {
    say(`filling ${VOLUMES} volumes`);
    for (let i = 0; i < VOLUMES; i++) {
      await freshVolume(cell, `rb.${i}`);
      writeVolumeFile(cell, `rb.${i}`, 'blob.bin', randomBytes(20_000_000));
    }
    const dir = mkdtempSync(join(tmpdir(), 'afsbot-resp-'));
    const pw = join(dir, 'irc-password');
    writeFileSync(pw, `${irc.passwords.afsbot}\n`, { mode: 0o600 });
    const config = loadConfig({
      env: {
        ...sandboxEnv(cell, dir),
        AFSBOT_NIGHTLY_PREFIXES: 'rb.',
        AFSBOT_NIGHTLY_SCHEDULE: '0 3 1 1 *',
        AFSBOT_ADMINS: 'alice irc:alice',
        AFSBOT_IRC: '1',
        AFSBOT_IRC_HOST: irc.host,
        AFSBOT_IRC_PORT: String(irc.port),
        AFSBOT_IRC_TLS: '0',
        AFSBOT_IRC_NICK: 'afsbot',
        AFSBOT_IRC_ACCOUNT: 'afsbot',
        AFSBOT_IRC_PASSWORD_FILE: pw,
        AFSBOT_IRC_CHANNELS: '#ops',
        AFSBOT_IRC_PROGRESS_INTERVAL_MS: '1000',
      },
    });
    const log = createLogger({ level: 'warn', file: join(dir, 'afsbot.log') });
    const input = new PassThrough();
    const output = new PassThrough();
    let consoleOut = '';
    output.on('data', (d: Buffer) => {
      consoleOut += d.toString();
    });
    const consoleAdapter = new ConsoleAdapter({ input, output, user: 'root', prompt: false });
    const ircAdapter = new IrcAdapter({ ...config.irc, prefix: '!', progressIntervalMs: 1000, log });
    const bot = new Bot({ config, log, adapters: [ircAdapter, consoleAdapter] });
    await bot.start();
    const alice = await IrcUser.loggedInAs(irc, 'alice', 'alice', '#ops');
    // the server's fake lag counts alice's registration lines too: let it drain before measuring
    await new Promise((r) => setTimeout(r, 12_000));

    const ircPing = async () => {
      const t = performance.now();
      await alice.ask('#ops', '!ping', /^pong$/, 'afsbot', 20_000);
      return performance.now() - t;
    };
    const consolePing = async () => {
      const before = consoleOut.length;
      const t = performance.now();
      input.write('!ping\n');
      while (!consoleOut.slice(before).includes('pong\n')) await new Promise((r) => setImmediate(r));
      return performance.now() - t;
    };
    const running = () => bot.services.jobs.list(0).some((j) => j.kind === 'nightly');
    const round = async (busy: boolean) => {
      const ircMs: number[] = [];
      const consoleMs: number[] = [];
      if (busy) await bot.services.schedule.fire('nightly');
      // idle: PINGS of each; busy: as many as fit while the run goes on (it posts all along)
      for (let i = 0; busy ? running() : i < PINGS; i++) {
        ircMs.push(await ircPing());
        consoleMs.push(await consolePing());
        await new Promise((r) => setTimeout(r, 1000)); // an admin typing, not a flood of her own
      }
      if (busy) await bot.services.jobs.drain();
      return { irc: stats(ircMs), console: stats(consoleMs) };
    };
    say('idle');
    const idle = await round(false);
    say('while a nightly run posts');
    const t = Date.now();
    const busy = await round(true);
    say(`the run and the pings took ${((Date.now() - t) / 1000).toFixed(1)} s`);
    await alice.quit();
    await bot.stop();

    const f = (x: number) => x.toFixed(0);
    console.log('| chat | state | pings | p50 ms | p99 ms | max ms |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const [chat, key] of [
      ['IRC (default class)', 'irc'],
      ['console', 'console'],
    ] as const) {
      for (const [state, r] of [
        ['idle', idle],
        ['nightly run posting', busy],
      ] as const)
        console.log(
          `| ${chat} | ${state} | ${r[key].n} | ${f(r[key].p50)} | ${f(r[key].p99)} | ${f(r[key].max)} |`,
        );
    }
    console.log(
      `summary: irc_p99_ms=${f(busy.irc.p99)} console_p99_ms=${f(busy.console.p99)} irc_busy/idle_p99=${(busy.irc.p99 / Math.max(1, idle.irc.p99)).toFixed(2)} console_busy/idle_p99=${(busy.console.p99 / Math.max(0.001, idle.console.p99)).toFixed(2)}`,
    );
  } finally {
    await Promise.allSettled([cellDown(NAME), ircDown(NAME)]);
  }
}

main().catch((err: Error) => {
  say(err.stack ?? err.message);
  process.exit(1);
});
