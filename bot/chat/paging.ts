// Long answers come a page at a time: `!audit 500` or years of `!backup list` would otherwise be hours
// of IRC lines. A command writes its whole answer; the dispatcher shows page N of it (`--page N`) and
// says how to get the next.
import { UserError } from './errors.ts';

/**
 * Page `page` (1-based) of `text`, `size` lines a page, with a last line saying where the rest is.
 * `again` is the command to type for another page. Text of one page comes back as it is.
 */
export function pageOf(text: string, page: number, size: number, again: string): string {
  const lines = text.split('\n');
  const pages = Math.max(1, Math.ceil(lines.length / size));
  if (page > pages)
    throw new UserError(
      `there ${pages === 1 ? 'is 1 page' : `are ${pages} pages`} of it; ask for page 1 to ${pages}`,
    );
  if (pages === 1) return text;
  const shown = lines.slice((page - 1) * size, page * size);
  const next = page < pages ? `; ${again} --page ${page + 1} for the next` : '';
  return [...shown, `(page ${page} of ${pages}, ${lines.length} lines${next})`].join('\n');
}

/** Takes `--page N` out of a command's words. Throws a UserError when N is not a page number. */
export function takePage(tokens: string[]): { tokens: string[]; page: number } {
  const at = tokens.indexOf('--page');
  if (at < 0) return { tokens, page: 1 };
  const n = tokens[at + 1] ?? '';
  if (!/^[1-9]\d{0,5}$/.test(n)) throw new UserError(`--page needs a page number, such as --page 2`);
  return { tokens: [...tokens.slice(0, at), ...tokens.slice(at + 2)], page: Number(n) };
}
