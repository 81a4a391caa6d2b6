import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkVolumePath } from '../../bot/backup/volumes.ts';
import { symlinkOnPath } from '../../bot/commands/restore-file.ts';

describe('paths asked of !restore-file', () => {
  it('must stay inside the volume', () => {
    expect(checkVolumePath('projects/plan.md')).toBe('projects/plan.md');
    expect(() => checkVolumePath('../etc/passwd')).toThrow(/contains ".."/);
    expect(() => checkVolumePath('/etc/passwd')).toThrow(/is absolute/);
    expect(() => checkVolumePath('.')).toThrow(/not the whole volume/);
  });

  it('never go through a symbolic link that the dump holds', () => {
    const root = mkdtempSync(join(tmpdir(), 'afsbot-links-'));
    mkdirSync(join(root, 'real'));
    writeFileSync(join(root, 'real', 'f.txt'), 'x');
    symlinkSync('/etc', join(root, 'cfg'));
    symlinkSync('real/f.txt', join(root, 'alias.txt'));
    expect(symlinkOnPath(root, 'real/f.txt')).toBeUndefined();
    expect(symlinkOnPath(root, 'cfg/shadow')).toBe('cfg');
    expect(symlinkOnPath(root, 'alias.txt')).toBe('alias.txt');
    expect(symlinkOnPath(root, 'nope/x')).toBeUndefined();
  });
});
