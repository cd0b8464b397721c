// Attacks on browser sign-in (/oauth/authorize, the login, consent and logout
// pages, /oauth/end-session, the code exchange): open redirects through every
// parameter that carries a URL, login/consent/logout CSRF, script injection
// into every displayed value, the pages' headers and cookies, the code's
// bindings and lifetime, and that no code or sign-in cookie is stored or
// logged in plain form. The happy paths are test/e2e/oidc-flow.test.ts.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { createLogger } from '../../common/logger.ts';
import { s256Challenge } from '../../services/token/helpers/pkce.ts';
import { randomToken, sha256Hex } from '../../services/token/helpers/secrets.ts';
import { purgeExpired, purgeOptions } from '../../services/token/models/cleanup.ts';
import { upsertClient } from '../../services/token/models/clients.ts';
import { registerUser } from '../../services/token/models/users.ts';
import { rowCounts } from '../fuzz/support.ts';
import { TestBrowser, textOf, type Page } from '../support/browser.ts';
import { newUser, request } from '../support/http.ts';
import { LogCapture } from '../support/log-capture.ts';
import { testClock, useTestTokenService } from '../support/token-service.ts';

const SCRIPT = '<script>alert(1)</script>';
const ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';

const APP = {
  id: 'sec-app',
  name: `App ${SCRIPT}`,
  redirect: 'https://app.example/cb',
  loopback4: 'http://127.0.0.1/cb',
  loopback6: 'http://[::1]/cb',
  localhost: 'http://localhost:3000/cb',
  signedOut: 'https://app.example/bye',
};
const THIRD = { id: 'sec-third', name: `Third ${SCRIPT}`, redirect: 'https://third.example/cb', oddScope: SCRIPT.replace(/ /g, '') };
const OTHER = { id: 'sec-other', redirect: 'https://other.example/cb', signedOut: 'https://other.example/bye' };

describe('security: browser sign-in attacks', function () {
  this.timeout(90_000);
  const clock = testClock();
  const logs = new LogCapture();
  const token = useTestTokenService(() => ({
    now: clock.now,
    logger: createLogger({ name: 'token-service', level: 'trace', destination: logs }),
  }));
  let T: string;
  const signinCookie = '__Host-signin';
  const csrfCookie = '__Host-csrf';

  before(async () => {
    T = token.url;
    const { knex } = token.service;
    const common = {
      secret_hash: null,
      grant_types: ['authorization_code' as const, 'refresh_token' as const],
      audiences: ['notes', 'whoami'],
    };
    await upsertClient(knex, {
      ...common,
      client_id: APP.id,
      name: APP.name,
      scopes: ['openid', 'profile', 'notes:read'],
      redirect_uris: [APP.redirect, APP.loopback4, APP.loopback6, APP.localhost],
      post_logout_redirect_uris: [APP.signedOut],
      first_party: true,
    });
    await upsertClient(knex, {
      ...common,
      client_id: THIRD.id,
      name: THIRD.name,
      scopes: ['openid', THIRD.oddScope],
      redirect_uris: [THIRD.redirect],
    });
    await upsertClient(knex, {
      ...common,
      client_id: OTHER.id,
      name: 'Other app',
      scopes: ['openid', 'notes:read'],
      redirect_uris: [OTHER.redirect],
      post_logout_redirect_uris: [OTHER.signedOut],
      first_party: true,
    });
  });

  async function user(prefix = 'sec'): Promise<{ username: string; password: string; id: string }> {
    const fresh = newUser(prefix);
    const registered = await request<{ id: string }>(T, 'POST', '/auth/register', { json: fresh });
    expect(registered.status).to.equal(201);
    return { ...fresh, id: registered.body.id };
  }

  interface AuthorizationRequest {
    url: string;
    verifier: string;
    state: string;
  }

  /** An authorization request; `params` overrides or (with undefined) removes the defaults. */
  function authorize(clientId: string, redirectUri: string, params: Record<string, string | undefined> = {}): AuthorizationRequest {
    const verifier = randomToken(32);
    const state = randomToken(16);
    const query = new URLSearchParams();
    const all: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirectUri,
      scope: 'openid',
      state,
      code_challenge: s256Challenge(verifier),
      code_challenge_method: 'S256',
      ...params,
    };
    for (const [name, value] of Object.entries(all)) if (value !== undefined) query.set(name, value);
    return { url: `${T}/oauth/authorize?${query.toString()}`, verifier, state };
  }

  /** Signs in on the login page (which must be shown); the answer to the form. */
  async function signIn(browser: TestBrowser, url: string, credentials: { username: string; password: string }): Promise<Page> {
    const login = await browser.navigate(url, T);
    expect(login.status, login.html.slice(0, 300)).to.equal(200);
    expect(login.html).to.include('name="password"');
    return browser.submit(login, { username: credentials.username, password: credentials.password });
  }

  const codeOf = (page: Page): string => {
    expect(page.status, page.html.slice(0, 300)).to.equal(303);
    const code = new URL(page.location as string).searchParams.get('code');
    expect(code, page.location).to.be.a('string');
    return code as string;
  };

  const exchange = (clientId: string, redirectUri: string, code: string, verifier: string, extra: Record<string, string> = {}) =>
    request<Record<string, string>>(T, 'POST', '/oauth/token', {
      form: { grant_type: 'authorization_code', client_id: clientId, redirect_uri: redirectUri, code, code_verifier: verifier, ...extra },
    });

  const count = async (table: string, where: Record<string, unknown> = {}): Promise<number> => {
    const [row] = await token.service.knex(table).where(where).count({ n: '*' });
    return Number(row?.n);
  };

  /** A form post with exactly these cookies (TestBrowser sends its whole jar). */
  async function postWithCookies(url: string, form: Record<string, string>, cookies: Record<string, string[]>): Promise<Page> {
    const cookie = Object.entries(cookies)
      .flatMap(([name, values]) => values.map((value) => `${name}=${value}`))
      .join('; ');
    return new TestBrowser().fetch(url, { form, headers: { cookie } });
  }

  /** An error page: HTML, 400, and no redirect anywhere. */
  const expectErrorPage = (page: Page, what: string) => {
    expect(page.status, `${what}: ${page.location ?? page.html.slice(0, 200)}`).to.equal(400);
    expect(page.location, what).to.equal(undefined);
    expect(page.headers.get('content-type'), what).to.match(/^text\/html/);
    expect(page.html, what).not.to.include('<form');
  };

  describe('open redirects: a test per parameter that carries a URL', () => {
    const unregistered: Array<[string, string]> = [
      ['another host', 'https://evil.example/cb'],
      ['a host differing by case', 'https://APP.example/cb'],
      ['a scheme differing by case', 'HTTPS://app.example/cb'],
      ['a trailing slash', `${APP.redirect}/`],
      ['an extra query', `${APP.redirect}?next=https://evil.example`],
      ['a fragment', `${APP.redirect}#https://evil.example`],
      ['an empty fragment', `${APP.redirect}#`],
      ['javascript:', 'javascript:alert(document.cookie)//https://app.example/cb'],
      ['data:', 'data:text/html,<script>alert(1)</script>'],
      ['protocol-relative //evil', '//evil.example/cb'],
      ['a relative path', '/cb'],
      ['userinfo https://good@evil', 'https://app.example@evil.example/cb'],
      ['userinfo in the registered origin', 'https://evil.example@app.example/cb'],
      ['a backslash', 'https://evil.example\\@app.example/cb'],
      ['an encoded path', 'https://app.example/%63b'],
      ['a dot segment', 'https://app.example/x/../cb'],
      ['a leading space', ` ${APP.redirect}`],
      ['a NUL', `${APP.redirect}%00`],
      ['localhost on another port (the loopback exception is for IP literals)', 'http://localhost:4000/cb'],
      ['localhost without a port', 'http://localhost/cb'],
      ['a loopback on another path', 'http://127.0.0.1:5000/other'],
      ['a loopback path prefix', 'http://127.0.0.1:5000/cb/more'],
      ['another loopback address', 'http://127.0.0.2:5000/cb'],
      ['an out-of-range loopback port', 'http://127.0.0.1:99999/cb'],
      ['an IPv6 loopback out-of-range port', 'http://[::1]:65536/cb'],
      ['https on the loopback', 'https://127.0.0.1:5000/cb'],
      ['another client’s redirect_uri', OTHER.redirect],
    ];
    for (const [what, redirectUri] of unregistered) {
      it(`redirect_uri with ${what}: an error page, never a redirect (also for an otherwise bad request)`, async () => {
        const browser = new TestBrowser();
        expectErrorPage(await browser.fetch(authorize(APP.id, redirectUri).url), what);
        // An error that would be redirected once the target is good is not redirected to a bad one.
        expectErrorPage(await browser.fetch(authorize(APP.id, redirectUri, { response_type: 'token', prompt: 'none' }).url), what);
        const posted = await browser.fetch(`${T}/oauth/authorize`, {
          form: { response_type: 'code', client_id: APP.id, redirect_uri: redirectUri, scope: 'bogus' },
        });
        expectErrorPage(posted, `${what} (POST)`);
      });
    }

    it('redirect_uri missing, repeated, or for an unknown client: an error page', async () => {
      const browser = new TestBrowser();
      expectErrorPage(await browser.fetch(authorize(APP.id, APP.redirect, { redirect_uri: undefined }).url), 'missing');
      expectErrorPage(
        await browser.fetch(`${authorize(APP.id, APP.redirect).url}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`),
        'repeated',
      );
      expectErrorPage(await browser.fetch(`${authorize(APP.id, APP.redirect).url}&client_id=${OTHER.id}`), 'client_id repeated');
      expectErrorPage(await browser.fetch(authorize('no-such-client', APP.redirect).url), 'unknown client');
      expectErrorPage(await browser.fetch(authorize(`${APP.id} `, APP.redirect).url), 'client_id with a space');
      expectErrorPage(await browser.fetch(authorize(`${APP.id}\u0000`, APP.redirect).url), 'client_id with a NUL');
      expectErrorPage(await browser.fetch(`${T}/oauth/end-session?client_id=%00`), 'end-session client_id with a NUL');
    });

    it('the loopback exception: any port on a registered 127.0.0.1 or [::1] redirect, nothing else', async () => {
      const alice = await user();
      for (const [registered, requested] of [
        [APP.loopback4, 'http://127.0.0.1:49152/cb'],
        [APP.loopback6, 'http://[::1]:8080/cb'],
      ] as const) {
        const browser = new TestBrowser();
        const flow = authorize(APP.id, requested);
        const back = await signIn(browser, flow.url, alice);
        expect(back.location, registered).to.match(new RegExp(`^${requested.replace(/[.[\]]/g, '\\$&')}\\?code=`));
        const tokens = await exchange(APP.id, requested, codeOf(back), flow.verifier);
        expect(tokens.status, JSON.stringify(tokens.body)).to.equal(200);
      }
    });

    it('a redirect_uri the code was not issued for is refused at the token endpoint (even another loopback port)', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize(APP.id, 'http://127.0.0.1:49152/cb');
      const code = codeOf(await signIn(browser, flow.url, alice));
      const other = await exchange(APP.id, 'http://127.0.0.1:49153/cb', code, flow.verifier);
      expect(other.status).to.equal(400);
      expect(other.body.error).to.equal('invalid_grant');
    });

    it('the login form posts to this endpoint only, whatever the request carries, and its redirect goes to the registered URI', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize(APP.id, APP.redirect, {
        action: 'https://evil.example/steal',
        form_action: 'https://evil.example/steal',
        redirect_to: 'https://evil.example/',
      });
      const login = await browser.fetch(flow.url);
      expect(login.status).to.equal(200);
      const action = /<form method="post" action="([^"]*)">/.exec(login.html)?.[1] as string;
      expect(action.startsWith('/oauth/authorize?'), action).to.equal(true);
      expect(action).not.to.include('evil');
      expect(login.headers.get('content-security-policy')).to.include("form-action 'self' https://app.example;");
      // A redirect_uri smuggled into the posted form is not the one answered to.
      const back = await browser.submit(login, {
        username: alice.username,
        password: alice.password,
        redirect_uri: 'https://evil.example/cb',
        client_id: OTHER.id,
      });
      expect(new URL(back.location as string).origin).to.equal('https://app.example');
      expect(back.location?.startsWith(`${APP.redirect}?`)).to.equal(true);
    });

    it('a tampered form target (the query of the form post) is checked like any authorization request', async () => {
      const browser = new TestBrowser();
      const login = await browser.fetch(authorize(APP.id, APP.redirect).url);
      const csrf = browser.cookies(T).get(csrfCookie) as string;
      const tampered = await browser.fetch(authorize(APP.id, 'https://evil.example/cb').url, {
        form: { action: 'login', csrf, username: 'x', password: 'y' },
      });
      expect(login.status).to.equal(200);
      expectErrorPage(tampered, 'tampered form target');
    });

    it('resource: a URL that is not one of the client’s audiences is invalid_target, redirected to the registered URI only', async () => {
      const browser = new TestBrowser();
      const back = await browser.fetch(authorize(APP.id, APP.redirect, { resource: 'https://evil.example/' }).url);
      expect(back.status).to.equal(303);
      const location = new URL(back.location as string);
      expect(`${location.origin}${location.pathname}`).to.equal(APP.redirect);
      expect(location.searchParams.get('error')).to.equal('invalid_target');
      expect(location.searchParams.get('iss')).to.equal(token.service.config.ISSUER);
      // Repeated resources (RFC 8707 allows several; we take one) are refused, not a 500.
      const repeated = await browser.fetch(`${authorize(APP.id, APP.redirect).url}&resource=notes&resource=whoami`);
      expect(new URL(repeated.location as string).searchParams.get('error')).to.equal('invalid_request');
    });

    it('login_hint and state carrying URLs are never followed: prefilled text, and a parameter of the registered redirect', async () => {
      const browser = new TestBrowser();
      const hinted = await browser.fetch(authorize(APP.id, APP.redirect, { login_hint: 'https://evil.example/', prompt: undefined }).url);
      expect(hinted.status).to.equal(200);
      expect(hinted.location).to.equal(undefined);
      expect(hinted.html).to.include('value="https://evil.example/"');
      expect(hinted.html).not.to.include('href="https://evil.example');
      const refused = await browser.fetch(authorize(APP.id, APP.redirect, { state: 'https://evil.example/', prompt: 'none' }).url);
      const location = new URL(refused.location as string);
      expect(`${location.origin}${location.pathname}`).to.equal(APP.redirect);
      expect(location.searchParams.get('state')).to.equal('https://evil.example/');
    });

    describe('post_logout_redirect_uri', () => {
      const endSession = (params: Record<string, string>) => `${T}/oauth/end-session?${new URLSearchParams(params).toString()}`;

      it('registered, with client_id: redirected there with state (the control)', async () => {
        const page = await new TestBrowser().fetch(endSession({ client_id: APP.id, post_logout_redirect_uri: APP.signedOut, state: 's1' }));
        expect(page.status).to.equal(303);
        expect(page.location).to.equal(`${APP.signedOut}?state=s1`);
      });

      const refusals: Array<[string, Record<string, string>]> = [
        ['unregistered', { client_id: APP.id, post_logout_redirect_uri: 'https://evil.example/bye' }],
        ['without client_id or id_token_hint', { post_logout_redirect_uri: APP.signedOut }],
        ['registered for another client', { client_id: APP.id, post_logout_redirect_uri: OTHER.signedOut }],
        ['with a trailing slash', { client_id: APP.id, post_logout_redirect_uri: `${APP.signedOut}/` }],
        ['differing by case', { client_id: APP.id, post_logout_redirect_uri: APP.signedOut.toUpperCase() }],
        ['with userinfo', { client_id: APP.id, post_logout_redirect_uri: 'https://app.example@evil.example/bye' }],
        ['javascript:', { client_id: APP.id, post_logout_redirect_uri: 'javascript:alert(1)' }],
        ['protocol-relative', { client_id: APP.id, post_logout_redirect_uri: '//evil.example/bye' }],
        ['with an unknown client', { client_id: 'no-such-client', post_logout_redirect_uri: APP.signedOut }],
        [
          'with a forged id_token_hint',
          { id_token_hint: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiYXVkIjoic2VjLWFwcCJ9.', post_logout_redirect_uri: APP.signedOut },
        ],
      ];
      for (const [what, params] of refusals) {
        it(`${what}: an error page, never a redirect (GET and POST)`, async () => {
          const browser = new TestBrowser();
          expectErrorPage(await browser.fetch(endSession(params)), what);
          expectErrorPage(await browser.fetch(`${T}/oauth/end-session`, { form: params }), `${what} (POST)`);
        });
      }

      it('repeated: an error page', async () => {
        const page = await new TestBrowser().fetch(
          `${endSession({ client_id: APP.id, post_logout_redirect_uri: APP.signedOut })}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
        );
        expectErrorPage(page, 'repeated');
      });

      it('the confirmation form posts to this endpoint only, and its CSP allows only the registered return address', async () => {
        const alice = await user();
        const browser = new TestBrowser();
        codeOf(await signIn(browser, authorize(APP.id, APP.redirect).url, alice));
        const confirm = await browser.fetch(
          `${endSession({ client_id: APP.id, post_logout_redirect_uri: APP.signedOut })}&action=https://evil.example/`,
        );
        expect(confirm.status).to.equal(200);
        const action = /<form method="post" action="([^"]*)">/.exec(confirm.html)?.[1] as string;
        expect(action.startsWith('/oauth/end-session?'), action).to.equal(true);
        expect(action).not.to.include('evil');
        expect(confirm.headers.get('content-security-policy')).to.include("form-action 'self' https://app.example;");
        const done = await browser.submit(confirm, { confirm: 'yes' });
        expect(done.location).to.equal(APP.signedOut);
      });
    });
  });

  describe('login, consent and logout CSRF', () => {
    const signinRows = () => count('signin_sessions');
    const setsSigninCookie = (page: Page) =>
      page.headers.getSetCookie().some((line) => line.startsWith(`${signinCookie}=`) && !line.startsWith(`${signinCookie}=;`));

    it('showing the login page, the consent page or the logout confirmation writes nothing', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const before = await rowCounts(token.service.knex);
      const flow = authorize(THIRD.id, THIRD.redirect);
      expect((await browser.fetch(flow.url)).status).to.equal(200);
      expect((await browser.fetch(authorize(APP.id, APP.redirect, { prompt: 'login' }).url)).status).to.equal(200);
      expect(await rowCounts(token.service.knex), 'the login page').to.deep.equal(before);
      const consent = await signIn(browser, flow.url, alice);
      expect(consent.html).to.include('name="decision"');
      const signedIn = await rowCounts(token.service.knex);
      expect((await browser.fetch(flow.url)).html).to.include('name="decision"');
      expect((await browser.fetch(`${T}/oauth/end-session`)).html).to.include('Sign out?');
      expect(await rowCounts(token.service.knex), 'the consent page and the logout confirmation').to.deep.equal(signedIn);
    });

    it('a login form post without the CSRF cookie, with a mismatched token, or with another browser’s token signs no one in', async () => {
      const alice = await user();
      const victim = new TestBrowser();
      const attacker = new TestBrowser();
      const flow = authorize(APP.id, APP.redirect);
      const victimForm = await victim.fetch(flow.url);
      const attackerForm = await attacker.fetch(flow.url);
      const attackerToken = attacker.cookies(T).get(csrfCookie) as string;
      const victimToken = victim.cookies(T).get(csrfCookie) as string;
      expect(attackerToken).to.be.a('string').and.not.equal(victimToken);
      const credentials = { username: alice.username, password: alice.password };
      const before = await signinRows();

      // 1. No CSRF cookie at all (a cross-site form post: the Strict cookie is not sent).
      const noCookie = new TestBrowser();
      const posted = await noCookie.submit({ ...attackerForm, url: flow.url }, credentials);
      // 2. The victim's cookie with a made-up token.
      const mismatched = await victim.fetch(flow.url, { form: { action: 'login', csrf: randomToken(32), ...credentials } });
      // 3. The victim's cookie with the attacker's own (valid, for the attacker) token.
      const foreign = await victim.fetch(flow.url, { form: { action: 'login', csrf: attackerToken, ...credentials } });
      // 4. An empty token, and a token sent twice.
      const empty = await victim.fetch(flow.url, { form: { action: 'login', csrf: '', ...credentials } });
      const twice = await postWithCookies(
        flow.url,
        { action: 'login', csrf: victimToken, ...credentials },
        {
          [csrfCookie]: [attackerToken, victimToken],
        },
      );
      for (const [what, page] of Object.entries({ posted, mismatched, foreign, empty, twice })) {
        expect(page.status, what).to.be.within(400, 499);
        expect(page.location, what).to.equal(undefined);
        expect(setsSigninCookie(page), `${what}: a sign-in cookie was set`).to.equal(false);
      }
      expect(await signinRows(), 'a sign-in session was created').to.equal(before);

      // The control: the victim's own form signs in.
      const own = await victim.submit(victimForm, credentials);
      expect(own.status).to.equal(303);
      expect(setsSigninCookie(own)).to.equal(true);
      expect(await signinRows()).to.equal(before + 1);
    });

    it('a consent form post with a mismatched or foreign token, or from a browser not signed in, grants nothing', async () => {
      const alice = await user();
      const bob = await user();
      const victim = new TestBrowser();
      const attacker = new TestBrowser();
      const flow = authorize(THIRD.id, THIRD.redirect, { scope: `openid ${THIRD.oddScope}` });
      const consent = await signIn(victim, flow.url, alice);
      expect(consent.status).to.equal(200);
      expect(consent.html).to.include('name="decision"');
      const attackerConsent = await signIn(attacker, flow.url, bob);
      const attackerToken = attacker.cookies(T).get(csrfCookie) as string;

      const mismatched = await victim.fetch(flow.url, { form: { action: 'consent', csrf: randomToken(32), decision: 'allow' } });
      const foreign = await victim.fetch(flow.url, { form: { action: 'consent', csrf: attackerToken, decision: 'allow' } });
      const noCookie = await new TestBrowser().fetch(flow.url, { form: { action: 'consent', csrf: attackerToken, decision: 'allow' } });
      const withoutCsrfCookie = await postWithCookies(
        flow.url,
        { action: 'consent', csrf: victim.cookies(T).get(csrfCookie) as string, decision: 'allow' },
        { [signinCookie]: [victim.cookies(T).get(signinCookie) as string] },
      );
      for (const [what, page] of Object.entries({ mismatched, foreign, noCookie, withoutCsrfCookie })) {
        expect(page.status, what).to.be.within(400, 499);
        expect(page.location, `${what}: redirected`).to.equal(undefined);
      }
      expect(await count('consents', { user_id: alice.id }), 'a consent was recorded').to.equal(0);
      expect(await count('authorization_codes', { user_id: alice.id }), 'a code was issued').to.equal(0);

      // The control: each browser's own form.
      expect((await victim.submit(consent, { decision: 'allow' })).status).to.equal(303);
      expect(await count('consents', { user_id: alice.id })).to.equal(1);
      expect(attackerConsent.status).to.equal(200);
    });

    it('the logout confirmation with a mismatched, foreign or missing token, or as a GET, ends nothing', async () => {
      const alice = await user();
      const bob = await user();
      const victim = new TestBrowser();
      const attacker = new TestBrowser();
      codeOf(await signIn(victim, authorize(APP.id, APP.redirect).url, alice));
      codeOf(await signIn(attacker, authorize(APP.id, APP.redirect).url, bob));
      const endUrl = `${T}/oauth/end-session?client_id=${APP.id}`;
      const confirm = await victim.fetch(endUrl);
      expect(confirm.status).to.equal(200);
      await attacker.fetch(endUrl);
      const attackerToken = attacker.cookies(T).get(csrfCookie) as string;
      const live = () => token.service.knex('signin_sessions').where({ user_id: alice.id }).whereNull('ended_at').count({ n: '*' });

      const attempts = {
        mismatched: await victim.fetch(endUrl, { form: { csrf: randomToken(32), confirm: 'yes' } }),
        foreign: await victim.fetch(endUrl, { form: { csrf: attackerToken, confirm: 'yes' } }),
        withoutCsrfCookie: await postWithCookies(
          endUrl,
          { csrf: victim.cookies(T).get(csrfCookie) as string, confirm: 'yes' },
          { [signinCookie]: [victim.cookies(T).get(signinCookie) as string] },
        ),
        get: await victim.fetch(`${endUrl}&csrf=${victim.cookies(T).get(csrfCookie) as string}&confirm=yes`),
        withoutConfirm: await victim.fetch(endUrl, { form: { csrf: victim.cookies(T).get(csrfCookie) as string } }),
      };
      for (const [what, page] of Object.entries(attempts)) {
        expect(page.html, what).to.include('Sign out?');
        // A refused confirmation says so (a GET is simply asked to confirm).
        expect(page.status, what).to.equal(what === 'get' ? 200 : 403);
        expect(page.html.includes('id="error"'), what).to.equal(what !== 'get');
        expect(
          page.headers.getSetCookie().some((line) => line.startsWith(`${signinCookie}=;`)),
          `${what}: cookie cleared`,
        ).to.equal(false);
      }
      expect(Number((await live())[0]?.n), 'the sign-in ended').to.equal(1);
      expect((await victim.navigate(authorize(APP.id, APP.redirect).url, T)).status, 'still signed in').to.equal(303);

      const done = await victim.submit(confirm, { confirm: 'yes' });
      expect(done.status).to.equal(200);
      expect(Number((await live())[0]?.n)).to.equal(0);
    });
    it('a cross-site end-session with someone else’s ID token leaves the browser’s own sign-in alone', async () => {
      const alice = await user();
      const mallory = await user();
      const victim = new TestBrowser();
      codeOf(await signIn(victim, authorize(APP.id, APP.redirect).url, alice));
      const flow = authorize(APP.id, APP.redirect);
      const tokens = await exchange(APP.id, APP.redirect, codeOf(await signIn(new TestBrowser(), flow.url, mallory)), flow.verifier);
      const idToken = tokens.body.id_token as string;
      expect(idToken).to.be.a('string');
      const hinted = (await victim.fetch(`${T}/oauth/end-session?id_token_hint=${idToken}`)).headers.getSetCookie();
      expect(
        hinted.some((line) => line.startsWith(`${signinCookie}=;`)),
        'the victim’s cookie cleared',
      ).to.equal(false);
      // Mallory's sign-in session is gone (purged, say): her ID token names none.
      await token.service.knex('signin_sessions').where({ user_id: mallory.id }).del();
      const orphan = (await victim.fetch(`${T}/oauth/end-session?id_token_hint=${idToken}`)).headers.getSetCookie();
      expect(
        orphan.some((line) => line.startsWith(`${signinCookie}=;`)),
        'the victim’s cookie cleared',
      ).to.equal(false);
      expect((await victim.fetch(authorize(APP.id, APP.redirect).url)).status, 'still signed in').to.equal(303);
    });
  });

  describe('the account’s sign-in sessions and consents', () => {
    it('a malformed id or client_id (a NUL byte, a UUID-shaped client) is a 404, never a 500', async () => {
      const alice = await user();
      const login = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
        json: { username: alice.username, password: alice.password },
      });
      const bearer = login.body.access_token;
      for (const path of ['/auth/consents/%00', '/auth/consents/x%00y', `/auth/consents/${randomUUID()}`, '/auth/signin-sessions/%00']) {
        const reply = await request(T, 'DELETE', path, { token: bearer });
        expect(reply.status, path).to.equal(404);
      }
    });
  });

  describe('nothing plain: codes and sign-in cookies', () => {
    it('a full code flow with consent: the code, the verifier, the cookies and the tokens appear in no table and no log line', async () => {
      const alice = await user('plain');
      const browser = new TestBrowser();
      const flow = authorize(THIRD.id, THIRD.redirect, { nonce: randomToken(16) });
      const consent = await signIn(browser, flow.url, alice);
      const back = await browser.submit(consent, { decision: 'allow' });
      const code = codeOf(back);
      const tokens = await exchange(THIRD.id, THIRD.redirect, code, flow.verifier);
      expect(tokens.status).to.equal(200);
      // A replay, a wrong verifier and a wrong client: refusals must not log what they were given either.
      expect((await exchange(THIRD.id, THIRD.redirect, code, flow.verifier)).status).to.equal(400);
      const second = codeOf(await browser.navigate(authorize(THIRD.id, THIRD.redirect).url, T));
      expect((await exchange(OTHER.id, THIRD.redirect, second, flow.verifier)).status).to.equal(400);
      const secrets: Record<string, string | undefined> = {
        'authorization code': code,
        'second authorization code': second,
        'code verifier': flow.verifier,
        'sign-in cookie': browser.cookies(T).get(signinCookie),
        'CSRF cookie': browser.cookies(T).get(csrfCookie),
        password: alice.password,
        'access token': tokens.body.access_token,
        'refresh token': tokens.body.refresh_token,
        'ID token': tokens.body.id_token,
      };
      for (const [what, value] of Object.entries(secrets)) expect(value, what).to.be.a('string').with.length.above(20);

      const { knex } = token.service;
      const tables = await knex('information_schema.tables')
        .where({ table_type: 'BASE TABLE' })
        .andWhere('table_schema', knex.raw('current_schema()'))
        .pluck('table_name');
      expect(tables).to.include.members(['authorization_codes', 'signin_sessions', 'consents', 'audit_events']);
      const dump: Record<string, unknown[]> = {};
      for (const table of tables as string[]) dump[table] = await knex(table).select('*');
      const text = JSON.stringify(dump);
      expect(text).to.include(alice.id); // the dump really holds the rows
      expect(dump.consents?.length).to.be.above(0);
      for (const [what, value] of Object.entries(secrets)) {
        const secret = value as string;
        expect(text.includes(secret), `${what} found in the database`).to.equal(false);
        expect(logs.text.includes(secret), `${what} found in the logs`).to.equal(false);
        expect(logs.text.includes(encodeURIComponent(secret)), `${what} (URL-encoded) found in the logs`).to.equal(false);
      }
      expect(logs.lines.length, 'the logs really were captured').to.be.above(0);
    });
  });

  describe('<script> in every displayed value is escaped', () => {
    const expectEscaped = (page: Page, what: string, times = 1) => {
      expect(page.html, what).not.to.include('<script');
      expect(page.html.split(ESCAPED).length - 1, `${what}: escaped value shown`).to.be.at.least(times);
    };

    /** A user whose username is markup: registration refuses one, so it is made in the database directly. */
    async function scriptedUser() {
      const password = 'Correct-Horse-Battery-9';
      const { passwords, knex } = token.service;
      const scripted = await passwords.withSlot('test', (slot) =>
        registerUser(
          knex,
          { username: `u${randomUUID().slice(0, 6)}${SCRIPT}`, email: `${randomUUID().slice(0, 8)}@example.com`, password },
          (plain) => passwords.hash(plain, slot),
        ),
      );
      return { scripted, password };
    }

    it('the login page: the client name, login_hint, and the error with the typed username', async () => {
      const browser = new TestBrowser();
      const flow = authorize(APP.id, APP.redirect, { login_hint: SCRIPT });
      const login = await browser.fetch(flow.url);
      expect(login.status).to.equal(200);
      expectEscaped(login, 'client name and login_hint', 2);
      expect(textOf(login.html, 'client-name')).to.equal(`App ${ESCAPED}`);
      const failed = await browser.submit(login, { username: `"><script>alert(1)</script>`, password: 'wrong password 123' });
      expect(failed.status).to.equal(400);
      expect(failed.html).to.include('id="error"');
      expect(failed.html).to.include('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"');
      expectEscaped(failed, 'error page with typed username');
    });

    it('the consent page: the client name, the username and the scopes', async () => {
      const { scripted, password } = await scriptedUser();
      const browser = new TestBrowser();
      const consent = await signIn(browser, authorize(THIRD.id, THIRD.redirect, { scope: `openid ${THIRD.oddScope}` }).url, {
        username: scripted.username,
        password,
      });
      expect(consent.status).to.equal(200);
      expect(consent.html).to.include('name="decision"');
      expect(consent.html).not.to.include('<script');
      expect(consent.html).to.include(`Third ${ESCAPED}`);
      expect(consent.html).to.include(`${ESCAPED}</strong>`); // the username
      expect(consent.html).to.include('<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>'); // the scope
    });

    it('the logout confirmation page: the client name and the username', async () => {
      const { scripted, password } = await scriptedUser();
      const browser = new TestBrowser();
      codeOf(await signIn(browser, authorize(APP.id, APP.redirect).url, { username: scripted.username, password }));
      const confirm = await browser.fetch(`${T}/oauth/end-session?client_id=${APP.id}&state=${encodeURIComponent(SCRIPT)}`);
      expect(confirm.status).to.equal(200);
      expectEscaped(confirm, 'client name and username', 2);
    });

    it('error pages: no parameter is echoed as markup', async () => {
      const browser = new TestBrowser();
      const pages = [
        await browser.fetch(authorize(SCRIPT, APP.redirect).url),
        await browser.fetch(authorize(APP.id, `https://evil.example/${SCRIPT}`).url),
        await browser.fetch(authorize(APP.id, SCRIPT).url),
        await browser.fetch(`${T}/oauth/end-session?client_id=${encodeURIComponent(SCRIPT)}`),
        await browser.fetch(
          `${T}/oauth/end-session?client_id=${APP.id}&post_logout_redirect_uri=${encodeURIComponent(`https://x/${SCRIPT}`)}`,
        ),
        await browser.fetch(`${T}/oauth/end-session?id_token_hint=${encodeURIComponent(SCRIPT)}`),
        await browser.fetch(`${T}/oauth/end-session?state=${'x'.repeat(2000)}${encodeURIComponent(SCRIPT)}`),
      ];
      for (const page of pages) {
        expectErrorPage(page, page.url);
        expect(page.html, page.url).not.to.include('<script');
      }
    });
  });

  describe('headers and cookies', () => {
    const expectPageHeaders = (page: Page, what: string) => {
      expect(page.headers.get('content-security-policy'), what).to.include("frame-ancestors 'none'");
      expect(page.headers.get('content-security-policy'), what).to.include("default-src 'none'");
      expect(page.headers.get('x-frame-options'), what).to.equal('DENY');
      expect(page.headers.get('cache-control'), what).to.equal('no-store');
      expect(page.headers.get('referrer-policy'), what).to.equal('no-referrer');
    };

    it('every page (login, error, consent, logout confirmation, signed out) cannot be framed or cached; codes and tokens are no-store', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize(THIRD.id, THIRD.redirect);
      const login = await browser.fetch(flow.url);
      expectPageHeaders(login, 'login page');
      const failed = await browser.submit(login, { username: alice.username, password: 'not the password 1' });
      expectPageHeaders(failed, 'failed login');
      const expired = await browser.fetch(flow.url, { form: { action: 'login', csrf: randomToken(32), username: 'x', password: 'y' } });
      expectPageHeaders(expired, 'expired form');
      expectPageHeaders(await browser.fetch(authorize('nobody', THIRD.redirect).url), 'authorize error page');
      const consent = await browser.submit(await browser.fetch(flow.url), { username: alice.username, password: alice.password });
      expect(consent.html).to.include('name="decision"');
      expectPageHeaders(consent, 'consent page');
      const back = await browser.submit(consent, { decision: 'allow' });
      expect(back.headers.get('cache-control'), 'the code redirect').to.equal('no-store');
      expect(back.headers.get('referrer-policy'), 'the code redirect').to.equal('no-referrer');
      const tokens = await exchange(THIRD.id, THIRD.redirect, codeOf(back), flow.verifier);
      expect(tokens.headers.get('cache-control'), 'token response').to.equal('no-store');
      const denied = await browser.fetch(authorize(THIRD.id, THIRD.redirect, { prompt: 'none', scope: 'openid bogus' }).url);
      expect(denied.headers.get('cache-control'), 'the error redirect').to.equal('no-store');
      expectPageHeaders(await browser.fetch(`${T}/oauth/end-session?client_id=nobody`), 'end-session error page');
      const confirm = await browser.fetch(`${T}/oauth/end-session`);
      expectPageHeaders(confirm, 'logout confirmation');
      const signedOut = await browser.submit(confirm, { confirm: 'yes' });
      expect(signedOut.html).to.include('id="signed-out"');
      expectPageHeaders(signedOut, 'signed-out page');
    });

    it('the sign-in cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/ and has no Domain (the issuer is not plain-HTTP loopback)', async () => {
      expect(token.service.config.ISSUER.startsWith('http://issuer.')).to.equal(true);
      const alice = await user();
      const browser = new TestBrowser();
      const back = await signIn(browser, authorize(APP.id, APP.redirect).url, alice);
      const line = back.headers.getSetCookie().find((cookie) => cookie.startsWith(`${signinCookie}=`)) as string;
      expect(line, 'sign-in cookie set').to.be.a('string');
      const attributes = line.split(';').map((part) => part.trim().toLowerCase());
      expect(attributes).to.include.members(['httponly', 'secure', 'samesite=lax', 'path=/']);
      expect(attributes.some((a) => a.startsWith('domain='))).to.equal(false);
      const csrf = (await new TestBrowser().fetch(authorize(APP.id, APP.redirect).url)).headers
        .getSetCookie()
        .find((cookie) => cookie.startsWith(`${csrfCookie}=`)) as string;
      expect(csrf.toLowerCase()).to.include('httponly').and.include('secure').and.include('samesite=strict');
    });
  });

  describe('codes and sign-in sessions', () => {
    it('a code expires after AUTHORIZATION_CODE_TTL: invalid_grant', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize(APP.id, APP.redirect);
      const code = codeOf(await signIn(browser, flow.url, alice));
      clock.advance(token.service.config.AUTHORIZATION_CODE_TTL + 1000);
      const late = await exchange(APP.id, APP.redirect, code, flow.verifier);
      expect(late.status).to.equal(400);
      expect(late.body.error).to.equal('invalid_grant');
    });

    it('a code presented by another client is invalid_grant, and burnt for its own client too', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize(APP.id, APP.redirect);
      const code = codeOf(await signIn(browser, flow.url, alice));
      const stolen = await exchange(OTHER.id, APP.redirect, code, flow.verifier);
      expect(stolen.status).to.equal(400);
      expect(stolen.body.error).to.equal('invalid_grant');
      const own = await exchange(APP.id, APP.redirect, code, flow.verifier);
      expect(own.status).to.equal(400);
      expect(own.body.error).to.equal('invalid_grant');
    });

    it('a confidential client’s code is refused without the client’s secret, and with a wrong one', async () => {
      const secret = randomToken(32);
      await upsertClient(token.service.knex, {
        client_id: 'sec-confidential',
        secret_hash: sha256Hex(secret),
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['authorization_code'],
        scopes: ['openid'],
        audiences: ['notes'],
        redirect_uris: ['https://conf.example/cb'],
        first_party: true,
      });
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize('sec-confidential', 'https://conf.example/cb');
      const code = codeOf(await signIn(browser, flow.url, alice));
      const bare = await exchange('sec-confidential', 'https://conf.example/cb', code, flow.verifier);
      expect(bare.status).to.equal(401);
      expect(bare.body.error).to.equal('invalid_client');
      const wrong = await exchange('sec-confidential', 'https://conf.example/cb', code, flow.verifier, { client_secret: `${secret}x` });
      expect(wrong.body.error).to.equal('invalid_client');
      // Client authentication comes first: the code was not burnt by the attempts, its client still redeems it.
      const own = await exchange('sec-confidential', 'https://conf.example/cb', code, flow.verifier, { client_secret: secret });
      expect(own.status, JSON.stringify(own.body)).to.equal(200);
    });

    it('prompt=login and max_age=0 show the login form again despite a sign-in session; prompt=none then answers login_required', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      codeOf(await signIn(browser, authorize(APP.id, APP.redirect).url, alice));
      expect((await browser.fetch(authorize(APP.id, APP.redirect).url)).status, 'single sign-on').to.equal(303);
      clock.advance(1000);
      for (const params of [{ prompt: 'login' }, { max_age: '0' }]) {
        const page = await browser.fetch(authorize(APP.id, APP.redirect, params).url);
        expect(page.status, JSON.stringify(params)).to.equal(200);
        expect(page.html, JSON.stringify(params)).to.include('name="password"');
      }
      const none = await browser.fetch(authorize(APP.id, APP.redirect, { prompt: 'none', max_age: '0' }).url);
      expect(new URL(none.location as string).searchParams.get('error')).to.equal('login_required');
      const relogin = await signIn(browser, authorize(APP.id, APP.redirect, { prompt: 'login' }).url, alice);
      expect(relogin.status).to.equal(303);
    });

    it('a disabled user’s sign-in session yields no more codes, and a code issued before cannot be exchanged', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize(APP.id, APP.redirect);
      const code = codeOf(await signIn(browser, flow.url, alice));
      const pending = authorize(APP.id, APP.redirect);
      const pendingCode = codeOf(await browser.fetch(pending.url));
      await token.service
        .knex('users')
        .where({ id: alice.id })
        .update({ disabled_at: new Date(clock.now()) });
      expect((await exchange(APP.id, APP.redirect, code, flow.verifier)).body.error).to.equal('invalid_grant');
      expect((await exchange(APP.id, APP.redirect, pendingCode, pending.verifier)).body.error).to.equal('invalid_grant');
      const before = await count('authorization_codes', { user_id: alice.id });
      const page = await browser.fetch(authorize(APP.id, APP.redirect).url);
      expect(page.status).to.equal(200);
      expect(page.html).to.include('name="password"');
      const none = await browser.fetch(authorize(APP.id, APP.redirect, { prompt: 'none' }).url);
      expect(new URL(none.location as string).searchParams.get('error')).to.equal('login_required');
      expect(await count('authorization_codes', { user_id: alice.id })).to.equal(before);
    });
    it('nothing grows without bound: old codes and sign-in sessions no family needs are purged', async () => {
      const alice = await user();
      const bob = await user();
      codeOf(await signIn(new TestBrowser(), authorize(APP.id, APP.redirect).url, alice));
      const flow = authorize(APP.id, APP.redirect);
      const tokens = await exchange(APP.id, APP.redirect, codeOf(await signIn(new TestBrowser(), flow.url, bob)), flow.verifier);
      expect(tokens.status).to.equal(200);
      const { knex } = token.service;
      const past = (ms: number) => knex.raw('now() - make_interval(secs => ?)', [ms / 1000]);
      for (const id of [alice.id, bob.id]) {
        await knex('authorization_codes')
          .where({ user_id: id })
          .update({ expires_at: past(2 * 86_400_000) });
        await knex('signin_sessions')
          .where({ user_id: id })
          .update({ expires_at: past(3_600_000) });
      }
      const counts = await purgeExpired(knex, purgeOptions(token.service.config));
      expect(counts.authorization_codes).to.be.at.least(2);
      expect(counts.signin_sessions).to.be.at.least(1);
      expect(await count('authorization_codes', { user_id: alice.id })).to.equal(0);
      expect(await count('signin_sessions', { user_id: alice.id })).to.equal(0);
      // Bob's family came through his sign-in session: an end-session with his ID token must still find it.
      expect(await count('signin_sessions', { user_id: bob.id })).to.equal(1);
    });
  });

  describe('malformed, oversized and repeated parameters', () => {
    it('after a good client and redirect_uri: redirected back with an RFC 6749 §4.1.2.1 error and iss, never a 500', async () => {
      const browser = new TestBrowser();
      const good = authorize(APP.id, APP.redirect).url;
      const cases: Array<[string, string, string]> = [
        ['response_type repeated', `${good}&response_type=code`, 'invalid_request'],
        ['response_type token', authorize(APP.id, APP.redirect, { response_type: 'token' }).url, 'unsupported_response_type'],
        [
          'response_type code id_token',
          authorize(APP.id, APP.redirect, { response_type: 'code id_token' }).url,
          'unsupported_response_type',
        ],
        ['scope repeated', `${good}&scope=openid`, 'invalid_request'],
        ['scope oversized', authorize(APP.id, APP.redirect, { scope: 'a'.repeat(5000) }).url, 'invalid_request'],
        ['scope not allowed', authorize(APP.id, APP.redirect, { scope: 'admin' }).url, 'invalid_scope'],
        ['code_challenge missing', authorize(APP.id, APP.redirect, { code_challenge: undefined }).url, 'invalid_request'],
        ['code_challenge short', authorize(APP.id, APP.redirect, { code_challenge: 'abc' }).url, 'invalid_request'],
        ['code_challenge repeated', `${good}&code_challenge=${'a'.repeat(43)}`, 'invalid_request'],
        ['code_challenge_method plain', authorize(APP.id, APP.redirect, { code_challenge_method: 'plain' }).url, 'invalid_request'],
        ['code_challenge_method missing', authorize(APP.id, APP.redirect, { code_challenge_method: undefined }).url, 'invalid_request'],
        ['nonce oversized', authorize(APP.id, APP.redirect, { nonce: 'n'.repeat(600) }).url, 'invalid_request'],
        ['nonce repeated', `${good}&nonce=a&nonce=b`, 'invalid_request'],
        ['prompt unknown', authorize(APP.id, APP.redirect, { prompt: 'select_account' }).url, 'invalid_request'],
        ['prompt none+login', authorize(APP.id, APP.redirect, { prompt: 'none login' }).url, 'invalid_request'],
        ['max_age negative', authorize(APP.id, APP.redirect, { max_age: '-1' }).url, 'invalid_request'],
        ['max_age huge', authorize(APP.id, APP.redirect, { max_age: '9'.repeat(30) }).url, 'invalid_request'],
        ['max_age float', authorize(APP.id, APP.redirect, { max_age: '1.5' }).url, 'invalid_request'],
        ['login_hint oversized', authorize(APP.id, APP.redirect, { login_hint: 'h'.repeat(300) }).url, 'invalid_request'],
        ['resource oversized', authorize(APP.id, APP.redirect, { resource: 'r'.repeat(2500) }).url, 'invalid_request'],
        ['request object', authorize(APP.id, APP.redirect, { request: 'eyJ.eyJ.' }).url, 'request_not_supported'],
        ['request_uri', authorize(APP.id, APP.redirect, { request_uri: 'https://evil.example/r' }).url, 'request_uri_not_supported'],
        ['response_mode fragment', authorize(APP.id, APP.redirect, { response_mode: 'fragment' }).url, 'invalid_request'],
        [
          'id_token_hint (unsupported here, ignored)',
          authorize(APP.id, APP.redirect, { id_token_hint: SCRIPT, prompt: 'none' }).url,
          'login_required',
        ],
      ];
      for (const [what, url, error] of cases) {
        const page = await browser.fetch(url);
        expect(page.status, `${what}: ${page.html.slice(0, 200)}`).to.equal(303);
        const location = new URL(page.location as string);
        expect(`${location.origin}${location.pathname}`, what).to.equal(APP.redirect);
        expect(location.searchParams.get('error'), what).to.equal(error);
        expect(location.searchParams.get('iss'), what).to.equal(token.service.config.ISSUER);
        expect(location.searchParams.getAll('state').length, what).to.be.at.most(1);
      }
      expect(await count('authorization_codes', { client_id: APP.id, user_id: randomUUID() })).to.equal(0);
    });

    it('state: repeated or oversized is refused without echoing it; a good one comes back exactly once', async () => {
      const browser = new TestBrowser();
      const repeated = await browser.fetch(`${authorize(APP.id, APP.redirect, { state: 'one' }).url}&state=two`);
      const location = new URL(repeated.location as string);
      expect(location.searchParams.get('error')).to.equal('invalid_request');
      expect(location.searchParams.getAll('state')).to.deep.equal([]);
      const huge = await browser.fetch(authorize(APP.id, APP.redirect, { state: 's'.repeat(5000) }).url);
      const hugeLocation = new URL(huge.location as string);
      expect(hugeLocation.searchParams.get('error')).to.equal('invalid_request');
      expect(hugeLocation.searchParams.getAll('state')).to.deep.equal([]);
    });

    it('the login form: missing, repeated or oversized fields re-show the form (4xx) and sign no one in', async () => {
      const alice = await user();
      const browser = new TestBrowser();
      const flow = authorize(APP.id, APP.redirect);
      await browser.fetch(flow.url);
      const csrf = browser.cookies(T).get(csrfCookie) as string;
      const before = await count('signin_sessions', { user_id: alice.id });
      const bodies = [
        `action=login&csrf=${csrf}&username=${alice.username}`,
        `action=login&csrf=${csrf}&username=${alice.username}&username=${alice.username}&password=${encodeURIComponent(alice.password)}`,
        `action=login&csrf=${csrf}&csrf=${csrf}&username=${alice.username}&password=${encodeURIComponent(alice.password)}`,
        `action=login&action=consent&csrf=${csrf}&username=${alice.username}&password=${encodeURIComponent(alice.password)}`,
        `action=login&csrf=${csrf}&username=${'u'.repeat(300)}&password=x`,
        `action=login&csrf=${csrf}&username=${alice.username}&password=${'p'.repeat(2000)}`,
        `action=login&csrf=${csrf}&username=a%00b&password=x`,
        `action=login&csrf=${csrf}&username=${alice.username}%00&password=${encodeURIComponent(alice.password)}`,
        `action=login&csrf=${csrf}&username=%ED%A0%80&password=%00`,
        `action=other&csrf=${csrf}`,
        `action=consent&csrf=${csrf}&decision=maybe`,
        `action[x]=login&csrf=${csrf}`,
      ];
      for (const body of bodies) {
        const reply = await fetch(flow.url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `${csrfCookie}=${csrf}` },
          body,
          redirect: 'manual',
        });
        expect(reply.status, body.slice(0, 120)).to.be.within(400, 499);
        expect(reply.headers.get('location'), body.slice(0, 120)).to.equal(null);
      }
      expect(await count('signin_sessions', { user_id: alice.id })).to.equal(before);
    });

    it('a NUL byte in a login name is an unknown user (PostgreSQL text cannot hold one), never a 500', async () => {
      const viaLogin = await request(T, 'POST', '/auth/login', { json: { username: 'a\u0000b', password: 'x' } });
      expect(viaLogin.status).to.equal(400);
      expect(viaLogin.body.error).to.equal('invalid_grant');
      const viaGrant = await request(T, 'POST', '/oauth/token', {
        form: { grant_type: 'password', client_id: 'web', username: 'a\u0000b', password: 'x' },
      });
      expect(viaGrant.status).to.equal(400);
      expect(viaGrant.body.error).to.equal('invalid_grant');
    });

    it('the token endpoint: repeated, oversized or missing code parameters are invalid_request, never a 500', async () => {
      const cases: Array<Record<string, string | string[]>> = [
        { code: ['a', 'b'], redirect_uri: APP.redirect, code_verifier: 'v'.repeat(43) },
        { code: 'c'.repeat(600), redirect_uri: APP.redirect, code_verifier: 'v'.repeat(43) },
        { code: 'c', redirect_uri: APP.redirect, code_verifier: 'v'.repeat(200) },
        { code: 'c', code_verifier: 'v'.repeat(43) },
        { code: 'c', redirect_uri: [APP.redirect, APP.redirect], code_verifier: 'v'.repeat(43) },
      ];
      for (const fields of cases) {
        const body = new URLSearchParams({ grant_type: 'authorization_code', client_id: APP.id });
        for (const [name, value] of Object.entries(fields)) for (const item of [value].flat()) body.append(name, item);
        const reply = await request(T, 'POST', '/oauth/token', {
          body: body.toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(reply.status, body.toString().slice(0, 100)).to.equal(400);
        expect(reply.body.error).to.equal('invalid_request');
      }
      const unknown = await exchange(APP.id, APP.redirect, randomToken(32), 'v'.repeat(43));
      expect(unknown.body.error).to.equal('invalid_grant');
    });
  });
});
