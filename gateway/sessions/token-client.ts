// The gateway as a confidential OAuth client of the token service, for cookie
// sessions: the code exchange, refresh, RFC 7009 revocation, global logout and
// RP-initiated logout. Speaks only the wire contract (RFC 6749, OIDC), never
// the token service's modules. The gateway's client does not rotate refresh
// tokens (the token service's per-client policy), so several gateway
// instances may refresh one session at once.
import { errors, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { FORBIDDEN_JOSE_HEADERS } from '../../contract/access-token.ts';
import type { IssuerMetadata } from '../keys/discovery.ts';
import { basicAuthorization } from '../lib/fetch-json.ts';

export interface TokenSet {
  accessToken: string;
  /** Undefined when the client keeps the one it has (no rotation). */
  refreshToken: string | undefined;
  idToken: string | undefined;
}

/** The token service refused the grant: the session is over (revoked, expired, user disabled). */
export class SessionEnded extends Error {}

export interface TokenClientOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  keys: { resolve(kid: string): Promise<CryptoKey | undefined> };
  timeoutMs?: number;
}

export class TokenClient {
  readonly #options: TokenClientOptions;
  #metadata: IssuerMetadata | undefined;

  constructor(options: TokenClientOptions) {
    this.#options = options;
  }

  /** Set once discovery has run (startup.ts). */
  set metadata(metadata: IssuerMetadata) {
    this.#metadata = metadata;
  }

  get ready(): boolean {
    return this.#metadata?.authorizationEndpoint !== undefined;
  }

  #endpoints(): IssuerMetadata {
    if (!this.#metadata) throw new Error('the token service has not been discovered yet');
    return this.#metadata;
  }

  /** Where the browser is sent to sign in. */
  authorizationUrl(params: Record<string, string>): string {
    const endpoint = this.#endpoints().authorizationEndpoint;
    if (!endpoint) throw new Error('the token service has no authorization endpoint');
    const url = new URL(endpoint);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    url.searchParams.set('client_id', this.#options.clientId);
    return url.href;
  }

  /** `browser`: who signed in, so that the user's devices list names their browser, not the gateway. */
  async exchangeCode(fields: {
    code: string;
    redirectUri: string;
    codeVerifier: string;
    browser: { userAgent: string | undefined; address: string | undefined };
  }): Promise<TokenSet> {
    const headers: Record<string, string> = {};
    if (fields.browser.userAgent) headers['user-agent'] = fields.browser.userAgent.slice(0, 512);
    if (fields.browser.address) headers['x-forwarded-for'] = fields.browser.address;
    return this.#grant(
      { grant_type: 'authorization_code', code: fields.code, redirect_uri: fields.redirectUri, code_verifier: fields.codeVerifier },
      headers,
    );
  }

  async refresh(refreshToken: string): Promise<TokenSet> {
    return this.#grant({ grant_type: 'refresh_token', refresh_token: refreshToken });
  }

  /**
   * RFC 7009: a refresh token revokes its family, durably before the token service answers 200
   * (§2.2: also for a token already revoked). Anything else is a revocation that did not happen.
   */
  async revoke(refreshToken: string): Promise<void> {
    const endpoint = this.#endpoints().revocationEndpoint;
    if (!endpoint) throw new Error('the token service has no revocation endpoint');
    const response = await this.#post(endpoint, { token: refreshToken, token_type_hint: 'refresh_token' }, { client: true });
    await response.body?.cancel();
    if (response.status !== 200) throw new Error(`revocation answered ${response.status}`);
  }

  /**
   * Every session of the user, with their access token (the token service's account API). Only
   * 204 is done; the token service also answers 204, doing nothing, for a session already
   * revoked, so the caller checks the denylist first.
   */
  async logoutEverywhere(accessToken: string): Promise<void> {
    const url = new URL('/auth/logout', this.#endpoints().tokenEndpoint).href;
    const response = await this.#post(url, { scope: 'global' }, { bearer: accessToken });
    await response.body?.cancel();
    if (response.status !== 204) throw new Error(`global logout answered ${response.status}`);
  }

  /**
   * OIDC RP-initiated logout with an id_token_hint: the sign-in session ends, so the next sign-in
   * asks for the password. False when the token service refuses the hint (4xx: no retry helps);
   * throws when it could not answer.
   */
  async endSignIn(idToken: string): Promise<boolean> {
    const endpoint = this.#endpoints().endSessionEndpoint;
    if (!endpoint) return false;
    const url = new URL(endpoint);
    url.searchParams.set('id_token_hint', idToken);
    const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000) });
    await response.body?.cancel();
    if (response.status >= 500) throw new Error(`end-session answered ${response.status}`);
    return response.status < 400;
  }

  /** The user's claims (name) for the session endpoint. */
  async userinfo(accessToken: string): Promise<Record<string, unknown>> {
    const endpoint = this.#endpoints().userinfoEndpoint;
    if (!endpoint) return {};
    const response = await fetch(endpoint, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
    });
    if (!response.ok) throw new Error(`userinfo answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  }

  /**
   * OIDC Core §3.1.3.7: an ID token of our issuer, for us, with the nonce we
   * sent, RS256 by one of the issuer's keys. Returns its claims.
   */
  async validateIdToken(idToken: string, nonce: string): Promise<JWTPayload & { sid?: string }> {
    const { payload } = await jwtVerify(
      idToken,
      async (header) => {
        const key = typeof header.kid === 'string' ? await this.#options.keys.resolve(header.kid) : undefined;
        if (!key || FORBIDDEN_JOSE_HEADERS.some((name) => name in header)) throw new errors.JWKSNoMatchingKey();
        return key;
      },
      {
        algorithms: ['RS256'],
        issuer: this.#options.issuer,
        audience: this.#options.clientId,
        requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
      },
    );
    if (payload.nonce !== nonce) throw new errors.JWTClaimValidationFailed('nonce mismatch', payload, 'nonce');
    return payload;
  }

  async #grant(params: Record<string, string>, headers: Record<string, string> = {}): Promise<TokenSet> {
    const response = await this.#post(this.#endpoints().tokenEndpoint, params, { client: true, headers });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    // Only invalid_grant says the family is over. unauthorized_client is the client's configuration
    // (its grant types), which an operator may be fixing: not a reason to end every session it serves.
    if (response.status === 400 && body.error === 'invalid_grant') throw new SessionEnded(String(body.error));
    if (!response.ok || typeof body.access_token !== 'string') {
      throw new Error(`the token endpoint answered ${response.status}${typeof body.error === 'string' ? ` ${body.error}` : ''}`);
    }
    return {
      accessToken: body.access_token,
      refreshToken: typeof body.refresh_token === 'string' ? body.refresh_token : undefined,
      idToken: typeof body.id_token === 'string' ? body.id_token : undefined,
    };
  }

  async #post(
    url: string,
    form: Record<string, string>,
    auth: { client?: boolean; bearer?: string; headers?: Record<string, string> },
  ): Promise<Response> {
    const headers: Record<string, string> = {
      ...auth.headers,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (auth.client) headers.authorization = basicAuthorization(this.#options.clientId, this.#options.clientSecret);
    if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
    return fetch(url, {
      method: 'POST',
      headers,
      body: new URLSearchParams(form).toString(),
      redirect: 'error',
      signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
    });
  }
}
