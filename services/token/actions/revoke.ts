// POST /oauth/revoke (RFC 7009). A refresh token revokes its whole family; an
// access token revokes its jti. Unknown tokens answer 200 as the RFC asks.
// Idempotent: revoking what is already revoked writes nothing, so no entry
// reaches the gateways and no audit event is recorded.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { InvalidRequest } from '../errors.ts';
import { looksLikeJwt, verifyAccessToken } from '../helpers/access-tokens.ts';
import { authenticateClient } from '../auth/client-auth.ts';
import { bodyParams, requireMediaType } from '../helpers/params.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { recordAudit } from '../models/audit.ts';
import { findRefreshToken } from '../models/refresh-tokens.ts';
import { revokeAccessTokenOnce } from '../models/revocations.ts';
import { findSession, revokeSession } from '../models/sessions.ts';
import { parseParams } from '../schemas/parameters.ts';
import { revokeParams } from '../schemas/revoke.ts';

const NOT_YOURS = 'the token was not issued to this client';

export function revocationEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['urlencoded', 'json']);
    const params = bodyParams(ctx);
    const { token } = parseParams(revokeParams, params);
    const { client } = await authenticateClient(ctx, service.clients, params);
    const info = requestInfo(ctx);

    if (looksLikeJwt(token)) {
      const claims = await verifyAccessToken(
        service.keys,
        { issuer: service.config.ISSUER, now: service.now(), ignoreExpiry: true },
        token,
      ).catch(() => undefined);
      if (claims && claims.exp * 1000 > service.now()) {
        if (claims.client_id !== client.client_id) throw new InvalidRequest(NOT_YOURS);
        const written = await service.knex.transaction(async (trx) => {
          if (!(await revokeAccessTokenOnce(trx, claims))) return false;
          await recordAudit(trx, {
            type: 'access_token_revoked',
            userId: claims.sid === claims.jti ? null : claims.sub,
            sessionId: claims.sid === claims.jti ? null : claims.sid,
            clientId: client.client_id,
            ip: info.ip,
            userAgent: info.userAgent,
            details: { jti: claims.jti },
          });
          return true;
        });
        if (written) service.metrics.revocations.inc({ kind: 'token' });
      }
    } else {
      const row = await findRefreshToken(service.knex, token);
      const session = row ? await findSession(service.knex, row.session_id) : undefined;
      if (session) {
        if (session.client_id !== client.client_id) throw new InvalidRequest(NOT_YOURS);
        const revoked = await revokeSession(service.knex, session.id, {
          reason: 'revoked_by_client',
          accessTokenLifetimeMs: service.config.ACCESS_TOKEN_TTL,
          now: service.now(),
          audit: {
            userId: session.user_id,
            clientId: client.client_id,
            ip: info.ip,
            userAgent: info.userAgent,
            details: { via: 'rfc7009' },
          },
        });
        if (revoked) service.metrics.revocations.inc({ kind: 'session' });
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 200;
    ctx.body = '';
  };
}
