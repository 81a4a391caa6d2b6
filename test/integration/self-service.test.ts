// Restores users ask for themselves, end to end on the real IRC server with services and the real cell:
// mallory (a services account, no admin) asks for a file of her own volume as of a night; bob (an
// admin) approves; the night is restored into a staging volume of the request's own, with the dump's
// access lists, mounted where she was told (fs by the argv it gets); after selfService.keepDays the
// schedule removes it and tells her. Refused, each with the reason and audited: a file of another
// user's volume that the access lists did not give her, a user not logged in, a user over the limit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DumpParser, type DumpVnode } from '../../actions/dump-parser.ts';
import { Pts } from '../../actions/pts.ts';
import { type Harness, startIrcBot } from '../support/bot-harness.ts';
import {
  cellVos,
  freshVolume,
  isGone,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  volumePath,
  vosOk,
  writeVolumeFile,
} from '../support/cell-tools.ts';
import { IrcUser } from '../support/irc-user.ts';

const irc = inject('irc');
const cell = inject('cell');
const vos = cellVos(cell);
const chan = '#ops-self';
const OWN = 'user.mallory';
const OTHER = 'user.ssother';
const dir = mkdtempSync(join(tmpdir(), 'afsbot-self-'));
const fsLog = join(dir, 'fs-calls.log');
const fakeFs = join(dir, 'fs');
const mountDir = `/afs/.${cell.cell}/restores`;
let now = new Date();
let h: Harness;
let mallory: IrcUser;
const users: IrcUser[] = [];

async function user(nick: string, account?: 'alice' | 'bob' | 'mallory'): Promise<IrcUser> {
  const u = await IrcUser.inChannel(irc, chan, nick, account);
  users.push(u);
  return u;
}

beforeAll(async () => {
  const pts = new Pts({
    binary: 'pts',
    cell: cell.cell,
    localauth: true,
    configDir: cell.configDir,
    timeoutMs: 60_000,
  });
  if (!(await pts.id('mallory')).ok)
    execFileSync('pts', pts.argv(['createuser', '-name', 'mallory', '-id', '7301']));
  for (const v of ['rq.1', 'rq.1.t', 'rq.2', 'rq.3', 'rq.4']) await removeIfThere(cell, v);
  await freshVolume(cell, OWN);
  writeVolumeFile(cell, OWN, 'thesis.tex', 'chapter one\n');
  writeVolumeFile(cell, OWN, 'other/letters.txt', 'not asked for\n');
  await freshVolume(cell, OTHER);
  writeVolumeFile(cell, OTHER, 'secret.txt', 'not for mallory\n');
  await nextSecond();
  writeFileSync(fakeFs, `#!/bin/sh\n{ for a in "$@"; do printf '%s|' "$a"; done; echo; } >> ${fsLog}\n`, {
    mode: 0o755,
  });
  h = await startIrcBot({
    irc,
    cell,
    channels: [chan],
    env: {
      AFSBOT_FS: fakeFs,
      AFSBOT_SELF_SERVICE_MOUNT_DIR: mountDir,
      AFSBOT_TIME_ZONE: 'UTC',
      // a user who is no admin gets 3 answers at once, then one a minute (chat.strangerBurst): this
      // test asks more than that in a row
      AFSBOT_CHAT_STRANGER_BURST: '10',
    },
  });
  h.bot.services.clock = () => now;
}, 120_000);

afterAll(async () => {
  await Promise.all(users.map((u) => u.quit()));
  await h?.stop();
  for (const v of ['rq.1', 'rq.2', 'rq.3', 'rq.4', OWN, OTHER]) await removeIfThere(cell, v);
});

describe('a restore a user asks for', () => {
  it('mallory asks for her file, bob approves, it is restored and mounted where she is told', async () => {
    const alice = await user('alice_ss', 'alice');
    const bob = await user('bob_ss', 'bob');
    mallory = await user('mallory_ss', 'mallory');
    for (const v of [OWN, OTHER])
      expect(await alice.ask(chan, `!dump ${v} full`, /done|failed/, IrcUser.bot, 60_000)).toMatch(/done/);
    writeVolumeFile(cell, OWN, 'thesis.tex', 'chapter one, overwritten by mistake\n');

    const plan = await mallory.ask(
      chan,
      `!request-restore ${OWN} thesis.tex`,
      /^Request \d+: nothing happens|error|refused/,
    );
    expect(plan).toMatch(/^Request \d+: nothing happens until an admin/);
    const id = /^Request (\d+)/.exec(plan)![1]!;
    const since = mallory.seen.length;
    bob.say(chan, `!approve ${id}`);
    const lines = await mallory.waitFor(
      IrcUser.bot,
      (m) => m.some((x) => /holds thesis\.tex alone|request-restore.* failed|\) failed:/.test(x.message)),
      180_000,
      since,
    );
    const text = lines.map((l) => l.message).join('\n');
    expect(text).toMatch(
      new RegExp(
        `request 1: thesis\\.tex of user\\.mallory as of \\S+ is restored for mallory in ${mountDir.replace(/\./g, '\\.')}/mallory-1, until `,
      ),
    );
    // the staging volume holds the night's content of the path asked for, and nothing else; the scratch
    // volume the night went into first is gone
    expect(readVolumeFile(cell, 'rq.1', 'thesis.tex').toString()).toBe('chapter one\n');
    expect(readdirSync(volumePath(cell, 'rq.1')).sort()).toEqual(['thesis.tex']);
    expect(text).toMatch(/rq\.1 holds thesis\.tex alone/);
    expect(await isGone(vos, 'rq.1.t')).toBe(true);
    expect(readdirSync(h.config.dumps.stagingDir).filter((f) => f.startsWith('request-'))).toEqual([]);
    expect(readFileSync(fsLog, 'utf8').trim().split('\n').at(-1)).toMatch(
      new RegExp(`^mkmount\\|-dir\\|${mountDir.replace(/\./g, '\\.')}/mallory-1\\|-vol\\|rq\\.1\\|`),
    );
    expect(readVolumeFile(cell, OWN, 'thesis.tex').toString()).toBe('chapter one, overwritten by mistake\n');
    // the staging volume has the night's access lists: its own dump's root ACL is the one indexed then
    const back = join(dir, 'rq1.dump');
    await vosOk(vos, ['dump', '-id', 'rq.1', '-time', '0', '-file', back]);
    const vnodes: DumpVnode[] = [];
    await pipeline(
      Readable.from(readFileSync(back)),
      new DumpParser({ volume: () => {}, vnode: (v) => vnodes.push(v) }),
    );
    const files = h.bot.services.files;
    const night = files.dumps(OWN).at(-1)!;
    expect(vnodes.find((v) => v.vnode === 1)!.acl).toEqual(
      JSON.parse(files.at(OWN, '', night.clone_time)!.acl!),
    );
  }, 300_000);

  it('refuses another user’s file, a user not logged in, and a user over the limit; each is audited', async () => {
    const anon = await user('anon_ss');
    expect(await mallory.ask(chan, `!request-restore ${OTHER} secret.txt`, /refused|error/)).toMatch(
      /refused: mallory had no lookup right on the volume root then; only what you could read then can be restored for you/,
    );
    expect(await anon.ask(chan, `!request-restore ${OWN} thesis.tex`, /refused|error/)).toMatch(
      /refused: I cannot verify who you are: .*log in/,
    );
    // two more waiting for an admin make three open with the restored one: the fourth is refused
    for (let i = 0; i < 2; i++)
      expect(
        await mallory.ask(
          chan,
          `!request-restore ${OWN} thesis.tex`,
          /^Request \d+|refused|error/,
          IrcUser.bot,
          60_000,
        ),
      ).toMatch(/^Request \d+/);
    expect(
      await mallory.ask(chan, `!request-restore ${OWN} thesis.tex`, /refused|error/, IrcUser.bot, 60_000),
    ).toMatch(
      /you have 3 requests open \(2 waiting for an admin, 1 restored and not expired\); at most 3 at once/,
    );
    const audit = h.bot.services.audit.recent(50).filter((a) => a.command === 'request-restore');
    expect(audit.filter((a) => a.outcome !== 'ok').map((a) => a.identity ?? null)).toEqual(
      expect.arrayContaining(['mallory', null]),
    );
    expect(audit.filter((a) => a.outcome !== 'ok').length).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('after selfService.keepDays it is unmounted and removed, and she is told', async () => {
    const since = mallory.seen.length;
    now = new Date(Date.now() + 8 * 86_400_000);
    expect(await h.bot.services.schedule.fire('restore-requests')).toMatch(/request 1: rq\.1 removed/);
    const told = await mallory.waitFor(
      IrcUser.bot,
      (m) =>
        m.some((x) =>
          /request 1: the restored copy of thesis\.tex .* has expired and is removed/.test(x.message),
        ),
      60_000,
      since,
    );
    expect(told.length).toBeGreaterThan(0);
    expect(await isGone(vos, 'rq.1')).toBe(true);
    expect(readFileSync(fsLog, 'utf8').trim().split('\n').at(-1)).toBe(`rmmount|-dir|${mountDir}/mallory-1|`);
    expect(h.bot.services.requests.get(1)?.state).toBe('expired');
  }, 120_000);
});
