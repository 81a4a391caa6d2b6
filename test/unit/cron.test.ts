import { describe, expect, it } from 'vitest';
import { keepDates } from '../../bot/backup/archive/keep-policy.ts';
import { cronMatches, nextMatch, parseCron } from '../../bot/platform/cron.ts';

describe('cron', () => {
  it('matches minute, hour, ranges, steps and lists in a time zone', () => {
    const c = parseCron('15 2 * * *');
    expect(cronMatches(c, new Date('2026-03-01T02:15:00Z'), 'UTC')).toBe(true);
    expect(cronMatches(c, new Date('2026-03-01T02:16:00Z'), 'UTC')).toBe(false);
    // 02:15 in New York is 07:15 UTC in March (EST, before the change on 03-08)
    expect(cronMatches(c, new Date('2026-03-01T07:15:00Z'), 'America/New_York')).toBe(true);
    const w = parseCron('*/20 1-3 * * 1,3,5');
    expect(cronMatches(w, new Date('2026-03-02T01:40:00Z'), 'UTC')).toBe(true); // a Monday
    expect(cronMatches(w, new Date('2026-03-03T01:40:00Z'), 'UTC')).toBe(false); // a Tuesday
    expect(cronMatches(parseCron('0 0 * * 7'), new Date('2026-03-01T00:00:00Z'), 'UTC')).toBe(true); // 7 is Sunday
  });

  it('day of month and day of week: either matches when both are given, as in cron', () => {
    const c = parseCron('0 3 1 * 0');
    expect(cronMatches(c, new Date('2026-04-01T03:00:00Z'), 'UTC')).toBe(true); // the 1st, a Wednesday
    expect(cronMatches(c, new Date('2026-04-05T03:00:00Z'), 'UTC')).toBe(true); // a Sunday
    expect(cronMatches(c, new Date('2026-04-06T03:00:00Z'), 'UTC')).toBe(false);
  });

  it('finds the next run', () => {
    expect(nextMatch(parseCron('15 2 * * *'), new Date('2026-03-01T02:15:00Z'), 'UTC')?.toISOString()).toBe(
      '2026-03-02T02:15:00.000Z',
    );
    expect(nextMatch(parseCron('0 0 31 2 *'), new Date('2026-03-01T00:00:00Z'), 'UTC')).toBeUndefined();
  });

  it('says which field is wrong', () => {
    expect(() => parseCron('15 2 * *')).toThrow(/has 4 fields; a cron expression has 5/);
    expect(() => parseCron('15 25 * * *')).toThrow(/"25" in the hour field is outside 0-23/);
    expect(() => parseCron('x 2 * * *')).toThrow(/"x" in the minute field is not a number/);
  });
});

describe('the archive keep policy over dump dates', () => {
  const days = Array.from({ length: 70 }, (_, i) => {
    const d = new Date(Date.UTC(2026, 0, 1) + i * 86_400_000);
    return d.toISOString().slice(0, 10).replaceAll('-', '.');
  }); // 2026.01.01 .. 2026.03.11

  it('keeps the newest N days, the newest day of N weeks and of N months', () => {
    const keep = [...keepDates(days, { daily: 3, weekly: 2, monthly: 3 })].sort();
    expect(keep).toEqual([
      '2026.01.31', // January's newest
      '2026.02.28', // February's newest
      '2026.03.08', // the newest day of the week before (Monday 03.02 to Sunday 03.08)
      '2026.03.09',
      '2026.03.10',
      '2026.03.11', // the newest three; also this week's and this month's newest
    ]);
  });

  it('keeps everything when the policy is wider than the history', () => {
    expect(keepDates(days.slice(0, 5), { daily: 14, weekly: 8, monthly: 24 }).size).toBe(5);
  });
});
