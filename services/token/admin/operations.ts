// Administrative operations, one implementation for every way in: the
// `authctl` CLI on the database directly, or the running service's admin
// endpoint when the embedded database is held by that service.
import type { Knex } from 'knex';
import type { z } from 'zod';
import { isUuid } from '../../../db/identifiers.ts';
import type { Logger } from '../../../common/logger.ts';
import type { TokenServiceConfig } from '../config.ts';
import { Conflict, NotFound, ValidationFailed } from '../errors.ts';
import type { PasswordHasher } from '../helpers/passwords.ts';
import { checkRegistration } from '../helpers/registration-rules.ts';
import { randomToken, sha256Hex } from '../helpers/secrets.ts';
import { recordAudit } from '../models/audit.ts';
import {
  CLIENT_SETTINGS,
  clientDefinitionProblem,
  deleteClient,
  findClient,
  FIRST_PARTY_CLIENT_ID,
  upsertClient,
  type ClientDefinition,
  type ClientRow,
  type GrantType,
} from '../models/clients.ts';
import { purgeExpired, purgeOptions } from '../models/cleanup.ts';
import { listLiveSessions, revokeSession, revokeSessions, revokeUserSessions, type RevocationReason } from '../models/sessions.ts';
import type { SigningKeys } from '../models/signing-keys.ts';
import { findUserById, findUserByLogin, publicUser, registerUser, type UserRow } from '../models/users.ts';
import { clientDefinition, clientRegistration, consistentClientRegistration } from '../schemas/client.ts';

export interface AdminContext {
  knex: Knex;
  config: TokenServiceConfig;
  keys: SigningKeys;
  passwords: PasswordHasher;
  logger: Logger;
}

type Args = Record<string, unknown>;

const ADMIN = { ip: null, userAgent: 'authctl' };

function text(args: Args, name: string, required = true): string | undefined {
  const value = args[name];
  if (value === undefined || value === null || value === '') {
    if (required) throw new ValidationFailed(name, `--${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw new ValidationFailed(name, `--${name} must be a string`);
  return value;
}

function list(args: Args, name: string): string[] {
  const value = args[name];
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value : String(value).split(/[\s,]+/);
  return items.map(String).filter(Boolean);
}

async function findUser(knex: Knex, reference: string): Promise<UserRow> {
  const user = isUuid(reference) ? await findUserById(knex, reference) : await findUserByLogin(knex, reference);
  if (!user) throw new NotFound(`no user ${reference}`);
  return user;
}

/** A client as the admin operations show it (a new secret is added once, by create and update). */
export type ClientView = ReturnType<typeof clientView> & { client_secret?: string };

const clientView = (client: ClientRow) => ({
  client_id: client.client_id,
  name: client.name,
  type: client.secret_hash ? 'confidential' : 'public',
  grant_types: client.grant_types,
  scopes: client.scopes,
  audiences: client.audiences,
  redirect_uris: client.redirect_uris,
  post_logout_redirect_uris: client.post_logout_redirect_uris,
  backchannel_logout_uri: client.backchannel_logout_uri,
  first_party: client.first_party,
  token_endpoint_auth_method: client.token_endpoint_auth_method,
  rotate_refresh_tokens: client.rotate_refresh_tokens,
  created_at: client.created_at.toISOString(),
});

/**
 * The registration fields (schemas/client.ts) that `client create` and
 * `client update` set, each from the flag of the same name (`redirect_uris`
 * from `--redirect-uris`). Lists are comma- or space-separated; an empty value
 * clears a field back to its default.
 */
const CLIENT_FIELDS = CLIENT_SETTINGS;
type ClientField = (typeof CLIENT_FIELDS)[number];
const LIST_FIELDS: ReadonlySet<ClientField> = new Set(['grant_types', 'scopes', 'audiences', 'redirect_uris', 'post_logout_redirect_uris']);
const BOOLEAN_FIELDS: ReadonlySet<ClientField> = new Set(['first_party', 'rotate_refresh_tokens']);

const flagOf = (field: string) => `--${field.replaceAll('_', '-')}`;

/** The client fields present in `args`, as the registration schema reads them; `cleared` are the ones given empty. */
function clientFields(args: Args): { given: Partial<Record<ClientField, unknown>>; cleared: ClientField[] } {
  const given: Partial<Record<ClientField, unknown>> = {};
  const cleared: ClientField[] = [];
  for (const field of CLIENT_FIELDS) {
    const value = args[field];
    if (value === undefined || value === null) continue;
    if (LIST_FIELDS.has(field)) given[field] = list(args, field);
    else if (value === '') cleared.push(field);
    // The admin endpoint's JSON may carry a boolean as a string, as a form would.
    else if (BOOLEAN_FIELDS.has(field) && (value === 'true' || value === 'false')) given[field] = value === 'true';
    else given[field] = value;
  }
  return { given, cleared };
}

/** A schema's issue as a 400 naming the field and its flag. */
function invalidClientField(issue: z.core.$ZodIssue): ValidationFailed {
  const field = String(issue.path[0] ?? 'client');
  const item = typeof issue.path[1] === 'number' ? ` (item ${issue.path[1] + 1})` : '';
  // Some messages name their field already (clientIdProblem's).
  const message = issue.message.startsWith(field) ? issue.message : `${flagOf(field)}${item}: ${issue.message}`;
  return new ValidationFailed(field, message);
}

function parseClientFields<T extends z.ZodType>(schema: T, input: Record<string, unknown>): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw invalidClientField(parsed.error.issues[0]!);
  return parsed.data;
}

/**
 * The grant types of a client created without --grant-types: the authorization
 * code flow when it has redirect URIs; otherwise the operator must say. Never
 * `password`, which is legacy (RFC 9700 §2.4) and given only on request.
 */
function defaultGrantTypes(given: Partial<Record<ClientField, unknown>>): GrantType[] {
  if (Array.isArray(given.redirect_uris) && given.redirect_uris.length > 0) return ['authorization_code', 'refresh_token'];
  throw new ValidationFailed(
    'grant_types',
    '--grant-types is required for a client without --redirect-uris (e.g. client_credentials for a machine client)',
  );
}

/** Logout everywhere for a user (one user-wide revocation entry), audited as the admin's doing. */
async function revokeUser(ctx: AdminContext, user: UserRow, reason: RevocationReason) {
  return ctx.knex.transaction(async (trx) => {
    const revoked = await revokeUserSessions(trx, user.id, { reason, accessTokenLifetimeMs: ctx.config.ACCESS_TOKEN_TTL });
    await recordAudit(trx, {
      type: 'session_revoked',
      userId: user.id,
      ...ADMIN,
      details: { via: 'admin', reason, sessions: revoked.length },
    });
    return revoked;
  });
}

export const adminOperations = {
  async 'user.create'(ctx: AdminContext, args: Args) {
    const registration = checkRegistration({
      username: text(args, 'username') as string,
      email: text(args, 'email') as string,
      password: text(args, 'password') as string,
    });
    const user = await ctx.passwords.withSlot('admin', (slot) =>
      registerUser(ctx.knex, registration, (plain) => ctx.passwords.hash(plain, slot)),
    );
    await recordAudit(ctx.knex, { type: 'user_registered', userId: user.id, ...ADMIN });
    return publicUser(user);
  },

  async 'user.list'(ctx: AdminContext, args: Args) {
    const limit = Math.min(Number(args.limit ?? 100) || 100, 10_000);
    const users: UserRow[] = await ctx.knex('users').orderBy('created_at').limit(limit);
    return users.map((user) => ({ ...publicUser(user), disabled_at: user.disabled_at?.toISOString() ?? null }));
  },

  async 'user.disable'(ctx: AdminContext, args: Args) {
    const user = await findUser(ctx.knex, text(args, 'user') as string);
    await ctx.knex('users').where({ id: user.id }).whereNull('disabled_at').update({ disabled_at: ctx.knex.fn.now() });
    const revoked = await revokeUser(ctx, user, 'user_disabled');
    await recordAudit(ctx.knex, { type: 'user_disabled', userId: user.id, ...ADMIN });
    return { user: user.username, disabled: true, sessions_revoked: revoked.length };
  },

  /** Lets the user log in again; tokens issued before `user disable` stay revoked. */
  async 'user.enable'(ctx: AdminContext, args: Args) {
    const user = await findUser(ctx.knex, text(args, 'user') as string);
    const enabled = await ctx.knex('users').where({ id: user.id }).whereNotNull('disabled_at').update({ disabled_at: null });
    if (enabled) await recordAudit(ctx.knex, { type: 'user_enabled', userId: user.id, ...ADMIN });
    return { user: user.username, disabled: false, was_disabled: enabled > 0 };
  },

  async 'client.create'(ctx: AdminContext, args: Args) {
    const clientId = text(args, 'client_id') as string;
    if (args.rotate_secret !== undefined) throw new ValidationFailed('rotate_secret', '--rotate-secret is for client update');
    const { given } = clientFields(args);
    given.grant_types ??= defaultGrantTypes(given);
    const grantTypes = given.grant_types as string[];
    const confidential = args.confidential === true || args.confidential === 'true' || grantTypes.includes('client_credentials');
    const secret = confidential ? randomToken(32) : undefined;
    const registration = parseClientFields(consistentClientRegistration, { client_id: clientId, ...given, client_secret: secret });
    if (await findClient(ctx.knex, clientId)) throw new Conflict(`client ${clientId} exists`);
    await upsertClient(ctx.knex, clientDefinition(registration));
    await recordAudit(ctx.knex, { type: 'client_created', clientId, ...ADMIN, details: { confidential } });
    const client = (await findClient(ctx.knex, clientId)) as ClientRow;
    // The only time the secret is ever shown: only its hash is kept.
    return { ...clientView(client), ...(secret ? { client_secret: secret } : {}) };
  },

  /**
   * Changes the given fields and keeps the others (and the secret, unless
   * --rotate-secret). The same schema as `client create` checks what is given;
   * the fields must then agree with the ones kept.
   */
  async 'client.update'(ctx: AdminContext, args: Args) {
    const clientId = text(args, 'client_id') as string;
    if (clientId === FIRST_PARTY_CLIENT_ID)
      throw new ValidationFailed('client_id', `${FIRST_PARTY_CLIENT_ID} is the first-party client and is re-created at every start`);
    // A silently ignored --confidential would leave the operator believing the client now has a secret.
    if (args.confidential !== undefined)
      throw new ValidationFailed(
        'confidential',
        '--confidential is for client create: a client does not change between public and confidential',
      );
    const { given, cleared } = clientFields(args);
    const rotateSecret = args.rotate_secret === true || args.rotate_secret === 'true';
    if (Object.keys(given).length === 0 && cleared.length === 0 && !rotateSecret) {
      throw new ValidationFailed(
        'client',
        `nothing to change: give one or more of ${CLIENT_FIELDS.map(flagOf).join(', ')}, --rotate-secret`,
      );
    }
    // Only what is given is checked here: a kept field is not the operator's to correct now.
    const mask = Object.fromEntries(Object.keys(given).map((field) => [field, true])) as Partial<Record<ClientField, true>>;
    const changes = parseClientFields(clientRegistration.pick(mask), given) as Partial<ClientDefinition>;
    const secret = rotateSecret ? randomToken(32) : undefined;
    const client = await ctx.knex.transaction(async (trx) => {
      const current = await findClient(trx, clientId, { forUpdate: true });
      if (!current) throw new NotFound(`no client ${clientId}`);
      if (rotateSecret && current.secret_hash === null)
        throw new ValidationFailed('rotate_secret', `--rotate-secret: ${clientId} is a public client and has no secret`);
      const { created_at: _createdAt, ...kept } = current;
      const definition: ClientDefinition = {
        ...kept,
        ...changes,
        // An empty flag returns the field to its default (clientDefaults).
        ...Object.fromEntries(cleared.map((field) => [field, undefined])),
        secret_hash: secret ? sha256Hex(secret) : current.secret_hash,
      };
      const problem = clientDefinitionProblem(definition);
      if (problem) throw new ValidationFailed(problem.field, `${flagOf(problem.field)}: ${problem.message}`);
      await upsertClient(trx, definition);
      await recordAudit(trx, {
        type: 'client_updated',
        clientId,
        ...ADMIN,
        details: { fields: [...Object.keys(given), ...cleared], secret_rotated: rotateSecret },
      });
      return (await findClient(trx, clientId)) as ClientRow;
    });
    return { ...clientView(client), ...(secret ? { client_secret: secret } : {}) };
  },

  async 'client.list'(ctx: AdminContext) {
    const clients: ClientRow[] = await ctx.knex('clients').orderBy('client_id');
    return clients.map(clientView);
  },

  async 'client.delete'(ctx: AdminContext, args: Args) {
    const clientId = text(args, 'client_id') as string;
    if (clientId === FIRST_PARTY_CLIENT_ID)
      throw new ValidationFailed('client_id', `${FIRST_PARTY_CLIENT_ID} is the first-party client and is re-created at every start`);
    if (!(await findClient(ctx.knex, clientId))) throw new NotFound(`no client ${clientId}`);
    const revoked = await ctx.knex.transaction(async (trx) => {
      // Its sessions are revoked (and pushed to gateways) before the rows go.
      const ids = await revokeSessions(trx, (q) => q.where({ client_id: clientId }), {
        reason: 'admin',
        accessTokenLifetimeMs: ctx.config.ACCESS_TOKEN_TTL,
      });
      await deleteClient(trx, clientId);
      return ids;
    });
    return { client_id: clientId, deleted: true, sessions_revoked: revoked.length };
  },

  async 'keys.rotate'(ctx: AdminContext) {
    const result = await ctx.keys.rotate();
    await recordAudit(ctx.knex, { type: 'key_rotated', ...ADMIN, details: result });
    return result;
  },

  async 'keys.list'(ctx: AdminContext) {
    return ctx.keys.list();
  },

  async 'sessions.list'(ctx: AdminContext, args: Args) {
    const user = await findUser(ctx.knex, text(args, 'user') as string);
    return (await listLiveSessions(ctx.knex, user.id, ctx.config.REFRESH_TOKEN_IDLE_TTL)).map((session) => ({
      id: session.id,
      client_id: session.client_id,
      created_at: session.created_at.toISOString(),
      last_used_at: session.last_refreshed_at.toISOString(),
      expires_at: session.expires_at.toISOString(),
      ip: session.ip,
      user_agent: session.user_agent,
    }));
  },

  async 'revoke.user'(ctx: AdminContext, args: Args) {
    const user = await findUser(ctx.knex, text(args, 'user') as string);
    const revoked = await revokeUser(ctx, user, 'admin');
    return { user: user.username, sessions_revoked: revoked.length };
  },

  async 'revoke.session'(ctx: AdminContext, args: Args) {
    const id = text(args, 'session') as string;
    if (!isUuid(id) || !(await ctx.knex('sessions').where({ id }).first())) throw new NotFound(`no session ${id}`);
    const revoked = await revokeSession(ctx.knex, id, {
      reason: 'admin',
      accessTokenLifetimeMs: ctx.config.ACCESS_TOKEN_TTL,
      audit: { ...ADMIN, details: { via: 'admin' } },
    });
    return { session: id, revoked };
  },

  async purge(ctx: AdminContext) {
    return purgeExpired(ctx.knex, purgeOptions(ctx.config));
  },

  async 'audit.list'(ctx: AdminContext, args: Args) {
    const user = await findUser(ctx.knex, text(args, 'user') as string);
    const limit = Math.min(Number(args.limit ?? 50) || 50, 10_000);
    const events = await ctx.knex('audit_events').where({ user_id: user.id }).orderBy('id', 'desc').limit(limit);
    return events.map((event: Record<string, unknown>) => ({
      at: (event.created_at as Date).toISOString(),
      type: event.type,
      session_id: event.session_id,
      client_id: event.client_id,
      ip: event.ip,
      user_agent: event.user_agent,
      details: event.details,
    }));
  },
} satisfies Record<string, (ctx: AdminContext, args: Args) => Promise<unknown>>;

export type AdminCommand = keyof typeof adminOperations;

export const isAdminCommand = (name: string): name is AdminCommand => Object.hasOwn(adminOperations, name);
