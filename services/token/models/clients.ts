import type { Knex } from 'knex';
import { isUuid } from '../../../db/identifiers.ts';
import { ValidationFailed } from '../errors.ts';

/** The first-party public client (`web`): POST /auth/login signs in through it; seeded at every start. */
export const FIRST_PARTY_CLIENT_ID = 'web';

export type GrantType = 'password' | 'refresh_token' | 'client_credentials';

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
  await knex('clients')
    .insert({ ...client, name: client.name ?? client.client_id })
    .onConflict('client_id')
    .merge(['name', 'secret_hash', 'grant_types', 'scopes', 'audiences']);
}
