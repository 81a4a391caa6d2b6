// The file index on the real cell: nightly runs index each dump as it is made (archive-only, so the
// stored file is gone minutes later), `!backup find` and `!backup versions` answer from it, a file
// unchanged for several nights is one version, and `!backup reindex` rebuilds it from the archive
// alone with the same answers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import { freshVolume, nextSecond, removeVolumeFile, writeVolumeFile } from '../support/cell-tools.ts';

const cell = inject('cell');
let h: MemoryHarness;
let now = new Date('2026-05-03T03:00:00Z'); // a Sunday: the full day
const thesis1 = '\\documentclass{article}\n'.repeat(40);
const thesis2 = `${thesis1}\\section{Results}\n`;

beforeAll(async () => {
  await freshVolume(cell, 'fi.a');
  writeVolumeFile(cell, 'fi.a', 'thesis/thesis.tex', thesis1);
  writeVolumeFile(cell, 'fi.a', 'thesis/notes.txt', 'notes\n');
  writeVolumeFile(cell, 'fi.a', 'same.txt', 'never changes\n');
  await nextSecond();
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: { AFSBOT_NIGHTLY_PREFIXES: 'fi.', AFSBOT_NIGHTLY_FULL_WEEKDAY: '0', AFSBOT_LOCAL_KEEP_DAYS: '0' },
  });
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe('the file index', () => {
  it('indexes each night as it is dumped, and finds a file by its name', async () => {
    const night = await h.chat.job('!nightly run', 180_000);
    expect(night.result).toMatch(/^file index: 1 dumps indexed$/m);
    expect(await h.chat.type('!backup find fi.a *.tex')).toBe(
      `fi.a:/thesis/thesis.tex  ${thesis1.length} B  2026.05.03 to now (1 dump, still there)`,
    );
  });

  it('the next night: a changed file has two versions, a removed one is gone after its last date, an unchanged one stays one', async () => {
    now = new Date('2026-05-04T03:00:00Z');
    writeVolumeFile(cell, 'fi.a', 'thesis/thesis.tex', thesis2);
    removeVolumeFile(cell, 'fi.a', 'thesis/notes.txt');
    await nextSecond();
    const night = await h.chat.job('!nightly run', 180_000);
    expect(night.result).toMatch(/1 incremental/);
    const v = await h.chat.type('!backup versions fi.a thesis/thesis.tex');
    expect(v).toMatch(/^fi\.a:\/thesis\/thesis\.tex, 2 versions:$/m);
    expect(v).toMatch(
      new RegExp(
        `^1\\. 2026\\.05\\.03 \\(1 dump\\): file, ${thesis1.length} B, modified \\S+, data version \\d+$`,
        'm',
      ),
    );
    expect(v).toMatch(
      new RegExp(`^2\\. 2026\\.05\\.04 to now \\(1 dump, still there\\): file, ${thesis2.length} B, `, 'm'),
    );
    expect(await h.chat.type('!backup versions fi.a thesis/notes.txt')).toMatch(
      /^1\. 2026\.05\.03 \(1 dump\): file, 6 B, .*\ngone after 2026\.05\.03$/m,
    );
    expect(h.bot.services.files.versions('fi.a', 'same.txt')).toHaveLength(1);
    expect(await h.chat.type('!backup find fi.a same*')).toBe(
      'fi.a:/same.txt  14 B  2026.05.03 to now (2 dumps, still there)',
    );
    // newest first: the current thesis before the old one
    expect((await h.chat.type('!backup find fi.a thesis/*.tex')).split('\n')).toEqual([
      `fi.a:/thesis/thesis.tex  ${thesis2.length} B  2026.05.04 to now (1 dump, still there)`,
      `fi.a:/thesis/thesis.tex  ${thesis1.length} B  2026.05.03 (1 dump)`,
    ]);
  });

  it('restore-file without a date takes the newest night that holds the path (a removed file: its last)', async () => {
    const r = await h.chat.job('!restore-file fi.a thesis/notes.txt', 180_000);
    expect(r.result).toMatch(/restore-file fi\.a of 2026\.05\.03\)/);
    const out = /in (\S+):/.exec(r.result)![1]!;
    expect(readFileSync(join(out, 'thesis/notes.txt'), 'utf8')).toBe('notes\n');
    const cur = await h.chat.job('!restore-file fi.a thesis/thesis.tex', 180_000);
    expect(readFileSync(join(/in (\S+):/.exec(cur.result)![1]!, 'thesis/thesis.tex'), 'utf8')).toBe(thesis2);
    expect(await h.chat.type('!restore-file fi.a thesis/notes.txt thesis/thesis.tex')).toMatch(
      /job \d+ started/, // both are in 2026.05.03
    );
    expect(await h.chat.type('!restore-file fi.a thesis/thesys.tex')).toMatch(
      /^error: no dump of fi\.a in the file index holds thesis\/thesys\.tex; nearest: thesis\/thesis\.tex/,
    );
  });

  it('says what is wrong with a question it cannot answer, and the nearest names', async () => {
    expect(await h.chat.type('!backup versions fi.a thesis/thesis.txt')).toMatch(
      /the index of fi\.a has never seen thesis\/thesis\.txt; nearest: thesis\/thesis\.tex/,
    );
    expect(await h.chat.type('!backup find fi.nosuch *')).toMatch(/the file index has nothing of fi\.nosuch/);
    expect(await h.chat.type('!backup find fi.a *.pdf')).toMatch(
      /^nothing in the index of fi\.a matches \*\.pdf/,
    );
    expect(await h.chat.type('!backup find /afs/other.cell/x *')).toMatch(/is not in this cell/);
  });

  it('reindex rebuilds it from the archive alone (the local files are gone), with the same answers', async () => {
    const before = await h.chat.type('!backup versions fi.a thesis/thesis.tex');
    expect(h.bot.services.catalog.forVolume('fi.a').every((d) => d.local === 0)).toBe(true);
    expect((await h.chat.job('!backup reindex', 120_000)).result).toMatch(
      /every dump in the catalog is indexed already/,
    );
    h.bot.services.files.forget('fi.a');
    expect(await h.chat.type('!backup find fi.a *.tex')).toMatch(/the file index has nothing of fi\.a/);
    const r = await h.chat.job('!backup reindex 2026.05.04', 180_000);
    expect(r.result).toMatch(/indexed 2 dumps of 1 volumes \(fi\.a\)$/);
    expect(await h.chat.type('!backup versions fi.a thesis/thesis.tex')).toBe(before);
  });
});
