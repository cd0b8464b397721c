// End to end: the authorization code flow driven by openid-client, a relying
// party none of us wrote, against the real token service and gateway. The test
// plays the browser: it reads the login form, posts the credentials with the
// CSRF token, and follows the redirects.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import * as jose from 'jose';
import * as oidc from 'openid-client';
import { sha256Hex } from '../../services/token/helpers/secrets.ts';
import { upsertClient } from '../../services/token/models/clients.ts';
import { TestBrowser, textOf, type Page } from '../support/browser.ts';
import { newUser, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';

const APP_A = { id: 'app-a', redirect: 'http://127.0.0.1/a/callback', signedOut: 'http://127.0.0.1/a/bye' };
const APP_B = { id: 'app-b', secret: 'app-b-secret-0123456789abcdefghijkl', redirect: 'https://b.example/callback' };
const THIRD = { id: 'third-party', redirect: 'https://third.example/cb' };

/** App B's back-channel logout endpoint: every logout token it receives, verified with jose as an app would. */
class LogoutReceiver {
  readonly received: Array<jose.JWTPayload & { sid?: string; events?: Record<string, unknown> }> = [];
  readonly problems: string[] = [];
  #server = http.createServer();
  url = '';

  async start(issuer: string): Promise<void> {
    const keys = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    this.#server.on('request', (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const token = new URLSearchParams(body).get('logout_token') ?? '';
        jose
          .jwtVerify(token, keys, { algorithms: ['RS256'], issuer, audience: APP_B.id, typ: 'logout+jwt' })
          .then(({ payload }) => {
            this.received.push(payload);
            res.writeHead(200).end();
          })
          .catch((error: Error) => {
            this.problems.push(error.message);
            res.writeHead(400).end();
          });
      });
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/backchannel-logout`;
  }

  close(): void {
    this.#server.close();
  }
}

describe('end to end: OpenID Connect sign-in with openid-client', function () {
  this.timeout(60_000);
  let stack: Stack;
  let T: string;
  let G: string;
  const logouts = new LogoutReceiver();

  before(async () => {
    stack = await startStack({
      gateway: {
        routes: {
          routes: [
            { id: 'whoami', prefix: '/whoami', upstream: '${WHOAMI_URL}', auth: 'required', audience: 'whoami' },
            { id: 'notes', prefix: '/notes', upstream: '${NOTES_URL}', auth: 'required', audience: 'notes' },
          ],
        },
      },
    });
    T = stack.issuer;
    G = stack.gateway.url;
    await logouts.start(T);
    const { knex } = stack.token.service;
    const base = { scopes: ['openid', 'profile', 'email', 'notes:read'], audiences: ['whoami', 'notes'] };
    await upsertClient(knex, {
      client_id: APP_A.id,
      name: 'App A',
      secret_hash: null,
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [APP_A.redirect],
      post_logout_redirect_uris: [APP_A.signedOut],
      first_party: true,
      ...base,
    });
    await upsertClient(knex, {
      client_id: APP_B.id,
      name: 'App B',
      secret_hash: sha256Hex(APP_B.secret),
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [APP_B.redirect],
      backchannel_logout_uri: logouts.url,
      first_party: true,
      ...base,
    });
    await upsertClient(knex, {
      client_id: THIRD.id,
      name: 'Third-party app',
      secret_hash: null,
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [THIRD.redirect],
      ...base,
    });
  });
  after(async () => {
    logouts.close();
    await stack?.stop();
  });

  async function user(): Promise<{ username: string; password: string; id: string }> {
    const fresh = newUser('oidc');
    const registered = await request<{ id: string }>(T, 'POST', '/auth/register', { json: fresh });
    expect(registered.status).to.equal(201);
    return { ...fresh, id: registered.body.id };
  }

  const configFor = (clientId: string, secret?: string) =>
    oidc.discovery(new URL(T), clientId, undefined, secret ? oidc.ClientSecretBasic(secret) : oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });

  /** An authorization request as openid-client builds it, with what the callback must be checked against. */
  async function authorizationRequest(config: oidc.Configuration, redirect: string, extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope: 'openid profile email notes:read',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url: url.href, verifier, state, nonce };
  }

  /** Signs in on the login page when it is shown; returns the redirect back to the app. */
  async function signInThrough(browser: TestBrowser, url: string, credentials?: { username: string; password: string }): Promise<Page> {
    let page = await browser.navigate(url, T);
    if (page.status === 200 && credentials && page.html.includes('name="password"')) {
      page = await browser.submit(page, { username: credentials.username, password: credentials.password });
    }
    return page;
  }

  const exchange = (config: oidc.Configuration, callback: string, request: { verifier: string; state: string; nonce: string }) =>
    oidc.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
      idTokenExpected: true,
    });

  it('signs in with PKCE, state and nonce: a validated ID token, userinfo, and tokens the gateway accepts', async () => {
    const alice = await user();
    const config = await configFor(APP_A.id);
    const browser = new TestBrowser();
    const request_ = await authorizationRequest(config, APP_A.redirect);
    const login = await browser.navigate(request_.url, T);
    expect(login.status).to.equal(200);
    expect(textOf(login.html, 'client-name')).to.equal('App A');
    expect(login.headers.get('cache-control')).to.equal('no-store');
    expect(login.headers.get('content-security-policy')).to.include("frame-ancestors 'none'");
    expect(login.headers.get('referrer-policy')).to.equal('no-referrer');

    const back = await browser.submit(login, { username: alice.username, password: alice.password });
    expect(back.status).to.equal(303);
    const callback = new URL(back.location as string);
    expect(`${callback.origin}${callback.pathname}`).to.equal(APP_A.redirect);
    expect(callback.searchParams.get('iss')).to.equal(T);
    expect(callback.searchParams.get('state')).to.equal(request_.state);

    const tokens = await exchange(config, callback.href, request_);
    const claims = tokens.claims() as jose.JWTPayload & Record<string, unknown>;
    expect(claims).to.include({ iss: T, sub: alice.id, aud: APP_A.id, nonce: request_.nonce });
    expect(claims.auth_time).to.be.a('number');
    expect(claims.sid).to.be.a('string');
    // OIDC Core §3.1.3.6: the left half of the access token's SHA-256.
    const digest = crypto.createHash('sha256').update(tokens.access_token).digest();
    expect(claims.at_hash).to.equal(digest.subarray(0, 16).toString('base64url'));
    expect(tokens.refresh_token).to.be.a('string');
    const info = await oidc.fetchUserInfo(config, tokens.access_token, alice.id);
    expect(info).to.include({ sub: alice.id, preferred_username: alice.username, email: `${alice.username}@example.com` });

    const access = jose.decodeJwt(tokens.access_token);
    expect(access).to.include({ sub: alice.id, client_id: APP_A.id });
    expect((await request(G, 'GET', '/whoami', { token: tokens.access_token })).status).to.equal(200);
    // The family remembers the sign-in it came from.
    const family = await stack.token.service.knex('sessions').where({ id: access.sid }).first();
    expect(family.signin_session_id).to.equal(claims.sid);
  });

  it('a replayed code is refused and revokes the family it issued, at the gateway too', async () => {
    const bob = await user();
    const config = await configFor(APP_A.id);
    const browser = new TestBrowser();
    const request_ = await authorizationRequest(config, APP_A.redirect);
    const back = await signInThrough(browser, request_.url, bob);
    const tokens = await exchange(config, back.location as string, request_);
    expect((await request(G, 'GET', '/whoami', { token: tokens.access_token })).status).to.equal(200);

    const code = new URL(back.location as string).searchParams.get('code') as string;
    const replay = await request(T, 'POST', '/oauth/token', {
      form: { grant_type: 'authorization_code', client_id: APP_A.id, code, redirect_uri: APP_A.redirect, code_verifier: request_.verifier },
    });
    expect(replay.status).to.equal(400);
    expect(replay.body.error).to.equal('invalid_grant');
    await eventually(async () => (await request(G, 'GET', '/whoami', { token: tokens.access_token })).status === 401, 'the family revoked');
    const refreshed = await request(T, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', client_id: APP_A.id, refresh_token: tokens.refresh_token as string },
    });
    expect(refreshed.status).to.equal(400);
    const audit = await stack.token.service.knex('audit_events').where({ type: 'authorization_code_reused', user_id: bob.id });
    expect(audit).to.have.length(1);
  });

  it('refuses a wrong PKCE verifier and a redirect_uri differing by a trailing slash, and burns the code', async () => {
    const carol = await user();
    const config = await configFor(APP_A.id);
    const browser = new TestBrowser();
    const request_ = await authorizationRequest(config, APP_A.redirect);
    const back = await signInThrough(browser, request_.url, carol);
    const code = new URL(back.location as string).searchParams.get('code') as string;
    const redeem = (fields: Record<string, string>) =>
      request(T, 'POST', '/oauth/token', {
        form: {
          grant_type: 'authorization_code',
          client_id: APP_A.id,
          code,
          redirect_uri: APP_A.redirect,
          code_verifier: request_.verifier,
          ...fields,
        },
      });
    const wrongVerifier = await redeem({ code_verifier: oidc.randomPKCECodeVerifier() });
    expect(wrongVerifier.status).to.equal(400);
    expect(wrongVerifier.body).to.deep.equal({
      error: 'invalid_grant',
      error_description: 'code_verifier does not match the code_challenge',
    });
    // Burnt: even the right verifier is now a replay.
    expect((await redeem({})).body.error).to.equal('invalid_grant');

    const second = await authorizationRequest(config, APP_A.redirect);
    const again = await signInThrough(browser, second.url);
    const secondCode = new URL(again.location as string).searchParams.get('code') as string;
    const slash = await request(T, 'POST', '/oauth/token', {
      form: {
        grant_type: 'authorization_code',
        client_id: APP_A.id,
        code: secondCode,
        redirect_uri: `${APP_A.redirect}/`,
        code_verifier: second.verifier,
      },
    });
    expect(slash.body).to.deep.equal({
      error: 'invalid_grant',
      error_description: 'redirect_uri does not match the authorization request',
    });

    // At the authorization endpoint, an unregistered redirect_uri is a page, never a redirect.
    const wrongTarget = await browser.fetch((await authorizationRequest(config, `${APP_A.redirect}/`)).url);
    expect(wrongTarget.status).to.equal(400);
    expect(wrongTarget.location).to.equal(undefined);
    expect(wrongTarget.html).to.include('redirect_uri is not registered for this client');
  });

  it('prompt=none answers login_required without a sign-in, and a code within one; state and iss on both', async () => {
    const dave = await user();
    const config = await configFor(APP_A.id);
    const browser = new TestBrowser();
    const silent = await authorizationRequest(config, APP_A.redirect, { prompt: 'none' });
    const refused = await browser.fetch(silent.url);
    expect(refused.status).to.equal(303);
    const error = new URL(refused.location as string).searchParams;
    expect(error.get('error')).to.equal('login_required');
    expect(error.get('state')).to.equal(silent.state);
    expect(error.get('iss')).to.equal(T);

    await signInThrough(browser, (await authorizationRequest(config, APP_A.redirect)).url, dave);
    const silentAgain = await authorizationRequest(config, APP_A.redirect, { prompt: 'none' });
    const granted = await browser.fetch(silentAgain.url);
    const answer = new URL(granted.location as string).searchParams;
    expect(answer.get('code')).to.be.a('string');
    expect(answer.get('state')).to.equal(silentAgain.state);
    expect(answer.get('iss')).to.equal(T);
    expect((await exchange(config, granted.location as string, silentAgain)).access_token).to.be.a('string');
  });

  it('single sign-on across two clients; end-session with id_token_hint ends both apps’ tokens at the gateway and tells B by back channel', async () => {
    const erin = await user();
    const browser = new TestBrowser();
    const configA = await configFor(APP_A.id);
    const requestA = await authorizationRequest(configA, APP_A.redirect);
    const tokensA = await exchange(configA, (await signInThrough(browser, requestA.url, erin)).location as string, requestA);

    // The second app signs in without the form.
    const configB = await configFor(APP_B.id, APP_B.secret);
    const requestB = await authorizationRequest(configB, APP_B.redirect);
    const backB = await browser.navigate(requestB.url, T);
    expect(backB.status, 'no login form the second time').to.equal(303);
    const tokensB = await exchange(configB, backB.location as string, requestB);
    expect(tokensB.claims()?.sid).to.equal(tokensA.claims()?.sid);
    for (const token of [tokensA.access_token, tokensB.access_token]) {
      expect((await request(G, 'GET', '/whoami', { token })).status).to.equal(200);
    }

    const endUrl = oidc.buildEndSessionUrl(configA, {
      id_token_hint: tokensA.id_token as string,
      post_logout_redirect_uri: APP_A.signedOut,
      state: 'bye-state',
    });
    const ended = await browser.fetch(endUrl.href);
    expect(ended.status).to.equal(303);
    expect(ended.location).to.equal(`${APP_A.signedOut}?state=bye-state`);
    for (const token of [tokensA.access_token, tokensB.access_token]) {
      await eventually(async () => (await request(G, 'GET', '/whoami', { token })).status === 401, 'both apps’ tokens refused');
    }
    // App B, which registered a back-channel logout URI, is told which sign-in ended (OIDC Back-Channel Logout 1.0).
    const sid = tokensB.claims()?.sid;
    await eventually(() => logouts.received.some((token) => token.sid === sid), 'a logout token for the sign-in reaches app B');
    const [logout] = logouts.received.filter((token) => token.sid === sid);
    expect(logout).to.include({ sub: erin.id, iss: T, aud: APP_B.id });
    expect(logout?.events).to.deep.equal({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(logout).not.to.have.property('nonce');
    expect(logouts.problems).to.deep.equal([]);
    // The sign-in ended too: the next authorization asks for the password again.
    const next = await browser.navigate((await authorizationRequest(configA, APP_A.redirect)).url, T);
    expect(next.status).to.equal(200);
    expect(next.html).to.include('name="password"');
  });

  it('end-session without an id_token_hint asks the user first: a cross-site GET logs no one out', async () => {
    const frank = await user();
    const browser = new TestBrowser();
    const config = await configFor(APP_A.id);
    const request_ = await authorizationRequest(config, APP_A.redirect);
    const tokens = await exchange(config, (await signInThrough(browser, request_.url, frank)).location as string, request_);

    const confirm = await browser.fetch(
      `${T}/oauth/end-session?client_id=${APP_A.id}&post_logout_redirect_uri=${encodeURIComponent(APP_A.signedOut)}`,
    );
    expect(confirm.status).to.equal(200);
    expect(confirm.html).to.include('Sign out?');
    expect((await request(G, 'GET', '/whoami', { token: tokens.access_token })).status, 'still signed in').to.equal(200);
    // A forged confirmation (no matching CSRF cookie) changes nothing.
    const forged = await new TestBrowser().fetch(`${T}/oauth/end-session`, { form: { csrf: 'x'.repeat(43), confirm: 'yes' } });
    expect(forged.status).to.equal(200);
    expect(forged.html).to.include('You are signed out'); // that browser had no sign-in to end
    expect((await request(G, 'GET', '/whoami', { token: tokens.access_token })).status, 'still signed in').to.equal(200);

    const done = await browser.submit(confirm, { confirm: 'yes' });
    expect(done.status).to.equal(303);
    expect(done.location).to.equal(APP_A.signedOut);
    await eventually(async () => (await request(G, 'GET', '/whoami', { token: tokens.access_token })).status === 401, 'tokens revoked');
  });

  it('a third-party client gets a consent page once; withdrawing the consent revokes its tokens', async () => {
    const grace = await user();
    const browser = new TestBrowser();
    const config = await configFor(THIRD.id);
    const first = await authorizationRequest(config, THIRD.redirect);
    const consent = await signInThrough(browser, first.url, grace);
    expect(consent.status).to.equal(200);
    expect(consent.html).to.include('Allow access?');
    for (const scope of ['openid', 'profile', 'email', 'notes:read']) expect(consent.html).to.include(`<li>${scope}</li>`);
    const allowed = await browser.submit(consent, { decision: 'allow' });
    const tokens = await exchange(config, allowed.location as string, first);

    // Remembered: the next request for the same scopes gets a code at once.
    const second = await authorizationRequest(config, THIRD.redirect);
    const again = await browser.navigate(second.url, T);
    expect(again.status).to.equal(303);
    expect(new URL(again.location as string).searchParams.get('code')).to.be.a('string');

    // A denial is redirected back as access_denied.
    const third = await authorizationRequest(config, THIRD.redirect, { prompt: 'consent' });
    const asked = await browser.navigate(third.url, T);
    const denied = await browser.submit(asked, { decision: 'deny' });
    expect(new URL(denied.location as string).searchParams.get('error')).to.equal('access_denied');

    // Withdrawn through the account API (a first-party token), the third party's tokens die.
    const account = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: grace.username, password: grace.password },
    });
    const listed = await request<{ consents: Array<{ client_id: string }> }>(T, 'GET', '/auth/consents', {
      token: account.body.access_token,
    });
    expect(listed.body.consents.map((c) => c.client_id)).to.deep.equal([THIRD.id]);
    expect((await request(T, 'DELETE', `/auth/consents/${THIRD.id}`, { token: account.body.access_token })).status).to.equal(204);
    await eventually(async () => (await request(G, 'GET', '/whoami', { token: tokens.access_token })).status === 401, 'revoked');
    const asksAgain = await browser.navigate((await authorizationRequest(config, THIRD.redirect)).url, T);
    expect(asksAgain.html).to.include('Allow access?');
  });

  it('resource selects one audience: the gateway lets the token into that route only', async () => {
    const heidi = await user();
    const browser = new TestBrowser();
    const config = await configFor(APP_A.id);
    const request_ = await authorizationRequest(config, APP_A.redirect, { resource: 'notes' });
    const tokens = await exchange(config, (await signInThrough(browser, request_.url, heidi)).location as string, request_);
    expect(jose.decodeJwt(tokens.access_token).aud).to.equal('notes');
    expect((await request(G, 'GET', '/notes', { token: tokens.access_token })).status).to.equal(200);
    expect((await request(G, 'GET', '/whoami', { token: tokens.access_token })).status).to.equal(401);

    const unknown = await authorizationRequest(config, APP_A.redirect, { resource: 'billing' });
    const refused = await browser.fetch(unknown.url);
    expect(new URL(refused.location as string).searchParams.get('error')).to.equal('invalid_target');
  });

  it('a global logout ends the browser’s sign-in too; HEAD never issues a code', async () => {
    const ivan = await user();
    const browser = new TestBrowser();
    const config = await configFor(APP_A.id);
    await signInThrough(browser, (await authorizationRequest(config, APP_A.redirect)).url, ivan);
    const silent = await authorizationRequest(config, APP_A.redirect, { prompt: 'none' });
    const head = await browser.fetch(silent.url, { method: 'HEAD' });
    expect(head.status).to.equal(405);
    expect(head.location).to.equal(undefined);
    expect((await browser.fetch(`${T}/oauth/end-session`, { method: 'HEAD' })).status, 'end-session acts on GET too').to.equal(405);
    expect(new URL((await browser.fetch(silent.url)).location as string).searchParams.get('code'), 'signed in').to.be.a('string');

    const account = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: ivan.username, password: ivan.password },
    });
    expect((await request(T, 'POST', '/auth/logout', { token: account.body.access_token, json: { scope: 'global' } })).status).to.equal(
      204,
    );
    const after = await browser.fetch((await authorizationRequest(config, APP_A.redirect, { prompt: 'none' })).url);
    expect(new URL(after.location as string).searchParams.get('error'), 'the sign-in ended with the global logout').to.equal(
      'login_required',
    );
  });

  it('the account lists sign-in sessions with the apps signed in through each, and ending one ends them all', async () => {
    const judy = await user();
    const browser = new TestBrowser();
    const configA = await configFor(APP_A.id);
    const requestA = await authorizationRequest(configA, APP_A.redirect);
    const tokensA = await exchange(configA, (await signInThrough(browser, requestA.url, judy)).location as string, requestA);
    const configB = await configFor(APP_B.id, APP_B.secret);
    const requestB = await authorizationRequest(configB, APP_B.redirect);
    const tokensB = await exchange(configB, (await browser.navigate(requestB.url, T)).location as string, requestB);

    const account = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: judy.username, password: judy.password },
    });
    const listed = await request<{ signin_sessions: Array<{ id: string; apps: string[]; current: boolean }> }>(
      T,
      'GET',
      '/auth/signin-sessions',
      {
        token: account.body.access_token,
      },
    );
    expect(listed.status).to.equal(200);
    expect(listed.body.signin_sessions).to.have.length(1);
    const [signin] = listed.body.signin_sessions;
    expect(signin?.id).to.equal(tokensA.claims()?.sid);
    expect(signin?.apps).to.have.members([APP_A.id, APP_B.id]);
    expect(signin?.current, 'the account token came from the API, not this sign-in').to.equal(false);

    expect((await request(T, 'DELETE', `/auth/signin-sessions/${signin?.id}`, { token: account.body.access_token })).status).to.equal(204);
    for (const token of [tokensA.access_token, tokensB.access_token]) {
      await eventually(async () => (await request(G, 'GET', '/whoami', { token })).status === 401, 'both apps’ tokens refused');
    }
    expect((await request(G, 'GET', '/whoami', { token: account.body.access_token })).status, 'the API session is another one').to.equal(
      200,
    );
    const next = await browser.navigate((await authorizationRequest(configA, APP_A.redirect)).url, T);
    expect(next.html).to.include('name="password"');
  });
});
