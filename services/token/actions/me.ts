// GET /auth/me: the caller's user and session.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { requireLiveBearer } from '../auth/bearer.ts';
import { publicUser } from '../models/users.ts';

export function meEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { user, claims } = await requireLiveBearer(ctx, service);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...publicUser(user), session_id: claims.sid, client_id: claims.client_id, scope: claims.scope };
  };
}
