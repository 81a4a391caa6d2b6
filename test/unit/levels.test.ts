import { describe, expect, it } from 'vitest';
import { chooseLevel } from '../../bot/backup/levels.ts';
import { sparkline } from '../../bot/platform/format.ts';

const vol = { volume: 'user.alice', volumeId: 536870918, updated: 2000 };
const full = { level: 'full' as const, volumeId: 536870918, cloneTime: 1000, baseCloneTime: null };

describe('chooseLevel', () => {
  it('dumps full when there is no full yet', () => {
    expect(chooseLevel(vol, [], false)).toEqual({ level: 'full', why: 'it has no full dump yet' });
  });

  it('dumps incremental since the newest full on other days', () => {
    const older = { ...full, cloneTime: 500 };
    expect(chooseLevel(vol, [older, full], false)).toEqual({
      level: 'incremental',
      since: 1000,
      why: 'since its newest full',
    });
  });

  it('dumps full on the weekly day', () => {
    expect(chooseLevel(vol, [full], true)).toMatchObject({
      level: 'full',
      why: 'today is the weekly full dump',
    });
  });

  it('skips a volume that has not changed since its last dump, even on the full day', () => {
    const incr = { level: 'incremental' as const, volumeId: 536870918, cloneTime: 2500, baseCloneTime: 1000 };
    expect(chooseLevel(vol, [full, incr], true)).toMatchObject({ level: 'unchanged' });
  });

  it('dumps a volume changed in the same second as its last clone: the change may have come after it', () => {
    const incr = { level: 'incremental' as const, volumeId: 536870918, cloneTime: 2000, baseCloneTime: 1000 };
    expect(chooseLevel(vol, [full, incr], false)).toMatchObject({ level: 'incremental', since: 1000 });
    expect(chooseLevel({ ...vol, updated: 1999 }, [full, incr], false)).toMatchObject({ level: 'unchanged' });
  });

  it('starts a new chain after a promote replaced the content under the same id', () => {
    expect(chooseLevel({ ...vol, replacedAt: 1500 }, [full], false)).toMatchObject({
      level: 'full',
      why: 'a promote replaced its content since its newest full',
    });
    expect(chooseLevel({ ...vol, replacedAt: 900 }, [full], false)).toMatchObject({ level: 'incremental' });
  });

  it('starts a new chain when the volume was replaced (a promote gives it a new id)', () => {
    expect(chooseLevel({ ...vol, volumeId: 536870999 }, [full], false)).toMatchObject({
      level: 'full',
      why: expect.stringMatching(/volume id changed \(536870918 -> 536870999\)/),
    });
  });
});

describe('sparkline', () => {
  it('scales bars to the largest value', () => {
    expect(sparkline([0, 1, 2, 4, 8])).toBe('▁▁▂▄█');
    expect(sparkline([0, 0])).toBe('▁▁');
    expect(sparkline([])).toBe('');
  });
});
