// Block Kit for the bot's messages, within Slack's limits: at most 50 blocks a message, 3000
// characters in a section's text, 150 in a header, 10 fields of 2000 in a section, and about 12,000
// characters of text in all the blocks together (past that Slack refuses the message whole with
// msg_blocks_too_long: bolt-js issues 2509 and 2867).
import { formatProgress, type ProgressUpdate, type ReportSummary } from '../../bot/chat/adapter.ts';

export const LIMITS = {
  blocks: 50,
  sectionText: 3000,
  header: 150,
  fields: 10,
  fieldText: 2000,
  /** Text in all blocks together: Slack's ~12,000, less room for the buttons and the context line. */
  totalText: 11_000,
} as const;

// biome-ignore lint/suspicious/noExplicitAny: Block Kit is open-ended JSON
export type Block = Record<string, any>;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Splits text into pieces of at most `max` characters, at line ends where it can. */
export function chunks(text: string, max: number = LIMITS.sectionText): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const cut = rest.lastIndexOf('\n', max);
    const at = cut > max / 2 ? cut : max;
    out.push(rest.slice(0, at));
    rest = rest.slice(at).replace(/^\n/, '');
  }
  if (rest) out.push(rest);
  return out;
}

/** Whether `text` fits in one message's sections; if not, the blocks show its start and the thread the whole. */
export function fitsInBlocks(text: string, maxBlocks: number = LIMITS.blocks - 2): boolean {
  return text.length <= LIMITS.totalText && chunks(text).length <= maxBlocks;
}

/** Plain text in sections (no mrkdwn: what the bot says is shown as it is). */
function textSections(text: string, maxBlocks: number): Block[] {
  if (fitsInBlocks(text, maxBlocks))
    return chunks(text).map((t) => ({
      type: 'section',
      text: { type: 'plain_text', text: t, emoji: false },
    }));
  const more = '\n(continued in the thread)';
  const shown = chunks(text.slice(0, LIMITS.totalText - more.length)).slice(0, maxBlocks);
  shown[shown.length - 1] = clip(`${shown.at(-1)}${more}`, LIMITS.sectionText);
  return shown.map((t) => ({ type: 'section', text: { type: 'plain_text', text: t, emoji: false } }));
}

/** A destructive command's plan and request, with Approve and Deny buttons (removed once decided). */
export function approvalBlocks(text: string, requestId: number, decided?: string): Block[] {
  const blocks = textSections(text, LIMITS.blocks - 2);
  if (decided)
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(decided, LIMITS.sectionText) }] });
  else
    blocks.push({
      type: 'actions',
      block_id: `afsbot_request_${requestId}`,
      elements: [
        {
          type: 'button',
          action_id: 'afsbot_approve',
          style: 'primary',
          value: String(requestId),
          text: { type: 'plain_text', text: 'Approve' },
        },
        {
          type: 'button',
          action_id: 'afsbot_deny',
          style: 'danger',
          value: String(requestId),
          text: { type: 'plain_text', text: 'Deny' },
        },
      ],
    });
  return blocks;
}

/** The nightly report: a header with the verdict, the counts as fields, the failures; the full text goes in its thread. */
export function reportBlocks(r: ReportSummary): Block[] {
  const blocks: Block[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: clip(`${r.ok ? '✅' : '🚨'} ${r.title}: ${r.verdict}`, LIMITS.header),
      },
    },
    {
      type: 'section',
      // each field within its share of the message's total, after the header and the failures' section
      fields: r.fields.slice(0, LIMITS.fields).map((f, _, shown) => ({
        type: 'mrkdwn',
        text: clip(
          `*${f.label}*\n${f.value}`,
          Math.min(
            LIMITS.fieldText,
            Math.floor((LIMITS.totalText - LIMITS.header - LIMITS.sectionText - 100) / shown.length),
          ),
        ),
      })),
    },
  ];
  if (r.failures.length) {
    const lines: string[] = [];
    let used = 0;
    for (const [i, f] of r.failures.entries()) {
      const line = `• ${f}`;
      const more = `\n…and ${r.failures.length - i} more in the thread`;
      if (used + line.length + 1 + more.length > LIMITS.sectionText) {
        lines.push(more.trim());
        break;
      }
      lines.push(line);
      used += line.length + 1;
    }
    blocks.push({
      type: 'section',
      text: { type: 'plain_text', text: clip(lines.join('\n'), LIMITS.sectionText), emoji: false },
    });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: 'The full report is in the thread.' }] });
  return blocks;
}

/** `▓▓▓▓▓░░░░░ 45%` and the tracker's line, for a job's message. */
export function progressLine(u: ProgressUpdate): string {
  const line = formatProgress(u).replace(/^job \d+ [^:]*: /, '');
  if (!u.total) return line;
  const pct = Math.min(99, Math.floor((100 * u.bytes) / u.total));
  const filled = Math.round(pct / 10);
  return `${'▓'.repeat(filled)}${'░'.repeat(10 - filled)} ${line}`;
}
