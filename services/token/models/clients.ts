import type { Knex } from 'knex';
import { isUuid } from '../../../db/identifiers.ts';
import { ValidationFailed } from '../errors.ts';

/** The first-party public client (`web`): POST /auth/login signs in through it; seeded at every start. */
export const FIRST_PARTY_CLIENT_ID = 'web';

/** Every grant a client may be given (schemas/token.ts holds each one's parameters). */
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'password'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** How a client authenticates at the token endpoint (RFC 7591 §2): `none` for public clients. */
export const TOKEN_ENDPOINT_AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];

export interface ClientRow {
  client_id: string;
  name: string;
  /** SHA-256 (hex) of the secret; null for public clients. */
  secret_hash: string | null;
  grant_types: GrantType[];
  scopes: string[];
  audiences: string[];
  /** Exact redirect URIs (RFC 6749 §3.1.2; loopback ones match any port, RFC 8252 §7.3). */
  redirect_uris: string[];
  /** Where end-session may send the browser back to (exact match). */
  post_logout_redirect_uris: string[];
  /** OIDC Back-Channel Logout: where a logout token is POSTed when a family of this client is revoked. */
  backchannel_logout_uri: string | null;
  /** A first-party client skips the consent page. */
  first_party: boolean;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  /** False only for confidential clients that keep one refresh token per family (RFC 9700 §4.14.2). */
  rotate_refresh_tokens: boolean;
  created_at: Date;
}

/**
 * Why `id` cannot be a client id, or undefined when it can. Never a UUID: user
 * ids are UUIDs, and a token whose `sub` equals its `client_id` is a client's
 * own (RFC 9068 §2.2; docs/WIRE-CONTRACT.md), which is unambiguous only if no
 * client id can equal a user id.
 */
export function clientIdProblem(id: string): string | undefined {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) return 'client_id: letters, digits, ".", "_", ":" or "-" (1-128)';
  if (isUuid(id))
    return 'client_id must not have the form of a user id (a UUID): user ids are UUIDs, and a client must never be mistaken for a user';
  return undefined;
}

/** `forUpdate` (in a transaction) holds the row until it commits, so that a read-modify-write loses no change. */
export async function findClient(knex: Knex, clientId: string, options: { forUpdate?: boolean } = {}): Promise<ClientRow | undefined> {
  // No client has such an id, and PostgreSQL refuses some (a NUL byte): not worth a query, never an error.
  if (clientIdProblem(clientId) !== undefined) return undefined;
  const query = knex<ClientRow>('clients').where({ client_id: clientId });
  return (options.forUpdate ? query.forUpdate() : query).first();
}

/** Announces a change to a client (NOTIFY, delivered when the writing transaction commits). */
export const CLIENTS_CHANNEL = 'clients_changed';

async function announceChange(knex: Knex, clientId: string): Promise<void> {
  await knex.raw('SELECT pg_notify(?, ?)', [CLIENTS_CHANNEL, clientId]);
}

/** Where the request path looks clients up. */
export interface ClientDirectory {
  find(clientId: string): Promise<ClientRow | undefined>;
}

/**
 * Client rows kept in memory, so that a token request does not read the
 * clients table: every process LISTENs on CLIENTS_CHANNEL and forgets a client
 * the moment a change to it commits (upsertClient, deleteClient). `maxAgeMs`
 * bounds how long a row is trusted should a notification be lost (a dropped
 * LISTEN connection). Unknown ids are not remembered, so that guessing ids
 * cannot fill it; it holds at most `maxEntries`.
 */
export class ClientCache implements ClientDirectory {
  readonly #knex: Knex;
  readonly #maxAgeMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { row: ClientRow; loadedAt: number }>();
  /** Bumped by every invalidation, so a read that raced a change is not cached. */
  #generation = 0;

  constructor(knex: Knex, options: { maxAgeMs: number; maxEntries: number; now?: () => number }) {
    this.#knex = knex;
    this.#maxAgeMs = options.maxAgeMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  async find(clientId: string): Promise<ClientRow | undefined> {
    const cached = this.#entries.get(clientId);
    if (cached && this.#now() - cached.loadedAt < this.#maxAgeMs) return cached.row;
    const generation = this.#generation;
    const row = await findClient(this.#knex, clientId);
    if (!row) {
      this.#entries.delete(clientId);
      return undefined;
    }
    if (generation === this.#generation) {
      this.#entries.delete(clientId);
      this.#entries.set(clientId, { row, loadedAt: this.#now() });
      if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    }
    return row;
  }

  /** A client changed (its NOTIFY arrived): the next lookup reads it again. */
  invalidate(clientId: string): void {
    this.#generation += 1;
    this.#entries.delete(clientId);
  }
}

/** A client as written: every field but the id and the secret has a default (clientDefaults). */
export interface ClientDefinition {
  client_id: string;
  name?: string | undefined;
  secret_hash: string | null;
  grant_types: GrantType[];
  scopes: string[];
  audiences: string[];
  redirect_uris?: string[] | undefined;
  post_logout_redirect_uris?: string[] | undefined;
  backchannel_logout_uri?: string | null | undefined;
  first_party?: boolean | undefined;
  token_endpoint_auth_method?: TokenEndpointAuthMethod | undefined;
  rotate_refresh_tokens?: boolean | undefined;
}

/** A client's settings: every column an operator writes but its id and secret (authctl client update takes each). */
export const CLIENT_SETTINGS = [
  'name',
  'grant_types',
  'scopes',
  'audiences',
  'redirect_uris',
  'post_logout_redirect_uris',
  'backchannel_logout_uri',
  'first_party',
  'token_endpoint_auth_method',
  'rotate_refresh_tokens',
] as const;

const COLUMNS = ['secret_hash', ...CLIENT_SETTINGS] as const;

/**
 * The row a definition stands for: a confidential client authenticates with
 * HTTP Basic unless it says otherwise; a public one with nothing, and always
 * rotates its refresh tokens.
 */
export function clientDefaults(client: ClientDefinition): Omit<ClientRow, 'created_at'> {
  const confidential = client.secret_hash !== null;
  return {
    client_id: client.client_id,
    name: client.name ?? client.client_id,
    secret_hash: client.secret_hash,
    grant_types: client.grant_types,
    scopes: client.scopes,
    audiences: client.audiences,
    redirect_uris: client.redirect_uris ?? [],
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    backchannel_logout_uri: client.backchannel_logout_uri ?? null,
    first_party: client.first_party ?? false,
    token_endpoint_auth_method: confidential ? (client.token_endpoint_auth_method ?? 'client_secret_basic') : 'none',
    rotate_refresh_tokens: confidential ? (client.rotate_refresh_tokens ?? true) : true,
  };
}

/** A definition whose fields disagree: the field to change, and why. */
export interface ClientProblem {
  field: 'token_endpoint_auth_method' | 'rotate_refresh_tokens' | 'grant_types' | 'redirect_uris';
  message: string;
}

/** Why a definition is inconsistent, or undefined (the database's constraints say the same). */
export function clientDefinitionProblem(client: ClientDefinition): ClientProblem | undefined {
  const confidential = client.secret_hash !== null;
  const method = client.token_endpoint_auth_method;
  if (!confidential && method !== undefined && method !== 'none') {
    return { field: 'token_endpoint_auth_method', message: `${method} needs a client secret (a confidential client)` };
  }
  if (confidential && method === 'none') {
    return { field: 'token_endpoint_auth_method', message: 'none is for public clients (no secret)' };
  }
  if (!confidential && client.rotate_refresh_tokens === false) {
    return { field: 'rotate_refresh_tokens', message: 'a public client always rotates its refresh tokens (RFC 9700 §4.14.2)' };
  }
  if (!confidential && client.grant_types.includes('client_credentials')) {
    return { field: 'grant_types', message: 'client_credentials needs a client secret' };
  }
  if (client.grant_types.includes('authorization_code') && (client.redirect_uris ?? []).length === 0) {
    return { field: 'redirect_uris', message: 'authorization_code needs at least one redirect URI' };
  }
  return undefined;
}

/** Inserts a client, or updates it to match the definition (seeding is idempotent). */
export async function upsertClient(knex: Knex, client: ClientDefinition): Promise<void> {
  const problem = clientIdProblem(client.client_id);
  if (problem) throw new ValidationFailed('client_id', problem);
  const inconsistent = clientDefinitionProblem(client);
  if (inconsistent) throw new ValidationFailed(inconsistent.field, `${inconsistent.field}: ${inconsistent.message}`);
  await knex.transaction(async (trx) => {
    await trx('clients')
      .insert(clientDefaults(client))
      .onConflict('client_id')
      .merge([...COLUMNS]);
    await announceChange(trx, client.client_id);
  });
}

/** Deletes a client (its sessions must be revoked first, in the same transaction). */
export async function deleteClient(trx: Knex.Transaction, clientId: string): Promise<void> {
  await trx('clients').where({ client_id: clientId }).del();
  await announceChange(trx, clientId);
}
