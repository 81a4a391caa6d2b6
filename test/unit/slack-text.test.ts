import { describe, expect, it } from 'vitest';
import { decodeSlackText } from '../../adapters/slack/slack-adapter.ts';

describe('decodeSlackText', () => {
  it('gives back what was typed: the escaped characters, and links Slack made of names', () => {
    expect(decodeSlackText('!audit &lt;5&gt; &amp;&amp; x')).toBe('!audit <5> && x');
    expect(decodeSlackText('!restore-file user.alice <http://notes.md|notes.md>')).toBe(
      '!restore-file user.alice notes.md',
    );
    expect(decodeSlackText('see <https://example.org/a>')).toBe('see https://example.org/a');
    // an escaped entity is decoded once, not twice
    expect(decodeSlackText('&amp;lt;')).toBe('&lt;');
    // mentions and channel links are not links to a page: left for the adapter
    expect(decodeSlackText('<@U024BE7LH> ping')).toBe('<@U024BE7LH> ping');
  });
});
