// The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636, S256
// only), resource indicators (RFC 8707) and OpenID Connect (ID tokens).
//
// At the authorization endpoint: what a validated request asks for
// (resolveAuthorizationRequest), whether the user must consent, and the code.
// At the token endpoint: the exchange, in one transaction that locks the code's
// row, so that of two presentations one issues and the other is a replay. A
// replay revokes the family the code issued (RFC 6749 §4.1.2), durably, before
// the answer. A code is consumed by its first presentation whatever its
// outcome (a wrong verifier or redirect_uri burns it): it cannot be guessed at.
import type { TokenService } from '../context.ts';
import { AuthorizationError, InvalidGrant, InvalidScope, InvalidTarget, UnauthorizedClient, type HttpError } from '../errors.ts';
import { signIdToken } from '../helpers/id-tokens.ts';
import { verifierMatches } from '../helpers/pkce.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { resolveScope } from '../helpers/scopes.ts';
import { recordAudit } from '../models/audit.ts';
import {
  consumeAuthorizationCode,
  lockAuthorizationCode,
  storeAuthorizationCode,
  type AuthorizationCodeRow,
} from '../models/authorization-codes.ts';
import type { ClientRow } from '../models/clients.ts';
import { findConsent } from '../models/consents.ts';
import { revokeSessions } from '../models/sessions.ts';
import { findSigninSession, type SigninSessionRow } from '../models/signin-sessions.ts';
import { lockUser } from '../models/users.ts';
import type { AuthorizationParams } from '../schemas/authorize.ts';
import { PROMPTS } from '../schemas/authorize.ts';
import { startFamily, type TokenResponse } from './token-pair.ts';

export type Prompt = (typeof PROMPTS)[number];

/** An authorization request, validated: everything the code will be bound to. */
export interface AuthorizationRequest {
  client: ClientRow;
  redirectUri: string;
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string;
  scope: string;
  audiences: string[];
  prompt: ReadonlySet<Prompt>;
  maxAgeSeconds: number | undefined;
  loginHint: string | undefined;
}

/** Reads what the request asks for against what the client may have; AuthorizationError when it may not. */
export function resolveAuthorizationRequest(client: ClientRow, redirectUri: string, params: AuthorizationParams): AuthorizationRequest {
  if (params.response_type !== 'code') {
    throw new AuthorizationError('unsupported_response_type', 'only response_type=code is supported');
  }
  if (!client.grant_types.includes('authorization_code')) {
    throw new AuthorizationError('unauthorized_client', 'this client may not use the authorization code grant');
  }
  let scope: string;
  try {
    scope = resolveScope(params.scope, client.scopes);
  } catch (error) {
    throw new AuthorizationError('invalid_scope', (error as InvalidScope).message);
  }
  const prompt = new Set<Prompt>();
  for (const value of (params.prompt ?? '').split(' ').filter(Boolean)) {
    if (!(PROMPTS as readonly string[]).includes(value))
      throw new AuthorizationError('invalid_request', `prompt ${value} is not supported`);
    prompt.add(value as Prompt);
  }
  if (prompt.has('none') && prompt.size > 1) throw new AuthorizationError('invalid_request', 'prompt=none cannot be combined');
  return {
    client,
    redirectUri,
    state: params.state,
    nonce: params.nonce,
    codeChallenge: params.code_challenge,
    scope,
    audiences: resolveAudiences(client, params.resource, (message) => new AuthorizationError('invalid_target', message)),
    prompt,
    maxAgeSeconds: params.max_age,
    loginHint: params.login_hint,
  };
}

/** RFC 8707: `resource` picks one of the client's audiences; without it, all of them. */
function resolveAudiences(
  client: Pick<ClientRow, 'audiences'>,
  resource: string | undefined,
  error: (message: string) => HttpError,
): string[] {
  if (resource === undefined) return client.audiences;
  if (!client.audiences.includes(resource)) throw error(`resource ${resource} is not one of this client’s audiences`);
  return [resource];
}

/** Must the user sign in (again) before this request is answered? */
export function needsLogin(request: AuthorizationRequest, signin: SigninSessionRow | undefined, now: number): boolean {
  if (!signin || request.prompt.has('login')) return true;
  return request.maxAgeSeconds !== undefined && now - signin.auth_time.getTime() > request.maxAgeSeconds * 1000;
}

/** Must the user consent? Never for a first-party client; else unless every scope was granted before. */
export async function needsConsent(service: TokenService, userId: string, request: AuthorizationRequest): Promise<boolean> {
  if (request.client.first_party) return false;
  if (request.prompt.has('consent')) return true;
  const consent = await findConsent(service.knex, userId, request.client.client_id);
  return !consent || request.scope.split(' ').some((scope) => !consent.scopes.includes(scope));
}

/** Issues the code for a signed-in user (stored by its hash, bound to everything above). */
export async function issueAuthorizationCode(
  service: TokenService,
  request: AuthorizationRequest,
  signin: SigninSessionRow,
  info: RequestInfo,
): Promise<string> {
  const code = await storeAuthorizationCode(service.knex, {
    client_id: request.client.client_id,
    user_id: signin.user_id,
    signin_session_id: signin.id,
    redirect_uri: request.redirectUri,
    code_challenge: request.codeChallenge,
    scope: request.scope,
    audiences: request.audiences,
    nonce: request.nonce ?? null,
    auth_time: signin.auth_time,
    expires_at: new Date(service.now() + service.config.AUTHORIZATION_CODE_TTL),
  });
  await recordAudit(service.knex, {
    type: 'authorization_code_issued',
    userId: signin.user_id,
    clientId: request.client.client_id,
    ip: info.ip,
    userAgent: info.userAgent,
    details: { signin_session: signin.id, scope: request.scope },
  });
  return code;
}

export interface CodeExchangeRequest {
  client: ClientRow;
  code: string;
  redirectUri: string;
  codeVerifier: string;
  resource: string | undefined;
  info: RequestInfo;
}

export type CodeExchangeResult =
  | {
      kind: 'issued';
      tokens: TokenResponse & { id_token?: string };
      /** The user's least recently used families revoked to stay within SESSIONS_PER_USER_MAX. */
      sessionsRevoked: number;
    }
  | { kind: 'refused'; error: HttpError; sessionsRevoked: number };

export async function authorizationCodeGrant(service: TokenService, request: CodeExchangeRequest): Promise<CodeExchangeResult> {
  const { client, info } = request;
  if (!client.grant_types.includes('authorization_code')) throw new UnauthorizedClient();
  const { config } = service;
  const now = service.now();
  // Refusals are returned, not thrown: what the transaction wrote (the code consumed, a replay's
  // revocation) must commit before the answer.
  const outcome = await service.knex.transaction(
    async (
      trx,
    ): Promise<
      | { kind: 'issued'; tokens: TokenResponse; code: AuthorizationCodeRow; signin: SigninSessionRow; sessionsRevoked: number }
      | { kind: 'refused'; error: HttpError; sessionsRevoked: number }
    > => {
      const refuse = (error: HttpError, sessionsRevoked = 0) => ({ kind: 'refused' as const, error, sessionsRevoked });
      const code = await lockAuthorizationCode(trx, request.code);
      if (!code) return refuse(new InvalidGrant());
      if (code.consumed_at !== null) {
        // A replay: whoever holds the code now may not be who redeemed it (RFC 6749 §4.1.2).
        const revoked = code.session_id
          ? await revokeSessions(trx, (q) => q.where({ id: code.session_id }), {
              reason: 'authorization_code_reuse',
              accessTokenLifetimeMs: config.ACCESS_TOKEN_TTL,
              now,
            })
          : [];
        await recordAudit(trx, {
          type: 'authorization_code_reused',
          userId: code.user_id,
          sessionId: code.session_id,
          clientId: client.client_id,
          ip: info.ip,
          userAgent: info.userAgent,
          details: { families_revoked: revoked.length },
        });
        service.logger.warn({ clientId: client.client_id, sessionId: code.session_id }, 'authorization code replayed; its family revoked');
        return refuse(new InvalidGrant(), revoked.length);
      }
      await consumeAuthorizationCode(trx, code.code_hash, new Date(now), null);
      if (code.client_id !== client.client_id) return refuse(new InvalidGrant('the code was issued to another client'));
      if (code.expires_at.getTime() <= now) return refuse(new InvalidGrant('the code has expired'));
      if (code.redirect_uri !== request.redirectUri)
        return refuse(new InvalidGrant('redirect_uri does not match the authorization request'));
      if (!verifierMatches(request.codeVerifier, code.code_challenge))
        return refuse(new InvalidGrant('code_verifier does not match the code_challenge'));
      let audiences: string[];
      try {
        // RFC 8707 §2.2: at the token endpoint, `resource` may only narrow what was authorized.
        audiences = resolveAudiences({ audiences: code.audiences }, request.resource, (message) => new InvalidTarget(message));
      } catch (error) {
        return refuse(error as HttpError);
      }
      const signin = await findSigninSession(trx, code.signin_session_id);
      if (!signin || signin.ended_at !== null) return refuse(new InvalidGrant('the sign-in has ended'));
      const user = await lockUser(trx, code.user_id);
      if (!user || user.disabled_at !== null) return refuse(new InvalidGrant());

      const { session, tokens, sessionsRevoked } = await startFamily(trx, service, {
        userId: user.id,
        clientId: client.client_id,
        scope: code.scope,
        audiences,
        tokensValidAfter: user.tokens_valid_after,
        info,
        signinSessionId: signin.id,
      });
      await consumeAuthorizationCode(trx, code.code_hash, new Date(now), session.id);
      await recordAudit(trx, {
        type: 'login_succeeded',
        userId: user.id,
        sessionId: session.id,
        clientId: client.client_id,
        ip: info.ip,
        userAgent: info.userAgent,
        details: { via: 'authorization_code', signin_session: signin.id },
      });
      return { kind: 'issued', tokens, code, signin, sessionsRevoked };
    },
  );
  if (outcome.kind === 'refused') return outcome;
  const { tokens, code, signin, sessionsRevoked } = outcome;
  if (!code.scope.split(' ').includes('openid')) return { kind: 'issued', tokens, sessionsRevoked };
  const idToken = await signIdToken(service.keys, {
    issuer: config.ISSUER,
    sub: code.user_id,
    clientId: client.client_id,
    authTime: signin.auth_time,
    nonce: code.nonce,
    sid: signin.id,
    accessToken: tokens.access_token,
    now: service.now(),
    lifetimeMs: config.ACCESS_TOKEN_TTL,
  });
  return { kind: 'issued', tokens: { ...tokens, id_token: idToken }, sessionsRevoked };
}
