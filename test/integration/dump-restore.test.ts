// The wiki's 1.1 to 1.8 on the real cell: dumps into the store, restores by date, single files, the
// chain check, and the errors that change nothing. File content goes in and out through FUSE.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Database } from '../../bot/platform/database.ts';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  cellVos,
  freshVolume,
  isGone,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  removeVolumeFile,
  symlinkVolumeFile,
  volumePath,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const VOL = 'user.t3';
const OTHER = 'user.t3b';
const SYM = 't3.sym';
let now = new Date('2026-01-05T03:00:00Z');
let h: MemoryHarness;
const bin = randomBytes(300_000);

beforeAll(async () => {
  for (const v of ['t3.day1', 't3.day2', 't3.bad', 't3.planted', 'user.t3.restored'])
    await removeIfThere(cell, v);
  await freshVolume(cell, VOL);
  await freshVolume(cell, OTHER);
  writeVolumeFile(cell, VOL, 'notes.txt', 'first version\n');
  writeVolumeFile(cell, VOL, 'old.txt', 'this file is deleted on day 2\n');
  writeVolumeFile(cell, VOL, 'dir/data.bin', bin);
  writeVolumeFile(cell, OTHER, 'bob.txt', 'bob\n');
  h = await startMemoryBot({ cell, clock: () => now, env: { AFSBOT_AFS_SERVER: cell.server } });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('dump and restore on the real cell', () => {
  it('dumps a full, then an incremental after files change', async () => {
    const full = await h.chat.job(`!dump ${VOL}`);
    expect(full.started).toMatch(/^job \d+ started: full dump of user\.t3$/);
    expect(full.result).toMatch(
      /done: full dump of user\.t3 \(clone of .*\) for 2026\.01\.05: .* raw, .* stored, sha256 [0-9a-f]{16}…/,
    );

    now = new Date('2026-01-06T03:00:00Z');
    writeVolumeFile(cell, VOL, 'notes.txt', 'second version\n');
    writeVolumeFile(cell, VOL, 'new.txt', 'added on day 2\n');
    removeVolumeFile(cell, VOL, 'old.txt');
    await nextSecond(); // a new clone second, so the incremental has a later clone time
    const incr = await h.chat.job(`!dump ${VOL}`);
    expect(incr.result).toMatch(
      /done: incremental dump of user\.t3 \(clone of .*, since the full of .*\) for 2026\.01\.06/,
    );

    const files = readdirSync(join(h.dir, 'dumps', '2026.01.06'));
    expect(files.some((f) => /^user\.t3\.incr\.\d+\.dump\.zst$/.test(f))).toBe(true);
    expect(files.some((f) => f.endsWith('.partial'))).toBe(false);
  });

  it('lists the dates and one date', async () => {
    const all = await h.chat.type('!backup list');
    expect(all.split('\n')).toEqual([
      expect.stringMatching(/^2026\.01\.06: 1 volume, 0 full, 1 incremental, /),
      expect.stringMatching(/^2026\.01\.05: 1 volume, 1 full, 0 incremental, /),
    ]);
    expect(await h.chat.type('!backup list 2026-01-06')).toMatch(
      /^user\.t3 {2}incremental, .* stored, clone .*, base /,
    );
    expect(await h.chat.type('!backup list 2026.13.01')).toMatch(
      /^error: "2026\.13\.01" is not a date; write 2013\.01\.28, 2013-01-28, today or yesterday\. usage: !backup list \[<date>\] \| backup get <date> <volume\|databases> \| .* \(e\.g\. !backup list 2013\.01\.28\)$/,
    );
  });

  it('restores the first date with the old content', async () => {
    const r = await h.chat.job(`!restore 2026.01.05 ${VOL} as t3.day1`);
    expect(r.result).toMatch(
      /user\.t3 as of 2026\.01\.05 is restored into t3\.day1 .* from full of 2026\.01\.05/,
    );
    expect(r.result).toMatch(/t3\.day1: \d+ files, .* used, last update/);
    expect(readVolumeFile(cell, 't3.day1', 'notes.txt').toString()).toBe('first version\n');
    expect(readVolumeFile(cell, 't3.day1', 'old.txt').toString()).toBe('this file is deleted on day 2\n');
    expect(readVolumeFile(cell, 't3.day1', 'dir/data.bin').equals(bin)).toBe(true);
    expect(existsSync(volumePath(cell, 't3.day1', 'new.txt'))).toBe(false);
  });

  it('restores the second date: full plus incremental, the deleted file gone', async () => {
    const r = await h.chat.job(`!restore 2026.01.06 ${VOL} as t3.day2`);
    expect(r.result).toMatch(/from full of 2026\.01\.05 .* \+ incremental of 2026\.01\.06/);
    expect(readVolumeFile(cell, 't3.day2', 'notes.txt').toString()).toBe('second version\n');
    expect(readVolumeFile(cell, 't3.day2', 'new.txt').toString()).toBe('added on day 2\n');
    expect(existsSync(volumePath(cell, 't3.day2', 'old.txt'))).toBe(false);
  });

  it('restore-file returns a byte-identical file and keeps only what was asked', async () => {
    const r = await h.chat.job(`!restore-file 2026.01.05 ${VOL} dir/data.bin nope.txt`);
    const out = /in (\S+):/.exec(r.result)![1]!;
    expect(r.result).toContain('dir/data.bin (293 KiB)');
    expect(r.result).toContain('not in the dump: nope.txt');
    expect(readFileSync(join(out, 'dir/data.bin')).equals(bin)).toBe(true);
    expect(readdirSync(out, { recursive: true }).sort()).toEqual(['dir', 'dir/data.bin']);
    // a whole volume came out of the dump, without its ACLs: root's alone (0700 and umask 077)
    for (const p of [out, join(out, 'dir'), join(out, 'dir/data.bin')])
      expect((statSync(p).mode & 0o077).toString(8), p).toBe('0');
    expect(readdirSync(join(h.dir, 'staging')).some((d) => d.endsWith('-extract'))).toBe(false);
    expect(await h.chat.type(`!restore-file ${VOL} ../etc/passwd`)).toMatch(
      /^error: "..\/etc\/passwd" contains "..": give a path inside the volume/,
    );
    expect(await h.chat.type(`!restore-file ${VOL} /etc/passwd`)).toMatch(
      /^error: "\/etc\/passwd" is absolute/,
    );
  });

  it('restore-file that finds none of its paths keeps nothing, and says so', async () => {
    const staged = readdirSync(join(h.dir, 'staging')).sort();
    const r = await h.chat.job(`!restore-file 2026.01.05 ${VOL} nope1.txt dir/nope2.txt`);
    expect(r.result).toMatch(
      /\) failed: none of nope1\.txt, dir\/nope2\.txt is in user\.t3 as of 2026\.01\.05; nothing was kept$/,
    );
    expect(readdirSync(join(h.dir, 'staging')).sort()).toEqual(staged);
  });

  it('restore-file never follows a symbolic link the dump holds', async () => {
    await freshVolume(cell, SYM);
    writeVolumeFile(cell, SYM, 'real.txt', 'real\n');
    symlinkVolumeFile(cell, SYM, 'escape', '/etc');
    symlinkVolumeFile(cell, SYM, 'passwd', '/etc/passwd');
    expect((await h.chat.job(`!dump ${SYM} full`)).result).toMatch(/done: full dump of t3\.sym/);
    // with no date it looks for a night whose file index holds every path: escape/passwd is in none
    // (the index does not follow links either), so the date is given
    const date = h.bot.services.catalog.forVolume(SYM)[0]!.date;
    const r = await h.chat.job(`!restore-file ${date} ${SYM} real.txt escape/passwd passwd`);
    expect(r.result).toContain(
      'not copied: escape/passwd (escape is a symbolic link in the dump; not followed); passwd (passwd is a symbolic link in the dump; not followed)',
    );
    const out = /in (\S+):/.exec(r.result)![1]!;
    expect(readdirSync(out, { recursive: true })).toEqual(['real.txt']);
  });

  it('backup get puts the chain of a date in the staging directory, with checksums', async () => {
    const r = await h.chat.job(`!backup get 2026.01.06 ${VOL}`);
    const where = /is in (\S+):/.exec(r.result)![1]!;
    const files = readdirSync(where)
      .filter((f) => f.endsWith('.dump.zst'))
      .sort();
    expect(files).toEqual([
      expect.stringMatching(/^user\.t3\.full\.\d+\.dump\.zst$/),
      expect.stringMatching(/^user\.t3\.incr\.\d+\.dump\.zst$/),
    ]);
    for (const f of files) {
      const sum = createHash('sha256')
        .update(readFileSync(join(where, f)))
        .digest('hex');
      expect(r.result).toContain(`${f} (`);
      expect(r.result).toContain(`sha256 ${sum}`);
    }
  });

  it('refuses a dump file changed since it was written (its sha256), and restores nothing', async () => {
    const full = h.bot.services.catalog.forVolume(VOL).find((d) => d.level === 'full')!;
    const original = readFileSync(full.location);
    const planted = Buffer.from(original);
    planted[planted.length - 9]! ^= 0xff; // one byte, past the header: the header checks still pass
    writeFileSync(full.location, planted);
    try {
      const r = await h.chat.job(`!restore 2026.01.05 ${VOL} as t3.planted`);
      expect(r.result).toMatch(
        /failed: refused: .*user\.t3\.full\.\d+\.dump\.zst has sha256 [0-9a-f]{16}…, not the [0-9a-f]{16}… recorded when it was written: the file changed since, so nothing is restored from it\. Nothing was restored\./,
      );
      const ex = await vos.examine('t3.planted');
      expect(ex.ok === false && ex.missing).toBe(true);
      const f = await h.chat.job(`!restore-file 2026.01.05 ${VOL} notes.txt`);
      expect(f.result).toMatch(/has sha256 .* the file changed since, so nothing is restored from it/);
    } finally {
      writeFileSync(full.location, original);
    }
  });

  it('a dump cut short when it was written (its recorded sha256 is of the cut file): the restore fails and nothing of the target is left', async () => {
    const full = h.bot.services.catalog.forVolume(VOL).find((d) => d.level === 'full')!;
    const original = readFileSync(full.location);
    const cut = original.subarray(0, Math.floor(original.length / 2));
    writeFileSync(full.location, cut);
    const store = new Database(h.env.AFSBOT_DATABASE!);
    store.db
      .prepare('UPDATE dumps SET sha256 = ? WHERE id = ?')
      .run(createHash('sha256').update(cut).digest('hex'), full.id);
    try {
      const r = await h.chat.job(`!restore 2026.01.05 ${VOL} as t3.cut`);
      expect(r.result).toMatch(/\) failed: vos restore into t3\.cut failed: .*; nothing of t3\.cut is left/);
      expect(await isGone(vos, 't3.cut')).toBe(true);
    } finally {
      writeFileSync(full.location, original);
      store.db.prepare('UPDATE dumps SET sha256 = ? WHERE id = ?').run(full.sha256, full.id);
      store.close();
    }
  });

  it('refuses an incremental whose base does not match, and restores nothing', async () => {
    // A confused catalog: its newest user.t3 entry claims user.t3b's incremental as user.t3's.
    now = new Date('2026-01-07T03:00:00Z');
    await h.chat.job(`!dump ${OTHER} full`);
    writeVolumeFile(cell, OTHER, 'bob.txt', 'bob, changed\n');
    await nextSecond(); // a new second: AFS times are whole seconds
    await h.chat.job(`!dump ${OTHER}`);
    const theirs = h.bot.services.catalog.forVolume(OTHER).find((d) => d.level === 'incremental')!;
    const mine = h.bot.services.catalog.forVolume(VOL).find((d) => d.level === 'full')!;
    h.bot.services.catalog.add({
      ...theirs,
      volume: VOL,
      base_clone_time: mine.clone_time,
      date: '2026.01.07',
      location: `${theirs.location}`,
      job_id: null,
    });
    const r = await h.chat.job(`!restore 2026.01.07 ${VOL} as t3.bad`);
    expect(r.result).toMatch(
      /failed: refused: the incremental is of user\.t3b\.backup .* but the full is of user\.t3\.backup .*: they are not one chain\. Nothing was restored\./,
    );
    expect(await isGone(vos, 't3.bad')).toBe(true);
  });

  it('gives clear errors that change nothing: unknown volume, unknown date, too-long name, incremental without a full', async () => {
    const jobsBefore = h.bot.services.jobs.list(100).length;
    expect(await h.chat.type('!dump user.nosuch')).toBe(
      'error: there is no volume user.nosuch in the VLDB (vos listvldb lists them). usage: !dump <volume> [full|incremental] (e.g. !dump user.alice full)',
    );
    expect(await h.chat.type(`!restore 2001.01.01 ${VOL}`)).toMatch(
      /^error: there is no dump of user\.t3 on or before 2001\.01\.01; its newest dates are 2026\.01\.07, 2026\.01\.06, 2026\.01\.05/,
    );
    expect(await h.chat.type('!restore user.abcdefghijklmnop')).toMatch(
      /^error: "user\.abcdefghijklmnop\.restored" is 30 characters long; AFS volume names have at most 22; give a shorter name, e.g\. !restore user\.abcdefghijklmnop as user\.abcdefghijklmno\.r\. usage/,
    );
    expect(await h.chat.type('!dump user.alice incremental')).toBe(
      'error: there is no full dump of user.alice yet, so an incremental has no base; run !dump user.alice full first. usage: !dump <volume> [full|incremental] (e.g. !dump user.alice full)',
    );
    expect(await h.chat.type(`!restore ${VOL} as t3.day1`)).toMatch(
      /^error: t3\.day1 already exists \(restored by job \d+ from user\.t3 of 2026\.01\.05\); !discard t3\.day1 first/,
    );
    // user.bob is the cell's own: afsbot never overwrites a volume it did not make
    expect(await h.chat.type(`!restore ${VOL} as user.bob`)).toMatch(
      /^error: user\.bob already exists and afsbot did not make it/,
    );
    expect(await h.chat.type('!restore user.alice as ua.r')).toMatch(
      /^error: there are no dumps of user\.alice/,
    );
    expect(h.bot.services.jobs.list(100).length).toBe(jobsBefore);
  });

  it('discards only volumes it restored', async () => {
    expect(await h.chat.type(`!discard ${VOL}`)).toMatch(
      /^error: user\.t3 is not a volume afsbot restored, so it will not touch it/,
    );
    const r = await h.chat.job('!discard t3.day2');
    expect(r.result).toMatch(/done: t3\.day2 is removed/);
    expect(await isGone(vos, 't3.day2')).toBe(true);
  });

  it('rebuilds the same catalog from the files', async () => {
    // (the entry forged above goes back to user.t3b, whose file it is)
    const before = h.bot.services.catalog
      .forVolume(VOL)
      .filter((d) => d.date !== '2026.01.07')
      .map((d) => [d.date, d.level, d.clone_time, d.sha256]);
    h.bot.services.database.db.prepare('DELETE FROM dumps').run();
    expect((await h.chat.job('!backup rescan')).result).toMatch(
      /done: catalog rebuilt from the files: \d+ added, 0 removed/,
    );
    const after = h.bot.services.catalog.forVolume(VOL).map((d) => [d.date, d.level, d.clone_time, d.sha256]);
    expect(after).toEqual(before);
  });
});
