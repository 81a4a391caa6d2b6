import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_LENGTH, parseCommand, tokenize } from '../../bot/chat/parse.ts';

describe('parseCommand', () => {
  it('ignores ordinary channel chatter', () => {
    expect(parseCommand('good morning', '!', false)).toEqual({ kind: 'none' });
  });

  it('reads the name and the arguments, lower-casing the name', () => {
    expect(parseCommand('!Backup list 2013.01.28', '!', false)).toEqual({
      kind: 'command',
      name: 'backup',
      args: ['list', '2013.01.28'],
    });
  });

  it('accepts a command without the prefix in a private conversation only', () => {
    expect(parseCommand('status', '!', true)).toMatchObject({ kind: 'command', name: 'status' });
    expect(parseCommand('status', '!', false)).toEqual({ kind: 'none' });
  });

  it('keeps quoted words together', () => {
    expect(
      parseCommand('!promote user.alice --break-glass "disk died, alone tonight"', '!', false),
    ).toMatchObject({
      args: ['user.alice', '--break-glass', 'disk died, alone tonight'],
    });
    expect(tokenize(`a 'b c' "" d`)).toEqual(['a', 'b c', '', 'd']);
  });

  it('rejects an unterminated quote with a hint', () => {
    const p = parseCommand('!promote x "oops', '!', false);
    expect(p).toMatchObject({ kind: 'invalid' });
    expect(p.kind === 'invalid' && p.reason).toMatch(/unterminated " quote/);
  });

  it('rejects an empty command and says what to type', () => {
    const p = parseCommand('!   ', '!', false);
    expect(p).toEqual({ kind: 'invalid', reason: 'no command given; try !help' });
  });

  it('rejects control characters, invalid UTF-8 and very long lines', () => {
    expect(parseCommand('!status \u00034red', '!', false)).toMatchObject({
      kind: 'invalid',
      reason: expect.stringMatching(/control characters/),
    });
    expect(parseCommand('!status \uFFFD', '!', false)).toMatchObject({
      kind: 'invalid',
      reason: expect.stringMatching(/UTF-8/),
    });
    const long = `!audit ${'x'.repeat(10_240)}`;
    expect(parseCommand(long, '!', false)).toMatchObject({
      kind: 'invalid',
      reason: `that command is ${long.length} characters long; the limit is ${MAX_COMMAND_LENGTH}`,
    });
  });

  it('treats shell metacharacters as plain text and rejects them as a command name', () => {
    expect(parseCommand('!$(reboot)', '!', false)).toMatchObject({
      kind: 'invalid',
      reason: expect.stringMatching(/not a command name/),
    });
    expect(parseCommand('!help ;rm -rf / `id` $HOME', '!', false)).toEqual({
      kind: 'command',
      name: 'help',
      args: [';rm', '-rf', '/', '`id`', '$HOME'],
    });
  });
});
