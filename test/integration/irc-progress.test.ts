// A job's progress in an IRC channel, end to end on the real server: a line now and then so the
// channel sees the job is alive (at most one per jobs.ircProgressIntervalMs), never one for the final
// update, and the result after the last of them. The job is a real dump that takes several seconds
// because its zstd runs at level 19 (about 3 MB/s on incompressible data here): 24 MB through FUSE,
// not the hundreds a dump at the default level would need.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import { freshVolume, removeIfThere, writeVolumeFile } from '../support/cell-tools.ts';
import { IrcUser } from '../support/irc-user.ts';

const irc = inject('irc');
const cell = inject('cell');
const chan = '#ops-progress';
const VOL = 'irc.prog';
const INTERVAL = 2000;
let h: Harness;
let alice: IrcUser;

beforeAll(async () => {
  await freshVolume(cell, VOL);
  writeVolumeFile(cell, VOL, 'a.bin', randomBytes(24_000_000));
  h = await startIrcBot({
    irc,
    cell,
    channels: [chan],
    env: { AFSBOT_IRC_PROGRESS_INTERVAL_MS: String(INTERVAL), AFSBOT_DUMPS_ZSTD_LEVEL: '19' },
  });
  alice = await IrcUser.inChannel(irc, chan, 'alice_prog', 'alice');
}, 120_000);

afterAll(async () => {
  await alice?.quit();
  await h?.stop();
  await removeIfThere(cell, VOL);
});

describe('progress on IRC', () => {
  it('a line at most every interval while the dump runs, none for its end, the result last', {
    timeout: 120_000,
  }, async () => {
    const since = alice.seen.length;
    alice.say(chan, `!dump ${VOL} full`);
    const done = /^job (\d+) \(full dump of irc\.prog\) (done|failed)/;
    const msgs = await alice.waitFor(h.nick, (m) => m.some((x) => done.test(x.message)), 100_000, since);
    const [started, ...rest] = msgs;
    expect(started?.message).toMatch(/^job \d+ started: /);
    const id = /^job (\d+)/.exec(started!.message)![1];
    const result = rest.at(-1)!;
    expect(result.message).toMatch(new RegExp(`^job ${id} \\(full dump of irc\\.prog\\) done: `));
    const progress = rest.slice(0, -1);
    // every line between the answer and the result is this job's progress
    const line = new RegExp(
      `^job ${id} full dump of irc\\.prog: dumping (\\d+)% \\(.* of .*\\) at .*/s(, about \\d+s left)?$`,
    );
    for (const p of progress) expect(p.message).toMatch(line);
    const took = result.at - started!.at;
    process.stderr.write(
      `[irc-progress] ${progress.length} progress lines in ${(took / 1000).toFixed(1)} s: ${progress.map((p) => p.at - started!.at).join(', ')} ms after the answer\n`,
    );
    // the channel saw it was alive: the dump ran long enough for at least two lines
    expect(took).toBeGreaterThan(3 * INTERVAL);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    // and was not flooded: the job reports every second, the channel gets a line per interval at
    // most (allowing for the lines' own delivery, a quarter of it); the first comes an interval after
    // the answer, whose own update is silent
    const seq = [started!, ...progress];
    const gaps = seq.slice(1).map((p, i) => p.at - seq[i]!.at);
    for (const g of gaps) expect(g).toBeGreaterThan(INTERVAL * 0.75);
    expect(progress.length).toBeLessThanOrEqual(Math.floor(took / INTERVAL));
    // the percent only grows
    const pct = progress.map((p) => Number(line.exec(p.message)![1]));
    expect(pct).toEqual([...pct].sort((a, b) => a - b));
  });
});
