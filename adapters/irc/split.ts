// IRC lines are at most 512 bytes including the sender prefix the server adds and CRLF. Split a reply
// into lines that fit, on spaces where possible, and never inside a UTF-8 character.

const encoder = new TextEncoder();
const bytes = (s: string) => encoder.encode(s).length;

/**
 * Room for the text of one PRIVMSG to `target` as relayed by the server:
 * ":<nick>!<user>@<host> PRIVMSG <target> :<text>\r\n" <= 512. The host and user are not known for sure
 * (cloaks, ident prefixes), so assume the longest the protocol lets them be.
 */
export function maxTextBytes(nick: string, target: string): number {
  const prefix = 1 + bytes(nick) + 1 + 11 + 1 + 64; // ":nick!~username@host"
  return 512 - 2 - prefix - bytes(' PRIVMSG ') - bytes(target) - bytes(' :');
}

/** Splits on newlines, then wraps each line to at most `max` bytes. Empty lines are dropped (IRC cannot send them). */
export function splitForIrc(text: string, max: number): string[] {
  if (max < 8) throw new Error(`line budget ${max} is too small`);
  const out: string[] = [];
  for (const line of text.replace(/\r/g, '').split('\n')) {
    if (!line.trim()) continue;
    wrap(line, max, out);
  }
  return out;
}

function wrap(line: string, max: number, out: string[]): void {
  let rest = line;
  while (bytes(rest) > max) {
    // Longest prefix of whole code points within max bytes.
    let cut = 0;
    let used = 0;
    for (const ch of rest) {
      const b = bytes(ch);
      if (used + b > max) break;
      used += b;
      cut += ch.length;
    }
    // Prefer to break at the last space in the second half of the chunk.
    const space = rest.lastIndexOf(' ', cut);
    if (space > cut / 2) {
      out.push(rest.slice(0, space));
      rest = rest.slice(space + 1);
    } else {
      out.push(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
  }
  if (rest) out.push(rest);
}
