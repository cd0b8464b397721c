import type { Knex } from 'knex';

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

export const isConfidential = (client: ClientRow): boolean => client.secret_hash !== null;

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
  await knex('clients')
    .insert({ ...client, name: client.name ?? client.client_id })
    .onConflict('client_id')
    .merge(['name', 'secret_hash', 'grant_types', 'scopes', 'audiences']);
}
