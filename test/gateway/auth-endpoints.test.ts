// The gateway's /.auth endpoints against a token service that misbehaves on
// purpose (a small HTTP server answering what each test needs): a logout the
// token service did not carry out is never reported as done, and a session
// that cannot be checked for a while is not signed out.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createLogger } from '../../common/logger.ts';
import { invalidToken, temporarilyUnavailable } from '../../gateway/pipeline/rejection.ts';
import { authEndpoints, type Judgement } from '../../gateway/sessions/auth-endpoints.ts';
import type { CookieSessions } from '../../gateway/sessions/cookie-sessions.ts';
import { testCookieSessions, unsignedAccessToken } from './helpers/cookie-sessions.ts';
import { TokenClient } from '../../gateway/sessions/token-client.ts';
import type { VerifiedClaims } from '../../gateway/tokens/claims.ts';

const accessToken = unsignedAccessToken;

async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('gateway: /.auth endpoints when the token service fails', () => {
  const silent = createLogger({ name: 'test', level: 'silent' });
  /** What the fake token service answers, per path; every request is recorded. */
  let answers: Record<string, number>;
  /** The OAuth error of a refused refresh. */
  let tokenError: string;
  const seen: string[] = [];
  let tokenService: Awaited<ReturnType<typeof listen>>;
  let gateway: Awaited<ReturnType<typeof listen>>;
  let judgement: Judgement;
  let sessions: CookieSessions;

  before(async () => {
    tokenService = await listen((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      seen.push(`${req.method} ${path}`);
      req.resume();
      const status = answers[path] ?? 404;
      res.writeHead(status, { 'content-type': 'application/json' });
      // A refresh answers a fresh access token of the subject the refresh token names (rt-<sub>).
      if (path === '/oauth/token' && status === 200) res.end(JSON.stringify({ access_token: accessToken('renewed', 900) }));
      else if (path === '/oauth/token') res.end(JSON.stringify({ error: tokenError }));
      else res.end(status === 200 || status === 204 ? '' : '{"error":"server_error"}');
    });
    const client = new TokenClient({
      issuer: tokenService.url,
      clientId: 'gateway',
      clientSecret: 'secret',
      keys: { resolve: async () => undefined },
    });
    client.metadata = {
      issuer: tokenService.url,
      jwksUri: `${tokenService.url}/jwks`,
      revocationFeedEndpoint: `${tokenService.url}/revocations`,
      revocationStreamEndpoint: `${tokenService.url}/revocations/stream`,
      authorizationEndpoint: `${tokenService.url}/oauth/authorize`,
      tokenEndpoint: `${tokenService.url}/oauth/token`,
      revocationEndpoint: `${tokenService.url}/oauth/revoke`,
      userinfoEndpoint: undefined,
      endSessionEndpoint: `${tokenService.url}/oauth/end-session`,
    };
    sessions = testCookieSessions(client);
    const handle = authEndpoints({
      prefix: '/.auth',
      publicUrl: 'http://127.0.0.1',
      issuer: tokenService.url,
      scopes: 'openid',
      sessions,
      client,
      allowedOrigins: new Set(),
      judge: async () => judgement,
      logger: silent,
    });
    gateway = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      void handle(req, res, url.pathname, url.search.slice(1));
    });
  });
  after(async () => {
    await gateway?.close();
    await tokenService?.close();
  });
  beforeEach(() => {
    seen.length = 0;
    tokenError = 'invalid_grant';
    answers = { '/oauth/token': 200, '/oauth/revoke': 200, '/oauth/end-session': 200, '/auth/logout': 204 };
    judgement = { ok: true, claims: { sub: 'someone', scopes: ['openid'] } as unknown as VerifiedClaims };
  });

  /** A session cookie; `lifetimeSeconds` below the 60 s refresh margin makes it due for renewal. */
  const cookieFor = (sub: string, lifetimeSeconds = 3600) => {
    const setCookie = sessions.setCookie(
      sessions.create({ accessToken: accessToken(sub, lifetimeSeconds), refreshToken: `rt-${sub}`, idToken: 'id-token' }, sub),
    );
    return setCookie.slice(0, setCookie.indexOf(';'));
  };
  const logout = (cookie: string, scope: 'local' | 'global') =>
    fetch(`${gateway.url}/.auth/logout`, {
      method: 'POST',
      headers: { cookie, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
      body: JSON.stringify({ scope }),
    });
  const clearsCookie = (response: Response) => response.headers.getSetCookie().some((line) => line.startsWith('session=;'));

  it('signs out only once the token service has revoked; a failed revocation is a 502 that keeps the cookie', async () => {
    answers['/oauth/revoke'] = 503;
    const refused = await logout(cookieFor('ann'), 'local');
    expect(refused.status).to.equal(502);
    expect(clearsCookie(refused), 'the session is still active: the cookie stays').to.equal(false);
    expect(seen).to.deep.equal(['POST /oauth/revoke']);

    answers['/oauth/revoke'] = 200;
    const done = await logout(cookieFor('ann'), 'local');
    expect(done.status).to.equal(204);
    expect(clearsCookie(done)).to.equal(true);
    expect(seen.slice(1)).to.deep.equal(['POST /oauth/revoke', 'GET /oauth/end-session']);
  });

  it('never reports "signed out everywhere" unless the token service did it', async () => {
    answers['/auth/logout'] = 500;
    const failed = await logout(cookieFor('bea'), 'global');
    expect(failed.status).to.equal(502);
    expect(clearsCookie(failed)).to.equal(false);
    expect(seen).to.deep.equal(['POST /auth/logout']);

    answers['/auth/logout'] = 401; // a token it would not take (e.g. expired on its clock): not done, and not a dead session
    const notTaken = await logout(cookieFor('bea'), 'global');
    expect(notTaken.status).to.equal(502);
    expect(clearsCookie(notTaken)).to.equal(false);

    // Revoked by the denylist: the token service would answer 204 and do nothing, so it is not asked.
    seen.length = 0;
    judgement = { ok: false, ended: true, rejection: invalidToken('session revoked') };
    const ended = await logout(cookieFor('bea'), 'global');
    expect(ended.status).to.equal(401);
    expect(((await ended.json()) as { error_description: string }).error_description).to.include('sign in again');
    expect(clearsCookie(ended)).to.equal(true);
    expect(seen).to.deep.equal([]);
  });

  it('renews a token due for renewal before signing out everywhere with it, not in the background', async () => {
    const done = await logout(cookieFor('dee', 30), 'global');
    expect(done.status).to.equal(204);
    expect(seen).to.deep.equal(['POST /oauth/token', 'POST /auth/logout', 'POST /oauth/revoke', 'GET /oauth/end-session']);

    seen.length = 0;
    answers['/oauth/token'] = 400; // invalid_grant: the session is over
    const ended = await logout(cookieFor('dot', 30), 'global');
    expect(ended.status).to.equal(401);
    expect(clearsCookie(ended)).to.equal(true);
    expect(seen).to.deep.equal(['POST /oauth/token']);

    // unauthorized_client is the gateway client's configuration, not the end of this session.
    seen.length = 0;
    tokenError = 'unauthorized_client';
    const misconfigured = await logout(cookieFor('dan', 30), 'global');
    expect(misconfigured.status).to.equal(503);
    expect(clearsCookie(misconfigured), 'the session is not signed out').to.equal(false);
    answers['/oauth/token'] = 200; // the operator fixed it: the same session renews, nothing remembered it as ended
    expect((await logout(cookieFor('dan', 30), 'global')).status).to.equal(204);
  });

  it('stands by a confirmed revocation when the token service refuses the end-session hint; retries when it could not answer', async () => {
    answers['/oauth/end-session'] = 400; // e.g. an ID token signed by a key retired since
    const stands = await logout(cookieFor('eve'), 'local');
    expect(stands.status).to.equal(204);
    expect(clearsCookie(stands)).to.equal(true);

    answers['/oauth/end-session'] = 503;
    const retry = await logout(cookieFor('eve'), 'local');
    expect(retry.status).to.equal(502);
    expect(((await retry.json()) as { error_description: string }).error_description).to.include('signed out here');
  });

  it('answers /session 503 and keeps the cookie while the session cannot be checked; clears it once it is revoked', async () => {
    const cookie = cookieFor('cy');
    const session = (): Promise<Response> => fetch(`${gateway.url}/.auth/session`, { headers: { cookie } });

    judgement = { ok: false, ended: false, rejection: temporarilyUnavailable('revocation feed not synced') };
    const unsure = await session();
    expect(unsure.status).to.equal(503);
    expect(clearsCookie(unsure)).to.equal(false);

    judgement = { ok: false, ended: false, rejection: invalidToken('unknown signing key') };
    const refusedToken = await session();
    expect(await refusedToken.json()).to.deep.equal({ signed_in: false });
    expect(clearsCookie(refusedToken), 'a refused token is not a revoked session').to.equal(false);

    judgement = { ok: true, claims: { sub: 'cy', scopes: ['openid'] } as unknown as VerifiedClaims };
    expect(await (await session()).json()).to.include({ signed_in: true, sub: 'cy' });

    judgement = { ok: false, ended: true, rejection: invalidToken('session revoked') };
    const revoked = await session();
    expect(await revoked.json()).to.deep.equal({ signed_in: false });
    expect(clearsCookie(revoked)).to.equal(true);
  });
});
