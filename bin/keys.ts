// `afsbot keys` and `backup-manager keys`: the archive's key slots, one per admin. A new password is
// read from the terminal (twice, not echoed), or from the first line of stdin when it is not a
// terminal; it goes to restic in a file only the user restic runs as can read, removed right after.
// Never through chat, argv or the log.
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { Archive } from '../bot/backup/archive/archive.ts';
import { Catalog } from '../bot/backup/catalog.ts';
import { AuditLog } from '../bot/chat/audit.ts';
import { personOf } from '../bot/chat/auth.ts';
import type { Config } from '../bot/platform/config.ts';
import type { Database } from '../bot/platform/database.ts';
import type { Logger } from '../bot/platform/log.ts';

export const keysUsage = `usage: keys list | keys add <admin> | keys remove <key id>
  list            the key slots: id, admin (user@host), created
  add <admin>     a new key slot for that admin; the password is asked for on the terminal
  remove <id>     removes a key slot (a prefix of its id is enough); the key in use cannot be removed`;

async function readPassword(): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    const rl = createInterface({ input, terminal: false });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    return '';
  }
  const ask = (prompt: string) =>
    new Promise<string>((resolve) => {
      process.stderr.write(prompt);
      input.setRawMode(true);
      let text = '';
      const onData = (b: Buffer) => {
        for (const ch of b.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            input.setRawMode(false);
            input.off('data', onData);
            input.pause();
            process.stderr.write('\n');
            resolve(text);
            return;
          }
          if (ch === '\u0003') process.exit(130);
          text = ch === '\u007f' ? text.slice(0, -1) : text + ch;
        }
      };
      input.on('data', onData);
      input.resume();
    });
  const first = await ask('new archive password: ');
  const again = await ask('again: ');
  if (first !== again) throw new Error('the two passwords differ; nothing was changed');
  return first;
}

/** Runs one keys subcommand; returns the exit code. */
export async function keysMain(
  args: string[],
  deps: { config: Config; database: Database; log: Logger },
): Promise<number> {
  const [sub, arg, ...rest] = args;
  const archive = new Archive({ config: deps.config, log: deps.log, catalog: new Catalog(deps.database.db) });
  const restic = archive.restic;
  const who = userInfo().username;
  if (['list', 'add', 'remove'].includes(sub ?? '')) {
    const note = await archive.ready(); // the password file's mode, and the repository itself
    if (note) process.stderr.write(`${note}\n`);
  }
  const audit = (text: string, outcome: 'ok' | 'failed', detail: string) =>
    new AuditLog(deps.database.db).record({
      backend: 'console',
      identity: who,
      person: personOf({ backend: 'console', id: who, name: who }, deps.config.admins),
      name: who,
      channel: 'cli',
      text: `keys ${text}`,
      command: 'keys',
      outcome,
      detail,
    });
  if (sub === 'list' && arg === undefined) {
    const r = await restic.keys();
    if (!r.ok) throw new Error(`restic key list failed: ${r.message}`);
    for (const k of r.keys)
      process.stdout.write(
        `${k.current ? '*' : ' '} ${k.id.slice(0, 8)}  ${k.userName}@${k.hostName}  created ${k.created.replace(/\.\d+.*$/, '')}\n`,
      );
    return 0;
  }
  if (sub === 'add' && arg && rest.length === 0) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(arg)) {
      process.stderr.write(`"${arg}" is not an admin name (letters, digits, . _ -)\n${keysUsage}\n`);
      return 2;
    }
    const password = await readPassword();
    if (password.length < 12) {
      process.stderr.write('the password is shorter than 12 characters; nothing was changed\n');
      return 1;
    }
    const dir = mkdtempSync(join(tmpdir(), 'afsbot-key-'));
    const file = join(dir, 'new-password');
    try {
      writeFileSync(file, `${password}\n`, { mode: 0o600 });
      const runAs = deps.config.archive.runAs;
      if (runAs) {
        const id = await execa('id', ['-u', runAs]);
        const gid = await execa('id', ['-g', runAs]);
        chownSync(dir, Number(id.stdout), Number(gid.stdout));
        chownSync(file, Number(id.stdout), Number(gid.stdout));
      }
      const r = await restic.addKey(file, { user: arg, host: hostname() });
      if (!r.ok) {
        audit(`add ${arg}`, 'failed', r.message);
        throw new Error(`restic key add failed: ${r.message}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const keys = await restic.keys();
    const added = keys.ok ? keys.keys.filter((k) => k.userName === arg).at(-1) : undefined;
    audit(`add ${arg}`, 'ok', `key ${added?.id.slice(0, 8) ?? '?'}`);
    process.stdout.write(`added key ${added?.id.slice(0, 8) ?? ''} for ${arg}@${hostname()}\n`);
    return 0;
  }
  if (sub === 'remove' && arg && rest.length === 0) {
    const keys = await restic.keys();
    if (!keys.ok) throw new Error(`restic key list failed: ${keys.message}`);
    const hits = keys.keys.filter((k) => k.id.startsWith(arg));
    if (hits.length !== 1) {
      process.stderr.write(
        `${hits.length === 0 ? `no key id starts with "${arg}"` : `"${arg}" matches ${hits.length} keys; give more of the id`}; keys list shows them\n`,
      );
      return 1;
    }
    const key = hits[0]!;
    if (key.current) {
      process.stderr.write(
        `key ${key.id.slice(0, 8)} is the one afsbot opens the archive with; add another and point archive.passwordFile at it first\n`,
      );
      return 1;
    }
    const r = await restic.removeKey(key.id);
    audit(
      `remove ${key.id.slice(0, 8)}`,
      r.ok ? 'ok' : 'failed',
      r.ok ? `${key.userName}@${key.hostName}` : r.message,
    );
    if (!r.ok) throw new Error(`restic key remove failed: ${r.message}`);
    process.stdout.write(`removed key ${key.id.slice(0, 8)} (${key.userName}@${key.hostName})\n`);
    return 0;
  }
  process.stderr.write(`${keysUsage}\n`);
  return 2;
}
