// Stage 2, for cookie sessions: the access token a request's session cookie
// carries, renewed when due, and the origin check that keeps other sites from
// using the cookie (CSRF, cross-site WebSocket hijacking). The token then goes
// through the same verification, revocation and authorization as a bearer
// token: a cookie session is never judged by other rules.
import type { IncomingHttpHeaders } from 'node:http';
import { SessionEnded } from '../sessions/token-client.ts';
import type { CookieSessions, Session } from '../sessions/cookie-sessions.ts';
import { reject, type Rejection } from './rejection.ts';

export interface SessionPolicy {
  sessions: CookieSessions;
  /** The gateway's own origin and ALLOWED_ORIGINS. */
  allowedOrigins: ReadonlySet<string>;
}

/** The session to authenticate with, or why it cannot be used. */
export type SessionOutcome = { ok: true; presented: Session; session: Session } | { ok: false; rejection: Rejection; ended: boolean };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Did the request come from a page we trust? `Sec-Fetch-Site: same-origin`
 * (every current browser sends it), or an `Origin` we allow. A state-changing
 * request, or a WebSocket upgrade, with neither is refused.
 */
export function fromAllowedOrigin(headers: IncomingHttpHeaders, allowedOrigins: ReadonlySet<string>): boolean {
  if (headers['sec-fetch-site'] === 'same-origin') return true;
  const origin = headers.origin;
  return typeof origin === 'string' && allowedOrigins.has(origin.toLowerCase());
}

export function needsOriginCheck(method: string, websocket: boolean): boolean {
  return websocket || !SAFE_METHODS.has(method);
}

export const crossSiteRefusal = (): Rejection =>
  reject(403, 'forbidden', 'a cookie session is only accepted from the gateway’s own pages (Origin / Sec-Fetch-Site)');

export const sessionEnded = (description = 'the session has ended; sign in again'): Rejection =>
  reject(401, 'invalid_token', description, { 'www-authenticate': 'Cookie realm="gateway"' });

/**
 * The session to use: a renewal this process already made, or the presented
 * one; renewed first when its access token has expired, or in the background
 * when it expires within the margin (this request still goes with the current
 * one, and its response carries the renewal if it is done by then).
 */
export function usableSession(sessions: CookieSessions, presented: Session): SessionOutcome | Promise<SessionOutcome> {
  const current = sessions.latest(presented);
  if (!sessions.needsRefresh(current)) return { ok: true, presented, session: current };
  const renewal = sessions.refresh(current);
  if (!sessions.isAccessExpired(current)) {
    renewal.catch(() => undefined); // judged by the next request, which will find the session ended
    return { ok: true, presented, session: current };
  }
  return settleRenewal(renewal).then((renewed): SessionOutcome =>
    renewed.ok ? { ok: true, presented, session: renewed.session } : renewed,
  );
}

/** A renewal that must be waited for, settled: the renewed session, or why the session cannot be used now. */
export type RenewalOutcome = { ok: true; session: Session } | { ok: false; rejection: Rejection; ended: boolean };

/** Renews now and waits (an expired token, or a logout that needs a token good for the whole call). */
export function renewNow(sessions: CookieSessions, current: Session): Promise<RenewalOutcome> {
  return settleRenewal(sessions.refresh(current));
}

function settleRenewal(renewal: Promise<Session>): Promise<RenewalOutcome> {
  return renewal.then(
    (session): RenewalOutcome => ({ ok: true, session }),
    (error: unknown): RenewalOutcome => {
      if (error instanceof SessionEnded) return { ok: false, rejection: sessionEnded(), ended: true };
      return {
        ok: false,
        rejection: reject(503, 'temporarily_unavailable', 'the session could not be renewed; try again', { 'retry-after': '1' }),
        ended: false,
      };
    },
  );
}
