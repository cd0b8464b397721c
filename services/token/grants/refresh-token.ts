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
//
// Why rotation is safe under concurrency (one statement, rotate_refresh_token,
// migration 0008, in its own implicit transaction):
// - the family's session row is locked FOR UPDATE first, so a rotation, a
//   logout and a reuse revocation of one family run one after the other, and a
//   revocation committed before the lock is seen (READ COMMITTED re-reads the
//   locked row);
// - `UPDATE … SET consumed_at WHERE consumed_at IS NULL` is the single atomic
//   step: of any number of concurrent presentations exactly one consumes the
//   token and stores a child; the others get 'consumed';
// - a 'consumed' outcome is judged (grace or reuse) in a transaction that takes
//   the same lock again and re-reads the token and its child, so it sees the
//   winner's commit; a reuse revocation commits before the error is answered;
// - the statement either commits whole or not at all: a crash leaves the token
//   unconsumed (a retry works) or consumed with its child stored (a retry inside
//   the grace window is refused without revoking anything). The race and kill -9
//   tests in test/reliability hold this on PGlite and PostgreSQL.
import type { Knex } from 'knex';
import type { TokenService } from '../context.ts';
import { InvalidGrant, UnauthorizedClient } from '../errors.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { resolveScope } from '../helpers/scopes.ts';
import { recordAudit } from '../models/audit.ts';
import type { ClientRow } from '../models/clients.ts';
import { findLiveChild, findRefreshTokenById, rotateRefreshToken, type RefreshTokenRow } from '../models/refresh-tokens.ts';
import { lockSession, revokeSessions } from '../models/sessions.ts';
import { pairWith, type TokenResponse } from './token-pair.ts';

export interface RefreshGrantRequest {
  client: ClientRow;
  refreshToken: string;
  scope: string | undefined;
  info: RequestInfo;
}

/** What a presentation of a refresh token came to (counted by the action). */
export type RefreshOutcome = 'rotated' | 'renewed' | 'grace' | 'reuse_detected' | 'rejected';

export type RefreshGrantResult =
  | { outcome: 'rotated' | 'renewed'; tokens: TokenResponse }
  | {
      outcome: Exclude<RefreshOutcome, 'rotated' | 'renewed'>;
      /** The answer to send. */
      error: InvalidGrant;
      /** Sessions revoked because of it (the family, when a reuse was detected). */
      sessionsRevoked: number;
    };

type Outcome = { kind: 'rejected'; reason: string } | { kind: 'grace' } | { kind: 'reused'; sessionsRevoked: number };

export async function refreshTokenGrant(service: TokenService, request: RefreshGrantRequest): Promise<RefreshGrantResult> {
  const { client } = request;
  if (!client.grant_types.includes('refresh_token')) throw new UnauthorizedClient();
  // RFC 6749 §6: a refresh may narrow the scope, never widen it. The function checks the requested
  // scope tokens against the family's after the client binding and expiry, before anything is written.
  const requested = request.scope?.split(' ').filter(Boolean);
  // The common case is one statement (models/refresh-tokens.ts rotateRefreshToken): the family
  // locked, the token consumed, its child stored, the session touched and the refresh audited.
  // Every outcome is committed before it is answered. The access token is signed after that
  // commit: were signing to fail (it needs only the loaded key), the client would get a 500 and
  // its retry the grace answer, so the family must then sign in again.
  const rotation = await rotateRefreshToken(service.knex, {
    token: request.refreshToken,
    clientId: client.client_id,
    scope: requested?.length ? requested : undefined,
    now: service.now(),
    idleTtlMs: service.config.REFRESH_TOKEN_IDLE_TTL,
    ip: request.info.ip,
    userAgent: request.info.userAgent,
    rotate: client.rotate_refresh_tokens,
  });
  switch (rotation.outcome) {
    case 'unknown':
    case 'rejected':
      return rejected();
    case 'invalid_scope':
      // resolveScope throws the InvalidScope naming the first token the family lacks (or a malformed one).
      resolveScope(request.scope, familyScopes(rotation.scope));
      return rejected(); // unreachable: the function found a token outside the family's scope
    case 'consumed': {
      const outcome = await service.knex.transaction((trx) => handleReuse(service, trx, rotation, request));
      if (outcome.kind === 'grace') {
        return {
          outcome: 'grace',
          error: new InvalidGrant('this refresh token has just been rotated; use the newest one'),
          sessionsRevoked: 0,
        };
      }
      if (outcome.kind === 'reused')
        return { outcome: 'reuse_detected', error: new InvalidGrant(), sessionsRevoked: outcome.sessionsRevoked };
      return rejected();
    }
    case 'rotated':
    case 'renewed': {
      const scope = resolveScope(request.scope, familyScopes(rotation.session.scope));
      // A client that does not rotate keeps the refresh token it has (RFC 6749 §5.1: the response omits it).
      const tokens = await pairWith(service, rotation.token, {
        session: rotation.session,
        scope,
        tokensValidAfter: rotation.tokensValidAfter,
      });
      return { outcome: rotation.outcome, tokens };
    }
  }
}

const familyScopes = (scope: string): string[] => scope.split(' ').filter(Boolean);

function rejected(): RefreshGrantResult {
  return { outcome: 'rejected', error: new InvalidGrant(), sessionsRevoked: 0 };
}

async function handleReuse(
  service: TokenService,
  trx: Knex.Transaction,
  lost: { presentedId: number; sessionId: string },
  request: RefreshGrantRequest,
): Promise<Outcome> {
  // Under the family lock, as the rotation was: the consumption we lost to is committed now.
  const session = await lockSession(trx, lost.sessionId);
  if (!session || session.revoked_at !== null) return { kind: 'rejected', reason: 'session revoked' };
  const current = (await findRefreshTokenById(trx, lost.presentedId)) as RefreshTokenRow;
  const liveChild = await findLiveChild(trx, lost.presentedId);
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
    details: { refresh_token_id: lost.presentedId },
  });
  service.logger.warn({ sessionId, clientId: request.client.client_id }, 'refresh token reuse detected; family revoked');
  return { kind: 'reused', sessionsRevoked: revoked.length };
}
