// The resource-owner password grant, shared by POST /oauth/token and the
// first-party POST /auth/login. Creates a new session (refresh-token family)
// and remembers the device it came from (models/devices.ts).
import type { TokenService } from '../context.ts';
import { InvalidGrant, TooManyRequests, UnauthorizedClient } from '../errors.ts';
import type { HashSlot } from '../helpers/passwords.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { resolveScope } from '../helpers/scopes.ts';
import { recordAudit } from '../models/audit.ts';
import type { ClientRow } from '../models/clients.ts';
import { countDeviceAttempt, findDevice, rememberDevice, settleDeviceFailure, type DevicePolicy } from '../models/devices.ts';
import { findUserByLogin, lockUser, type UserRow } from '../models/users.ts';
import {
  accountKey,
  addressKey,
  clearCounter,
  countAttempt,
  retryAfterSeconds,
  throttlePolicy,
  uncountAttempt,
} from '../models/login-throttles.ts';
import { startFamily, type TokenResponse } from './token-pair.ts';

export interface PasswordGrantRequest {
  client: ClientRow;
  login: string;
  password: string;
  scope: string | undefined;
  info: RequestInfo;
  /** The device cookie the request presented, if any. */
  deviceToken: string | undefined;
}

/** Why a login was refused (counted by the action). busy: the hashing queue is full; throttled: the account is locked. */
export type LoginFailureReason = 'busy' | 'throttled' | 'invalid_credentials';

export type PasswordGrantResult =
  | {
      kind: 'issued';
      tokens: TokenResponse;
      /** The device cookie to set: the one presented (renewed) or a new one. */
      deviceToken: string;
      /** The user's least recently used sessions revoked to stay within SESSIONS_PER_USER_MAX. */
      sessionsRevoked: number;
    }
  | { kind: 'refused'; reason: LoginFailureReason; /** The answer to send. */ error: unknown };

/** Thrown inside this module only: becomes a `refused` result. */
class Refused {
  constructor(
    readonly reason: LoginFailureReason,
    readonly error: unknown,
  ) {}
}

export type CredentialCheck =
  | {
      kind: 'verified';
      user: UserRow;
      /** The device that vouched, if any (models/devices.ts). */ device: { id: string; token: string } | undefined;
    }
  | { kind: 'refused'; reason: LoginFailureReason; /** The answer to send. */ error: unknown };

/** The password check with all of its throttling (below), for the password grant and the login page alike. */
export async function checkCredentials(
  service: TokenService,
  request: Pick<PasswordGrantRequest, 'client' | 'login' | 'password' | 'info' | 'deviceToken'>,
): Promise<CredentialCheck> {
  try {
    return { kind: 'verified', ...(await checkPassword(service, request)) };
  } catch (error) {
    if (error instanceof Refused) return { kind: 'refused', reason: error.reason, error: error.error };
    throw error;
  }
}

export async function passwordGrant(service: TokenService, request: PasswordGrantRequest): Promise<PasswordGrantResult> {
  const { client, info } = request;
  if (!client.grant_types.includes('password')) throw new UnauthorizedClient();
  const scope = resolveScope(request.scope, client.scopes);
  const checked = await checkCredentials(service, request);
  if (checked.kind === 'refused') return checked;
  const { user, device } = checked;

  return service.knex.transaction(async (trx): Promise<PasswordGrantResult> => {
    // One after the other with a global logout of this user (revokeUserSessions).
    const tokensValidAfter = (await lockUser(trx, user.id))?.tokens_valid_after ?? null;
    const { session, tokens, sessionsRevoked } = await startFamily(trx, service, {
      userId: user.id,
      clientId: client.client_id,
      scope,
      audiences: client.audiences,
      tokensValidAfter,
      info,
    });
    const deviceToken = await rememberDevice(trx, user.id, device);
    await recordAudit(trx, {
      type: 'login_succeeded',
      userId: user.id,
      sessionId: session.id,
      clientId: client.client_id,
      ip: info.ip,
      userAgent: info.userAgent,
      details: { device: device ? 'known' : 'new' },
    });
    return { kind: 'issued', tokens, deviceToken, sessionsRevoked };
  });
}

export const devicePolicy = (config: TokenService['config']): DevicePolicy => ({
  freeFailures: config.LOGIN_THROTTLE_DEVICE_FREE,
  lifetimeMs: config.LOGIN_DEVICE_TTL,
});

/**
 * Throttling, in this order, each step refusing at once:
 *
 * 1. A place in the hashing queue, per source and overall (helpers/passwords.ts:
 *    429 or 503). The source is the client address, or the device when the
 *    request presents a valid device cookie for this account. This bounds how
 *    many guesses one address can have in flight, hence how fast it can guess.
 * 2. The attempt is counted, before hashing: against the device when one
 *    vouches for it (never refused by the account lock: that is how an owner
 *    gets past a lock strangers caused), else against the account (429 while
 *    it is locked); and against the address.
 * 3. The password is verified. A success without a device clears the
 *    account's counter (one through a device leaves it, so that strangers stay
 *    locked out); a success takes its count back from the address.
 *
 * The address counter never refuses an attempt: behind one address (a NAT, a
 * TLS proxy) there are many users, and a noisy neighbour must not lock them
 * out. Once an address is past its free failures its failures are answered
 * 429 with a growing Retry-After instead of 400 (it is told to slow down), and
 * step 1 caps what it can do regardless. What an attacker spraying from one
 * address can still do: keep PASSWORD_HASH_PENDING_PER_ADDRESS guesses in
 * flight per instance, i.e. about that many per hashing time, each account
 * getting LOGIN_THROTTLE_ACCOUNT_FREE guesses before its doubling delays.
 * While it does, users behind that address without a device cookie for their
 * account compete with it for those places (429, Retry-After: 1); users with
 * one do not. Refusing the address outright would refuse everyone behind it.
 */
async function checkPassword(
  service: TokenService,
  request: Pick<PasswordGrantRequest, 'client' | 'login' | 'password' | 'info' | 'deviceToken'>,
): Promise<{ user: UserRow; device: { id: string; token: string } | undefined }> {
  const { knex } = service;
  const { info, client } = request;
  const policy = throttlePolicy(service.config);
  const devices = devicePolicy(service.config);
  const user = await findUserByLogin(knex, request.login);
  const known = user && request.deviceToken ? await findDevice(knex, request.deviceToken, user.id, devices, service.now()) : undefined;
  const account = accountKey(user, request.login);
  const address = addressKey(info.ip);
  const refused =
    (reason: LoginFailureReason) =>
    (error: unknown): never => {
      throw new Refused(reason, error);
    };

  let slot: HashSlot;
  try {
    slot = service.passwords.admit(known ? `device:${known.id}` : address);
  } catch (error) {
    return refused('busy')(error);
  }
  let vouched: boolean;
  let passwordOk: boolean;
  let addressRetryAfter: number | undefined;
  try {
    vouched = known !== undefined && (await countDeviceAttempt(knex, known.id, devices));
    if (!vouched) await countAttempt(knex, account, policy.accountFreeFailures, policy, true).catch(refused('throttled'));
    const addressCount = await countAttempt(knex, address, policy.ipFreeFailures, policy, false);
    addressRetryAfter = retryAfterSeconds(addressCount.lockedUntil);
    // Always verify, against a dummy hash for unknown users: the same work and
    // the same answer whether or not the account exists.
    passwordOk = await service.passwords.verify(request.password, user?.password_hash, slot);
  } finally {
    slot.release();
  }

  if (!user || !passwordOk || user.disabled_at !== null) {
    if (vouched) await settleDeviceFailure(knex, (known as { id: string }).id, devices);
    await recordAudit(knex, {
      type: 'login_failed',
      userId: user?.id ?? null,
      clientId: client.client_id,
      ip: info.ip,
      userAgent: info.userAgent,
      details: {
        reason: !user ? 'unknown_user' : !passwordOk ? 'wrong_password' : 'user_disabled',
        ...(vouched ? { device: 'known' } : {}),
      },
    });
    throw new Refused(
      'invalid_credentials',
      addressRetryAfter !== undefined ? new TooManyRequests(addressRetryAfter) : new InvalidGrant('invalid username or password'),
    );
  }
  if (!vouched) await clearCounter(knex, account);
  await uncountAttempt(knex, address);
  return { user, device: vouched && known && request.deviceToken ? { id: known.id, token: request.deviceToken } : undefined };
}
