import { describe, expect, it } from 'vitest';
import {
  approvalBlocks,
  chunks,
  fitsInBlocks,
  LIMITS,
  progressLine,
  reportBlocks,
} from '../../adapters/slack/blocks.ts';
import { blocksError } from '../support/slack-fake.ts';

function textsOf(blocks: Record<string, unknown>[]): string[] {
  return blocks.flatMap((b) => {
    const t = (b.text as { text?: string } | undefined)?.text;
    const f = ((b.fields as { text: string }[] | undefined) ?? []).map((x) => x.text);
    return [...(t ? [t] : []), ...f];
  });
}

describe('Slack blocks stay within Slack\u2019s limits', () => {
  it('a nightly report with hundreds of failures: at most 50 blocks, 3000 characters a section, 150 in the header', () => {
    const blocks = reportBlocks({
      title: 'nightly 2026.03.09',
      ok: false,
      verdict: `NOT SAFE (${'x'.repeat(400)})`,
      fields: Array.from({ length: 14 }, (_, i) => ({ label: `field ${i}`, value: 'v'.repeat(3000) })),
      failures: Array.from({ length: 400 }, (_, i) => `user.v${i}: vos dump failed: ${'e'.repeat(200)}`),
    });
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    expect((blocks[0]!.text as { text: string }).text.length).toBeLessThanOrEqual(LIMITS.header);
    expect(blocks[1]!.fields).toHaveLength(LIMITS.fields);
    for (const t of textsOf(blocks)) expect(t.length).toBeLessThanOrEqual(LIMITS.sectionText);
    expect(JSON.stringify(blocks)).toMatch(/and \d+ more in the thread/);
    // and Slack takes it: no more than about 12,000 characters of text in all
    expect(blocksError(blocks)).toBeUndefined();
  });

  it('an approval request with a very long plan keeps its buttons and its limits', () => {
    const plan = Array.from({ length: 3000 }, (_, i) => `step ${i}: ${'p'.repeat(60)}`).join('\n');
    const blocks = approvalBlocks(plan, 7);
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    expect(blocks.at(-1)).toMatchObject({
      type: 'actions',
      elements: [
        { action_id: 'afsbot_approve', value: '7' },
        { action_id: 'afsbot_deny', value: '7' },
      ],
    });
    for (const t of textsOf(blocks)) expect(t.length).toBeLessThanOrEqual(LIMITS.sectionText);
    expect(blocksError(blocks)).toBeUndefined();
    expect(JSON.stringify(blocks)).toMatch(/continued in the thread/);
    const decided = approvalBlocks('short plan', 7, 'Approved by <@U1> at 10:00 UTC');
    expect(decided.map((b) => b.type)).toEqual(['section', 'context']);
  });

  it('a plan of 20 sections, 12,000 characters in all: Slack would refuse it whole; it is cut, the rest in the thread', () => {
    const plan = Array.from({ length: 200 }, (_, i) => `step ${i}: ${'q'.repeat(55)}`).join('\n');
    expect(chunks(plan).length).toBeLessThan(LIMITS.blocks - 2); // the old rule saw no need to cut
    expect(plan.length).toBeGreaterThan(12_000);
    // as the blocks were made before: one section per chunk
    const old = chunks(plan).map((t) => ({ type: 'section', text: { type: 'plain_text', text: t } }));
    expect(blocksError(old)).toBe('msg_blocks_too_long');
    expect(fitsInBlocks(plan)).toBe(false);
    const blocks = approvalBlocks(plan, 9);
    expect(blocksError(blocks)).toBeUndefined();
    expect(textsOf(blocks).join('\n')).toMatch(/\(continued in the thread\)$/);
    expect(fitsInBlocks('short plan')).toBe(true);
  });

  it('splits text at line ends, never losing a character', () => {
    const text = Array.from({ length: 500 }, (_, i) => `line ${i} ${'z'.repeat(i % 90)}`).join('\n');
    const parts = chunks(text, 1000);
    expect(parts.every((p) => p.length <= 1000)).toBe(true);
    expect(parts.join('\n')).toBe(text);
  });

  it('a progress line has a bar', () => {
    expect(
      progressLine({
        jobId: 3,
        title: 'restore user.alice',
        phase: 'restoring',
        bytes: 50,
        total: 100,
        rate: 10,
        final: false,
      }),
    ).toMatch(/^▓{5}░{5} restoring 50% /);
  });
});
