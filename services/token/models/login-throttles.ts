// Attempt counters with growing delays, in the database so that they hold
// across instances: per account, per client address, and per address for
// registrations. An attempt is counted when it is admitted, before any
// password is hashed, so concurrent attempts count as they arrive rather than
// once they fail; a success takes its own count back.
//
// The account key is the account's id when it exists, so every spelling of it
// (username, e-mail address, any case or compatibility form) shares one
// counter; an unknown name is keyed by its canonical spelling, so it is
// throttled exactly like a real account and throttling reveals nothing.
import type { Knex } from 'knex';
import { canonicalIdentifier } from '../../../db/identifiers.ts';
import { TooManyRequests } from '../errors.ts';

export interface ThrottlePolicy {
  accountFreeFailures: number;
  ipFreeFailures: number;
  maxDelayMs: number;
  windowMs: number;
}

/** The counter of the account an attempt names: `account:<user id>`, or `login:<canonical name>` when there is none. */
export function accountKey(user: { id: string } | undefined, login: string): string {
  // PostgreSQL text cannot hold a NUL byte (no registered name has one): it is counted as U+FFFD.
  return user ? `account:${user.id}` : `login:${canonicalIdentifier(login).replaceAll('\u0000', '\uFFFD')}`;
}

export const addressKey = (ip: string): string => `ip:${ip}`;
export const registrationKey = (ip: string): string => `register:${ip}`;

export interface Count {
  /** Attempts not taken back (failures and attempts in flight) within the window, this one included. */
  attempts: number;
  /** Set once the key has used its free attempts: the delay before it is admitted again. */
  lockedUntil: Date | null;
}

/**
 * Counts one attempt against `key` in one statement (check and count cannot
 * be split by a concurrent attempt). With `refuseWhileLocked`, a locked key
 * counts nothing and throws TooManyRequests with Retry-After. Past the free
 * attempts, each one doubles the delay (1 s, 2 s, 4 s … up to the maximum).
 */
export async function countAttempt(
  knex: Knex,
  key: string,
  freeAttempts: number,
  policy: ThrottlePolicy,
  refuseWhileLocked: boolean,
): Promise<Count> {
  const windowSeconds = Math.ceil(policy.windowMs / 1000);
  const result = await knex.raw(
    `INSERT INTO login_throttles AS t (key, failures, last_failure_at) VALUES (?, 1, now())
     ON CONFLICT (key) DO UPDATE SET
       failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => ?) THEN 1 ELSE t.failures + 1 END,
       last_failure_at = now(),
       locked_until = CASE
         WHEN t.last_failure_at >= now() - make_interval(secs => ?) AND t.failures + 1 > ?
         THEN now() + make_interval(secs => least(?, power(2, t.failures - ?)))
         ELSE NULL END
     WHERE NOT ? OR t.locked_until IS NULL OR t.locked_until <= now()
     RETURNING failures, locked_until`,
    [key, windowSeconds, windowSeconds, freeAttempts, Math.ceil(policy.maxDelayMs / 1000), freeAttempts, refuseWhileLocked],
  );
  const row = (result.rows as Array<{ failures: number; locked_until: Date | null }>)[0];
  if (row) return { attempts: row.failures, lockedUntil: row.locked_until };
  // Not updated: the key is locked.
  const locked = await knex('login_throttles').where({ key }).first('locked_until');
  throw new TooManyRequests(retryAfterSeconds(locked?.locked_until ?? null) ?? 1);
}

/** Takes back the count of an attempt that succeeded. */
export async function uncountAttempt(knex: Knex, key: string): Promise<void> {
  await knex('login_throttles')
    .where({ key })
    .update({ failures: knex.raw('greatest(failures - 1, 0)') });
}

/** A successful login clears its account's counter. */
export async function clearCounter(knex: Knex, key: string): Promise<void> {
  await knex('login_throttles').where({ key }).del();
}

/** Whole seconds until `until`, at least 1; undefined when it has passed. */
export function retryAfterSeconds(until: Date | null): number | undefined {
  if (!until || until.getTime() <= Date.now()) return undefined;
  return Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000));
}

export const throttlePolicy = (config: {
  LOGIN_THROTTLE_ACCOUNT_FREE: number;
  LOGIN_THROTTLE_IP_FREE: number;
  LOGIN_THROTTLE_MAX_DELAY: number;
  LOGIN_THROTTLE_WINDOW: number;
}): ThrottlePolicy => ({
  accountFreeFailures: config.LOGIN_THROTTLE_ACCOUNT_FREE,
  ipFreeFailures: config.LOGIN_THROTTLE_IP_FREE,
  maxDelayMs: config.LOGIN_THROTTLE_MAX_DELAY,
  windowMs: config.LOGIN_THROTTLE_WINDOW,
});
