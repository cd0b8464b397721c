import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('username').notNullable();
    t.text('email').notNullable();
    t.text('password_hash').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('disabled_at', { useTz: true });
  });
  // Usernames and e-mail addresses are unique regardless of case.
  await knex.raw('CREATE UNIQUE INDEX users_username_lower ON users (lower(username))');
  await knex.raw('CREATE UNIQUE INDEX users_email_lower ON users (lower(email))');

  await knex.schema.createTable('clients', (t) => {
    t.text('client_id').primary();
    t.text('name').notNullable();
    // SHA-256 of a high-entropy secret; NULL for public clients.
    t.text('secret_hash');
    t.specificType('grant_types', 'text[]').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    t.specificType('audiences', 'text[]').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('algorithm').notNullable();
    t.jsonb('public_jwk').notNullable();
    // PKCS#8 PEM, or an AES-256-GCM envelope of it when KEY_ENCRYPTION_KEY is set.
    t.text('private_key').notNullable();
    t.boolean('private_key_encrypted').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('retired_at', { useTz: true });
    // When a retired key leaves the JWKS: every token it signed has expired.
    t.timestamp('expires_at', { useTz: true });
  });

  // A session is a refresh-token family: one login, many rotations.
  await knex.schema.createTable('sessions', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('client_id').notNullable().references('clients.client_id').onDelete('CASCADE');
    t.text('scope').notNullable();
    t.specificType('audiences', 'text[]').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_refreshed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true });
    t.text('revoked_reason');
    t.text('user_agent');
    t.text('ip');
    t.index(['user_id']);
  });

  await knex.schema.createTable('refresh_tokens', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('session_id').notNullable().references('sessions.id').onDelete('CASCADE');
    t.bigInteger('parent_id').references('refresh_tokens.id').onDelete('SET NULL');
    // SHA-256 (hex) of the token: the token itself is never stored.
    t.text('token_hash').notNullable().unique();
    t.timestamp('issued_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('consumed_at', { useTz: true });
    t.index(['session_id']);
    t.index(['parent_id']);
  });

  // The revocation log that gateways follow; `id` is the cursor.
  await knex.schema.createTable('revocations', (t) => {
    t.bigIncrements('id').primary();
    t.text('kind').notNullable();
    t.text('key').notNullable();
    // For kind=user: tokens issued at or before this instant are revoked.
    t.timestamp('not_before', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // After this no token the entry covers can still be valid.
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at']);
    t.index(['kind', 'key']);
  });
  await knex.raw(`ALTER TABLE revocations ADD CONSTRAINT revocations_kind CHECK (kind IN ('session', 'user', 'token'))`);

  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.text('type').notNullable();
    t.uuid('user_id');
    t.uuid('session_id');
    t.text('client_id');
    t.text('ip');
    t.text('user_agent');
    t.jsonb('details');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['audit_events', 'revocations', 'refresh_tokens', 'sessions', 'signing_keys', 'clients', 'users']) {
    await knex.schema.dropTableIfExists(table);
  }
}
