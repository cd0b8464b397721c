// The resource-owner password grant, shared by POST /oauth/token and the
// first-party POST /auth/login. Creates a new session (refresh-token family).
import type { TokenService } from '../context.ts';
import { InvalidGrant, UnauthorizedClient } from '../errors.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { resolveScope } from '../helpers/scopes.ts';
import { recordAudit } from '../models/audit.ts';
import type { ClientRow } from '../models/clients.ts';
import { createSession } from '../models/sessions.ts';
import { findUserByLogin } from '../models/users.ts';
import { accountKey, assertNotThrottled, clearAccountFailures, recordLoginFailure, throttlePolicy } from '../models/login-throttles.ts';
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
  const policy = throttlePolicy(service.config);
  const user = await findUserByLogin(service.knex, request.login);
  const account = accountKey(user, request.login);
  await assertNotThrottled(service.knex, account, info.ip, policy).catch((error: unknown) => {
    service.metrics.loginFailures.inc({ reason: 'throttled' });
    throw error;
  });

  // Always verify, against a dummy hash for unknown users: the same work and
  // the same answer whether or not the account exists.
  const passwordOk = await service.passwords.verify(request.password, user?.password_hash);
  if (!user || !passwordOk || user.disabled_at !== null) {
    await recordAudit(service.knex, {
      type: 'login_failed',
      userId: user?.id ?? null,
      clientId: client.client_id,
      ip: info.ip,
      userAgent: info.userAgent,
      details: { reason: !user ? 'unknown_user' : !passwordOk ? 'wrong_password' : 'user_disabled' },
    });
    await recordLoginFailure(service.knex, account, info.ip, policy);
    service.metrics.loginFailures.inc({ reason: 'invalid_credentials' });
    throw new InvalidGrant('invalid username or password');
  }
  await clearAccountFailures(service.knex, account);

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
