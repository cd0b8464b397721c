// The gateway's decision about one request: stages 1 to 6 of the pipeline
// (match route → authenticate → check revocation → authorize → assert identity
// → mutate headers)
// in one function, called by the request handler and the upgrade handler alike.
// It answers a refusal, or where to forward the request, as whom and with which
// headers; the handlers then only speak their protocol (a proxied response, a
// WebSocket relay).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { Route } from '../routes/schema.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';
import type { CookieSessions, Session } from '../sessions/cookie-sessions.ts';
import type { IdentityAsserter } from './assert-identity.ts';
import { authenticate, authenticateToken, type AuthenticationResult, type TokenVerifier } from './authenticate.ts';
import { authorize } from './authorize.ts';
import { checkRevocation, type FeedHealth, type RevocationSource } from './check-revocation.ts';
import { matchRoute, upstreamPath, type RequestTarget, type RouteMatch } from './match-route.ts';
import { withoutCookies } from '../lib/cookies.ts';
import { mutateHeaders } from './mutate-headers.ts';
import { reject, temporarilyUnavailable, type Rejection } from './rejection.ts';
import {
  crossSiteRefusal,
  fromAllowedOrigin,
  needsOriginCheck,
  usableSession,
  type SessionOutcome,
  type SessionPolicy,
} from './session-credential.ts';

export interface AdmissionDependencies {
  /** The live routes (a RouteTable, so that a reload applies from the next request on). */
  routes: { readonly routes: readonly Route[] };
  verifier: TokenVerifier;
  denylist: RevocationSource;
  feedHealth(): FeedHealth;
  /** Keys fetched and denylist synced: tokens can be judged at all. */
  isReady(): boolean;
  maxStalenessMs: number | undefined;
  /** Header names dropped from every request (strippedHeaderSet). */
  strippedHeaders: ReadonlySet<string>;
  /** Cookie sessions, when configured (SESSION_COOKIE_KEYS). */
  sessions?: SessionPolicy | undefined;
  /** Cookies no upstream receives: the gateway's own and the token service's sign-in cookies (privateCookieNames). */
  privateCookies?: ReadonlySet<string> | undefined;
  /** The gateway's own, which not even the token service's routes receive. */
  ownCookies?: ReadonlySet<string> | undefined;
  /** Signs the X-Auth-Assertion of authenticated callers; undefined when GATEWAY_ASSERTION is off. */
  asserter?: Pick<IdentityAsserter, 'assertionFor'> | undefined;
}

/** What admission reads of a request; node:http's IncomingMessage is one. */
export interface AdmissionRequest {
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** The TCP peer (a TLSSocket, were the gateway ever to terminate TLS itself; today it listens on plain HTTP). */
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/** Forward the request to the route's upstream, at `path`, as `claims`, with `headers`. */
export interface Forward {
  readonly kind: 'forward';
  readonly route: Route;
  /** The caller's verified token; undefined for an anonymous caller (auth none, or optional without a token). */
  readonly claims: VerifiedClaims | undefined;
  /** Path and query for the upstream, relative to its URL's own path (upstreamPath). */
  readonly path: string;
  /** End-to-end request headers (mutateHeaders): the caller's identity, nothing a client could forge. */
  readonly headers: OutgoingHttpHeaders;
  /** The cookie session it came with, if any. */
  readonly session?: Session | undefined;
  /** The gateway's own response headers: a renewed session cookie. */
  readonly responseHeaders?: (() => string[]) | undefined;
}

/** Refuse the request with `rejection`. */
export interface Refusal {
  readonly kind: 'reject';
  readonly rejection: Rejection;
  /** The route whose policy refused the request; undefined when no route took it. */
  readonly route: Route | undefined;
  /** The request came with a cookie session that has ended (revoked, expired): the cookie is cleared. */
  readonly sessionEnded?: boolean;
}

export type Admission = Forward | Refusal;

/** Filled in as admission goes, for a caller that must report on a request it is still deciding. */
export interface AdmissionTrace {
  /** The matched route's id, known before the token has been checked. */
  route?: string | undefined;
}

/**
 * Decides whether a request goes upstream. `target` is its parsed request target; `websocket`
 * is true for an upgrade, which only WebSocket routes take. `trace`, when given, learns the
 * route as soon as it is matched (the access log of a client that leaves meanwhile names it).
 *
 * The answer is synchronous whenever the token is in the verification cache and its assertion
 * in the assertion cache (nearly every request): only an RSA verification, a key fetch or an
 * RSA signature makes it a promise.
 */
export function admit(
  deps: AdmissionDependencies,
  req: AdmissionRequest,
  target: RequestTarget,
  requestId: string,
  websocket: boolean,
  trace?: AdmissionTrace,
): Admission | Promise<Admission> {
  const match = matchRoute(deps.routes.routes, { method: req.method ?? 'GET', host: req.headers.host, path: target.path });
  if (match.kind !== 'matched' || (websocket && !match.route.websocket)) {
    return { kind: 'reject', rejection: noRouteFor(match, websocket), route: undefined };
  }
  const { route } = match;
  if (trace) trace.route = route.id;
  if (route.auth !== 'none' && !deps.isReady()) return refused(temporarilyUnavailable('gateway is starting'), route);
  const authorization = route.acceptsBearer ? req.headers.authorization : undefined;
  if (deps.sessions && route.acceptsCookie && route.auth !== 'none' && authorization === undefined) {
    const presented = deps.sessions.sessions.read(req.headers.cookie);
    if (presented) {
      if (needsOriginCheck(req.method ?? 'GET', websocket) && !fromAllowedOrigin(req.headers, deps.sessions.allowedOrigins)) {
        return refused(crossSiteRefusal(), route);
      }
      const outcome = usableSession(deps.sessions.sessions, presented);
      if (outcome instanceof Promise) {
        return outcome.then((settled) => authenticateSession(deps, req, target, requestId, websocket, route, settled));
      }
      return authenticateSession(deps, req, target, requestId, websocket, route, outcome);
    }
  }
  const authenticated = authenticate(route, authorization, deps.verifier);
  if (authenticated instanceof Promise) {
    return authenticated.then((result) => afterAuthentication(deps, req, target, requestId, websocket, route, result));
  }
  return afterAuthentication(deps, req, target, requestId, websocket, route, authenticated);
}

const NO_COOKIES: ReadonlySet<string> = new Set();

/**
 * Stage 2 for a cookie session: its access token, judged as a bearer token is. (Module functions rather
 * than closures per request: the hot path allocates, and under tsx names, as little as it can.)
 */
function authenticateSession(
  deps: AdmissionDependencies,
  req: AdmissionRequest,
  target: RequestTarget,
  requestId: string,
  websocket: boolean,
  route: Route,
  settled: SessionOutcome,
): Admission | Promise<Admission> {
  if (!settled.ok) return { kind: 'reject', rejection: settled.rejection, route, sessionEnded: settled.ended };
  const verified = authenticateToken(route, settled.session.accessToken, deps.verifier);
  if (verified instanceof Promise) {
    return verified.then((result) => afterAuthentication(deps, req, target, requestId, websocket, route, result, settled));
  }
  return afterAuthentication(deps, req, target, requestId, websocket, route, verified, settled);
}

/**
 * The renewed session cookie for the response, if a renewal is done by the time the upstream answers.
 * Such a response is never stored by a shared cache, whatever the upstream said: it carries a session.
 */
function renewedCookie(sessions: CookieSessions, presented: Session): () => string[] {
  return () => {
    const renewal = sessions.renewalFor(presented);
    return renewal ? ['set-cookie', sessions.setCookie(renewal), 'cache-control', 'private, no-store'] : [];
  };
}

/** Stages 3 to 6, once the caller is known. */
function afterAuthentication(
  deps: AdmissionDependencies,
  req: AdmissionRequest,
  target: RequestTarget,
  requestId: string,
  websocket: boolean,
  route: Route,
  authenticated: AuthenticationResult,
  session?: Extract<SessionOutcome, { ok: true }>,
): Admission | Promise<Admission> {
  // A cookie session's token refused by verification (a rotated key not fetched yet, a route whose
  // audience the session lacks) is not a session that ended: its cookie is kept. Only a refused
  // renewal or a revocation ends it.
  if (!authenticated.ok) return { kind: 'reject', rejection: authenticated.rejection, route };
  const { claims } = authenticated;
  const revoked = recheckRevocation(deps, claims);
  if (revoked) return { kind: 'reject', rejection: revoked, route, sessionEnded: session !== undefined && revoked.status === 401 };
  const denied = authorize(route, claims);
  if (denied) return refused(denied, route);
  const forward = (assertion: string | undefined): Forward => {
    const headers = mutateHeaders(req.headers, {
      route,
      claims,
      requestId,
      remoteAddress: req.socket.remoteAddress,
      encrypted: req.socket instanceof TLSSocket,
      strippedHeaders: deps.strippedHeaders,
      websocket,
      assertion,
    });
    if (headers.cookie !== undefined) {
      // The gateway's cookies and the token service's sign-in cookies are no upstream's business.
      const names = (route.forwardSignInCookies ? deps.ownCookies : deps.privateCookies) ?? NO_COOKIES;
      const cookie = withoutCookies(headers.cookie as string | string[], names);
      if (cookie === undefined) delete headers.cookie;
      else headers.cookie = cookie;
    }
    if (!session) return { kind: 'forward', route, claims, path: upstreamPath(route, target), headers };
    // With a cookie session, the upstream gets the user's access token, to call other APIs on their behalf (unless the route says no).
    if (route.forwardAuthorization) headers.authorization = `Bearer ${session.session.accessToken}`;
    else delete headers.authorization;
    return {
      kind: 'forward',
      route,
      claims,
      path: upstreamPath(route, target),
      headers,
      session: session.session,
      responseHeaders: renewedCookie((deps.sessions as SessionPolicy).sessions, session.presented),
    };
  };
  if (!claims || !deps.asserter) return forward(undefined);
  const assertion = deps.asserter.assertionFor(route, claims);
  if (typeof assertion === 'string') return forward(assertion);
  // A revocation may have arrived while the signature was made.
  return assertion.then((signed) => {
    const revokedMeanwhile = recheckRevocation(deps, claims);
    return revokedMeanwhile
      ? { kind: 'reject', rejection: revokedMeanwhile, route, sessionEnded: session !== undefined && revokedMeanwhile.status === 401 }
      : forward(signed);
  });
}

/** The revocation stage on its own: admission's stage 3, and again for a WebSocket whose upstream has just answered. */
export function recheckRevocation(deps: AdmissionDependencies, claims: VerifiedClaims | undefined): Rejection | undefined {
  return checkRevocation(claims, deps.denylist, deps.feedHealth(), deps.maxStalenessMs);
}

function refused(rejection: Rejection, route: Route): Refusal {
  return { kind: 'reject', rejection, route };
}

/** Why no route takes the request: none has its path, or (plain requests) none allows its method. */
function noRouteFor(match: RouteMatch, websocket: boolean): Rejection {
  if (websocket) return reject(404, 'not_found', 'no WebSocket route for this path');
  if (match.kind === 'method_not_allowed') {
    return reject(405, 'method_not_allowed', 'method not allowed on this route', { allow: match.allow.join(', ') });
  }
  return reject(404, 'not_found', 'no route for this path');
}
