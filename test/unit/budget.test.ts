import { describe, expect, it } from 'vitest';
import { StrangerBudget } from '../../bot/chat/budget.ts';

describe('StrangerBudget', () => {
  it('gives a stranger a few answers, then one a minute', () => {
    let now = 0;
    const b = new StrangerBudget({ burst: 3, perMinute: 1, allPerMinute: 100, now: () => now });
    expect([1, 2, 3, 4].map(() => b.take('irc:nick:eve'))).toEqual([true, true, true, false]);
    now += 30_000;
    expect(b.take('irc:nick:eve')).toBe(false);
    now += 30_000;
    expect(b.take('irc:nick:eve')).toBe(true);
    expect(b.take('irc:nick:eve')).toBe(false);
  });

  it('limits all strangers together, so that four of them get no more than the budget', () => {
    let now = 0;
    const b = new StrangerBudget({ burst: 3, perMinute: 1, allPerMinute: 5, now: () => now });
    const answered = ['a', 'b', 'c', 'd'].flatMap((n) => [1, 2, 3].map(() => b.take(`irc:nick:${n}`)));
    expect(answered.filter(Boolean)).toHaveLength(5);
    now += 60_000;
    expect(b.take('irc:nick:d')).toBe(true);
  });
});
