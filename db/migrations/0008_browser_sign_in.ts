import type { Knex } from 'knex';

// Browser sign-in (authorization code + PKCE, OpenID Connect):
// - clients gain their redirect URIs, logout URIs, whether they are first-party
//   (no consent page), how they authenticate at the token endpoint, and whether
//   their refresh tokens rotate (confidential clients may opt out: RFC 9700 §4.14.2);
// - sign-in sessions (single sign-on): one per successful login at the login
//   page; the browser's cookie holds a random token, this table its SHA-256;
// - refresh-token families record the sign-in session they came from, so that
//   ending it ends every app's tokens;
// - authorization codes, stored by SHA-256 only, single-use, remembering the
//   family issued from them (a replay revokes it: RFC 6749 §4.1.2);
// - consents, per user and client;
// - the back-channel logout outbox: a row per revoked family of a client with a
//   backchannel_logout_uri, written in the revoking transaction;
// - rotate_refresh_token learns the client's rotation policy.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.specificType('redirect_uris', 'text[]').notNullable().defaultTo('{}');
    t.specificType('post_logout_redirect_uris', 'text[]').notNullable().defaultTo('{}');
    t.text('backchannel_logout_uri');
    t.boolean('first_party').notNullable().defaultTo(false);
    t.text('token_endpoint_auth_method').notNullable().defaultTo('none');
    t.boolean('rotate_refresh_tokens').notNullable().defaultTo(true);
  });
  await knex('clients').whereNotNull('secret_hash').update({ token_endpoint_auth_method: 'client_secret_basic' });
  // The first-party client `web` skips consent (it is re-seeded at every start anyway).
  await knex('clients').where({ client_id: 'web' }).update({ first_party: true });
  await knex.raw(`ALTER TABLE clients ADD CONSTRAINT clients_auth_method CHECK (
    (token_endpoint_auth_method = 'none' AND secret_hash IS NULL)
    OR (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post') AND secret_hash IS NOT NULL))`);
  // Public clients always rotate (RFC 9700 §4.14.2).
  await knex.raw('ALTER TABLE clients ADD CONSTRAINT clients_public_rotate CHECK (rotate_refresh_tokens OR secret_hash IS NOT NULL)');

  await knex.schema.createTable('signin_sessions', (t) => {
    // The public id: the `sid` of ID tokens and logout tokens.
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    // SHA-256 (hex) of the cookie's token: the token itself is never stored.
    t.text('token_hash').notNullable().unique();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    // When the user last typed the password (OIDC auth_time, max_age).
    t.timestamp('auth_time', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('ended_at', { useTz: true });
    t.text('ended_reason');
    t.text('ip');
    t.text('user_agent');
    t.index(['user_id']);
    t.index(['expires_at']);
  });

  await knex.schema.alterTable('sessions', (t) => {
    t.uuid('signin_session_id').references('signin_sessions.id').onDelete('SET NULL');
    t.index(['signin_session_id']);
  });

  await knex.schema.createTable('authorization_codes', (t) => {
    t.text('code_hash').primary();
    t.text('client_id').notNullable().references('clients.client_id').onDelete('CASCADE');
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.uuid('signin_session_id').notNullable().references('signin_sessions.id').onDelete('CASCADE');
    t.text('redirect_uri').notNullable();
    t.text('code_challenge').notNullable();
    t.text('scope').notNullable();
    t.specificType('audiences', 'text[]').notNullable();
    t.text('nonce');
    t.timestamp('auth_time', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('consumed_at', { useTz: true });
    // The family issued from this code: revoked if the code is replayed.
    t.uuid('session_id').references('sessions.id').onDelete('SET NULL');
    t.index(['expires_at']);
  });

  await knex.schema.createTable('consents', (t) => {
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('client_id').notNullable().references('clients.client_id').onDelete('CASCADE');
    t.specificType('scopes', 'text[]').notNullable();
    t.timestamp('granted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['user_id', 'client_id']);
  });

  await knex.schema.createTable('logout_deliveries', (t) => {
    t.bigIncrements('id').primary();
    t.text('client_id').notNullable().references('clients.client_id').onDelete('CASCADE');
    t.text('uri').notNullable();
    t.uuid('user_id').notNullable();
    // The logout token's sid: the sign-in session, or the family when it had none.
    t.text('sid').notNullable();
    t.uuid('family_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('abandoned_at', { useTz: true });
    t.text('last_error');
  });
  await knex.raw(
    'CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND abandoned_at IS NULL',
  );

  await knex.raw('DROP FUNCTION rotate_refresh_token(text, text, timestamptz, interval, text[], text, text, text)');
  await knex.raw(ROTATE_WITH_POLICY);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS rotate_refresh_token(text, text, timestamptz, interval, text[], text, text, text, boolean)');
  const { up: recreate } = await import('./0007_refresh_rotation_function.ts');
  await recreate(knex);
  await knex.schema.dropTableIfExists('logout_deliveries');
  await knex.schema.dropTableIfExists('consents');
  await knex.schema.dropTableIfExists('authorization_codes');
  await knex.schema.alterTable('sessions', (t) => {
    t.dropColumn('signin_session_id');
  });
  await knex.schema.dropTableIfExists('signin_sessions');
  await knex.raw('ALTER TABLE clients DROP CONSTRAINT clients_public_rotate');
  await knex.raw('ALTER TABLE clients DROP CONSTRAINT clients_auth_method');
  await knex.schema.alterTable('clients', (t) => {
    for (const column of [
      'redirect_uris',
      'post_logout_redirect_uris',
      'backchannel_logout_uri',
      'first_party',
      'token_endpoint_auth_method',
      'rotate_refresh_tokens',
    ]) {
      t.dropColumn(column);
    }
  });
}

// Migration 0007's function, with one more parameter: p_rotate. When false (a
// confidential client that opted out of rotation) the presented token stays
// valid: its expiry slides with the session's idle lifetime, nothing is
// consumed, and the outcome is 'renewed'. Everything else is 0007's, line for line.
const ROTATE_WITH_POLICY = `
CREATE FUNCTION rotate_refresh_token(
  p_token_hash text,
  p_client_id text,
  p_now timestamptz,
  p_idle_ttl interval,
  p_scope text[],
  p_child_hash text,
  p_ip text,
  p_user_agent text,
  p_rotate boolean
) RETURNS TABLE (
  outcome text,
  reason text,
  presented_id bigint,
  session_id uuid,
  user_id uuid,
  scope text,
  audiences text[],
  tokens_valid_after timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
  t refresh_tokens%ROWTYPE;
  s sessions%ROWTYPE;
  u users%ROWTYPE;
BEGIN
  SELECT * INTO t FROM refresh_tokens WHERE token_hash = p_token_hash;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::bigint, NULL::uuid, NULL::uuid, NULL::text, NULL::text[], NULL::timestamptz;
    RETURN;
  END IF;
  -- Locking the family serialises this refresh with other refreshes and with logout.
  SELECT * INTO s FROM sessions WHERE id = t.session_id FOR UPDATE;
  IF NOT FOUND OR s.revoked_at IS NOT NULL THEN
    RETURN QUERY SELECT 'rejected'::text, 'session revoked'::text, t.id, t.session_id, NULL::uuid, NULL::text, NULL::text[], NULL::timestamptz;
    RETURN;
  END IF;
  -- RFC 6749 §6: a refresh token is bound to the client it was issued to.
  IF s.client_id <> p_client_id THEN
    RETURN QUERY SELECT 'rejected'::text, 'issued to another client'::text, t.id, s.id, s.user_id, NULL::text, NULL::text[], NULL::timestamptz;
    RETURN;
  END IF;
  -- Expired token, or a session past its absolute expiry or idle lifetime.
  IF t.expires_at <= p_now OR s.expires_at <= p_now OR s.last_refreshed_at <= p_now - p_idle_ttl THEN
    RETURN QUERY SELECT 'rejected'::text, 'expired'::text, t.id, s.id, s.user_id, NULL::text, NULL::text[], NULL::timestamptz;
    RETURN;
  END IF;
  SELECT * INTO u FROM users WHERE id = s.user_id;
  IF NOT FOUND OR u.disabled_at IS NOT NULL THEN
    RETURN QUERY SELECT 'rejected'::text, 'user disabled'::text, t.id, s.id, s.user_id, NULL::text, NULL::text[], NULL::timestamptz;
    RETURN;
  END IF;
  -- RFC 6749 §6: a refresh may narrow the scope, never widen it.
  IF p_scope IS NOT NULL AND NOT (p_scope <@ string_to_array(s.scope, ' ')) THEN
    RETURN QUERY SELECT 'invalid_scope'::text, NULL::text, t.id, s.id, s.user_id, s.scope, NULL::text[], NULL::timestamptz;
    RETURN;
  END IF;
  IF NOT p_rotate THEN
    -- A consumed token of a non-rotating client was consumed under an earlier policy: judged as reuse.
    UPDATE refresh_tokens SET expires_at = LEAST(p_now + p_idle_ttl, s.expires_at) WHERE id = t.id AND consumed_at IS NULL;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'consumed'::text, NULL::text, t.id, s.id, s.user_id, NULL::text, NULL::text[], NULL::timestamptz;
      RETURN;
    END IF;
    UPDATE sessions SET last_refreshed_at = p_now WHERE id = s.id;
    INSERT INTO audit_events (type, user_id, session_id, client_id, ip, user_agent, created_at)
      VALUES ('token_refreshed', s.user_id, s.id, p_client_id, p_ip, p_user_agent, p_now);
    RETURN QUERY SELECT 'renewed'::text, NULL::text, t.id, s.id, s.user_id, s.scope, s.audiences, u.tokens_valid_after;
    RETURN;
  END IF;
  -- The atomic step: only one presentation consumes a token.
  UPDATE refresh_tokens SET consumed_at = p_now WHERE id = t.id AND consumed_at IS NULL;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'consumed'::text, NULL::text, t.id, s.id, s.user_id, NULL::text, NULL::text[], NULL::timestamptz;
    RETURN;
  END IF;
  -- A refresh token never outlives its session.
  INSERT INTO refresh_tokens (session_id, parent_id, token_hash, issued_at, expires_at)
    VALUES (s.id, t.id, p_child_hash, p_now, LEAST(p_now + p_idle_ttl, s.expires_at));
  UPDATE sessions SET last_refreshed_at = p_now WHERE id = s.id;
  INSERT INTO audit_events (type, user_id, session_id, client_id, ip, user_agent, created_at)
    VALUES ('token_refreshed', s.user_id, s.id, p_client_id, p_ip, p_user_agent, p_now);
  RETURN QUERY SELECT 'rotated'::text, NULL::text, t.id, s.id, s.user_id, s.scope, s.audiences, u.tokens_valid_after;
END
$$`;
