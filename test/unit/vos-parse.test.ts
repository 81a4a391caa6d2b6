import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBackupsys, parseFormatBlock, parseListvldb } from '../../actions/vos.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/vos-output/${name}`, import.meta.url), 'utf8');

describe('vos parsers on real output', () => {
  it('listvldb: every entry with its ids and sites', () => {
    const entries = parseListvldb(fixture('listvldb.txt'));
    expect(entries.map((e) => e.name)).toEqual([
      'db.alice',
      'mail.alice',
      'root.afs',
      'root.cell',
      'user.alice',
      'user.alice.restored2',
      'user.bob',
    ]);
    expect(entries.find((e) => e.name === 'user.alice')).toEqual({
      name: 'user.alice',
      rw: 536870918,
      backup: 536870920,
      sites: [{ server: '192.0.2.2', partition: '/vicepa', type: 'RW' }],
    });
    expect(entries.find((e) => e.name === 'root.afs')?.backup).toBeUndefined();
  });

  it('listvldb -quiet has the same entries without a header', () => {
    expect(parseListvldb(fixture('listvldb-quiet.txt')).map((e) => e.name)).toContain('user.bob');
  });

  it('examine -format: tab-separated keys with epoch dates', () => {
    const f = parseFormatBlock(fixture('examine-format-user.alice.backup.txt'));
    expect(f.name).toBe('user.alice.backup');
    expect(f.id).toBe('536870920');
    expect(f.parentID).toBe('536870918');
    expect(f.creationDate).toBe('1795674307');
    expect(f.filecount).toBe('5');
    expect(f.diskused).toBe('10');
  });

  it('backupsys: the summary line, since vos exits 0 even when volumes failed', () => {
    expect(parseBackupsys(fixture('backupsys-prefix-user.txt'))).toEqual({
      backedUp: 2,
      failed: 0,
      failedVolumes: [],
    });
    expect(parseBackupsys('Total volumes backed up: 0; failed to backup: 3\n')).toEqual({
      backedUp: 0,
      failed: 3,
      failedVolumes: [],
    });
    expect(parseBackupsys('Possible communication failure')).toBeUndefined();
  });

  it('backupsys: names each volume it could not clone, with the reason from stderr', () => {
    // captured on the test cell with one volume taken off line (vos offline)
    const stdout = 'Could not backup off.y\ndone\nTotal volumes backed up: 0; failed to backup: 1\n';
    const stderr = 'Failed to clone the volume 536870948\nVolume is off line\n';
    expect(parseBackupsys(stdout, stderr)?.failedVolumes).toEqual([
      { volume: 'off.y', why: 'Volume is off line' },
    ]);
    const two =
      'Could not backup a.x\nCould not backup b.x\ndone\nTotal volumes backed up: 0; failed to backup: 2\n';
    expect(parseBackupsys(two, 'Volume is off line\n')?.failedVolumes).toEqual([
      { volume: 'a.x', why: 'vos backupsys could not clone it (vos said: Volume is off line)' },
      { volume: 'b.x', why: 'vos backupsys could not clone it (vos said: Volume is off line)' },
    ]);
  });
});

describe('vos status', () => {
  it('finds the transaction a killed vos dump left open', async () => {
    const { parseStatus } = await import('../../actions/vos.ts');
    expect(parseStatus(fixture('status-busy.txt'))).toEqual([
      { id: 349, volumeId: 536870991, procedure: 'Dump' },
    ]);
    expect(parseStatus('No active transactions on 10.77.77.1\n')).toEqual([]);
  });
});

describe('listvol -format and backupsys -dryrun', () => {
  it('reads every volume of a listvol -format', async () => {
    const { parseListvolFormat } = await import('../../actions/vos.ts');
    const vols = parseListvolFormat(fixture('listvol-format.txt'));
    expect(vols.length).toBeGreaterThan(5);
    const alice = vols.find((v) => v.name === 'user.alice.backup');
    expect(alice).toMatchObject({ type: 'BK', parentID: '536870918' });
    expect(Number(alice?.creationDate)).toBeGreaterThan(1_700_000_000);
  });

  it('lists what a dry run would clone', async () => {
    const { parseBackupsysDryRun } = await import('../../actions/vos.ts');
    expect(parseBackupsysDryRun(fixture('backupsys-dryrun.txt'))).toEqual(['user.alice', 'user.bob']);
    expect(parseBackupsysDryRun(fixture('backupsys-xprefix-exclude.txt'))).toEqual([
      'user.alice',
      'mail.alice',
      'root.afs',
      'root.cell',
      'db.alice',
      'mail.alice',
    ]);
  });
});

describe('pipelineFailure', () => {
  it('reports the stage whose failure caused the others', async () => {
    const { pipelineFailure } = await import('../../actions/exec.ts');
    const fail = (program: string, message: string, cancelled = false) => ({
      ok: false as const,
      program,
      args: [],
      stdout: '',
      stderr: '',
      timedOut: false,
      durationMs: 0,
      exitCode: 1,
      cancelled,
      message,
    });
    const ok = { ok: true as const, stdout: '', stderr: '', durationMs: 0 };
    const corrupt = fail('zstd', 'zstd exited with 1: Data corruption detected');
    // a corrupt file: zstd's words, not those of the vos we stopped because of it
    expect(pipelineFailure([corrupt, fail('vos', 'vos cancelled', true)])?.message).toMatch(
      /Data corruption/,
    );
    // vos runs out of space: its words, not zstd's broken pipe
    expect(
      pipelineFailure([
        fail('zstd', 'zstd killed by SIGPIPE'),
        fail('vos', 'vos exited with 255: VOLSER: no space'),
      ])?.message,
    ).toMatch(/no space/);
    // a wrong legacy key: ccrypt's words, not gzip's early end of input
    expect(
      pipelineFailure([
        fail('ccrypt', 'ccrypt exited with 4: key does not match'),
        fail('gzip', 'gzip exited with 1: unexpected end of file'),
      ])?.message,
    ).toMatch(/key does not match/);
    expect(pipelineFailure([ok, fail('vos', 'vos cancelled', true)])?.message).toBe('vos cancelled');
    expect(pipelineFailure([ok, ok])).toBeUndefined();
  });
});

describe('zstd -vv sizes', () => {
  it('reads the exact raw and stored byte counts of the last line, small or large', async () => {
    const { parseZstdSizes } = await import('../../actions/dump.ts');
    // zstd 1.5.4, as captured here
    expect(parseZstdSizes('/*stdin*\\            :  (     0 B =>     13 B, /*stdout*\\) \n')).toEqual({
      raw: 0,
      stored: 13,
    });
    expect(
      parseZstdSizes(
        '*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***\n/*stdin*\\            :  0.00%   (3000000000 B =>  94074 B, /*stdout*\\) \n/*stdin*\\            : Completed in 0.16 sec  (cpu load : 57%)\n',
      ),
    ).toEqual({ raw: 3_000_000_000, stored: 94_074 });
    expect(parseZstdSizes('/*stdin*\\ : 61.82%   (  26.0 MiB =>   16.1 MiB, /*stdout*\\)')).toBeUndefined();
  });
});
