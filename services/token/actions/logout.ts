// POST /auth/logout {scope: local | global | others}. Idempotent: logging out
// with a token whose session is already revoked does nothing and answers 204.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { identifyBearer } from '../auth/bearer.ts';
import { bodyParams, requireMediaType } from '../helpers/params.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { recordAudit } from '../models/audit.ts';
import type { RevocationKind } from '../models/revocations.ts';
import { revokeSessions, revokeUserSessions, type RevocationReason, type RevokeSessionsOptions } from '../models/sessions.ts';
import type { Knex } from 'knex';
import { logoutParams, type LOGOUT_SCOPES } from '../schemas/logout.ts';
import { parseParams } from '../schemas/parameters.ts';

type Revoke = (trx: Knex.Transaction, claims: { sub: string; sid: string }, options: RevokeSessionsOptions) => Promise<string[]>;

// Local and others write one entry per session; global one entry for the user.
const SCOPES: Record<(typeof LOGOUT_SCOPES)[number], { reason: RevocationReason; entries: RevocationKind; revoke: Revoke }> = {
  local: {
    reason: 'logout',
    entries: 'session',
    revoke: (trx, claims, options) => revokeSessions(trx, (q) => q.where({ id: claims.sid }), options),
  },
  global: { reason: 'logout_global', entries: 'user', revoke: (trx, claims, options) => revokeUserSessions(trx, claims.sub, options) },
  others: {
    reason: 'logout_others',
    entries: 'session',
    revoke: (trx, claims, options) => revokeSessions(trx, (q) => q.where({ user_id: claims.sub }).andWhereNot({ id: claims.sid }), options),
  },
};

export function logoutEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['json', 'urlencoded']);
    const params = bodyParams(ctx);
    const { scope: scopeName } = parseParams(logoutParams, params);
    const scope = SCOPES[scopeName];
    const { claims, live } = await identifyBearer(ctx, service);
    if (live) {
      const info = requestInfo(ctx);
      // The response below is sent only after this transaction has committed.
      const revoked = await service.knex.transaction(async (trx) => {
        const revoked = await scope.revoke(trx, claims, {
          reason: scope.reason,
          accessTokenLifetimeMs: service.config.ACCESS_TOKEN_TTL,
          now: service.now(),
        });
        await recordAudit(trx, {
          type: 'logout',
          userId: claims.sub,
          sessionId: claims.sid,
          clientId: claims.client_id,
          ip: info.ip,
          userAgent: info.userAgent,
          details: { scope: scopeName, sessions_revoked: revoked.length },
        });
        return revoked;
      });
      // A user entry covers all of the sessions at once.
      service.metrics.revocations.inc({ kind: scope.entries }, scope.entries === 'user' ? Math.min(revoked.length, 1) : revoked.length);
    }
    ctx.status = 204;
  };
}
