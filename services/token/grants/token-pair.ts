// Issuing a token pair: data for the caller to send (actions/token-response.ts).
import type { Knex } from 'knex';
import type { TokenService } from '../context.ts';
import { issueAccessToken } from '../helpers/access-tokens.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { issueRefreshToken } from '../models/refresh-tokens.ts';
import { createSession, makeRoomForSession, type SessionRow } from '../models/sessions.ts';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/**
 * A new family (refresh-token session) for a user who has just proven who they
 * are, and its first pair, in the caller's transaction, which must hold the
 * user's lock (lockUser: one after the other with a global logout). The user's
 * least recently used families make room within SESSIONS_PER_USER_MAX.
 */
export async function startFamily(
  trx: Knex.Transaction,
  service: TokenService,
  fields: {
    userId: string;
    clientId: string;
    scope: string;
    audiences: string[];
    tokensValidAfter: Date | null;
    info: RequestInfo;
    signinSessionId?: string | undefined;
  },
): Promise<{ session: SessionRow; tokens: TokenResponse; sessionsRevoked: number }> {
  const { config } = service;
  const now = service.now();
  const { info } = fields;
  const revoked = await makeRoomForSession(trx, fields.userId, {
    max: config.SESSIONS_PER_USER_MAX,
    idleTtlMs: config.REFRESH_TOKEN_IDLE_TTL,
    accessTokenLifetimeMs: config.ACCESS_TOKEN_TTL,
    now,
    audit: { clientId: fields.clientId, ip: info.ip, userAgent: info.userAgent },
  });
  const session = await createSession(trx, {
    userId: fields.userId,
    clientId: fields.clientId,
    scope: fields.scope,
    audiences: fields.audiences,
    expiresAt: new Date(now + config.SESSION_MAX_AGE),
    ip: info.ip,
    userAgent: info.userAgent,
    signinSessionId: fields.signinSessionId,
  });
  const tokens = await issueTokenPair(trx, service, { session, scope: fields.scope, tokensValidAfter: fields.tokensValidAfter });
  return { session, tokens, sessionsRevoked: revoked.length };
}

/**
 * A new family's first pair: a refresh token that never outlives the session
 * (later ones come from rotate_refresh_token), and an access token for it,
 * issued after the user's last global logout (`tokensValidAfter`).
 */
export async function issueTokenPair(
  trx: Knex.Transaction,
  service: TokenService,
  fields: { session: SessionRow; scope: string; tokensValidAfter: Date | null },
): Promise<TokenResponse> {
  const { config } = service;
  const { session } = fields;
  const refresh = await issueRefreshToken(trx, {
    sessionId: session.id,
    expiresAt: new Date(Math.min(service.now() + config.REFRESH_TOKEN_IDLE_TTL, session.expires_at.getTime())),
  });
  return pairWith(service, refresh.token, fields);
}

/**
 * The response for a refresh token already stored (a rotation's child), or
 * none (a renewal: the client keeps its own); the access token is signed here.
 */
export async function pairWith(
  service: TokenService,
  refreshToken: string | undefined,
  fields: { session: Pick<SessionRow, 'id' | 'user_id' | 'client_id' | 'audiences'>; scope: string; tokensValidAfter: Date | null },
): Promise<TokenResponse> {
  const { config } = service;
  const { session, scope } = fields;
  const access = await issueAccessToken(
    service.keys,
    { issuer: config.ISSUER, lifetimeMs: config.ACCESS_TOKEN_TTL, now: service.now() },
    {
      sub: session.user_id,
      clientId: session.client_id,
      scope,
      audiences: session.audiences,
      sid: session.id,
      issuedAfter: fields.tokensValidAfter,
    },
  );
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    scope,
  };
}
