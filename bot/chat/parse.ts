// Turns a chat line into a command name and argument tokens. Quoting follows the shell's simple rules
// ("two words" or 'two words'); nothing is ever interpreted by a shell.

export const MAX_COMMAND_LENGTH = 1000;

export type Parsed =
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'command'; name: string; args: string[] };

// C0 controls except tab, DEL, C1 controls. IRC formatting codes (bold, colour) are controls too.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const controlChars = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

/**
 * @param direct true in a private conversation, where the prefix is optional.
 */
export function parseCommand(text: string, prefix: string, direct: boolean): Parsed {
  let body = text.trim();
  if (body.startsWith(prefix)) body = body.slice(prefix.length);
  else if (!direct) return { kind: 'none' };
  if (text.length > MAX_COMMAND_LENGTH) {
    return {
      kind: 'invalid',
      reason: `that command is ${text.length} characters long; the limit is ${MAX_COMMAND_LENGTH}`,
    };
  }
  if (body.includes('\uFFFD')) {
    return { kind: 'invalid', reason: 'that message is not valid UTF-8; send plain text' };
  }
  if (controlChars.test(body)) {
    return {
      kind: 'invalid',
      reason: 'that message contains control characters (colours, bold or raw bytes); send plain text',
    };
  }
  const tokens = tokenize(body.replace(/\t/g, ' '));
  if (typeof tokens === 'string') return { kind: 'invalid', reason: tokens };
  const [name, ...args] = tokens;
  if (!name) {
    return { kind: 'invalid', reason: `no command given; try ${prefix}help` };
  }
  if (!/^[a-z][a-z0-9-]{0,31}$/i.test(name)) {
    return { kind: 'invalid', reason: `"${name.slice(0, 40)}" is not a command name; try ${prefix}help` };
  }
  return { kind: 'command', name: name.toLowerCase(), args };
}

/** Splits on spaces, honouring quotes. Returns an error message for an unterminated quote. */
export function tokenize(s: string): string[] | string {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quote: '"' | "'" | null = null;
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inToken = true;
    } else if (ch === ' ') {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += ch;
      inToken = true;
    }
  }
  if (quote) return `unterminated ${quote} quote; close it, e.g. "like this"`;
  if (inToken) out.push(cur);
  return out;
}
