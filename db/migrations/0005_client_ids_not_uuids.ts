import type { Knex } from 'knex';
import { UUID_PATTERN } from '../identifiers.ts';

// A token's `sub` is a user id (a UUID) or, for client_credentials, the client
// id; "sub equals client_id" tells them apart only if no client id can ever be
// a UUID. The service refuses such ids wherever a client is created; this
// constraint makes the database refuse them too.
export async function up(knex: Knex): Promise<void> {
  const offending: string[] = await knex('clients').where('client_id', '~', UUID_PATTERN).pluck('client_id');
  if (offending.length > 0) {
    throw new Error(
      `client ids may not have the form of a user id (a UUID); delete or re-create these clients, then migrate again: ${offending.join(', ')}`,
    );
  }
  // DDL takes no bind parameters; the pattern is a constant without quotes.
  await knex.raw(`ALTER TABLE clients ADD CONSTRAINT clients_client_id_not_uuid CHECK (client_id !~ '${UUID_PATTERN}')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE clients DROP CONSTRAINT clients_client_id_not_uuid');
}
