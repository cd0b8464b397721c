// GET /auth/sessions and DELETE /auth/sessions/:id: a user's own live sessions.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { NotFound } from '../errors.ts';
import { requireLiveBearer } from '../auth/bearer.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { findSession, listLiveSessions, revokeSession } from '../models/sessions.ts';
import { parseParams } from '../schemas/parameters.ts';
import { encodeSessionCursor as encodeCursor, listSessionsQuery } from '../schemas/sessions.ts';

/** GET /auth/sessions?limit=&cursor=: newest first, `next_cursor` (opaque) while there are more. */
export function listSessionsEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims } = await requireLiveBearer(ctx, service);
    const { limit, cursor: after } = parseParams(listSessionsQuery, ctx.query);
    // One more than asked: whether there is a next page.
    const rows = await listLiveSessions(
      service.knex,
      claims.sub,
      service.config.REFRESH_TOKEN_IDLE_TTL,
      { limit: limit + 1, after },
      service.now(),
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      sessions: page.map((session) => ({
        id: session.id,
        client_id: session.client_id,
        signin_session_id: session.signin_session_id,
        created_at: session.created_at.toISOString(),
        last_used_at: session.last_refreshed_at.toISOString(),
        expires_at: session.expires_at.toISOString(),
        user_agent: session.user_agent,
        ip: session.ip,
        current: session.id === claims.sid,
      })),
      next_cursor: rows.length > limit && last ? encodeCursor({ createdUs: last.created_us, id: last.id }) : null,
    };
  };
}

export function deleteSessionEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims } = await requireLiveBearer(ctx, service);
    const id = String(ctx.params.id);
    const session = await findSession(service.knex, id);
    // Someone else's session is indistinguishable from one that does not exist.
    if (!session || session.user_id !== claims.sub) throw new NotFound('no such session');
    const info = requestInfo(ctx);
    const revoked = await revokeSession(service.knex, session.id, {
      reason: 'revoked_by_user',
      accessTokenLifetimeMs: service.config.ACCESS_TOKEN_TTL,
      now: service.now(),
      audit: {
        userId: claims.sub,
        clientId: claims.client_id,
        ip: info.ip,
        userAgent: info.userAgent,
        details: { via: 'sessions_api', by_session: claims.sid },
      },
    });
    if (revoked) service.metrics.revocations.inc({ kind: 'session' });
    ctx.status = 204;
  };
}
