// A slash command works in any conversation: a channel the bot was never invited to, an archived one,
// a direct message between two people. There chat.postMessage is refused (not_in_channel,
// channel_not_found, is_archived), so the answer goes where Slack lets it: through the command's
// response_url (5 answers within 30 minutes, seen by the one who typed it), and past that, or after a
// restart, in a direct message from the bot.
import type { AdapterLog } from '../../bot/chat/adapter.ts';
import { chunks } from './blocks.ts';

/** What Slack says when the bot cannot post in a conversation. */
export const NOT_A_MEMBER = new Set(['not_in_channel', 'channel_not_found', 'is_archived']);

/** Slack's own limits on a response_url ("Handling slash commands"). */
const USES = 5;
const LIFETIME_MS = 30 * 60_000;

type Respond = (message: { text: string; response_type: 'ephemeral' }) => Promise<unknown>;

interface Entry {
  respond: Respond;
  uses: number;
  until: number;
}

/** The handle a conversation carries for its slash command: the user, so a restart can still DM them. */
export function replyKey(user: string, trigger: string): string {
  return `${user}:${trigger}`;
}

export function userOfKey(key: string): string {
  return key.split(':')[0]!;
}

export class Responders {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly log: AdapterLog) {}

  add(key: string, respond: Respond): void {
    this.entries.set(key, { respond, uses: 0, until: Date.now() + LIFETIME_MS });
    const now = Date.now();
    for (const [k, e] of this.entries) if (e.until < now) this.entries.delete(k);
  }

  /**
   * Answers through the response_url, in as many answers as the text needs; false when it cannot
   * (expired, used up, unknown after a restart, or Slack said no): the caller finds another way.
   */
  async answer(key: string, text: string): Promise<boolean> {
    const e = this.entries.get(key);
    const parts = chunks(text, 3000);
    if (!e || Date.now() > e.until || e.uses + parts.length > USES) return false;
    e.uses += parts.length; // taken before the first await: two answers at once cannot pass five
    try {
      for (const part of parts) await e.respond({ text: part, response_type: 'ephemeral' });
      return true;
    } catch (err) {
      this.log.warn('slack: the response_url refused an answer', { error: String(err) });
      e.uses = USES;
      return false;
    }
  }
}
