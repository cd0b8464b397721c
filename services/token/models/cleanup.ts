// Housekeeping: deletes what can no longer matter, in small batches so that no
// statement holds many locks, with SKIP LOCKED so several instances (and the
// CLI) can purge at once without waiting on each other.
import type { Knex } from 'knex';

export interface PurgeOptions {
  batchSize?: number;
  /** Audit events older than this are deleted. */
  auditRetentionMs: number;
  /** Revoked sessions are kept this long (for the sessions API and support). */
  revokedSessionRetentionMs?: number;
  /** Device cookies unused this long are forgotten. */
  deviceLifetimeMs: number;
  /** Sessions unused this long (their refresh token idle-expired) are dead: deleted. */
  sessionIdleMs: number;
}

/** The purge a configuration asks for (background cleanup and `authctl purge`). */
export const purgeOptions = (config: {
  AUDIT_RETENTION: number;
  LOGIN_DEVICE_TTL: number;
  REFRESH_TOKEN_IDLE_TTL: number;
}): PurgeOptions => ({
  auditRetentionMs: config.AUDIT_RETENTION,
  deviceLifetimeMs: config.LOGIN_DEVICE_TTL,
  sessionIdleMs: config.REFRESH_TOKEN_IDLE_TTL,
});

export type PurgeCounts = Record<
  | 'refresh_tokens'
  | 'sessions'
  | 'authorization_codes'
  | 'signin_sessions'
  | 'revocations'
  | 'login_throttles'
  | 'login_devices'
  | 'audit_events'
  | 'signing_keys'
  | 'logout_deliveries',
  number
>;

const DAY_MS = 86_400_000;

export async function purgeExpired(knex: Knex, options: PurgeOptions): Promise<PurgeCounts> {
  const batchSize = options.batchSize ?? 1000;
  const revokedRetention = options.revokedSessionRetentionMs ?? DAY_MS;
  const seconds = (ms: number) => Math.ceil(ms / 1000);
  const plans: Array<[keyof PurgeCounts, string, string, number[]]> = [
    ['refresh_tokens', 'id', 'expires_at < now()', []],
    [
      'sessions',
      'id',
      'expires_at < now() OR last_refreshed_at < now() - make_interval(secs => ?) OR revoked_at < now() - make_interval(secs => ?)',
      [seconds(options.sessionIdleMs), seconds(revokedRetention)],
    ],
    // A consumed code is kept a day past its expiry, so that a late replay still revokes its family.
    ['authorization_codes', 'code_hash', "expires_at < now() - interval '1 day'", []],
    // An expired or ended sign-in session is kept while a family issued through it exists (a later
    // end-session with its id_token_hint still revokes them); its codes go with it (ON DELETE CASCADE).
    [
      'signin_sessions',
      'id',
      '(expires_at < now() OR ended_at IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.signin_session_id = signin_sessions.id)',
      [],
    ],
    ['revocations', 'id', 'expires_at < now()', []],
    ['login_throttles', 'key', "last_failure_at < now() - interval '1 day' AND (locked_until IS NULL OR locked_until < now())", []],
    ['login_devices', 'id', 'last_used_at < now() - make_interval(secs => ?)', [seconds(options.deviceLifetimeMs)]],
    ['audit_events', 'id', 'created_at < now() - make_interval(secs => ?)', [seconds(options.auditRetentionMs)]],
    // A retired key's private half is destroyed a day after the last token it signed expired.
    ['signing_keys', 'kid', "retired_at IS NOT NULL AND expires_at < now() - interval '1 day'", []],
    // Back-channel logouts: a delivered one is kept a day, an abandoned one a week (for support).
    ['logout_deliveries', 'id', "delivered_at < now() - interval '1 day' OR abandoned_at < now() - interval '7 days'", []],
  ];
  const counts = {} as PurgeCounts;
  for (const [table, key, condition, bindings] of plans) {
    counts[table] = 0;
    for (;;) {
      const result = await knex.raw(
        `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${condition} LIMIT ? FOR UPDATE SKIP LOCKED)`,
        [...bindings, batchSize],
      );
      const deleted = Number(result.rowCount ?? 0);
      counts[table] += deleted;
      if (deleted < batchSize) break;
    }
  }
  return counts;
}
