import type { Knex } from 'knex';

// The rotation of a refresh token in one round trip. This function is the
// refresh grant's rules (grants/refresh-token.ts calls it and explains why it is
// safe under concurrency): running next to the data, a refresh costs one
// statement instead of ten, and PL/pgSQL plans its inner statements once per
// connection. It runs in the caller's implicit transaction; the family's row
// lock serialises it with other refreshes and with logout.
//
// The liveness test below is models/sessions.ts isSessionLive (and whereLive):
// change them together.
//
// Outcomes: 'unknown' (no such token), 'rejected' with a reason, and
// 'invalid_scope' with the family's scope (nothing written for any of these),
// 'consumed' (someone consumed the token first: the caller decides between grace
// and reuse, under the same lock, in a transaction of its own), and 'rotated'
// (the token consumed, its child stored by the hash the caller chose, the
// session touched, the refresh audited).
const CREATE = `
CREATE FUNCTION rotate_refresh_token(
  p_token_hash text,
  p_client_id text,
  p_now timestamptz,
  p_idle_ttl interval,
  p_scope text[],
  p_child_hash text,
  p_ip text,
  p_user_agent text
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

export async function up(knex: Knex): Promise<void> {
  await knex.raw(CREATE);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS rotate_refresh_token(text, text, timestamptz, interval, text[], text, text, text)');
}
