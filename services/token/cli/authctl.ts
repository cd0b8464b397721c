// authctl: administration of the token service's database. Works on
// DATABASE_URL or the embedded database in DATA_DIR (the same variables as the
// service); when the service holds the embedded database, commands go through
// its admin endpoint instead.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase, type Database } from '../../../db/connection.ts';
import { DirectoryInUseError } from '../../../db/directory-lock.ts';
import { ConfigError } from '../../../common/env.ts';
import { createLogger } from '../../../common/logger.ts';
import { hashLimits, loadTokenServiceConfig, type TokenServiceConfig } from '../config.ts';
import { HttpError } from '../errors.ts';
import { PasswordHasher } from '../helpers/passwords.ts';
import { SigningKeys } from '../models/signing-keys.ts';
import { adminOperations, type AdminCommand } from '../admin/operations.ts';

const HELP = `authctl: administer the token authority

Usage: authctl <command> [options]

Commands:
  migrate                                   apply database migrations
  user create --username U --email E (--password P | --password-stdin)
  user list [--limit N]
  user disable --user U                     refuse logins and refreshes; revoke every token issued before now
  user enable --user U                      allow logins again (tokens revoked by disable stay revoked)
  client create --client-id ID [--confidential] [client fields]
                                            a confidential client's secret is printed once, never again
  client update --client-id ID [client fields] [--rotate-secret]
                                            changes only the fields given; keeps the secret unless --rotate-secret
  client list
  client delete --client-id ID              revokes its sessions first
  keys rotate                               a new signing key signs from now on; the old one stays published
  keys list
  sessions list --user U                    a user's live sessions
  revoke --user U                           revoke every session of a user (logout everywhere)
  revoke --session ID                       revoke one session
  purge                                     delete expired tokens, sessions, revocation entries, old audit events
  audit --user U [--limit N]                a user's security events, newest first

  U is a user id, username or e-mail address.

Client fields (as in CLIENTS_FILE; lists are comma-separated; an empty value, e.g. --backchannel-logout-uri '',
returns a field to its default):
  --name N
  --grant-types G,…                         authorization_code, refresh_token, client_credentials, password (legacy);
                                            default: authorization_code,refresh_token when --redirect-uris is given,
                                            else required
  --scopes a,b  --audiences a,b
  --redirect-uris URI,…                     https; http only on a loopback host; or a private-use scheme; no #fragment
  --post-logout-redirect-uris URI,…
  --backchannel-logout-uri URI
  --first-party | --no-first-party          a first-party client skips the consent page
  --token-endpoint-auth-method M            client_secret_basic (confidential default), client_secret_post, none (public)
  --rotate-refresh-tokens | --no-rotate-refresh-tokens
                                            only a confidential client may turn rotation off

Options:
  --json        print JSON instead of text
  -h, --help    this help

Environment (the same as the service's):
  DATABASE_URL        PostgreSQL; when unset, the embedded database in DATA_DIR (default ./data)
  KEY_ENCRYPTION_KEY  needed by "keys rotate" when private keys are encrypted

Exit codes: 0 done, 1 the operation failed, 2 usage error, 3 database unreachable.`;

class UsageError extends Error {}

const OPTIONS = {
  username: { type: 'string' },
  email: { type: 'string' },
  password: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  user: { type: 'string' },
  session: { type: 'string' },
  limit: { type: 'string' },
  'client-id': { type: 'string' },
  name: { type: 'string' },
  'grant-types': { type: 'string' },
  scopes: { type: 'string' },
  audiences: { type: 'string' },
  confidential: { type: 'boolean' },
  'redirect-uris': { type: 'string' },
  'post-logout-redirect-uris': { type: 'string' },
  'backchannel-logout-uri': { type: 'string' },
  'first-party': { type: 'boolean' },
  'token-endpoint-auth-method': { type: 'string' },
  'rotate-refresh-tokens': { type: 'boolean' },
  'rotate-secret': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Maps the words on the command line to an operation. */
function resolveCommand(words: string[], values: Record<string, unknown>): AdminCommand | 'migrate' {
  const [first, second] = words;
  if (first === 'migrate' && !second) return 'migrate';
  if (first === 'purge' && !second) return 'purge';
  if (first === 'audit' && !second) return 'audit.list';
  if (first === 'revoke' && !second) {
    if (values.user && values.session) throw new UsageError('revoke takes --user or --session, not both');
    if (values.user) return 'revoke.user';
    if (values.session) return 'revoke.session';
    throw new UsageError('revoke needs --user U or --session ID');
  }
  // A stray word is an error, not ignored: `--first-party false` would otherwise set first_party.
  if (words.length > 2) {
    const stray = words.slice(2);
    const hint = stray.some((word) => word === 'true' || word === 'false') ? ' (a boolean flag takes no value: --flag or --no-flag)' : '';
    throw new UsageError(`unexpected argument: ${stray.join(' ')}${hint}`);
  }
  const name = `${first}.${second}`;
  const known: Record<string, AdminCommand> = {
    'user.create': 'user.create',
    'user.list': 'user.list',
    'user.disable': 'user.disable',
    'user.enable': 'user.enable',
    'client.create': 'client.create',
    'client.update': 'client.update',
    'client.list': 'client.list',
    'client.delete': 'client.delete',
    'keys.rotate': 'keys.rotate',
    'keys.list': 'keys.list',
    'sessions.list': 'sessions.list',
  };
  const command = known[name];
  if (!command) throw new UsageError(words.length ? `unknown command: ${words.join(' ')}` : 'no command given');
  return command;
}

function operationArgs(values: Record<string, unknown>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    if (['json', 'help', 'password-stdin'].includes(name) || value === undefined) continue;
    args[name.replaceAll('-', '_')] = value;
  }
  if (values['password-stdin']) args.password = fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  return args;
}

interface AdminFile {
  url: string;
  token: string;
  pid: number;
}

async function viaService(adminFile: AdminFile, command: AdminCommand | 'migrate', args: Record<string, unknown>): Promise<unknown> {
  if (command === 'migrate') return { migrations: 'applied by the running service at start' };
  let response: Response;
  try {
    response = await fetch(`${adminFile.url}/admin/commands/${command}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminFile.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
  } catch {
    throw new DatabaseUnreachable(`the service holding the embedded database (pid ${adminFile.pid}) does not answer at ${adminFile.url}`);
  }
  const body = (await response.json().catch(() => ({}))) as { result?: unknown; message?: string; error?: string };
  if (!response.ok) throw new OperationFailed(body.message ?? body.error ?? `HTTP ${response.status}`);
  return body.result;
}

async function direct(
  db: Database,
  config: TokenServiceConfig,
  command: AdminCommand | 'migrate',
  args: Record<string, unknown>,
): Promise<unknown> {
  await db.migrate();
  if (command === 'migrate') return { migrations: 'up to date' };
  const logger = createLogger({ name: 'authctl', level: 'warn', destination: process.stderr });
  const keys = new SigningKeys(db.knex, {
    encryptionKey: config.KEY_ENCRYPTION_KEY,
    retiredKeyLifetimeMs: config.ACCESS_TOKEN_TTL + 60_000,
    logger,
  });
  if (command === 'keys.rotate' || command === 'keys.list') await keys.init();
  const context = { knex: db.knex, config, keys, passwords: new PasswordHasher(config.PASSWORD_HASH_COST, hashLimits(config)), logger };
  return adminOperations[command](context, args);
}

class OperationFailed extends Error {}
class DatabaseUnreachable extends Error {}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, allowNegative: true, strict: true });
  } catch (error) {
    console.error(`authctl: ${(error as Error).message}\n\nRun "authctl --help" for usage.`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  let command: AdminCommand | 'migrate';
  let config: TokenServiceConfig;
  try {
    command = resolveCommand(positionals, values);
    config = loadTokenServiceConfig({ ...process.env, LOG_LEVEL: 'warn' });
  } catch (error) {
    console.error(`authctl: ${error instanceof ConfigError ? error.message : (error as Error).message}\n\nRun "authctl --help" for usage.`);
    return 2;
  }
  const args = operationArgs(values);

  let result: unknown;
  try {
    let db: Database | undefined;
    try {
      // knex would print each failed connection attempt with its stack; the failure is reported below, in one line.
      db = await openDatabase({
        databaseUrl: config.DATABASE_URL,
        dataDir: config.DATA_DIR,
        poolMax: 2,
        knexLog: { warn: () => undefined },
      });
    } catch (error) {
      if (!(error instanceof DirectoryInUseError)) throw new DatabaseUnreachable(`cannot open the database: ${(error as Error).message}`);
      const adminPath = path.join(config.DATA_DIR, 'admin.json');
      if (!fs.existsSync(adminPath)) {
        throw new DatabaseUnreachable(
          `${error.message}\nThat process does not offer the admin endpoint (${adminPath} is missing): stop it and run authctl again.`,
        );
      }
      result = await viaService(JSON.parse(fs.readFileSync(adminPath, 'utf8')) as AdminFile, command, args);
    }
    if (db) {
      try {
        result = await direct(db, config, command, args);
      } finally {
        await db.close();
      }
    }
  } catch (error) {
    if (error instanceof DatabaseUnreachable) {
      console.error(`authctl: ${error.message}`);
      return 3;
    }
    if (error instanceof HttpError || error instanceof OperationFailed) {
      console.error(`authctl: ${error.message}`);
      return 1;
    }
    const { code, message } = error as { code?: string; message?: string };
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '3D000' || code === '28P01') {
      console.error(`authctl: cannot reach the database (${message}); check DATABASE_URL`);
      return 3;
    }
    console.error(`authctl: ${message ?? String(error)}`);
    return 1;
  }
  print(result, values.json === true);
  return 0;
}

function print(result: unknown, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  if (Array.isArray(result)) {
    if (result.length === 0) {
      console.log('(none)');
      return;
    }
    const rows = result.map((item) => Object.fromEntries(Object.entries(item as object).map(([k, v]) => [k, cell(v)])));
    const columns = Object.keys(rows[0] as object);
    const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
    console.log(columns.map((c, i) => c.padEnd(widths[i]!)).join('  '));
    for (const row of rows) console.log(columns.map((c, i) => String(row[c]).padEnd(widths[i]!)).join('  '));
    return;
  }
  for (const [key, value] of Object.entries(result as object)) console.log(`${key}: ${cell(value)}`);
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(',') || '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

process.exitCode = await run(process.argv.slice(2));
