// Login throttling with growing delays, per account and per client address.
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

interface ThrottleKey {
  key: string;
  freeFailures: number;
}

/** The counter of the account an attempt names: `account:<user id>`, or `login:<canonical name>` when there is none. */
export function accountKey(user: { id: string } | undefined, login: string): string {
  return user ? `account:${user.id}` : `login:${canonicalIdentifier(login)}`;
}

function keysFor(account: string, ip: string, policy: ThrottlePolicy): ThrottleKey[] {
  return [
    { key: account, freeFailures: policy.accountFreeFailures },
    { key: `ip:${ip}`, freeFailures: policy.ipFreeFailures },
  ];
}

/** Throws TooManyRequests (429 with Retry-After) while either key is locked. */
export async function assertNotThrottled(knex: Knex, account: string, ip: string, policy: ThrottlePolicy): Promise<void> {
  const locked: Array<{ locked_until: Date }> = await knex('login_throttles')
    .whereIn('key', keysFor(account, ip, policy).map((k) => k.key))
    .andWhere('locked_until', '>', knex.fn.now())
    .select('locked_until');
  if (locked.length === 0) return;
  const until = Math.max(...locked.map((row) => row.locked_until.getTime()));
  throw new TooManyRequests(Math.max(1, Math.ceil((until - Date.now()) / 1000)));
}

/** Counts a failure; past the free allowance each further one doubles the delay (1 s, 2 s, 4 s …). */
export async function recordLoginFailure(knex: Knex, account: string, ip: string, policy: ThrottlePolicy): Promise<void> {
  const windowSeconds = Math.ceil(policy.windowMs / 1000);
  for (const { key, freeFailures } of keysFor(account, ip, policy)) {
    await knex.raw(
      `INSERT INTO login_throttles (key, failures, last_failure_at) VALUES (?, 1, now())
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN login_throttles.last_failure_at < now() - make_interval(secs => ?)
                         THEN 1 ELSE login_throttles.failures + 1 END,
         last_failure_at = now(),
         locked_until = CASE
           WHEN login_throttles.last_failure_at >= now() - make_interval(secs => ?)
                AND login_throttles.failures + 1 > ?
           THEN now() + make_interval(secs => least(?, power(2, login_throttles.failures - ?)))
           ELSE NULL END`,
      [key, windowSeconds, windowSeconds, freeFailures, Math.ceil(policy.maxDelayMs / 1000), freeFailures],
    );
  }
}

/** A successful login clears the account's counter (not the address's). */
export async function clearAccountFailures(knex: Knex, account: string): Promise<void> {
  await knex('login_throttles').where({ key: account }).del();
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
