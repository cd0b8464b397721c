// GET /auth/sessions and DELETE /auth/sessions/:id: a user's own live sessions.
import type { Context, Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { NotFound, ValidationFailed } from '../errors.ts';
import { requireLiveBearer } from '../auth/bearer.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { isUuid } from '../../../db/identifiers.ts';
import { findSession, listLiveSessions, revokeSession, type SessionCursor } from '../models/sessions.ts';

export const SESSIONS_PAGE_DEFAULT = 50;
export const SESSIONS_PAGE_MAX = 100;

/** GET /auth/sessions?limit=&cursor=: newest first, `next_cursor` (opaque) while there are more. */
export function listSessionsEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims } = await requireLiveBearer(ctx, service);
    const limit = limitParam(ctx);
    const after = cursorParam(ctx);
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

function single(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw new ValidationFailed(name, `${name} must not be repeated`);
  return value === undefined || value === '' ? undefined : value;
}

function limitParam(ctx: Context): number {
  const text = single(ctx, 'limit');
  if (text === undefined) return SESSIONS_PAGE_DEFAULT;
  if (!/^\d{1,3}$/.test(text) || Number(text) < 1 || Number(text) > SESSIONS_PAGE_MAX) {
    throw new ValidationFailed('limit', `limit must be an integer from 1 to ${SESSIONS_PAGE_MAX}`);
  }
  return Number(text);
}

const encodeCursor = (cursor: SessionCursor): string => Buffer.from(JSON.stringify([cursor.createdUs, cursor.id])).toString('base64url');

function cursorParam(ctx: Context): SessionCursor | undefined {
  const text = single(ctx, 'cursor');
  if (text === undefined) return undefined;
  let decoded: unknown;
  try {
    decoded = text.length <= 200 ? JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) : undefined;
  } catch {
    decoded = undefined;
  }
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 2 ||
    !Number.isSafeInteger(decoded[0]) ||
    typeof decoded[1] !== 'string' ||
    !isUuid(decoded[1])
  ) {
    throw new ValidationFailed('cursor', 'cursor is not one this endpoint returned');
  }
  return { createdUs: decoded[0] as number, id: decoded[1] };
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
