// The back-channel logout outbox (OIDC Back-Channel Logout 1.0): one row per
// revoked family of a client with a backchannel_logout_uri, written in the
// revoking transaction, so a logout token is owed exactly when the revocation
// commits. backchannel-logout.ts delivers the rows; they survive restarts.
import type { Knex } from 'knex';

/** Announces new rows (NOTIFY, delivered when the revoking transaction commits). */
export const LOGOUT_DELIVERIES_CHANNEL = 'logout_deliveries';

export interface LogoutDeliveryRow {
  id: number;
  client_id: string;
  uri: string;
  user_id: string;
  sid: string;
  family_id: string;
  created_at: Date;
  attempts: number;
  next_attempt_at: Date;
  delivered_at: Date | null;
  abandoned_at: Date | null;
  last_error: string | null;
}

/**
 * Owes a logout token for each of these (just revoked) families whose client
 * has a backchannel_logout_uri. Its sid is the family's sign-in session, or
 * the family itself when it came from none. Returns how many rows were written.
 */
export async function enqueueLogoutDeliveries(trx: Knex.Transaction, familyIds: string[]): Promise<number> {
  if (familyIds.length === 0) return 0;
  const result = await trx.raw(
    `INSERT INTO logout_deliveries (client_id, uri, user_id, sid, family_id)
     SELECT s.client_id, c.backchannel_logout_uri, s.user_id, COALESCE(s.signin_session_id, s.id)::text, s.id
       FROM sessions s JOIN clients c ON c.client_id = s.client_id
      WHERE s.id = ANY(?::uuid[]) AND c.backchannel_logout_uri IS NOT NULL`,
    [familyIds],
  );
  const written = Number(result.rowCount ?? 0);
  if (written > 0) await trx.raw('SELECT pg_notify(?, ?)', [LOGOUT_DELIVERIES_CHANNEL, String(written)]);
  return written;
}

export type ClaimedDelivery = Pick<LogoutDeliveryRow, 'id' | 'client_id' | 'uri' | 'user_id' | 'sid' | 'attempts'>;

/**
 * Takes up to `limit` due rows for one attempt each: counts the attempt and
 * leases the row (next_attempt_at moves `leaseMs` ahead) in one statement, so
 * other instances skip it while it is being sent, and a crash mid-send leaves
 * it due again once the lease runs out.
 */
export async function claimDueDeliveries(knex: Knex, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const result = await knex.raw(
    `UPDATE logout_deliveries
        SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ?)
      WHERE id IN (
        SELECT id FROM logout_deliveries
         WHERE delivered_at IS NULL AND abandoned_at IS NULL AND next_attempt_at <= now()
         ORDER BY next_attempt_at
         LIMIT ?
         FOR UPDATE SKIP LOCKED)
      RETURNING id, client_id, uri, user_id, sid, attempts`,
    [leaseMs / 1000, limit],
  );
  return (result.rows as Array<ClaimedDelivery & { id: string | number }>).map((row) => ({ ...row, id: Number(row.id) }));
}

export async function markDelivered(knex: Knex, id: number): Promise<void> {
  await knex('logout_deliveries').where({ id }).update({ delivered_at: knex.fn.now(), last_error: null });
}

/** A failed attempt: due again after `retryInMs`, or abandoned when `abandon`. `error` is a short reason, never a token. */
export async function markFailed(knex: Knex, id: number, outcome: { error: string; retryInMs: number; abandon: boolean }): Promise<void> {
  await knex('logout_deliveries')
    .where({ id })
    .update({
      last_error: outcome.error.slice(0, 200),
      ...(outcome.abandon
        ? { abandoned_at: knex.fn.now() }
        : { next_attempt_at: knex.raw('now() + make_interval(secs => ?)', [outcome.retryInMs / 1000]) }),
    });
}

/** Milliseconds until the earliest pending row is due (0 when one is due now), or undefined when none is pending. */
export async function msUntilNextDue(knex: Knex): Promise<number | undefined> {
  const result = await knex.raw(
    `SELECT GREATEST(0, extract(epoch from (min(next_attempt_at) - now())) * 1000)::float8 AS ms
       FROM logout_deliveries WHERE delivered_at IS NULL AND abandoned_at IS NULL`,
  );
  const ms = (result.rows as Array<{ ms: number | null }>)[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}
