// The wiki's old archives (ccrypt over gzip) still restore, the database archive extracts, and the
// mount workflow: fs (which cannot run without the kernel module) is checked by the exact argv it
// gets, and the vos release of the scratch parent is real; so are the failures of each step (fs
// failing, a vos release or vos remove refused by a locked VLDB entry) and what each leaves.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import {
  cellVos,
  freshVolume,
  isGone,
  nextSecond,
  readVolumeFile,
  removeIfThere,
  vosOk,
  writeVolumeFile,
} from '../support/cell-tools.ts';

const cell = inject('cell');
const vos = cellVos(cell);
const VOL = 'user.t3leg';
const SCRATCH = 'scratch.t3';
const dir = mkdtempSync(join(tmpdir(), 'afsbot-legacy-'));
const legacy = join(dir, 'legacy');
const keyFile = join(dir, 'backup-encryption-key');
const fsLog = join(dir, 'fs-calls.log');
const fsFails = join(dir, 'fs-fails');
const scratchDir = `/afs/${cell.cell}/.old/tmp-mount`;
let h: MemoryHarness;

function sh(script: string): void {
  execFileSync('sh', ['-c', script], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LEGACY: legacy, KEY: keyFile },
  });
}

beforeAll(async () => {
  await removeIfThere(cell, 't3.legacy');
  await freshVolume(cell, VOL);
  await freshVolume(cell, SCRATCH);
  await vosOk(vos, ['addsite', '-server', cell.server, '-partition', cell.partition, '-id', SCRATCH]);
  await vosOk(vos, ['release', '-id', SCRATCH]);
  writeVolumeFile(cell, VOL, 'mail/inbox', 'From alice\nhello from 2013\n');
  await vosOk(vos, ['backup', '-id', VOL]);

  mkdirSync(legacy);
  writeFileSync(keyFile, 'a legacy passphrase\n', { mode: 0o600 });
  const vosArgs = `-localauth -config ${cell.configDir} -noresolve`;
  // The wiki's format, made the wiki's way: vos dump | gzip | ccrypt, the key from a file.
  sh(
    `vos dump -id ${VOL}.backup -time 0 ${vosArgs} 2>/dev/null | gzip | ccrypt -e -k "$KEY" > "$LEGACY/2013.01.28-${VOL}.dump.gz.aescrypt"`,
  );
  mkdirSync(join(dir, 'db'));
  writeFileSync(join(dir, 'db', 'alice.sql'), 'CREATE TABLE t (x int);\n');
  writeFileSync(join(dir, 'db', 'bob.sql'), 'INSERT INTO t VALUES (1);\n');
  sh(`tar -c -C "${dir}/db" . | gzip | ccrypt -e -k "$KEY" > "$LEGACY/2013.01.28-databases.tar.gz.aescrypt"`);

  // A stand-in for fs that records the exact argv it is given, one call per line; while the file
  // fs-fails exists, it fails as fs does (its words on stderr, exit 1) after recording the call.
  const fakeFs = join(dir, 'fs');
  writeFileSync(
    fakeFs,
    `#!/bin/sh\n{ for a in "$@"; do printf '%s|' "$a"; done; echo; } >> ${fsLog}\nif [ -e ${fsFails} ]; then cat ${fsFails} >&2; exit 1; fi\n`,
  );
  chmodSync(fakeFs, 0o755);

  h = await startMemoryBot({
    cell,
    env: {
      AFSBOT_AFS_SERVER: cell.server,
      AFSBOT_LEGACY_DIR: legacy,
      AFSBOT_LEGACY_KEY_FILE: keyFile,
      AFSBOT_FS: fakeFs,
      AFSBOT_SCRATCH_MOUNT_DIR: scratchDir,
      AFSBOT_SCRATCH_PARENT_VOLUME: SCRATCH,
    },
  });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('legacy archives', () => {
  it('lists them after a rescan', async () => {
    expect((await h.chat.job('!backup rescan')).result).toMatch(
      /done: catalog rebuilt from the files: 2 added, 0 removed/,
    );
    expect(await h.chat.type('!backup list')).toMatch(
      /^2013\.01\.28: 2 volumes, 0 full, 0 incremental, 2 legacy, /,
    );
    expect((await h.chat.type('!backup list 2013.01.28')).split('\n')).toEqual([
      expect.stringMatching(/^databases {2}legacy database archive, /),
      expect.stringMatching(/^user\.t3leg {2}legacy full \(\.dump\.gz\.aescrypt\), /),
    ]);
  });

  it('restores a .dump.gz.aescrypt to the right content', async () => {
    const r = await h.chat.job(`!restore 2013.01.28 ${VOL} as t3.legacy`);
    expect(r.result).toMatch(/user\.t3leg as of 2013\.01\.28 is restored into t3\.legacy/);
    expect(readVolumeFile(cell, 't3.legacy', 'mail/inbox').toString()).toBe('From alice\nhello from 2013\n');
  });

  it('extracts the database archive into the staging directory', async () => {
    const r = await h.chat.job('!backup get 2013.01.28 databases');
    const out = /extracted in (\S+):/.exec(r.result)![1]!;
    expect(readFileSync(join(out, 'alice.sql'), 'utf8')).toBe('CREATE TABLE t (x int);\n');
    expect(readFileSync(join(out, 'bob.sql'), 'utf8')).toBe('INSERT INTO t VALUES (1);\n');
  });

  it('says what is wrong when the key is wrong, and leaves nothing behind', async () => {
    writeFileSync(join(dir, 'wrong-key'), 'not the passphrase\n');
    h.bot.services.config.dumps.legacyKeyFile = join(dir, 'wrong-key');
    try {
      const r = await h.chat.job(`!restore 2013.01.28 ${VOL} as t3.wrongkey`);
      expect(r.result).toMatch(
        /failed: refused: .* is not a readable volume dump: ccrypt .*legacyKeyFile.*Nothing was restored\./,
      );
      expect(await isGone(vos, 't3.wrongkey')).toBe(true);
    } finally {
      h.bot.services.config.dumps.legacyKeyFile = keyFile;
    }
  });
});

describe('mount, unmount, discard', () => {
  const releasedAt = async () => {
    const ro = await vos.examine(`${SCRATCH}.readonly`);
    if (!ro.ok) throw new Error(ro.message);
    return Number(ro.fields.creationDate);
  };

  const lastFsCall = () => readFileSync(fsLog, 'utf8').trim().split('\n').at(-1);
  const mountOf = (v: string) => h.bot.services.restored.get(v)?.mount_path ?? null;

  it('when fs mkmount fails: says so, records no mount, and does not release the parent', async () => {
    const before = await releasedAt();
    writeFileSync(fsFails, `fs: You don't have the required access rights on '${scratchDir}/t3.legacy'\n`);
    try {
      const r = await h.chat.job('!mount t3.legacy');
      expect(r.result).toMatch(
        new RegExp(
          `failed: fs mkmount failed: .*You don't have the required access rights on '${scratchDir}/t3\\.legacy'`,
        ),
      );
    } finally {
      rmSync(fsFails);
    }
    expect(lastFsCall()).toBe(`mkmount|-dir|${scratchDir}/t3.legacy|-vol|t3.legacy|`);
    expect(mountOf('t3.legacy')).toBeNull();
    expect(await h.chat.type('!unmount t3.legacy')).toMatch(/^error: t3\.legacy is not mounted\. usage: /);
    expect(await releasedAt()).toBe(before);
  });

  it('mounts with fs mkmount under the scratch dir and releases the parent for real', async () => {
    const before = await releasedAt();
    await nextSecond(); // vos release times are in seconds
    const r = await h.chat.job('!mount t3.legacy');
    expect(r.result).toMatch(
      new RegExp(`done: t3\\.legacy is mounted at ${scratchDir}/t3\\.legacy \\(scratch\\.t3 released\\)`),
    );
    expect(lastFsCall()).toBe(`mkmount|-dir|${scratchDir}/t3.legacy|-vol|t3.legacy|`);
    expect(await releasedAt()).toBeGreaterThan(before);
  });

  it('will not discard a mounted volume', async () => {
    expect(await h.chat.type('!discard t3.legacy')).toMatch(
      new RegExp(`^error: t3\\.legacy is mounted at ${scratchDir}/t3\\.legacy; !unmount t3\\.legacy first`),
    );
  });

  it('when fs rmmount fails: says so, and the volume stays mounted (and so is not discarded)', async () => {
    writeFileSync(fsFails, `fs: '${scratchDir}/t3.legacy' is not a mount point.\n`);
    try {
      const r = await h.chat.job('!unmount t3.legacy');
      expect(r.result).toMatch(/failed: fs rmmount failed: .*is not a mount point/);
    } finally {
      rmSync(fsFails);
    }
    expect(lastFsCall()).toBe(`rmmount|-dir|${scratchDir}/t3.legacy|`);
    expect(mountOf('t3.legacy')).toBe(`${scratchDir}/t3.legacy`);
    expect(await h.chat.type('!discard t3.legacy')).toMatch(/^error: t3\.legacy is mounted at /);
  });

  it('unmounts with fs rmmount and releases the parent for real', async () => {
    const before = await releasedAt();
    await nextSecond(); // vos release times are in seconds
    const r = await h.chat.job('!unmount t3.legacy');
    expect(r.result).toMatch(/done: t3\.legacy is no longer mounted \(scratch\.t3 released\)/);
    expect(lastFsCall()).toBe(`rmmount|-dir|${scratchDir}/t3.legacy|`);
    expect(mountOf('t3.legacy')).toBeNull();
    expect(await releasedAt()).toBeGreaterThan(before);
  });

  it('unmounted, but the release of the parent fails (its VLDB entry locked): says what was done and what to run by hand', async () => {
    expect((await h.chat.job('!mount t3.legacy')).result).toMatch(/done: t3\.legacy is mounted at /);
    await vosOk(vos, ['lock', '-id', SCRATCH]);
    try {
      const r = await h.chat.job('!unmount t3.legacy');
      expect(r.result).toMatch(
        new RegExp(
          `failed: the mount point ${scratchDir}/t3\\.legacy is gone, but vos release scratch\\.t3 failed: .*; run "vos release scratch\\.t3" by hand`,
        ),
      );
    } finally {
      await vosOk(vos, ['unlock', '-id', SCRATCH]);
    }
    expect(lastFsCall()).toBe(`rmmount|-dir|${scratchDir}/t3.legacy|`);
    expect(mountOf('t3.legacy')).toBeNull(); // the mount point is gone: that much is true
    await vosOk(vos, ['release', '-id', SCRATCH]); // what the admin is told to run
  });

  it('when vos remove fails (the VLDB entry locked): says so, and the volume stays, still discardable', async () => {
    await vosOk(vos, ['lock', '-id', 't3.legacy']);
    try {
      const r = await h.chat.job('!discard t3.legacy');
      expect(r.result).toMatch(/failed: vos remove t3\.legacy failed: /);
    } finally {
      await vosOk(vos, ['unlock', '-id', 't3.legacy']);
    }
    expect((await vos.examine('t3.legacy')).ok).toBe(true);
    expect(h.bot.services.restored.get('t3.legacy')?.state).toBe('restored');
    expect(readVolumeFile(cell, 't3.legacy', 'mail/inbox').toString()).toBe('From alice\nhello from 2013\n');
  });

  it('discards once the lock is gone', async () => {
    expect((await h.chat.job('!discard t3.legacy')).result).toMatch(/t3\.legacy is removed/);
    expect(await isGone(vos, 't3.legacy')).toBe(true);
  });

  it('will only mount volumes it restored', async () => {
    expect(await h.chat.type(`!mount ${VOL}`)).toMatch(/^error: user\.t3leg is not a volume afsbot restored/);
    expect(readFileSync(fsLog, 'utf8').trim().split('\n')).toHaveLength(6); // 3 mkmount, 3 rmmount
  });
});
