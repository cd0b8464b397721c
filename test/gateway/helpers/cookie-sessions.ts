// CookieSessions as the gateway's tests use them: a fresh key, the cookie named `session`,
// an hour's session with a minute's refresh margin, and the token client the test supplies.
import crypto from 'node:crypto';
import { createLogger } from '../../../common/logger.ts';
import { CookieSessions, type CookieSessionOptions } from '../../../gateway/sessions/cookie-sessions.ts';
import type { TokenClient } from '../../../gateway/sessions/token-client.ts';

export function testCookieSessionOptions(client: TokenClient = {} as TokenClient, now: () => number = Date.now): CookieSessionOptions {
  return {
    keys: [crypto.randomBytes(32)],
    cookieName: 'session',
    secure: false,
    maxAgeMs: 3_600_000,
    refreshMarginMs: 60_000,
    client,
    logger: createLogger({ name: 'test', level: 'silent' }),
    now,
  };
}

export const testCookieSessions = (client?: TokenClient, now?: () => number): CookieSessions =>
  new CookieSessions(testCookieSessionOptions(client, now));

/** An unsigned JWT-shaped access token: CookieSessions reads only its `exp`. */
export const unsignedAccessToken = (sub: string, lifetimeSeconds = 3600): string =>
  `e30.${Buffer.from(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + lifetimeSeconds })).toString('base64url')}.c2ln`;
