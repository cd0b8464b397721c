import type { Knex } from 'knex';
import { isUuid } from '../../../db/identifiers.ts';
import { ValidationFailed } from '../errors.ts';

/** The first-party public client (`web`): POST /auth/login signs in through it; seeded at every start. */
export const FIRST_PARTY_CLIENT_ID = 'web';

/** Every grant a client may be given (schemas/token.ts holds each one's parameters). */
export const GRANT_TYPES = ['password', 'refresh_token', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export interface ClientRow {
  client_id: string;
  name: string;
  /** SHA-256 (hex) of the secret; null for public clients. */
  secret_hash: string | null;
  grant_types: GrantType[];
  scopes: string[];
  audiences: string[];
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

export async function findClient(knex: Knex, clientId: string): Promise<ClientRow | undefined> {
  return knex<ClientRow>('clients').where({ client_id: clientId }).first();
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

export interface ClientDefinition {
  client_id: string;
  name?: string;
  secret_hash: string | null;
  grant_types: GrantType[];
  scopes: string[];
  audiences: string[];
}

/** Inserts a client, or updates it to match the definition (seeding is idempotent). */
export async function upsertClient(knex: Knex, client: ClientDefinition): Promise<void> {
  const problem = clientIdProblem(client.client_id);
  if (problem) throw new ValidationFailed('client_id', problem);
  await knex.transaction(async (trx) => {
    await trx('clients')
      .insert({ ...client, name: client.name ?? client.client_id })
      .onConflict('client_id')
      .merge(['name', 'secret_hash', 'grant_types', 'scopes', 'audiences']);
    await announceChange(trx, client.client_id);
  });
}

/** Deletes a client (its sessions must be revoked first, in the same transaction). */
export async function deleteClient(trx: Knex.Transaction, clientId: string): Promise<void> {
  await trx('clients').where({ client_id: clientId }).del();
  await announceChange(trx, clientId);
}
