// The token service's own browser cookies (device, sign-in session, login
// CSRF): HttpOnly (scripts never see them), Path=/, and Secure with the
// __Host- prefix (no subdomain can set or shadow them) unless the issuer is a
// plain-HTTP loopback address (local development).
import type { Context } from 'koa';
import { isPlainHttpLoopback } from '../../../common/development.ts';
import type { TOKEN_SERVICE_COOKIES } from '../../../contract/browser-cookies.ts';

/** The names are the wire contract's: gateways keep these cookies from every other upstream. */
export type TokenServiceCookie = (typeof TOKEN_SERVICE_COOKIES)[number];

/** Every value we put in a cookie: 256 random bits, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface BrowserCookie {
  /** The name without its prefix. */
  name: string;
  sameSite: 'Lax' | 'Strict';
  /** Max-Age in seconds. */
  maxAgeSeconds: number;
}

const isSecure = (issuer: string): boolean => !isPlainHttpLoopback(issuer);

export function cookieName(issuer: string, cookie: Pick<BrowserCookie, 'name'>): string {
  return isSecure(issuer) ? `__Host-${cookie.name}` : cookie.name;
}

/** The token the request presents in this cookie, if it is well-formed. */
export function readCookie(ctx: Context, issuer: string, cookie: Pick<BrowserCookie, 'name'>): string | undefined {
  const value = ctx.cookies.get(cookieName(issuer, cookie));
  return value !== undefined && TOKEN.test(value) ? value : undefined;
}

export function setCookie(ctx: Context, issuer: string, cookie: BrowserCookie, token: string): void {
  const attributes = [
    `${cookieName(issuer, cookie)}=${token}`,
    'Path=/',
    `Max-Age=${Math.max(0, Math.floor(cookie.maxAgeSeconds))}`,
    'HttpOnly',
    `SameSite=${cookie.sameSite}`,
    ...(isSecure(issuer) ? ['Secure'] : []),
  ];
  ctx.append('Set-Cookie', attributes.join('; '));
}

export function clearCookie(ctx: Context, issuer: string, cookie: Omit<BrowserCookie, 'maxAgeSeconds'>): void {
  setCookie(ctx, issuer, { ...cookie, maxAgeSeconds: 0 }, '');
}
