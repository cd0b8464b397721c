import type { Context } from 'koa';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/** RFC 6749 §5.1: token responses must not be cached. */
export function sendTokenResponse(ctx: Context, response: TokenResponse): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.body = response;
}
