// Benchmark: the bot's memory when idle, as the built program (dist/, `npm run build`) and from the
// TypeScript through tsx, in one run. Each is started on a real IRC server with services and the real
// test cell, joins its channel, answers a !ping, and after a settling time its RSS is read from
// /proc (VmRSS, and VmHWM for the peak since start). Prints figures and the ratio; asserts nothing.
//
//   sudo npx tsx bench/idle.ts            (from the repo root)
//
// Goal (issue 10): under 80 MiB idle for the built program.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxEnv } from '../test/support/bot-env.ts';
import { IrcUser } from '../test/support/irc-user.ts';
import { cellDown, cellUp, ircDown, ircUp, repoRoot } from '../test/support/peers.ts';

const NAME = 'idle';
const SETTLE_MS = Number(process.env.AFSBOT_BENCH_SETTLE_MS ?? 10_000);
const say = (t: string) => process.stderr.write(`[idle] ${t}\n`);

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

async function measure(
  label: string,
  env: NodeJS.ProcessEnv,
  irc: Awaited<ReturnType<typeof ircUp>>,
): Promise<{ rss: number; hwm: number }> {
  const child: ChildProcess = spawn(join(repoRoot, 'bin/afsbot'), [], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const user = await IrcUser.loggedInAs(irc, 'alice', `alice_${label}`, '#idle');
    IrcUser.bot = env.AFSBOT_IRC_NICK!;
    const deadline = Date.now() + 30_000;
    let pong = '';
    while (!pong && Date.now() < deadline) {
      pong = await user.ask('#idle', '!ping', /pong/, IrcUser.bot, 3000).catch(() => '');
    }
    if (!pong) throw new Error(`the ${label} bot never answered !ping`);
    await user.quit();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    // node is exec'ed by the shell wrapper, so the child's pid is node's
    return memory(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function main(): Promise<void> {
  say('building dist/ (npm run build)');
  execFileSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: 'ignore' });
  const [cell, irc] = await Promise.all([cellUp(NAME), ircUp(NAME)]);
  try {
    const dir = mkdtempSync(join(tmpdir(), 'afsbot-idle-'));
    const passwordFile = join(dir, 'irc-password');
    writeFileSync(passwordFile, `${irc.passwords.afsbot}\n`, { mode: 0o600 });
    const env = (nick: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
      ...process.env,
      ...sandboxEnv(cell, join(dir, nick)),
      AFSBOT_IRC: '1',
      AFSBOT_IRC_HOST: irc.host,
      AFSBOT_IRC_PORT: String(irc.port),
      AFSBOT_IRC_TLS: '0',
      AFSBOT_IRC_NICK: nick,
      AFSBOT_IRC_ACCOUNT: 'afsbot',
      AFSBOT_IRC_PASSWORD_FILE: passwordFile,
      AFSBOT_IRC_CHANNELS: '#idle',
      AFSBOT_ADMINS: 'alice irc:alice',
      ...extra,
    });
    const built = await measure('built', env('afsbot-built'), irc);
    const source = await measure('source', env('afsbot-tsx', { AFSBOT_FROM_SOURCE: '1' }), irc);
    const row = (l: string, m: { rss: number; hwm: number }) =>
      `| ${l} | ${m.rss.toFixed(1)} MiB | ${m.hwm.toFixed(1)} MiB |`;
    console.log('| program | idle RSS | peak RSS |');
    console.log('| --- | --- | --- |');
    console.log(row('built (node dist/bin/afsbot.js)', built));
    console.log(row('source (node --import tsx bin/afsbot.ts)', source));
    console.log(
      `summary: built_rss_mib=${built.rss.toFixed(1)} source_rss_mib=${source.rss.toFixed(1)} source/built=${(source.rss / built.rss).toFixed(2)}`,
    );
  } finally {
    await Promise.allSettled([cellDown(NAME), ircDown(NAME)]);
  }
}

main().catch((err: Error) => {
  say(err.stack ?? err.message);
  process.exit(1);
});
