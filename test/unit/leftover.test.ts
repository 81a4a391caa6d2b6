import { describe, expect, it } from 'vitest';
import { splitLeftover } from '../../bot/backup/recovery.ts';

describe('splitLeftover', () => {
  it('splits at the first colon only: a path with colons is kept whole', () => {
    expect(splitLeftover('dir:/srv/staging:2026/job-4-extract')).toEqual({
      kind: 'dir',
      what: '/srv/staging:2026/job-4-extract',
    });
    expect(splitLeftover('busy:10.0.0.1/536870915')).toEqual({ kind: 'busy', what: '10.0.0.1/536870915' });
    expect(splitLeftover('odd')).toEqual({ kind: 'odd', what: '' });
  });
});
