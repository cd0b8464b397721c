// The paths the gateway answers itself for cookie sessions (AUTH_PATH_PREFIX,
// default /.auth):
//   GET  /login?return_to=/path   → the token service's login (code + PKCE + state + nonce)
//   GET  /callback                → the code exchanged, the ID token validated, the session cookie set
//   POST /logout  {scope}         → local: this session; global: every session of the user; both end the
//                                   token service's sign-in too, then the cookie is cleared (Clear-Site-Data)
//   GET  /session                 → signed in or not, who, scopes, until when; never a token
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logger.ts';
import { fromAllowedOrigin, renewNow, usableSession, type RenewalOutcome } from '../pipeline/session-credential.ts';
import { reject, sendRejection, type Rejection } from '../pipeline/rejection.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';
import { pkceChallenge, randomValue, type CookieSessions, type Session, type SignInTransaction } from './cookie-sessions.ts';
import { SessionEnded, type TokenClient } from './token-client.ts';
import { safeEqual } from '../../common/secrets.ts';

export interface AuthEndpointOptions {
  prefix: string;
  /** The gateway's browser-facing origin, e.g. https://app.example.com. */
  publicUrl: string;
  issuer: string;
  scopes: string;
  sessions: CookieSessions;
  client: TokenClient;
  allowedOrigins: ReadonlySet<string>;
  /**
   * Verification (cached) and revocation, as admission judges a request: the claims, or why not.
   * `ended` only for a revoked session; a refusal that may pass (keys, the revocation feed) is not one.
   */
  judge(accessToken: string): Promise<Judgement>;
  logger: Logger;
}

export type Judgement = { ok: true; claims: VerifiedClaims } | { ok: false; ended: boolean; rejection: Rejection };

/**
 * `return_to` as a same-origin path, or `/`: never an absolute URL, a
 * protocol-relative `//host`, a backslash (`/\host`, which browsers read as
 * `//host`), or control characters.
 */
export function safeReturnTo(value: unknown, origin: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (typeof value !== 'string' || value.length > 2000 || !value.startsWith('/') || /[\\\u0000-\u001f\u007f]/.test(value)) return '/';
  if (value.startsWith('//')) return '/';
  try {
    const resolved = new URL(value, origin);
    return resolved.origin === origin ? `${resolved.pathname}${resolved.search}${resolved.hash}` : '/';
  } catch {
    return '/';
  }
}

/** A browser navigation (a page load) rather than an API call (fetch, XHR, Accept: application/json). */
export function isNavigation(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  if (accept.includes('application/json')) return false;
  const mode = req.headers['sec-fetch-mode'];
  return mode === undefined ? accept.includes('text/html') : mode === 'navigate';
}

const CLEAR_SITE_DATA = '"cache", "cookies", "storage"';
const MAX_LOGOUT_BODY = 1024;

export function authEndpoints(
  options: AuthEndpointOptions,
): (req: IncomingMessage, res: ServerResponse, path: string, query: string) => Promise<void> {
  const { sessions, client, prefix, publicUrl, logger } = options;
  const redirectUri = `${publicUrl}${prefix}/callback`;

  async function login(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (!client.ready)
      return sendRejection(res, reject(503, 'temporarily_unavailable', 'the token service is not reachable yet', { 'retry-after': '1' }));
    const transaction: SignInTransaction = {
      state: randomValue(),
      nonce: randomValue(),
      verifier: randomValue(),
      returnTo: safeReturnTo(query.get('return_to'), publicUrl),
      created: Date.now(),
    };
    const location = client.authorizationUrl({
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: options.scopes,
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: pkceChallenge(transaction.verifier),
      code_challenge_method: 'S256',
    });
    redirect(res, location, [sessions.setTransactionCookie(transaction)]);
  }

  async function callback(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const transaction = sessions.readTransaction(req.headers.cookie);
    const clearTransaction = sessions.clearTransactionCookie();
    const state = query.get('state');
    // The state binds the answer to this browser's sign-in (login CSRF); iss to our issuer (RFC 9207, mix-up).
    if (!transaction || state === null || !safeEqual(state, transaction.state)) {
      return sendRejection(
        res,
        reject(400, 'invalid_request', 'no sign-in in progress in this browser (or it took too long); start again'),
        {
          'set-cookie': clearTransaction,
        },
      );
    }
    if (query.get('iss') !== options.issuer) {
      return sendRejection(res, reject(400, 'invalid_request', 'the answer does not come from our token service'), {
        'set-cookie': clearTransaction,
      });
    }
    const error = query.get('error');
    const code = query.get('code');
    if (error !== null || code === null) {
      // access_denied and the like: back where the user was, still signed out.
      return redirect(res, transaction.returnTo, [clearTransaction]);
    }
    let session: Session;
    try {
      const tokens = await client.exchangeCode({
        code,
        redirectUri,
        codeVerifier: transaction.verifier,
        // The token service believes X-Forwarded-For only with TRUST_PROXY (behind the gateway, as in compose).
        browser: { userAgent: req.headers['user-agent'], address: req.socket.remoteAddress },
      });
      if (!tokens.idToken || !tokens.refreshToken) throw new Error('the token service sent no ID token or refresh token');
      await client.validateIdToken(tokens.idToken, transaction.nonce);
      const info = await client.userinfo(tokens.accessToken).catch(() => ({}) as Record<string, unknown>);
      const name =
        typeof info.name === 'string' ? info.name : typeof info.preferred_username === 'string' ? info.preferred_username : undefined;
      session = sessions.create({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, idToken: tokens.idToken }, name);
    } catch (failure) {
      logger.warn({ err: (failure as Error).message }, 'sign-in callback failed');
      const status = failure instanceof SessionEnded ? 400 : 502;
      return sendRejection(res, reject(status, status === 400 ? 'invalid_grant' : 'bad_gateway', 'sign-in failed; start again'), {
        'set-cookie': clearTransaction,
      });
    }
    redirect(res, transaction.returnTo, [clearTransaction, sessions.setCookie(session)]);
  }

  async function logout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!fromAllowedOrigin(req.headers, options.allowedOrigins)) {
      return sendRejection(res, reject(403, 'forbidden', 'logout is only accepted from the gateway’s own pages'));
    }
    const body = await readSmallBody(req, MAX_LOGOUT_BODY);
    if (body === undefined) return sendRejection(res, reject(413, 'payload_too_large', 'the body is too large'));
    const scope = logoutScope(req.headers['content-type'], body);
    if (scope === undefined) return sendRejection(res, reject(400, 'invalid_request', 'scope must be local or global'));
    const presented = sessions.read(req.headers.cookie);
    if (presented) {
      let session = sessions.latest(presented);
      if (scope === 'global') {
        const ready = await readyForEverywhere(session);
        if (!ready.ok) return ready.ended ? everywhereRefused(res) : sendRejection(res, ready.rejection);
        session = ready.session;
      }
      try {
        // Durable at the token service before we answer (its revocation commits first).
        if (scope === 'global') await client.logoutEverywhere(session.accessToken);
        await client.revoke(session.refreshToken);
      } catch (failure) {
        logger.warn({ err: (failure as Error).message }, 'logout at the token service failed');
        return sendRejection(
          res,
          reject(502, 'bad_gateway', 'the token service could not be reached; the session is still active, try again'),
        );
      }
      sessions.forget(session); // only now: a logout that failed leaves the session as it was
      if (session.idToken) {
        try {
          // Refused (an ID token signed by a key retired since): no retry would help, and the
          // session is revoked, so the logout stands; the sign-in there lives out its lifetime.
          if (!(await client.endSignIn(session.idToken))) logger.warn('the token service refused to end the sign-in (its hint)');
        } catch (failure) {
          logger.warn({ err: (failure as Error).message }, 'ending the sign-in at the token service failed');
          return sendRejection(
            res,
            reject(502, 'bad_gateway', 'signed out here, but the sign-in at the token service could not be ended; try again'),
          );
        }
      }
    }
    const headers = {
      'set-cookie': [sessions.clearCookie(), sessions.clearTransactionCookie()],
      'clear-site-data': CLEAR_SITE_DATA,
      'cache-control': 'no-store',
    };
    if (isNavigation(req)) {
      res.writeHead(303, { ...headers, location: '/' });
      res.end();
      return;
    }
    res.writeHead(204, headers);
    res.end();
  }

  /**
   * The session "sign out everywhere" speaks with: a token the token service will take for the
   * whole call (renewed first when due, not in the background), and one the denylist has not
   * revoked, since the token service answers a revoked session's logout with a 204 that does
   * nothing.
   */
  async function readyForEverywhere(current: Session): Promise<RenewalOutcome> {
    let session = current;
    if (sessions.needsRefresh(session)) {
      const renewed = await renewNow(sessions, session);
      if (!renewed.ok) return renewed;
      session = renewed.session;
    }
    const judged = await options.judge(session.accessToken);
    return judged.ok ? { ok: true, session } : judged;
  }

  /**
   * "Sign out everywhere" from a session that has already ended (revoked elsewhere): nothing here
   * can prove who the user is to the token service any more. The cookie goes; the user must sign in
   * again to sign out everywhere, and is told so rather than shown a success that did not happen.
   */
  function everywhereRefused(res: ServerResponse): void {
    sendRejection(res, reject(401, 'invalid_token', 'the session has already ended; sign in again to sign out everywhere'), {
      'set-cookie': [sessions.clearCookie(), sessions.clearTransactionCookie()],
    });
  }

  async function sessionInfo(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const presented = sessions.read(req.headers.cookie);
    const signedOut = (clear: boolean) => sendJson(res, { signed_in: false }, clear ? [sessions.clearCookie()] : []);
    if (!presented) return signedOut(false);
    const outcome = await usableSession(sessions, presented);
    if (!outcome.ok) return outcome.ended ? signedOut(true) : sendRejection(res, outcome.rejection);
    const judged = await options.judge(outcome.session.accessToken);
    if (!judged.ok) {
      if (judged.ended) return signedOut(true);
      // Not proof the session ended (a key not fetched yet, the revocation feed catching up): keep the cookie.
      return judged.rejection.status === 401 ? signedOut(false) : sendRejection(res, judged.rejection);
    }
    const { claims } = judged;
    const renewal = sessions.renewalFor(presented);
    sendJson(
      res,
      {
        signed_in: true,
        sub: claims.sub,
        name: outcome.session.name ?? null,
        scopes: claims.scopes,
        expires_at: new Date(outcome.session.expiresAt).toISOString(),
      },
      renewal ? [sessions.setCookie(renewal)] : [],
    );
  }

  return async (req, res, path, query) => {
    const params = new URLSearchParams(query);
    const method = req.method ?? 'GET';
    const route = path.slice(prefix.length);
    const get = method === 'GET' || method === 'HEAD';
    if (route === '/login' && get) return login(req, res, params);
    if (route === '/callback' && get) return callback(req, res, params);
    if (route === '/session' && get) return sessionInfo(req, res);
    if (route === '/logout' && method === 'POST') return logout(req, res);
    if (['/login', '/callback', '/session', '/logout'].includes(route)) {
      return sendRejection(
        res,
        reject(405, 'method_not_allowed', 'method not allowed', { allow: route === '/logout' ? 'POST' : 'GET, HEAD' }),
      );
    }
    sendRejection(res, reject(404, 'not_found', 'no such endpoint'));
  };
}

function redirect(res: ServerResponse, location: string, cookies: string[]): void {
  res.writeHead(302, { location, 'set-cookie': cookies, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  res.end();
}

function sendJson(res: ServerResponse, body: unknown, cookies: string[]): void {
  const text = JSON.stringify(body);
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(cookies.length > 0 ? { 'set-cookie': cookies } : {}),
  });
  res.end(text);
}

/** The body, up to `limit` bytes; undefined past it. */
async function readSmallBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `scope` from a JSON or form body; local when there is none. */
function logoutScope(contentType: string | undefined, body: string): 'local' | 'global' | undefined {
  let scope: unknown = 'local';
  if (body.trim() !== '') {
    if ((contentType ?? '').includes('application/json')) {
      try {
        scope = (JSON.parse(body) as { scope?: unknown }).scope ?? 'local';
      } catch {
        return undefined;
      }
    } else {
      scope = new URLSearchParams(body).get('scope') ?? 'local';
    }
  }
  return scope === 'local' || scope === 'global' ? scope : undefined;
}
