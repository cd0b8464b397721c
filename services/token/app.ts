// The token service's Koa application: one error mapper, a strict body parser,
// and a router whose routes each map to one action.
import crypto from 'node:crypto';
import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import bodyParser from 'koa-bodyparser';
import type { TokenService } from './context.ts';
import { HttpError, InvalidRequest, MethodNotAllowed, NotFound, PayloadTooLarge, ServiceUnavailable } from './errors.ts';
import {
  endSigninSessionEndpoint,
  listConsentsEndpoint,
  listSigninSessionsEndpoint,
  withdrawConsentEndpoint,
} from './actions/account-apps.ts';
import { adminCommandEndpoint } from './actions/admin.ts';
import { authorizeEndpoint } from './actions/authorize.ts';
import { endSessionEndpoint } from './actions/end-session.ts';
import { openApiDocument } from './openapi.ts';
import { jwksEndpoint, metadataEndpoint } from './actions/discovery.ts';
import { healthEndpoint, metricsEndpoint, readinessEndpoint } from './actions/health.ts';
import { introspectionEndpoint } from './actions/introspect.ts';
import { loginEndpoint } from './actions/login.ts';
import { logoutEndpoint } from './actions/logout.ts';
import { meEndpoint } from './actions/me.ts';
import { registrationEndpoint } from './actions/register.ts';
import { revocationEndpoint } from './actions/revoke.ts';
import { revocationCatchUpEndpoint, revocationStreamEndpoint, type RevocationStreams } from './actions/revocation-feed.ts';
import { deleteSessionEndpoint, listSessionsEndpoint } from './actions/sessions.ts';
import { tokenEndpoint } from './actions/token.ts';
import { userinfoEndpoint } from './actions/userinfo.ts';

export const BODY_LIMIT = '32kb';
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export function buildRouter(service: TokenService, streams: RevocationStreams): Router {
  const router = new Router();
  router.get('/.well-known/oauth-authorization-server', metadataEndpoint(service));
  router.get('/.well-known/openid-configuration', metadataEndpoint(service));
  router.get('/.well-known/jwks.json', jwksEndpoint(service));
  router.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument(service.config);
  });
  router.get('/oauth/authorize', noHead, authorizeEndpoint(service));
  router.post('/oauth/authorize', authorizeEndpoint(service));
  router.post('/oauth/token', tokenEndpoint(service));
  router.get('/oauth/userinfo', userinfoEndpoint(service));
  router.post('/oauth/userinfo', userinfoEndpoint(service));
  router.get('/oauth/end-session', noHead, endSessionEndpoint(service));
  router.post('/oauth/end-session', endSessionEndpoint(service));
  router.post('/oauth/revoke', revocationEndpoint(service));
  router.post('/oauth/introspect', introspectionEndpoint(service));
  router.post('/auth/register', registrationEndpoint(service));
  router.post('/auth/login', loginEndpoint(service));
  router.post('/auth/logout', logoutEndpoint(service));
  router.get('/auth/me', meEndpoint(service));
  router.get('/auth/sessions', listSessionsEndpoint(service));
  router.delete('/auth/sessions/:id', deleteSessionEndpoint(service));
  router.get('/auth/signin-sessions', listSigninSessionsEndpoint(service));
  router.delete('/auth/signin-sessions/:id', endSigninSessionEndpoint(service));
  router.get('/auth/consents', listConsentsEndpoint(service));
  router.delete('/auth/consents/:client_id', withdrawConsentEndpoint(service));
  router.get('/revocations', revocationCatchUpEndpoint(service));
  router.get('/revocations/stream', revocationStreamEndpoint(service, streams));
  router.post('/admin/commands/:name', adminCommandEndpoint(service));
  router.get('/metrics', metricsEndpoint(service));
  router.get('/healthz', healthEndpoint);
  router.get('/readyz', readinessEndpoint(service));
  return router;
}

/**
 * The router answers HEAD with a route's GET handler. The browser endpoints' GETs act (issue a code,
 * end a sign-in), which a HEAD, sent by link checkers and prefetchers, must never do.
 */
const noHead = async (ctx: Context, next: Next): Promise<void> => {
  if (ctx.method === 'HEAD') throw new MethodNotAllowed('GET, POST');
  await next();
};

export function createTokenApp(service: TokenService, streams: RevocationStreams): Koa {
  const app = new Koa({ proxy: service.config.TRUST_PROXY });
  const router = buildRouter(service, streams);
  // Errors Koa sees after the response started (a gateway dropping its
  // revocation stream, a client hanging up) are not failures of ours.
  app.silent = true;
  app.on('error', (error: { code?: string }) => {
    if (error.code && CLIENT_GONE.has(error.code)) return;
    service.logger.error({ err: error }, 'response stream failed');
  });
  app.use(cors(service.config.CORS_ORIGINS));
  app.use(requestLog(service));
  app.use(errorResponses(service));
  const bodyOptions: bodyParser.Options & { queryString: object } = {
    enableTypes: ['json', 'form'],
    jsonLimit: BODY_LIMIT,
    formLimit: BODY_LIMIT,
    strict: true,
    // Passed through to co-body's qs: plain key=value pairs are all OAuth needs. Its successor
    // @koa/bodyparser (6.1) drops this option, so we stay with koa-bodyparser (see git log).
    queryString: { depth: 0, parameterLimit: 100, allowPrototypes: false, allowDots: false },
    // Reading the body can fail without an HTTP status: a body that does not decompress as
    // its Content-Encoding claims (zlib, brotli). That is the client's error, not a 500.
    onerror: (error: Error & { status?: number }) => {
      throw error.status ? error : new InvalidRequest('the body could not be decoded');
    },
  };
  app.use(bodyParser(bodyOptions));
  app.use(async (ctx, next) => {
    await next();
    if (ctx.body !== undefined && ctx.body !== null) return;
    if (ctx.status === 404) throw new NotFound('no such endpoint');
    if (ctx.status === 405) throw new MethodNotAllowed(ctx.response.get('Allow'));
    if (ctx.status === 501) throw new MethodNotAllowed(ctx.response.get('Allow'));
  });
  // Wraps the routes: sets 405 with Allow when the path exists for another method.
  app.use(router.allowedMethods());
  app.use(router.routes());
  return app;
}

/** The endpoints a browser app may call (never introspection, the feed or the admin API). */
const isCorsEndpoint = (path: string): boolean =>
  path === '/oauth/token' || path === '/oauth/revoke' || path === '/oauth/userinfo' || path.startsWith('/auth/');

/**
 * CORS, closed by default: only the origins in CORS_ORIGINS get
 * Access-Control-Allow-Origin, on the endpoints above. Bearer tokens travel in
 * a header, not a cookie, so credentials are never allowed. Placed outside the
 * error mapper so that error responses carry the headers too (the app must be
 * able to read an invalid_grant).
 */
function cors(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins);
  return async (ctx: Context, next: Next): Promise<void> => {
    if (allowed.size === 0 || !isCorsEndpoint(ctx.path)) return next();
    ctx.vary('Origin');
    const origin = ctx.get('origin');
    if (!allowed.has(origin)) return next();
    ctx.set('Access-Control-Allow-Origin', origin);
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, DELETE');
      ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate, Retry-After');
    await next();
  };
}

// An incoming request id is kept when it is a sane token, so one id follows a
// request from the gateway through the token service's logs.
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** One log line and the HTTP metrics per request; never the query string, headers or body. */
function requestLog(service: TokenService) {
  // The line's fields are fixed and never secret, so it skips pino's path
  // redaction, which costs ~14 us and ~38 KB of garbage per line (docs/BENCHMARKS.md).
  const log = service.logger.child({ log: 'request' }, { redact: [] });
  return async (ctx: Context, next: Next): Promise<void> => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const { metrics } = service;
      metrics.httpRequests.inc({ method: ctx.method, route, status: String(ctx.status) });
      metrics.httpDuration.observe({ route }, seconds);
      if (ctx.status === 200 && typeof ctx.state.issuedGrant === 'string') metrics.tokensIssued.inc({ grant: ctx.state.issuedGrant });
      if (route !== '/metrics' && route !== '/healthz' && route !== '/readyz') {
        log.info(
          {
            requestId,
            method: ctx.method,
            path: ctx.path,
            route,
            status: ctx.status,
            latencyMs: Math.round(seconds * 1e6) / 1e3,
            ip: ctx.ip,
          },
          'request',
        );
      }
    }
  };
}

/** OAuth endpoints answer in RFC 6749 §5.2 form; the rest as {error, message}. */
const isOAuthEndpoint = (ctx: Context): boolean => ctx.path.startsWith('/oauth/') || ctx.path.startsWith('/revocations');

function errorResponses(service: TokenService) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (caught) {
      const error = toHttpError(caught);
      if (error.status >= 500) {
        service.logger.error({ err: caught, path: ctx.path, method: ctx.method }, 'request failed');
      }
      ctx.status = error.status;
      ctx.set(error.headers);
      if (error.status === 401 || error.status === 400) ctx.set('Cache-Control', 'no-store');
      ctx.body = isOAuthEndpoint(ctx)
        ? { error: error.code, error_description: error.message }
        : { error: error.code, message: error.message };
    }
  };
}

function toHttpError(caught: unknown): HttpError {
  if (caught instanceof HttpError) return caught;
  const error = caught as { status?: number; type?: string; message?: string; code?: string; name?: string };
  // Errors thrown by the body parser and the router carry an HTTP status.
  if (error.status === 413 || error.type === 'entity.too.large') return new PayloadTooLarge();
  if (error.status === 415) return new HttpError(415, 'unsupported_media_type', 'unsupported media type');
  if (error.status === 405) return new HttpError(405, 'method_not_allowed', 'method not allowed');
  if (error.status === 501) return new HttpError(405, 'method_not_allowed', 'method not allowed');
  if (error.status && error.status >= 400 && error.status < 500) {
    return new InvalidRequest(error.type === 'entity.parse.failed' ? 'the body is not valid JSON' : 'the request is malformed');
  }
  if (isDatabaseUnavailable(error)) return new ServiceUnavailable('the database is unavailable; try again shortly');
  return new HttpError(500, 'server_error', 'internal error');
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003']);

function isDatabaseUnavailable(error: { code?: string; name?: string; message?: string }): boolean {
  if (error.code && UNAVAILABLE_CODES.has(error.code)) return true;
  if (error.name === 'KnexTimeoutError') return true;
  return /Connection terminated|connection is closed|Client has encountered a connection error|database connection stalled/i.test(
    error.message ?? '',
  );
}
