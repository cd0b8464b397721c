// GET/POST /oauth/end-session: OIDC RP-Initiated Logout 1.0. Ends the sign-in
// session (single sign-on) and revokes every family issued through it, so
// every app's tokens die, and through the revocation feed every gateway's
// sessions. With a valid id_token_hint the hinted sign-in ends at once (an app
// may call this from its server); without one, the browser's own sign-in ends
// only after the user confirms on a page of ours, so that a cross-site link
// cannot log anyone out. post_logout_redirect_uri must be registered exactly.
import type { Context, Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { ValidationFailed } from '../errors.ts';
import { clearCookie, readCookie, setCookie } from '../helpers/browser-cookies.ts';
import { readIdTokenHint } from '../helpers/id-tokens.ts';
import { bodyParams, requireMediaType, type Params } from '../helpers/params.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { randomToken, safeEqual } from '../helpers/secrets.ts';
import { recordAudit } from '../models/audit.ts';
import type { ClientRow } from '../models/clients.ts';
import { endSigninSession, findLiveSigninSession, findSigninSession, type SigninSessionRow } from '../models/signin-sessions.ts';
import { findUserById } from '../models/users.ts';
import { endSessionConfirmation, endSessionParams, type EndSessionParams } from '../schemas/authorize.ts';
import { parseParams } from '../schemas/parameters.ts';
import { errorPage, logoutConfirmPage, signedOutPage } from '../views/pages.ts';
import { CSRF_COOKIE, signinCookie } from './authorize.ts';
import { redirectTo, sendPage } from './html-response.ts';

class EndSessionRefused extends Error {}

export function endSessionEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    if (ctx.method === 'POST') requireMediaType(ctx, ['urlencoded']);
    const body = ctx.method === 'POST' ? bodyParams(ctx) : {};
    // Our confirmation form posts `csrf` with the request in its query; an app may POST the request itself.
    const confirming = ctx.method === 'POST' && 'csrf' in body;
    const raw: Params = ctx.method === 'GET' || confirming ? (ctx.query as Params) : body;
    try {
      await endSession(ctx, service, raw, confirming ? body : undefined);
    } catch (error) {
      if (error instanceof EndSessionRefused || error instanceof ValidationFailed) {
        sendPage(ctx, 400, errorPage({ title: 'This sign-out link is not valid', message: error.message }));
        return;
      }
      throw error;
    }
  };
}

async function endSession(ctx: Context, service: TokenService, raw: Params, confirmation: Params | undefined): Promise<void> {
  const { config } = service;
  const params = parseParams(endSessionParams, raw);
  const hint = params.id_token_hint === undefined ? undefined : await readIdTokenHint(service.keys, config.ISSUER, params.id_token_hint);
  if (params.id_token_hint !== undefined && !hint) throw new EndSessionRefused('id_token_hint is not an ID token of ours');
  if (hint && params.client_id !== undefined && params.client_id !== hint.aud) {
    throw new EndSessionRefused('client_id does not match the id_token_hint');
  }
  const clientId = hint?.aud ?? params.client_id;
  const client = clientId === undefined ? undefined : await service.clients.find(clientId);
  if (clientId !== undefined && !client) throw new EndSessionRefused('unknown client_id');
  const returnTo = params.post_logout_redirect_uri;
  if (returnTo !== undefined) {
    if (!client) throw new EndSessionRefused('post_logout_redirect_uri needs client_id or id_token_hint');
    if (!client.post_logout_redirect_uris.includes(returnTo)) {
      throw new EndSessionRefused('post_logout_redirect_uri is not registered for this client');
    }
  }

  const cookieToken = readCookie(ctx, config.ISSUER, signinCookie(config));
  const browserSignin = cookieToken === undefined ? undefined : await findLiveSigninSession(service.knex, cookieToken, service.now());
  let ending: SigninSessionRow | undefined;
  if (hint) {
    const hinted = hint.sid === undefined ? undefined : await findSigninSession(service.knex, hint.sid);
    ending = hinted && hinted.user_id === hint.sub ? hinted : undefined;
  } else if (browserSignin) {
    const confirmed =
      confirmation !== undefined &&
      endSessionConfirmation.safeParse(confirmation).success &&
      readCookie(ctx, config.ISSUER, CSRF_COOKIE) !== undefined &&
      safeEqual(String(confirmation.csrf), readCookie(ctx, config.ISSUER, CSRF_COOKIE) as string);
    if (!confirmed) {
      await askToConfirm(ctx, service, { signin: browserSignin, client, params, status: confirmation === undefined ? 200 : 403 });
      return;
    }
    ending = browserSignin;
  }

  if (ending && ending.ended_at === null) await end(ctx, service, ending, client);
  // Only the sign-in that ended loses its cookie: a hint naming another (or none left) must not log this browser out.
  if (browserSignin && browserSignin.id === ending?.id) clearCookie(ctx, config.ISSUER, signinCookie(config));
  if (returnTo !== undefined) {
    const location = new URL(returnTo);
    if (params.state !== undefined) location.searchParams.append('state', params.state);
    redirectTo(ctx, location.href);
    return;
  }
  sendPage(ctx, 200, signedOutPage());
}

async function askToConfirm(
  ctx: Context,
  service: TokenService,
  { signin, client, params, status }: { signin: SigninSessionRow; client: ClientRow | undefined; params: EndSessionParams; status: number },
): Promise<void> {
  const { config } = service;
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (typeof value === 'string') query.set(name, value);
  const csrf = readCookie(ctx, config.ISSUER, CSRF_COOKIE) ?? randomToken(32);
  setCookie(ctx, config.ISSUER, CSRF_COOKIE, csrf);
  const user = await findUserById(service.knex, signin.user_id);
  const page = logoutConfirmPage({
    action: `/oauth/end-session?${query.toString()}`,
    csrf,
    username: user?.username ?? '',
    clientName: client?.name,
    // A confirmation that failed its CSRF check (a cross-site post, or a form left open past its cookie).
    error: status === 403 ? 'This form has expired. Please confirm again.' : undefined,
  });
  sendPage(ctx, status, page, params.post_logout_redirect_uri === undefined ? [] : [params.post_logout_redirect_uri]);
}

async function end(ctx: Context, service: TokenService, signin: SigninSessionRow, client: ClientRow | undefined): Promise<void> {
  const info = requestInfo(ctx);
  // The answer is sent only after this transaction (the revocations with it) has committed.
  const revoked = await service.knex.transaction(async (trx) => {
    const { familiesRevoked } = await endSigninSession(trx, signin.id, {
      reason: 'end_session',
      accessTokenLifetimeMs: service.config.ACCESS_TOKEN_TTL,
      now: service.now(),
    });
    await recordAudit(trx, {
      type: 'signin_session_ended',
      userId: signin.user_id,
      clientId: client?.client_id ?? null,
      ip: info.ip,
      userAgent: info.userAgent,
      details: { signin_session: signin.id, via: 'end_session', families_revoked: familiesRevoked.length },
    });
    return familiesRevoked;
  });
  service.metrics.revocations.inc({ kind: 'session' }, revoked.length);
}
