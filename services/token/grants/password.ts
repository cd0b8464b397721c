// The resource-owner password grant, shared by POST /oauth/token and the
// first-party POST /auth/login. Creates a new session (refresh-token family).
import type { TokenService } from '../context.ts';
import { InvalidGrant, TooManyRequests, UnauthorizedClient } from '../errors.ts';
import type { HashSlot } from '../helpers/passwords.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { resolveScope } from '../helpers/scopes.ts';
import { recordAudit } from '../models/audit.ts';
import type { ClientRow } from '../models/clients.ts';
import { createSession } from '../models/sessions.ts';
import { findUserByLogin, type UserRow } from '../models/users.ts';
import {
  accountKey,
  addressKey,
  clearCounter,
  countAttempt,
  retryAfterSeconds,
  throttlePolicy,
  uncountAttempt,
} from '../models/login-throttles.ts';
import { issueTokenPair, type TokenResponse } from './token-response.ts';

export interface PasswordGrantRequest {
  client: ClientRow;
  login: string;
  password: string;
  scope: string | undefined;
  info: RequestInfo;
}

export async function passwordGrant(service: TokenService, request: PasswordGrantRequest): Promise<TokenResponse> {
  const { client, info } = request;
  if (!client.grant_types.includes('password')) throw new UnauthorizedClient();
  const scope = resolveScope(request.scope, client.scopes);
  const user = await checkPassword(service, request);

  const { config } = service;
  const now = Date.now();
  return service.knex.transaction(async (trx) => {
    const session = await createSession(trx, {
      userId: user.id,
      clientId: client.client_id,
      scope,
      audiences: client.audiences,
      expiresAt: new Date(now + config.SESSION_MAX_AGE),
      ip: info.ip,
      userAgent: info.userAgent,
    });
    const pair = await issueTokenPair(trx, service, { session, parentId: null, scope });
    await recordAudit(trx, {
      type: 'login_succeeded',
      userId: user.id,
      sessionId: session.id,
      clientId: client.client_id,
      ip: info.ip,
      userAgent: info.userAgent,
    });
    return pair;
  });
}

/**
 * Throttling, in this order, each step refusing at once:
 *
 * 1. A place in the hashing queue, per client address and overall
 *    (helpers/passwords.ts: 429 or 503). This bounds how many guesses one
 *    address can have in flight, hence how fast it can guess at all.
 * 2. The attempt is counted, before hashing, against the account (refused with
 *    429 while the account is locked) and the address.
 * 3. The password is verified. A success clears the account's counter and
 *    takes its count back from the address.
 *
 * The address counter never refuses an attempt: behind one address (a NAT, a
 * TLS proxy) there are many users, and a noisy neighbour must not lock them
 * out. Once an address is past its free failures its failures are answered
 * 429 with a growing Retry-After instead of 400 (it is told to slow down), and
 * step 1 caps what it can do regardless. What an attacker spraying from one
 * address can still do: keep PASSWORD_HASH_PENDING_PER_ADDRESS guesses in
 * flight per instance, i.e. about that many per hashing time, each account
 * getting LOGIN_THROTTLE_ACCOUNT_FREE guesses before its doubling delays.
 * Refusing that address outright would refuse everyone behind it.
 */
async function checkPassword(service: TokenService, request: PasswordGrantRequest): Promise<UserRow> {
  const { knex, metrics } = service;
  const { info, client } = request;
  const policy = throttlePolicy(service.config);
  const user = await findUserByLogin(knex, request.login);
  const account = accountKey(user, request.login);
  const address = addressKey(info.ip);
  const refused = (reason: string) => (error: unknown): never => {
    metrics.loginFailures.inc({ reason });
    throw error;
  };

  let slot: HashSlot;
  try {
    slot = service.passwords.admit(address);
  } catch (error) {
    return refused('busy')(error);
  }
  let passwordOk: boolean;
  let addressRetryAfter: number | undefined;
  try {
    await countAttempt(knex, account, policy.accountFreeFailures, policy, true).catch(refused('throttled'));
    const addressCount = await countAttempt(knex, address, policy.ipFreeFailures, policy, false);
    addressRetryAfter = retryAfterSeconds(addressCount.lockedUntil);
    // Always verify, against a dummy hash for unknown users: the same work and
    // the same answer whether or not the account exists.
    passwordOk = await service.passwords.verify(request.password, user?.password_hash, slot);
  } finally {
    slot.release();
  }

  if (!user || !passwordOk || user.disabled_at !== null) {
    await recordAudit(knex, {
      type: 'login_failed',
      userId: user?.id ?? null,
      clientId: client.client_id,
      ip: info.ip,
      userAgent: info.userAgent,
      details: { reason: !user ? 'unknown_user' : !passwordOk ? 'wrong_password' : 'user_disabled' },
    });
    metrics.loginFailures.inc({ reason: 'invalid_credentials' });
    if (addressRetryAfter !== undefined) throw new TooManyRequests(addressRetryAfter);
    throw new InvalidGrant('invalid username or password');
  }
  await clearCounter(knex, account);
  await uncountAttempt(knex, address);
  return user;
}
