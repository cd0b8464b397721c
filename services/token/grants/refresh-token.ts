// The refresh_token grant: rotation on every use, reuse detection, and a short
// grace window for the immediate parent.
//
// Grace decision: presenting the immediate parent of the family's live token
// within REFRESH_REUSE_GRACE answers `invalid_grant` WITHOUT revoking the
// family, and mints nothing. Parallel tabs and retried requests therefore never
// log the user out (the sibling that won holds the live token), while a thief
// replaying a just-rotated token gains nothing: we never mint from a consumed
// token. Minting a replacement pair instead would hand a live token to whoever
// presents a stolen parent inside the window.
import type { Knex } from 'knex';
import type { TokenService } from '../context.ts';
import { InvalidGrant, UnauthorizedClient } from '../errors.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { resolveScope } from '../helpers/scopes.ts';
import { recordAudit } from '../models/audit.ts';
import type { ClientRow } from '../models/clients.ts';
import {
  consumeRefreshToken,
  findLiveChild,
  findRefreshToken,
  findRefreshTokenById,
  type RefreshTokenRow,
} from '../models/refresh-tokens.ts';
import { isSessionLive, lockSession, revokeSessions, touchSession, type SessionRow } from '../models/sessions.ts';
import { findUserById } from '../models/users.ts';
import { issueTokenPair, type TokenResponse } from './token-pair.ts';

export interface RefreshGrantRequest {
  client: ClientRow;
  refreshToken: string;
  scope: string | undefined;
  info: RequestInfo;
}

/** What a presentation of a refresh token came to (counted by the action). */
export type RefreshOutcome = 'rotated' | 'grace' | 'reuse_detected' | 'rejected';

export type RefreshGrantResult =
  | { outcome: 'rotated'; tokens: TokenResponse }
  | {
      outcome: Exclude<RefreshOutcome, 'rotated'>;
      /** The answer to send. */
      error: InvalidGrant;
      /** Sessions revoked because of it (the family, when a reuse was detected). */
      sessionsRevoked: number;
    };

type Outcome =
  | { kind: 'rotated'; response: TokenResponse }
  | { kind: 'rejected'; reason: string }
  | { kind: 'grace' }
  | { kind: 'reused'; sessionsRevoked: number };

export async function refreshTokenGrant(service: TokenService, request: RefreshGrantRequest): Promise<RefreshGrantResult> {
  const { client } = request;
  if (!client.grant_types.includes('refresh_token')) throw new UnauthorizedClient();
  const presented = await findRefreshToken(service.knex, request.refreshToken);
  if (!presented) return { outcome: 'rejected', error: new InvalidGrant(), sessionsRevoked: 0 };

  // The outcome is decided and committed first; the error is answered only
  // after the commit, so a reuse revocation is durable before we answer.
  const outcome = await service.knex.transaction((trx) => rotate(service, trx, presented, request));
  switch (outcome.kind) {
    case 'rotated':
      return { outcome: 'rotated', tokens: outcome.response };
    case 'grace':
      return {
        outcome: 'grace',
        error: new InvalidGrant('this refresh token has just been rotated; use the newest one'),
        sessionsRevoked: 0,
      };
    case 'reused':
      return { outcome: 'reuse_detected', error: new InvalidGrant(), sessionsRevoked: outcome.sessionsRevoked };
    case 'rejected':
      return { outcome: 'rejected', error: new InvalidGrant(), sessionsRevoked: 0 };
  }
}

async function rotate(
  service: TokenService,
  trx: Knex.Transaction,
  presented: RefreshTokenRow,
  request: RefreshGrantRequest,
): Promise<Outcome> {
  const { client, info } = request;
  // Locking the family serialises this refresh with other refreshes and with logout.
  const session = await lockSession(trx, presented.session_id);
  if (!session || session.revoked_at !== null) return { kind: 'rejected', reason: 'session revoked' };
  // RFC 6749 §6: a refresh token is bound to the client it was issued to.
  if (session.client_id !== client.client_id) return { kind: 'rejected', reason: 'issued to another client' };

  const now = service.now();
  if (presented.expires_at.getTime() <= now || !isSessionLive(session, service.config.REFRESH_TOKEN_IDLE_TTL, now)) {
    return { kind: 'rejected', reason: 'expired' };
  }

  const consumed = await consumeRefreshToken(trx, presented.id);
  if (!consumed) return handleReuse(service, trx, presented, session, request);

  const user = await findUserById(trx, session.user_id);
  if (!user || user.disabled_at !== null) return { kind: 'rejected', reason: 'user disabled' };

  // RFC 6749 §6: a refresh may narrow the scope, never widen it.
  const scope = resolveScope(request.scope, session.scope.split(' ').filter(Boolean));
  const response = await issueTokenPair(trx, service, {
    session,
    parentId: presented.id,
    scope,
    tokensValidAfter: user.tokens_valid_after,
  });
  await touchSession(trx, session.id);
  await recordAudit(trx, {
    type: 'token_refreshed',
    userId: session.user_id,
    sessionId: session.id,
    clientId: client.client_id,
    ip: info.ip,
    userAgent: info.userAgent,
  });
  return { kind: 'rotated', response };
}

async function handleReuse(
  service: TokenService,
  trx: Knex.Transaction,
  presented: RefreshTokenRow,
  session: SessionRow,
  request: RefreshGrantRequest,
): Promise<Outcome> {
  // Re-read under the family lock: the consumption we lost to is committed now.
  const current = (await findRefreshTokenById(trx, presented.id)) as RefreshTokenRow;
  const liveChild = await findLiveChild(trx, presented.id);
  const consumedAgoMs = service.now() - (current.consumed_at?.getTime() ?? 0);
  if (liveChild && consumedAgoMs <= service.config.REFRESH_REUSE_GRACE) return { kind: 'grace' };

  const sessionId = session.id;
  const revoked = await revokeSessions(trx, (q) => q.where({ id: sessionId }), {
    reason: 'refresh_token_reuse',
    accessTokenLifetimeMs: service.config.ACCESS_TOKEN_TTL,
    now: service.now(),
  });
  await recordAudit(trx, {
    type: 'refresh_token_reused',
    userId: session.user_id,
    sessionId,
    clientId: request.client.client_id,
    ip: request.info.ip,
    userAgent: request.info.userAgent,
    details: { refresh_token_id: presented.id },
  });
  service.logger.warn({ sessionId, clientId: request.client.client_id }, 'refresh token reuse detected; family revoked');
  return { kind: 'reused', sessionsRevoked: revoked.length };
}
