// Answering a grant: the grants return what happened (grants/*.ts); this
// counts it and sends the tokens or the refusal.
import type { Context } from 'koa';
import type { TokenService } from '../context.ts';
import type { CodeExchangeResult } from '../grants/authorization-code.ts';
import type { PasswordGrantResult } from '../grants/password.ts';
import type { RefreshGrantResult } from '../grants/refresh-token.ts';
import type { TokenResponse } from '../grants/token-pair.ts';
import { setDeviceCookie } from '../helpers/device-cookie.ts';

/** RFC 6749 §5.1: token responses must not be cached. */
export function sendTokenResponse(ctx: Context, response: TokenResponse): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.body = response;
}

/** The tokens and the device cookie, or the refusal. */
export function answerPasswordGrant(ctx: Context, service: TokenService, result: PasswordGrantResult): void {
  if (result.kind === 'refused') {
    service.metrics.loginFailures.inc({ reason: result.reason });
    throw result.error;
  }
  service.metrics.revocations.inc({ kind: 'session' }, result.sessionsRevoked);
  setDeviceCookie(ctx, service.config, result.deviceToken);
  sendTokenResponse(ctx, result.tokens);
}

/** The rotated pair, or the refusal (once a reuse's revocation has committed). */
export function answerRefreshGrant(ctx: Context, service: TokenService, result: RefreshGrantResult): void {
  service.metrics.refreshes.inc({ outcome: result.outcome });
  if (!('tokens' in result)) {
    service.metrics.revocations.inc({ kind: 'session' }, result.sessionsRevoked);
    throw result.error;
  }
  sendTokenResponse(ctx, result.tokens);
}

/** The pair (and the ID token), or the refusal (once a replay's revocation has committed). */
export function answerCodeGrant(ctx: Context, service: TokenService, result: CodeExchangeResult): void {
  service.metrics.revocations.inc({ kind: 'session' }, result.sessionsRevoked);
  if (result.kind === 'refused') throw result.error;
  sendTokenResponse(ctx, result.tokens);
}
