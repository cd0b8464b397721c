import type { Knex } from 'knex';

// A global logout writes one revocation entry for the user, covering every
// access token with iat at or before its not_before. Gateways compare in whole
// seconds, so a login in the same second would be covered too: tokens issued
// later carry an iat past this instant (grants/token-response.ts).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('tokens_valid_after', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('tokens_valid_after');
  });
}
