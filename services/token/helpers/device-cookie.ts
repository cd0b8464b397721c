// The device cookie (models/devices.ts) on the wire (helpers/browser-cookies.ts):
// SameSite=Lax, kept for LOGIN_DEVICE_TTL. Any endpoint that checks a password
// reads and renews it: /auth/login, the password grant of /oauth/token, and the
// login page.
import type { Context } from 'koa';
import { cookieName, readCookie, setCookie, type BrowserCookie, type TokenServiceCookie } from './browser-cookies.ts';

export interface DeviceCookieSettings {
  ISSUER: string;
  LOGIN_DEVICE_TTL: number;
}

const device = (settings: DeviceCookieSettings): BrowserCookie => ({
  name: 'device' satisfies TokenServiceCookie,
  sameSite: 'Lax',
  maxAgeSeconds: settings.LOGIN_DEVICE_TTL / 1000,
});

export function deviceCookieName(settings: DeviceCookieSettings): string {
  return cookieName(settings.ISSUER, device(settings));
}

/** The device token the request presents, if it is well-formed. */
export function readDeviceCookie(ctx: Context, settings: DeviceCookieSettings): string | undefined {
  return readCookie(ctx, settings.ISSUER, device(settings));
}

export function setDeviceCookie(ctx: Context, settings: DeviceCookieSettings, token: string): void {
  setCookie(ctx, settings.ISSUER, device(settings), token);
}
