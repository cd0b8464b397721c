// Bearer authentication for the token service's own account endpoints.
// Unlike the gateway, the token service owns the database, so it checks
// revocation there directly.
import type { Context } from 'koa';
import { InvalidToken } from '../errors.ts';
import { accountAudience, type TokenService } from '../context.ts';
import { looksLikeJwt, verifyAccessToken, type AccessTokenClaims } from '../helpers/access-tokens.ts';
import { bearerToken } from '../helpers/bearer.ts';
import { isRevokedByLog } from '../models/revocations.ts';
import { findSession, isSessionLive, type SessionRow } from '../models/sessions.ts';
import { findUserById, type UserRow } from '../models/users.ts';

export interface BearerIdentity {
  claims: AccessTokenClaims;
  session: SessionRow;
  user: UserRow;
  /** False when the session, the user or the token itself has been revoked, or the session has expired. */
  live: boolean;
}

/**
 * Verifies the caller's access token and finds its session and user. Throws
 * InvalidToken unless the token is genuine, unexpired, for the account
 * audience and belongs to a user session; `live` tells whether it is revoked.
 */
export async function identifyBearer(
  ctx: Context,
  service: TokenService,
  options: { /** userinfo (OIDC Core §5.3) serves tokens of any audience that carry `openid`. */ anyAudience?: boolean } = {},
): Promise<BearerIdentity> {
  const token = bearerToken(ctx);
  if (!looksLikeJwt(token)) throw new InvalidToken();
  let claims: AccessTokenClaims;
  try {
    claims = await verifyAccessToken(service.keys, { issuer: service.config.ISSUER, now: service.now() }, token);
  } catch {
    throw new InvalidToken();
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!options.anyAudience && !audiences.includes(accountAudience(service)))
    throw new InvalidToken('the access token is not for this service');
  const session = await findSession(service.knex, claims.sid);
  if (!session || session.user_id !== claims.sub) throw new InvalidToken('the access token does not belong to a user session');
  const user = await findUserById(service.knex, claims.sub);
  if (!user) throw new InvalidToken();
  const live =
    isSessionLive(session, service.config.REFRESH_TOKEN_IDLE_TTL, service.now()) &&
    user.disabled_at === null &&
    !(await isRevokedByLog(service.knex, claims));
  return { claims, session, user, live };
}

/** Like identifyBearer, but a revoked token is rejected. */
export async function requireLiveBearer(
  ctx: Context,
  service: TokenService,
  options: Parameters<typeof identifyBearer>[2] = {},
): Promise<BearerIdentity> {
  const identity = await identifyBearer(ctx, service, options);
  if (!identity.live) throw new InvalidToken();
  return identity;
}
