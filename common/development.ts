// Local development: what lets each piece run alone on one machine with no
// set-up (`npm run start:token`, `npm run start:gateway`, `npm start`).

/**
 * The gateway client's secret that the gateway presents by default and that the token service registers when its
 * issuer is a development one. Never use it anywhere else: it is public.
 */
export const DEVELOPMENT_GATEWAY_CLIENT_SECRET = 'dev-gateway-secret-change-me-0123456789abcdef';

/** A plain-HTTP URL on this machine: the mark of local development (no TLS, nothing exposed). */
export function isPlainHttpLoopback(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(hostname);
}

/** Where the development gateway listens (`npm start`): the browser-facing URL the token service redirects to. */
export const DEVELOPMENT_GATEWAY_PUBLIC_URL = 'http://localhost:8080';

/** The gateway's cookie-session key in local development (base64 of 32 bytes). Public: never use it anywhere else. */
export const DEVELOPMENT_SESSION_COOKIE_KEY = 'ZGV2LWNvb2tpZS1rZXktY2hhbmdlLW1lLTAxMjM0NTY=';
