// GET/POST /oauth/userinfo (OIDC Core §5.3): the signed-in user's claims, as
// far as the access token's scopes allow (`profile`, `email`). The token must
// carry `openid` and be live (not revoked, its family not ended).
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { InsufficientScope } from '../errors.ts';
import { requireLiveBearer } from '../auth/bearer.ts';

export function userinfoEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const { claims, user } = await requireLiveBearer(ctx, service, { anyAudience: true });
    const scopes = claims.scope.split(' ');
    if (!scopes.includes('openid')) throw new InsufficientScope('openid');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      sub: user.id,
      ...(scopes.includes('profile') ? { name: user.username, preferred_username: user.username } : {}),
      // Addresses are not verified at registration: said so rather than implied.
      ...(scopes.includes('email') ? { email: user.email, email_verified: false } : {}),
    };
  };
}
