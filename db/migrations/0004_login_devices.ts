import type { Knex } from 'knex';

// Devices that have signed in to an account (OWASP's "device cookies"): the
// cookie holds a random token, this table only its SHA-256. A valid device
// cookie lets its owner past an account lock; `failures` is its own small
// allowance of wrong passwords, after which it no longer vouches.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('login_devices', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('token_hash').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('failures').notNullable().defaultTo(0);
    t.index(['user_id', 'last_used_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('login_devices');
}
