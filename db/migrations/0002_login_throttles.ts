import type { Knex } from 'knex';

// Failed-login counters, in the database so that throttling holds across
// instances. Keys are `account:<login>` (whether or not it exists) and `ip:<address>`.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('login_throttles', (t) => {
    t.text('key').primary();
    t.integer('failures').notNullable();
    t.timestamp('last_failure_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('locked_until', { useTz: true });
    t.index(['last_failure_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('login_throttles');
}
