// Starts and stops the real test peers through the project's own scripts (scripts/peers/), so tests,
// the demo and the benchmarks share one way of bringing them up.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

export const repoRoot = resolve(import.meta.dirname, '../..');
const peers = join(repoRoot, 'scripts/peers');

export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

export interface CellInfo {
  cell: string;
  server: string;
  partition: string;
  configDir: string;
  netns: string;
  fuseMount: string;
  state: string;
}

export async function cellUp(name: string): Promise<CellInfo> {
  const r = await execa(join(peers, 'afs-cell.sh'), ['up', '--name', name, '--seed'], { stderr: 'inherit' });
  const env = parseEnv(r.stdout);
  return {
    cell: env.AFSBOT_AFS_CELL!,
    server: env.AFSBOT_AFS_SERVER!,
    partition: env.AFSBOT_AFS_PARTITION!,
    configDir: env.AFSBOT_AFS_CONFIG_DIR!,
    netns: env.AFSBOT_AFS_NETNS!,
    fuseMount: env.AFSBOT_AFS_FUSE_MOUNT ?? '',
    state: env.AFSBOT_AFS_STATE!,
  };
}

export async function cellDown(name: string): Promise<void> {
  await execa(join(peers, 'afs-cell.sh'), ['down', '--name', name, '--wipe'], { stderr: 'inherit' });
}

export interface IrcInfo {
  host: string;
  port: number;
  state: string;
  /** The services server's name (NickServ@<it> reaches services only). */
  servicesServer: string;
  /** account name -> password, read back from the server's state (never printed). */
  passwords: Record<string, string>;
}

/** Test accounts: two admins, one non-admin, and the bot's own. Passwords are random per server. */
export const ircAccounts = ['alice', 'bob', 'mallory', 'afsbot'] as const;

function readAccounts(file: string): Record<string, string> {
  const passwords: Record<string, string> = {};
  if (!existsSync(file)) return passwords;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) passwords[line.slice(0, i)] = line.slice(i + 1);
  }
  return passwords;
}

export async function ircUp(name: string, extraArgs: string[] = []): Promise<IrcInfo> {
  // A server kept from an earlier run (AFSBOT_KEEP_PEERS) keeps its accounts and their passwords.
  const known = readAccounts(join(repoRoot, '.state', `irc-${name}`, 'accounts'));
  const accounts = ircAccounts
    .map((a) => `${a}:${known[a] ?? randomBytes(9).toString('base64url')}`)
    .join(',');
  const r = await execa(
    join(peers, 'irc-server.sh'),
    ['up', '--name', name, '--accounts', accounts, ...extraArgs],
    {
      stderr: 'inherit',
    },
  );
  const env = parseEnv(r.stdout);
  const passwords = readAccounts(join(env.AFSBOT_IRC_STATE!, 'accounts'));
  return {
    host: env.AFSBOT_IRC_HOST!,
    port: Number(env.AFSBOT_IRC_PORT),
    state: env.AFSBOT_IRC_STATE!,
    servicesServer: env.AFSBOT_IRC_SERVICES_SERVER!,
    passwords,
  };
}

/**
 * The second IRC stack: ngIRCd linked to Atheme, which (unlike InspIRCd) offers no account-tag, no
 * SASL and no account-notify; accounts only by NickServ IDENTIFY. Same accounts as ircUp.
 */
export async function ngircdUp(name: string): Promise<IrcInfo> {
  const known = readAccounts(join(repoRoot, '.state', `ngircd-${name}`, 'accounts'));
  const accounts = ircAccounts
    .map((a) => `${a}:${known[a] ?? randomBytes(9).toString('base64url')}`)
    .join(',');
  const r = await execa(
    join(peers, 'ngircd.sh'),
    ['up', '--name', name, '--accounts', accounts, '--class', 'fast'],
    { stderr: 'inherit' },
  );
  const env = parseEnv(r.stdout);
  return {
    host: env.AFSBOT_IRC_HOST!,
    port: Number(env.AFSBOT_IRC_PORT),
    state: env.AFSBOT_IRC_STATE!,
    servicesServer: env.AFSBOT_IRC_SERVICES_SERVER!,
    passwords: readAccounts(join(env.AFSBOT_IRC_STATE!, 'accounts')),
  };
}

export async function ngircdDown(name: string): Promise<void> {
  await execa(join(peers, 'ngircd.sh'), ['down', '--name', name, '--wipe'], { stderr: 'inherit' });
}

export async function ircRestart(name: string): Promise<void> {
  await execa(join(peers, 'irc-server.sh'), ['restart-ircd', '--name', name, '--wait-services'], {
    stderr: 'inherit',
  });
}

export async function ircDown(name: string): Promise<void> {
  await execa(join(peers, 'irc-server.sh'), ['down', '--name', name, '--wipe'], { stderr: 'inherit' });
}
