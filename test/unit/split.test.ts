import { describe, expect, it } from 'vitest';
import { maxTextBytes, splitForIrc } from '../../adapters/irc/split.ts';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('splitForIrc', () => {
  it('keeps a full PRIVMSG with the longest sender prefix under 512 bytes', () => {
    const max = maxTextBytes('afsbot', '#ops');
    const worst = `:afsbot!~${'u'.repeat(10)}@${'h'.repeat(64)} PRIVMSG #ops :${'x'.repeat(max)}\r\n`;
    expect(bytes(worst)).toBeLessThanOrEqual(512);
  });

  it('splits lines and drops empty ones', () => {
    expect(splitForIrc('a\n\nb\r\nc', 100)).toEqual(['a', 'b', 'c']);
  });

  it('wraps long lines at spaces, losing no words', () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`);
    const parts = splitForIrc(words.join(' '), 60);
    for (const p of parts) expect(bytes(p)).toBeLessThanOrEqual(60);
    expect(parts.join(' ')).toBe(words.join(' '));
  });

  it('never cuts a UTF-8 character in half', () => {
    const text = 'é🙂ü'.repeat(200); // 2-, 4- and 2-byte characters, no spaces
    const parts = splitForIrc(text, 61);
    for (const p of parts) {
      expect(bytes(p)).toBeLessThanOrEqual(61);
      expect(p).not.toContain('\uFFFD');
      expect(Buffer.from(p, 'utf8').toString('utf8')).toBe(p);
    }
    expect(parts.join('')).toBe(text);
  });
});
