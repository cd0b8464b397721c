import type { Context } from 'koa';
import type { Knex } from 'knex';
import type { TokenService } from '../context.ts';
import { issueAccessToken } from '../helpers/access-tokens.ts';
import { issueRefreshToken } from '../models/refresh-tokens.ts';
import type { SessionRow } from '../models/sessions.ts';

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

/**
 * A new pair for a session: a refresh token (the family's first, or the child
 * of `parentId`) that never outlives the session, and an access token for it,
 * issued after the user's last global logout (`tokensValidAfter`).
 */
export async function issueTokenPair(
  trx: Knex.Transaction,
  service: TokenService,
  fields: { session: SessionRow; parentId: number | null; scope: string; tokensValidAfter: Date | null },
): Promise<TokenResponse> {
  const { config } = service;
  const { session, scope } = fields;
  const refresh = await issueRefreshToken(trx, {
    sessionId: session.id,
    parentId: fields.parentId,
    expiresAt: new Date(Math.min(Date.now() + config.REFRESH_TOKEN_IDLE_TTL, session.expires_at.getTime())),
  });
  const access = await issueAccessToken(
    service.keys,
    { issuer: config.ISSUER, lifetimeMs: config.ACCESS_TOKEN_TTL },
    {
      sub: session.user_id,
      clientId: session.client_id,
      scope,
      audiences: session.audiences,
      sid: session.id,
      issuedAfter: fields.tokensValidAfter,
    },
  );
  return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: refresh.token, scope };
}
