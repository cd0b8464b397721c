// Sending the token service's pages (views/pages.ts) with the headers every
// one of them needs: never cached, never framed (clickjacking), no referrer
// (the query carries state and codes), and a CSP that allows nothing but our
// stylesheet and forms posting to us (and, after a form, the redirect to the app).
import type { Context } from 'koa';
import type { SafeHtml } from '../views/html.ts';
import { STYLE_HASH } from '../views/pages.ts';

/** A redirect target's CSP source: its origin, or its scheme for a native app's private-use URI. */
export function cspSource(uri: string): string {
  const url = new URL(uri);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
}

export function pageHeaders(ctx: Context, formTargets: readonly string[] = []): void {
  const formAction = ["'self'", ...formTargets.map(cspSource)].join(' ');
  ctx.set(
    'Content-Security-Policy',
    `default-src 'none'; style-src ${STYLE_HASH}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
  );
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Content-Type-Options', 'nosniff');
}

export function sendPage(ctx: Context, status: number, page: SafeHtml, formTargets: readonly string[] = []): void {
  pageHeaders(ctx, formTargets);
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = page.toString();
}

/** A redirect that leaks nothing: 303 (a POST becomes a GET), no-store, no referrer. */
export function redirectTo(ctx: Context, location: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.status = 303;
  ctx.redirect(location);
}
