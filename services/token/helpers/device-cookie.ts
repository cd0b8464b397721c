// The device cookie (models/devices.ts) on the wire: HttpOnly (scripts never
// see it), SameSite=Lax, Path=/, and Secure with the __Host- prefix unless the
// issuer is a plain-HTTP loopback address (local development). Any endpoint
// that checks a password reads and renews it: /auth/login, the password grant
// of /oauth/token, and a server-rendered login form later.
import type { Context } from 'koa';
import { isPlainHttpLoopback } from '../../../common/development.ts';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface DeviceCookieSettings {
  ISSUER: string;
  LOGIN_DEVICE_TTL: number;
}

const isSecure = (issuer: string): boolean => !isPlainHttpLoopback(issuer);

export function deviceCookieName(settings: DeviceCookieSettings): string {
  return isSecure(settings.ISSUER) ? '__Host-device' : 'device';
}

/** The device token the request presents, if it is well-formed. */
export function readDeviceCookie(ctx: Context, settings: DeviceCookieSettings): string | undefined {
  const value = ctx.cookies.get(deviceCookieName(settings));
  return value !== undefined && TOKEN.test(value) ? value : undefined;
}

export function setDeviceCookie(ctx: Context, settings: DeviceCookieSettings, token: string): void {
  const attributes = [
    `${deviceCookieName(settings)}=${token}`,
    'Path=/',
    `Max-Age=${Math.floor(settings.LOGIN_DEVICE_TTL / 1000)}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(isSecure(settings.ISSUER) ? ['Secure'] : []),
  ];
  ctx.append('Set-Cookie', attributes.join('; '));
}
