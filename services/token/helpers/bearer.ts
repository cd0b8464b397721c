// The Bearer access token a request presents (RFC 6750 §2.1). Who it belongs
// to is auth/bearer.ts's business.
import type { Context } from 'koa';
import { InvalidToken } from '../errors.ts';

/** As at the gateway and /oauth/introspect: no access token we issue comes near this. */
export const MAX_BEARER_TOKEN_LENGTH = 8192;

export function bearerToken(ctx: Context): string {
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(ctx.get('authorization'));
  if (!match) throw new InvalidToken('a Bearer access token is required');
  if ((match[1] as string).length > MAX_BEARER_TOKEN_LENGTH) throw new InvalidToken();
  return match[1] as string;
}
