// Configuration: one JSON file plus AFSBOT_* environment overrides, validated by zod at start. The
// schema (config-schema.ts) is the one place a key is defined; the environment variables are derived
// from it (AFSBOT_IRC_REGISTER_TIMEOUT_MS for irc.registerTimeoutMs, unless it names a shorter one),
// and so is .env.example. A bad value stops the bot with the key, the value, where it came from and
// what is expected; an unknown key too, so a typo is never ignored.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema, type KeyMeta } from './config-schema.ts';

export { configSchema, isNever } from './config-schema.ts';

export type Config = z.infer<typeof configSchema>;
export type IrcConfig = Config['irc'];

type Kind = 'string' | 'int' | 'bool' | 'list' | 'persons';

export interface EnvOverride {
  env: string;
  path: string[];
  kind: Kind;
  description: string;
  example?: string;
  default?: unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: zod's internal definitions are walked generically
type Def = any;
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Every key of the schema that holds a value, with its variable: the one list of environment overrides. */
function deriveOverrides(schema: z.ZodType, path: string[] = []): EnvOverride[] {
  let s = schema;
  let meta = z.globalRegistry.get(s) as KeyMeta | undefined;
  let dflt: unknown;
  // unwrap optional, default and prefault, keeping the outermost metadata and the default
  for (let d = defOf(s); ['optional', 'default', 'prefault'].includes(d.type); d = defOf(s)) {
    if (d.type === 'default') dflt = typeof d.defaultValue === 'function' ? d.defaultValue() : d.defaultValue;
    s = d.innerType;
    meta ??= z.globalRegistry.get(s) as KeyMeta | undefined;
  }
  const d = defOf(s);
  if (d.type === 'object')
    return Object.entries(d.shape as Record<string, z.ZodType>).flatMap(([k, v]) =>
      deriveOverrides(v, [...path, k]),
    );
  const listOf = d.type === 'array' ? defOf(d.element).type : undefined;
  const kind: Kind =
    d.type === 'boolean'
      ? 'bool'
      : d.type === 'number'
        ? 'int'
        : listOf === 'object' || listOf === 'pipe'
          ? 'persons'
          : d.type === 'array'
            ? 'list'
            : 'string';
  if (!meta?.description) throw new Error(`config key ${path.join('.')} has no description in the schema`);
  const derived = `AFSBOT_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
  return [
    {
      env: meta.env ?? derived,
      path,
      kind,
      description: meta.description,
      ...(meta.example !== undefined ? { example: meta.example } : {}),
      ...(dflt !== undefined ? { default: dflt } : {}),
    },
  ];
}

/** Every environment variable afsbot reads besides AFSBOT_CONFIG, derived from the schema. */
export const envOverrides: EnvOverride[] = deriveOverrides(configSchema);

/** Config keys and variables of earlier versions, with what replaced them. */
const renamed: Record<string, string> = {
  storePath: 'databasePath (AFSBOT_DATABASE)',
  AFSBOT_STORE: 'AFSBOT_DATABASE',
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function convert(raw: string, kind: Kind): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'int':
      return /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw.trim()) : raw; // left as text: zod then names the bad value
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw.trim())) return true;
      if (/^(0|false|no|off)$/i.test(raw.trim())) return false;
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    case 'persons':
      return parsePersons(raw);
  }
}

const PERSONS_FORM = '"alice irc:alice slack:U024BE7LH console:alice; bob irc:bob"';

/**
 * AFSBOT_ADMINS: persons separated by ";", each a name and then backend:identity pairs. Zod checks the
 * result; this only says when the text has not that shape.
 */
function parsePersons(raw: string): unknown {
  return raw
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((entry) => {
      const [name, ...ids] = entry.split(/\s+/);
      const person: Record<string, unknown> = { name };
      for (const t of ids) {
        const m = /^(irc|slack|console):(.+)$/.exec(t);
        if (!m)
          throw new ConfigError(
            `invalid configuration:\n  admins (from AFSBOT_ADMINS): "${t}" in "${entry}" is not backend:identity (backends: irc, slack, console); write persons as ${PERSONS_FORM}`,
          );
        person[m[1]!] = [...((person[m[1]!] as string[]) ?? []), m[2]];
      }
      return person;
    });
}

/**
 * Before persons, admins were lists per backend, which cannot say that two identities are one person.
 * An old config is refused with its own conversion (one person per identity, to be merged by hand).
 */
function oldAdmins(
  input: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  file?: string,
): string | undefined {
  const lists: Record<string, string[]> = {};
  const old = input.admins;
  let where = '';
  if (typeof old === 'object' && old !== null && !Array.isArray(old)) {
    for (const [b, ids] of Object.entries(old)) lists[b] = Array.isArray(ids) ? ids.map(String) : [];
    where = `admins in ${file ?? 'the config'}`;
  }
  for (const b of ['irc', 'slack', 'console']) {
    const v = env[`AFSBOT_ADMINS_${b.toUpperCase()}`];
    if (!v) continue;
    lists[b] = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    where = where ? `${where} and AFSBOT_ADMINS_*` : 'AFSBOT_ADMINS_IRC/_SLACK/_CONSOLE';
  }
  if (!where) return undefined;
  const persons = Object.entries(lists).flatMap(([b, ids]) =>
    ids.map((id) => ({
      name: /^[A-Za-z][A-Za-z0-9._-]{0,31}$/.test(id) ? id : `person${id.slice(-4)}`,
      [b]: [id],
    })),
  );
  const envForm = persons
    .map(
      (p) =>
        `${p.name} ${Object.entries(p)
          .filter(([k]) => k !== 'name')
          .map(([k, v]) => `${k}:${(v as string[])[0]}`)
          .join(' ')}`,
    )
    .join('; ');
  return [
    `invalid configuration:`,
    `  ${where}: admins are now persons, each with their identities on every backend, so that approvals count people, not accounts.`,
    `  Written as persons, yours are (merge the entries that are the same person):`,
    `    config file: "admins": ${JSON.stringify(persons)}`,
    `    environment: AFSBOT_ADMINS="${envForm}"`,
  ].join('\n');
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * Builds the config from a file (optional) and the environment. Throws ConfigError whose message lists
 * every bad key: `irc.port = "abc" (from AFSBOT_IRC_PORT): expected number, received string`.
 */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv }): Config {
  const env = opts.env ?? process.env;
  let input: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read the config file ${opts.file}: ${(err as Error).message}. Point --config or AFSBOT_CONFIG at a readable JSON file.`,
      );
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('the top level must be a JSON object');
      }
      input = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`the config file ${opts.file} is not valid JSON: ${(err as Error).message}`);
    }
  }
  const old = [
    ...Object.keys(input).filter((k) => renamed[k]),
    ...Object.keys(env).filter((k) => renamed[k] && env[k]),
  ];
  if (old.length)
    throw new ConfigError(
      `invalid configuration:\n${old.map((k) => `  ${k} (from ${k.startsWith('AFSBOT_') ? 'the environment' : opts.file}): renamed; use ${renamed[k]}`).join('\n')}`,
    );
  const converted = oldAdmins(input, env, opts.file);
  if (converted) throw new ConfigError(converted);
  const sources = new Map<string, string>();
  for (const o of envOverrides) {
    const raw = env[o.env];
    if (raw === undefined || raw === '') continue;
    setPath(input, o.path, convert(raw, o.kind));
    sources.set(o.path.join('.'), o.env);
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => {
      const key = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys')
        return issue.keys.map(
          (k) =>
            `  ${issue.path.length ? `${key}.` : ''}${k} (from ${opts.file ?? 'defaults'}): not a config key; .env.example lists every key`,
        );
      const value = getPath(input, issue.path);
      const where = sources.get(key) ?? (opts.file ? opts.file : 'defaults');
      const shown = value === undefined ? '(missing)' : JSON.stringify(value);
      return [`  ${key} = ${shown} (from ${where}): ${issue.message}`];
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  if (config.irc.enabled && config.irc.account && !config.irc.passwordFile) {
    throw new ConfigError(
      `invalid configuration:\n  irc.passwordFile = (missing): irc.account is set, so the SASL password must come from a file; set irc.passwordFile or AFSBOT_IRC_PASSWORD_FILE`,
    );
  }
  return config;
}

/** The text of .env.example, from the schema (a unit test keeps the file equal to it). */
export function envExample(): string {
  const head = [
    '# afsbot reads a JSON config file (--config or AFSBOT_CONFIG) and then these variables, which',
    '# override it. Every variable is optional. Secrets never go here: give the path of a file that holds them.',
    '# Lists are comma-separated; booleans are 1/0, true/false, yes/no, on/off.',
    '# Generated from the schema in bot/platform/config.ts by `npm run env-example`; do not edit by hand.',
    '',
    '# JSON config file',
    '# AFSBOT_CONFIG=/etc/afsbot/config.json',
  ];
  const shown = (o: EnvOverride) =>
    o.example ??
    (o.default === undefined ? '' : Array.isArray(o.default) ? o.default.join(',') : String(o.default));
  // a value with spaces or ";" is quoted, as a shell or systemd's EnvironmentFile= wants it
  const quoted = (v: string) => (/[\s;]/.test(v) ? `"${v}"` : v);
  const body = envOverrides.flatMap((o) => [
    '',
    `# ${o.description} (config key ${o.path.join('.')})`,
    `# ${o.env}=${typeof o.default === 'boolean' && o.example === undefined ? (o.default ? '1' : '0') : quoted(shown(o))}`,
  ]);
  return `${[...head, ...body].join('\n')}\n`;
}
