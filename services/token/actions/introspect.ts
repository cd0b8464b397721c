// POST /oauth/introspect (RFC 7662), for confidential clients (resource servers).
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { looksLikeJwt, verifyAccessToken } from '../helpers/access-tokens.ts';
import { authenticateConfidentialClient } from '../auth/client-auth.ts';
import { bodyParams, requireMediaType } from '../helpers/params.ts';
import { findRefreshToken } from '../models/refresh-tokens.ts';
import { isRevokedByLog } from '../models/revocations.ts';
import { findSession, isSessionLive } from '../models/sessions.ts';
import { findUserById } from '../models/users.ts';
import { introspectParams } from '../schemas/introspect.ts';
import { parseParams } from '../schemas/parameters.ts';

export function introspectionEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['urlencoded', 'json']);
    const params = bodyParams(ctx);
    const { token } = parseParams(introspectParams, params);
    await authenticateConfidentialClient(ctx, service.clients, params);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = (await introspect(service, token)) ?? { active: false };
  };
}

async function introspect(service: TokenService, token: string): Promise<Record<string, unknown> | undefined> {
  const { knex } = service;
  if (looksLikeJwt(token)) {
    const claims = await verifyAccessToken(service.keys, { issuer: service.config.ISSUER, now: service.now() }, token).catch(
      () => undefined,
    );
    if (!claims) return undefined;
    if (await isRevokedByLog(knex, claims)) return undefined;
    let username: string | undefined;
    if (claims.sid !== claims.jti) {
      // A user token: its session and user must still be live.
      const session = await findSession(knex, claims.sid);
      if (!session || !isSessionLive(session, service.config.REFRESH_TOKEN_IDLE_TTL, service.now())) return undefined;
      const user = await findUserById(knex, claims.sub);
      if (!user || user.disabled_at !== null) return undefined;
      username = user.username;
    }
    return { active: true, token_type: 'access_token', ...claims, ...(username ? { username } : {}) };
  }

  const row = await findRefreshToken(knex, token);
  if (!row || row.consumed_at !== null || row.expires_at.getTime() <= service.now()) return undefined;
  const session = await findSession(knex, row.session_id);
  if (!session || !isSessionLive(session, service.config.REFRESH_TOKEN_IDLE_TTL, service.now())) return undefined;
  const user = await findUserById(knex, session.user_id);
  if (!user || user.disabled_at !== null) return undefined;
  return {
    active: true,
    token_type: 'refresh_token',
    client_id: session.client_id,
    scope: session.scope,
    sub: session.user_id,
    username: user.username,
    sid: session.id,
    iat: Math.floor(row.issued_at.getTime() / 1000),
    exp: Math.floor(row.expires_at.getTime() / 1000),
    iss: service.config.ISSUER,
  };
}
