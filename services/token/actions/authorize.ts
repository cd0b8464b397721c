// GET/POST /oauth/authorize: the authorization endpoint (RFC 6749 §4.1, PKCE,
// OIDC Core §3.1.2), with the login and consent pages it shows.
//
// The client and its redirect_uri are checked first: when either is wrong the
// answer is an error page, never a redirect (an open redirector otherwise).
// Every later problem is redirected back with `error`, `state` and `iss`
// (RFC 9207). The login and consent forms post back to this endpoint, with the
// authorization request in the form's query and a CSRF token bound to a
// short-lived cookie in the body; nothing about a pending request is stored.
import type { Context, Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { AuthorizationError, HttpError, ValidationFailed } from '../errors.ts';
import {
  issueAuthorizationCode,
  needsConsent,
  needsLogin,
  resolveAuthorizationRequest,
  type AuthorizationRequest,
} from '../grants/authorization-code.ts';
import { signIn } from '../grants/sign-in.ts';
import { readCookie, setCookie, type BrowserCookie, type TokenServiceCookie } from '../helpers/browser-cookies.ts';
import { readDeviceCookie, setDeviceCookie } from '../helpers/device-cookie.ts';
import { bodyParams, requireMediaType, type Params } from '../helpers/params.ts';
import { isRegisteredRedirect } from '../helpers/redirect-uris.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { randomToken, safeEqual } from '../helpers/secrets.ts';
import type { ClientRow } from '../models/clients.ts';
import { grantConsent } from '../models/consents.ts';
import { findLiveSigninSession, type SigninSessionRow } from '../models/signin-sessions.ts';
import { findUserById } from '../models/users.ts';
import {
  authorizationParams,
  authorizationTarget,
  interactionForm,
  UNSUPPORTED_AUTHORIZATION_PARAMS,
  type AuthorizationParams,
} from '../schemas/authorize.ts';
import { parseParams } from '../schemas/parameters.ts';
import { consentPage, errorPage, loginPage } from '../views/pages.ts';
import { redirectTo, sendPage } from './html-response.ts';

/** The sign-in session (single sign-on) cookie: sent on top-level navigations from the apps (Lax). */
export const signinCookie = (config: TokenService['config']): BrowserCookie => ({
  name: 'signin' satisfies TokenServiceCookie,
  sameSite: 'Lax',
  maxAgeSeconds: config.SIGNIN_SESSION_TTL / 1000,
});

/** The pre-login cookie the forms' CSRF token must match: our own pages post, so Strict. */
export const CSRF_COOKIE: BrowserCookie = { name: 'csrf' satisfies TokenServiceCookie, sameSite: 'Strict', maxAgeSeconds: 30 * 60 };

export function authorizeEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    if (ctx.method === 'POST') requireMediaType(ctx, ['urlencoded']);
    const body = ctx.method === 'POST' ? bodyParams(ctx) : {};
    // A form of ours carries `action` and the request in its query; a client's POST (OIDC Core §3.1.2.1) carries the request.
    const interaction = ctx.method === 'POST' && 'action' in body;
    const raw: Params = ctx.method === 'GET' || interaction ? (ctx.query as Params) : body;
    const target = await findTarget(service, raw);
    if (target instanceof HttpError) {
      sendPage(ctx, 400, errorPage({ title: 'This sign-in link is not valid', message: target.message }));
      return;
    }
    const { client, redirectUri } = target;
    let request: AuthorizationRequest;
    try {
      request = resolveAuthorizationRequest(client, redirectUri, readAuthorizationParams(raw));
      if (interaction) await interact(ctx, service, request, body);
      else await decide(ctx, service, request);
    } catch (error) {
      if (!(error instanceof AuthorizationError)) throw error;
      const state = typeof raw.state === 'string' && raw.state.length <= 1024 ? raw.state : undefined;
      redirectBack(
        ctx,
        service,
        { redirectUri, state },
        {
          error: error.code,
          error_description: error.message,
        },
      );
    }
  };
}

/** The client and where to send it back; an error (shown as a page) when either is unknown. */
async function findTarget(service: TokenService, raw: Params): Promise<{ client: ClientRow; redirectUri: string } | HttpError> {
  let target: { client_id: string; redirect_uri: string };
  try {
    target = parseParams(authorizationTarget, raw);
  } catch (error) {
    if (error instanceof ValidationFailed) return error;
    throw error;
  }
  const client = await service.clients.find(target.client_id);
  if (!client) return new ValidationFailed('client_id', 'unknown client_id');
  if (!isRegisteredRedirect(client.redirect_uris, target.redirect_uri)) {
    return new ValidationFailed('redirect_uri', 'redirect_uri is not registered for this client');
  }
  return { client, redirectUri: target.redirect_uri };
}

function readAuthorizationParams(raw: Params): AuthorizationParams {
  for (const [name, code] of Object.entries(UNSUPPORTED_AUTHORIZATION_PARAMS)) {
    if (raw[name] !== undefined) throw new AuthorizationError(code, `${name} is not supported`);
  }
  try {
    return parseParams(authorizationParams, raw);
  } catch (error) {
    if (!(error instanceof ValidationFailed)) throw error;
    throw new AuthorizationError('invalid_request', error.message);
  }
}

/** Sign in, consent, or the code: what a request gets (`fresh`: the user has just typed the password). */
async function decide(ctx: Context, service: TokenService, request: AuthorizationRequest, fresh?: SigninSessionRow): Promise<void> {
  const now = service.now();
  const signin = fresh ?? (await currentSignin(ctx, service));
  if (!signin || (!fresh && needsLogin(request, signin, now))) {
    if (request.prompt.has('none')) throw new AuthorizationError('login_required', 'the user must sign in');
    showLogin(ctx, service, request, 200);
    return;
  }
  if (await needsConsent(service, signin.user_id, request)) {
    if (request.prompt.has('none')) throw new AuthorizationError('consent_required', 'the user must consent');
    await showConsent(ctx, service, request, signin);
    return;
  }
  await answerWithCode(ctx, service, request, signin);
}

async function currentSignin(ctx: Context, service: TokenService): Promise<SigninSessionRow | undefined> {
  const token = readCookie(ctx, service.config.ISSUER, signinCookie(service.config));
  return token === undefined ? undefined : findLiveSigninSession(service.knex, token, service.now());
}

async function answerWithCode(ctx: Context, service: TokenService, request: AuthorizationRequest, signin: SigninSessionRow): Promise<void> {
  const code = await issueAuthorizationCode(service, request, signin, requestInfo(ctx));
  redirectBack(ctx, service, request, { code });
}

/** The login or consent form posted back. */
async function interact(ctx: Context, service: TokenService, request: AuthorizationRequest, body: Params): Promise<void> {
  let form: ReturnType<typeof interactionForm.parse>;
  try {
    form = parseParams(interactionForm, body);
  } catch (error) {
    if (!(error instanceof ValidationFailed)) throw error;
    showLogin(ctx, service, request, 400, { error: 'Please fill in both fields.' });
    return;
  }
  const expected = readCookie(ctx, service.config.ISSUER, CSRF_COOKIE);
  if (expected === undefined || !safeEqual(form.csrf, expected)) {
    // Login CSRF, or a form left open past its cookie: nothing happens, a fresh form is shown.
    showLogin(ctx, service, request, 403, { error: 'This form has expired. Please sign in again.' });
    return;
  }
  if (form.action === 'login') {
    const info = requestInfo(ctx);
    const result = await signIn(service, {
      client: request.client,
      login: form.username,
      password: form.password,
      info,
      deviceToken: readDeviceCookie(ctx, service.config),
    });
    if (result.kind === 'refused') {
      service.metrics.loginFailures.inc({ reason: result.reason });
      const error = result.error instanceof HttpError ? result.error : new HttpError(400, 'invalid_grant', '');
      if (error.headers['Retry-After']) ctx.set('Retry-After', error.headers['Retry-After']);
      const message =
        result.reason === 'invalid_credentials' && error.status === 400
          ? 'Invalid username or password.'
          : `Too many sign-in attempts. Try again in ${error.headers['Retry-After'] ?? 'a few'} seconds.`;
      showLogin(ctx, service, request, error.status, { error: message, loginHint: form.username });
      return;
    }
    setCookie(ctx, service.config.ISSUER, signinCookie(service.config), result.token);
    setDeviceCookie(ctx, service.config, result.deviceToken);
    await decide(ctx, service, request, result.signin);
    return;
  }
  const signin = await currentSignin(ctx, service);
  if (!signin) {
    showLogin(ctx, service, request, 200);
    return;
  }
  if (form.decision === 'deny') throw new AuthorizationError('access_denied', 'the user denied the request');
  await grantConsent(service.knex, signin.user_id, request.client.client_id, request.scope.split(' '));
  await answerWithCode(ctx, service, request, signin);
}

/** The form's own address: this endpoint with the (validated) authorization request as its query. */
function formAction(request: AuthorizationRequest, ctx: Context): string {
  const query = new URLSearchParams();
  const raw = ctx.method === 'GET' || 'action' in bodyParams(ctx) ? (ctx.query as Params) : bodyParams(ctx);
  for (const name of [...Object.keys(authorizationTarget.shape), ...Object.keys(authorizationParams.shape)]) {
    const value = raw[name];
    if (typeof value === 'string' && value !== '') query.set(name, value);
  }
  query.set('redirect_uri', request.redirectUri);
  return `/oauth/authorize?${query.toString()}`;
}

/** The CSRF token of this browser's forms: the pre-login cookie's, or a new one. */
function csrfToken(ctx: Context, service: TokenService): string {
  const token = readCookie(ctx, service.config.ISSUER, CSRF_COOKIE) ?? randomToken(32);
  setCookie(ctx, service.config.ISSUER, CSRF_COOKIE, token);
  return token;
}

function showLogin(
  ctx: Context,
  service: TokenService,
  request: AuthorizationRequest,
  status: number,
  extra: { error?: string; loginHint?: string } = {},
): void {
  const page = loginPage({
    action: formAction(request, ctx),
    clientName: request.client.name,
    csrf: csrfToken(ctx, service),
    loginHint: extra.loginHint ?? request.loginHint,
    error: extra.error,
    registrationUrl: service.config.REGISTRATION_PAGE_URL,
  });
  sendPage(ctx, status, page, [request.redirectUri]);
}

async function showConsent(ctx: Context, service: TokenService, request: AuthorizationRequest, signin: SigninSessionRow): Promise<void> {
  const user = await findUserById(service.knex, signin.user_id);
  const page = consentPage({
    action: formAction(request, ctx),
    clientName: request.client.name,
    username: user?.username ?? '',
    scopes: request.scope.split(' ').filter(Boolean),
    csrf: csrfToken(ctx, service),
  });
  sendPage(ctx, 200, page, [request.redirectUri]);
}

/** Back to the client, with `state` and `iss` (RFC 9207) on every answer, success or error. */
function redirectBack(
  ctx: Context,
  service: TokenService,
  request: Pick<AuthorizationRequest, 'redirectUri' | 'state'>,
  answer: Record<string, string>,
): void {
  const location = new URL(request.redirectUri);
  for (const [name, value] of Object.entries(answer)) location.searchParams.append(name, value);
  if (request.state !== undefined) location.searchParams.append('state', request.state);
  location.searchParams.append('iss', service.config.ISSUER);
  redirectTo(ctx, location.href);
}
