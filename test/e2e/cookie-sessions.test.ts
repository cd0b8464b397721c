// End to end: the gateway as a backend-for-frontend. A browser (the cookie-jar
// TestBrowser) signs in through the token service's login page and holds only
// the gateway's sealed cookie; the gateway forwards with the user's access
// token, renews it, and drops the session the moment it is revoked anywhere.
import crypto from 'node:crypto';
import { expect } from 'chai';
import * as jose from 'jose';
import WebSocket from 'ws';
import { TestBrowser, type Page } from '../support/browser.ts';
import { newUser, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';
import type { Gateway } from '../../gateway/app.ts';
import type { RouteEntryInput } from '../../gateway/routes/schema.ts';
import { DEVELOPMENT_SESSION_COOKIE_KEY } from '../../common/development.ts';
import { CookieSealer } from '../../gateway/sessions/sealed-cookie.ts';

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' };
const NAVIGATE = { 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'none', accept: 'text/html' };
/** whoami behind the gateway, for bearer tokens and cookie sessions alike. */
const WHOAMI_ROUTE: RouteEntryInput = {
  id: 'whoami',
  prefix: '/whoami',
  upstream: '${WHOAMI_URL}',
  auth: 'required',
  audience: 'whoami',
  credentials: ['bearer', 'cookie'],
};

describe('end to end: cookie sessions at the gateway (backend-for-frontend)', function () {
  this.timeout(60_000);
  let stack: Stack;
  let T: string;
  let G: string;
  const key = Buffer.from(DEVELOPMENT_SESSION_COOKIE_KEY, 'base64');

  before(async () => {
    stack = await startStack({
      browserSignIn: true,
      gateway: {
        signInScopes: 'openid profile notes:read notes:write',
        routes: {
          routes: [
            WHOAMI_ROUTE,
            {
              id: 'notes',
              prefix: '/notes',
              upstream: '${NOTES_URL}',
              auth: 'required',
              audience: 'notes',
              credentials: ['cookie'],
              forward_authorization: false,
            },
            {
              // An audience the gateway's sessions never get: their tokens are refused here.
              id: 'billing',
              prefix: '/billing',
              upstream: '${WHOAMI_URL}',
              auth: 'required',
              audience: 'billing',
              credentials: ['cookie'],
            },
            {
              id: 'page',
              prefix: '/app',
              upstream: '${WHOAMI_URL}',
              auth: 'required',
              audience: 'whoami',
              credentials: ['cookie'],
              sign_in: true,
            },
          ],
        },
      },
    });
    T = stack.issuer;
    G = stack.gateway.url;
  });
  after(() => stack?.stop());

  async function user(): Promise<{ username: string; password: string; id: string }> {
    const fresh = newUser('bff');
    const registered = await request<{ id: string }>(T, 'POST', '/auth/register', { json: fresh });
    return { ...fresh, id: registered.body.id };
  }

  /** Signs in through /.auth/login and the token service's form; returns the page the gateway sent the browser back to. */
  async function signIn(browser: TestBrowser, who: { username: string; password: string }, returnTo = '/whoami'): Promise<Page> {
    const login = await browser.navigate(`${G}/.auth/login?return_to=${encodeURIComponent(returnTo)}`, T, G);
    expect(login.status, login.html.slice(0, 200)).to.equal(200);
    expect(login.html).to.include('name="password"');
    const back = await browser.submit(login, { username: who.username, password: who.password });
    expect(back.location?.startsWith(`${G}/.auth/callback?`), back.location).to.equal(true);
    const landed = await browser.fetch(back.location as string);
    expect(landed.status).to.equal(302);
    expect(landed.location).to.equal(`${G}${returnTo}`);
    return landed;
  }

  const sessionCookie = (browser: TestBrowser) => browser.cookies(G).get('session');

  it('signs in through the login page; the browser holds one sealed cookie, the upstream gets the user and the bearer', async () => {
    const alice = await user();
    const browser = new TestBrowser();
    const landed = await signIn(browser, alice);
    const setCookie = landed.headers.getSetCookie().find((line) => line.startsWith('session='));
    expect(setCookie).to.match(/; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax/);
    const cookie = sessionCookie(browser) as string;
    expect(cookie).to.match(/^v1\.[0-9a-f]{8}\./);
    // Measured: the whole cookie (name, value) stays well under the 4 KB browsers allow.
    expect(`session=${cookie}`.length).to.be.lessThan(3500);
    // No JWT readable inside: a JWT's header and payload are "eyJ…" joined by a dot, which the sealed
    // part (base64url) never holds; "eyJ" alone turns up by chance in about 1 cookie in 100.
    expect(cookie).not.to.match(/eyJ[\w-]*\.eyJ/);

    const whoami = await browser.fetch(`${G}/whoami`);
    expect(whoami.status).to.equal(200);
    const seen = JSON.parse(whoami.html);
    expect(seen).to.include({ subject: alice.id, client: 'gateway' });
    expect(seen.authorization, 'the upstream may call APIs on the user’s behalf').to.equal('present');

    const info = await browser.fetch(`${G}/.auth/session`);
    const body = JSON.parse(info.html);
    expect(body).to.include({ signed_in: true, sub: alice.id, name: alice.username });
    expect(body.scopes).to.include.members(['openid', 'notes:read']);
    expect(info.html).not.to.include('eyJ');
  });

  it('forwards without the gateway’s cookies, and without the bearer on a route that says so', async () => {
    const bob = await user();
    const browser = new TestBrowser();
    await signIn(browser, bob, '/notes');
    browser.cookies(G).set('theme', 'dark');
    const added = await browser.fetch(`${G}/notes`, { json: { text: 'hello' }, headers: SAME_ORIGIN });
    expect(added.status).to.equal(201);
    expect(stack.notes.notebooks.get(bob.id)?.map((n) => n.text)).to.deep.equal(['hello']);
    expect([...browser.cookies(G).keys()]).to.include.members(['session', 'theme']);
    const whoami = JSON.parse((await browser.fetch(`${G}/whoami`)).html);
    // The browser holds the token service's sign-in cookies for this host too (cookies ignore ports):
    // like the gateway's own, they never reach an app.
    expect([...browser.cookies(G).keys()]).to.include.members(['signin', 'csrf', 'device']);
    expect(whoami.cookies, 'only the app’s own cookie passes').to.deep.equal(['theme']);
  });

  it('refuses a state-changing request with the cookie from another site (CSRF), and lets bearer calls be', async () => {
    const carol = await user();
    const browser = new TestBrowser();
    await signIn(browser, carol, '/notes');
    const crossSite = await browser.fetch(`${G}/notes`, {
      json: { text: 'forged' },
      headers: { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' },
    });
    expect(crossSite.status).to.equal(403);
    const noHeaders = await browser.fetch(`${G}/notes`, { json: { text: 'forged' } });
    expect(noHeaders.status).to.equal(403);
    expect(stack.notes.notebooks.get(carol.id) ?? []).to.deep.equal([]);
    const sameOrigin = await browser.fetch(`${G}/notes`, { json: { text: 'mine' }, headers: { origin: G } });
    expect(sameOrigin.status).to.equal(201);
  });

  it('a revocation anywhere ends the cookie session: 401 JSON for API calls, a redirect to sign in for pages, the cookie cleared', async () => {
    const dave = await user();
    const browser = new TestBrowser();
    await signIn(browser, dave);
    expect((await browser.fetch(`${G}/whoami`)).status).to.equal(200);
    // Global logout from another device (the first-party API).
    const other = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: dave.username, password: dave.password },
    });
    await request(T, 'POST', '/auth/logout', { token: other.body.access_token, json: { scope: 'global' } });
    const copy = sessionCookie(browser) as string;
    await eventually(async () => {
      const probe = new TestBrowser();
      probe.cookies(G).set('session', copy);
      return (await probe.fetch(`${G}/whoami`)).status === 401;
    }, 'the cookie session refused');
    const api = await browser.fetch(`${G}/whoami`);
    expect(api.status).to.equal(401);
    expect(JSON.parse(api.html)).to.include({ error: 'invalid_token' });
    expect(sessionCookie(browser), 'cleared').to.equal(undefined);

    const again = new TestBrowser();
    again.cookies(G).set('session', copy);
    const page = await again.fetch(`${G}/app/home`, { headers: NAVIGATE });
    expect(page.status).to.equal(302);
    expect(page.location).to.equal(`${G}/.auth/login?return_to=${encodeURIComponent('/app/home')}`);
    expect(JSON.parse((await again.fetch(`${G}/.auth/session`)).html)).to.deep.equal({ signed_in: false });
  });

  it('a token refused by one route (not its audience) is not a session that ended: the cookie stays', async () => {
    const ivan = await user();
    const browser = new TestBrowser();
    await signIn(browser, ivan);
    const cookie = sessionCookie(browser);
    const refused = await browser.fetch(`${G}/billing`);
    expect(refused.status).to.equal(401);
    expect(refused.headers.getSetCookie(), 'nothing clears the cookie').to.deep.equal([]);
    expect(sessionCookie(browser)).to.equal(cookie);
    expect((await browser.fetch(`${G}/whoami`)).status, 'the session goes on elsewhere').to.equal(200);
  });

  it('a page route sends an anonymous navigation to sign in, and answers an API call 401', async () => {
    const browser = new TestBrowser();
    const page = await browser.fetch(`${G}/app`, { headers: NAVIGATE });
    expect(page.status).to.equal(302);
    expect(page.location).to.equal(`${G}/.auth/login?return_to=%2Fapp`);
    expect((await browser.fetch(`${G}/app`)).status).to.equal(401);
  });

  it('logout revokes at the token service, ends the sign-in (the password is asked again) and clears the site data', async () => {
    const erin = await user();
    const browser = new TestBrowser();
    await signIn(browser, erin);
    const copy = sessionCookie(browser) as string;
    const refused = await browser.fetch(`${G}/.auth/logout`, { json: { scope: 'local' }, headers: { 'sec-fetch-site': 'cross-site' } });
    expect(refused.status, 'a cross-site logout is refused').to.equal(403);
    const out = await browser.fetch(`${G}/.auth/logout`, { json: { scope: 'local' }, headers: SAME_ORIGIN });
    expect(out.status).to.equal(204);
    expect(out.headers.get('clear-site-data')).to.equal('"cache", "cookies", "storage"');
    expect(sessionCookie(browser)).to.equal(undefined);
    const replay = new TestBrowser();
    replay.cookies(G).set('session', copy);
    expect((await replay.fetch(`${G}/whoami`)).status, 'the old cookie is dead').to.equal(401);
    // The token service's sign-in ended too: the next sign-in shows the form, not a silent redirect.
    const next = await browser.navigate(`${G}/.auth/login`, T, G);
    expect(next.status).to.equal(200);
    expect(next.html).to.include('name="password"');
  });

  it('a session revoked elsewhere cannot sign out everywhere: 401 asking to sign in again, never a 204 that did nothing', async () => {
    const judy = await user();
    const browser = new TestBrowser();
    await signIn(browser, judy);
    // Another device signs out every session but its own: the browser's session is revoked, its access token unexpired.
    const other = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: judy.username, password: judy.password },
    });
    await request(T, 'POST', '/auth/logout', { token: other.body.access_token, json: { scope: 'others' } });
    const probe = new TestBrowser();
    probe.cookies(G).set('session', sessionCookie(browser) as string);
    await eventually(async () => (await probe.fetch(`${G}/whoami`)).status === 401, 'the gateway learned of the revocation');
    const out = await browser.fetch(`${G}/.auth/logout`, { json: { scope: 'global' }, headers: SAME_ORIGIN });
    expect(out.status, 'the token service would have answered 204 and revoked nothing').to.equal(401);
    expect(JSON.parse(out.html).error_description).to.include('sign in again');
    const me = await request(T, 'GET', '/auth/me', { token: other.body.access_token });
    expect(me.status, 'the other device, which signed the others out, is still signed in').to.equal(200);
  });

  it('renews the access token before it expires; two gateways refreshing one session at once both succeed', async () => {
    const frank = await user();
    const browser = new TestBrowser();
    await signIn(browser, frank);
    const first = sessionCookie(browser) as string;
    // Margins wider than the token's lifetime make every request due for renewal.
    const [a, b] = await Promise.all([
      stack.startGateway({ sessionRefreshMarginMs: 10 * 60_000 }),
      stack.startGateway({ sessionRefreshMarginMs: 10 * 60_000 }),
    ]);
    const cookieFor = (gateway: Gateway) => {
      const probe = new TestBrowser();
      probe.cookies(gateway.url).set('session', first);
      return probe;
    };
    const [fromA, fromB] = [cookieFor(a), cookieFor(b)];
    await Promise.all([fromA.fetch(`${a.url}/whoami`), fromB.fetch(`${b.url}/whoami`)]);
    await eventually(async () => {
      const [ra, rb] = await Promise.all([fromA.fetch(`${a.url}/whoami`), fromB.fetch(`${b.url}/whoami`)]);
      return (
        ra.status === 200 &&
        rb.status === 200 &&
        fromA.cookies(a.url).get('session') !== first &&
        fromB.cookies(b.url).get('session') !== first
      );
    }, 'both gateways renewed the session and sent the new cookie');
    // Neither renewal logged the user out: the original browser still works.
    expect((await browser.fetch(`${G}/whoami`)).status).to.equal(200);
    await a.close();
    await b.close();
  });

  it('a renewal the token service cannot answer is 503 with Retry-After and keeps the cookie; once it answers, the session renews', async () => {
    const grace = await user();
    const browser = new TestBrowser();
    await signIn(browser, grace);
    // The same session with its access token past expiry: the request must renew before it can go on.
    const sealer = new CookieSealer([key]);
    const contents = JSON.parse(sealer.open('session', sessionCookie(browser) as string) as string);
    const due = sealer.seal('session', JSON.stringify({ ...contents, ae: Math.floor(Date.now() / 1000) - 5 }));
    const probe = new TestBrowser();
    probe.cookies(G).set('session', due);
    stack.issuerProxy.cut();
    try {
      const refused = await probe.fetch(`${G}/whoami`);
      expect(refused.status).to.equal(503);
      expect(refused.headers.get('retry-after')).to.equal('1');
      expect(JSON.parse(refused.html)).to.deep.include({
        error: 'temporarily_unavailable',
        error_description: 'the session could not be renewed; try again',
      });
      expect(probe.cookies(G).get('session'), 'an outage signs no one out').to.equal(due);
    } finally {
      stack.issuerProxy.heal();
    }
    let renewed: Page | undefined;
    await eventually(async () => (renewed = await probe.fetch(`${G}/whoami`)).status === 200, 'renewed once the token service answers');
    expect(probe.cookies(G).get('session'), 'the renewed session was sent').to.be.a('string').and.not.equal(due);
    expect(renewed?.headers.get('cache-control'), 'no shared cache stores a response that carries a session').to.equal('private, no-store');
  });

  describe('cookies the gateway must not accept', () => {
    let valid: string;
    before(async () => {
      const browser = new TestBrowser();
      await signIn(browser, await user());
      valid = sessionCookie(browser) as string;
    });
    const withCookie = async (value: string, gateway = G) => {
      const probe = new TestBrowser();
      probe.cookies(gateway).set('session', value);
      return probe.fetch(`${gateway}/whoami`);
    };

    it('a tampered cookie', async () => {
      const bytes = Buffer.from(valid.slice(12), 'base64url');
      bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 1;
      expect((await withCookie(`${valid.slice(0, 12)}${bytes.toString('base64url')}`)).status).to.equal(401);
      expect((await withCookie(valid)).status).to.equal(200);
    });

    it('a cookie sealed by another gateway’s key', async () => {
      const other = await stack.startGateway({ sessionCookieKeys: [crypto.randomBytes(32)] });
      expect((await withCookie(valid, other.url)).status).to.equal(401);
      await other.close();
    });

    it('a retired key keeps opening cookies while listed, and stops once removed', async () => {
      const newKey = crypto.randomBytes(32);
      const rotated = await stack.startGateway({ sessionCookieKeys: [newKey, key] });
      const renewed = new TestBrowser();
      renewed.cookies(rotated.url).set('session', valid);
      expect((await renewed.fetch(`${rotated.url}/whoami`)).status, 'old key still listed').to.equal(200);
      await rotated.close();
      const removed = await stack.startGateway({ sessionCookieKeys: [newKey] });
      expect((await withCookie(valid, removed.url)).status, 'old key removed').to.equal(401);
      await removed.close();
    });

    it('an expired cookie session', async () => {
      // The same session, its end moved into the past and sealed again with the gateway's key.
      const sealer = new CookieSealer([key]);
      const contents = JSON.parse(sealer.open('session', valid) as string);
      const expired = sealer.seal('session', JSON.stringify({ ...contents, x: Date.now() - 1000 }));
      expect((await withCookie(sealer.seal('session', JSON.stringify(contents)))).status, 'the unchanged reseal works').to.equal(200);
      expect((await withCookie(expired)).status).to.equal(401);
    });

    it('return_to that would leave the site is never followed', async () => {
      for (const evil of ['//evil.example', 'https://evil.example', '/\\evil.example', '/%5Cevil', 'javascript:alert(1)']) {
        const browser = new TestBrowser();
        const start = await browser.fetch(`${G}/.auth/login?return_to=${encodeURIComponent(evil)}`);
        expect(start.status).to.equal(302);
        const who = await user();
        const login = await browser.navigate(start.location as string, T, G);
        const back = await browser.submit(login, { username: who.username, password: who.password });
        const landed = await browser.fetch(back.location as string);
        // Back on the gateway's own origin, at a path of its own (never //host, which a browser reads as another site).
        expect(new URL(landed.location as string).origin, evil).to.equal(G);
        expect(landed.location?.slice(G.length), evil).to.match(/^\/(?![/\\])/);
      }
    });
  });

  it('never exposes a token in the session answer or to the browser', async () => {
    const browser = new TestBrowser();
    await signIn(browser, await user());
    const info = await browser.fetch(`${G}/.auth/session`);
    for (const word of ['access_token', 'refresh_token', 'id_token', 'eyJ']) expect(info.html).not.to.include(word);
    const cookie = sessionCookie(browser) as string;
    expect(() => jose.decodeJwt(cookie)).to.throw();
  });
});

describe('end to end: cookie sessions on 2-second access tokens (WebSockets, signing out everywhere)', function () {
  this.timeout(60_000);
  let stack: Stack;
  let T: string;
  let G: string;

  before(async () => {
    stack = await startStack({
      browserSignIn: true,
      // Access tokens outlived by the socket: it must survive their renewals.
      tokenEnv: { ACCESS_TOKEN_TTL: '2s' },
      gateway: {
        clockToleranceMs: 0,
        sessionRefreshMarginMs: 500,
        routes: {
          routes: [{ ...WHOAMI_ROUTE, websocket: true }],
        },
      },
    });
    T = stack.issuer;
    G = stack.gateway.url;
  });
  after(() => stack?.stop());

  async function signedInCookie(): Promise<{ cookie: string; user: { username: string; password: string } }> {
    const who = newUser('ws');
    await request(T, 'POST', '/auth/register', { json: who });
    const browser = new TestBrowser();
    const login = await browser.navigate(`${G}/.auth/login`, T, G);
    const back = await browser.submit(login, { username: who.username, password: who.password });
    await browser.fetch(back.location as string);
    return { cookie: browser.cookies(G).get('session') as string, user: who };
  }

  const open = (cookie: string, origin: string) =>
    new Promise<{ socket: WebSocket; status: number; setCookie?: string[] }>((resolve) => {
      const socket = new WebSocket(`${G.replace('http', 'ws')}/whoami/ws`, { headers: { cookie: `session=${cookie}`, origin } });
      socket.once('open', () => resolve({ socket, status: 101 }));
      socket.once('unexpected-response', (_req, res) =>
        resolve({ socket, status: res.statusCode ?? 0, setCookie: res.headers['set-cookie'] }),
      );
      socket.once('error', () => resolve({ socket, status: -1 }));
    });

  it('refuses an upgrade from another origin (cross-site WebSocket hijacking)', async () => {
    const { cookie } = await signedInCookie();
    expect((await open(cookie, 'http://evil.example')).status).to.equal(403);
    const { socket, status } = await open(cookie, G);
    expect(status).to.equal(101);
    socket.close();
  });

  it('stays open across access-token renewals, and closes when the session is revoked', async () => {
    const { cookie, user } = await signedInCookie();
    const { socket, status } = await open(cookie, G);
    expect(status).to.equal(101);
    const closed = new Promise<{ code: number; at: number }>((resolve) =>
      socket.once('close', (code) => resolve({ code, at: Date.now() })),
    );
    // Three access-token lifetimes: a bearer socket would have closed at the first expiry.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(socket.readyState, 'open after its first tokens expired').to.equal(WebSocket.OPEN);
    const echoed = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    socket.send('still here');
    expect(await echoed).to.include('still here');

    const other = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: user.username, password: user.password },
    });
    const loggedOut = Date.now();
    await request(T, 'POST', '/auth/logout', { token: other.body.access_token, json: { scope: 'global' } });
    const { code, at } = await closed;
    expect(code).to.equal(1008);
    expect(at - loggedOut).to.be.lessThan(5000);
  });

  it('refuses an upgrade on a session that has ended, and clears its cookie as any refusal of an ended session does', async () => {
    const { cookie, user } = await signedInCookie();
    const other = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: user.username, password: user.password },
    });
    await request(T, 'POST', '/auth/logout', { token: other.body.access_token, json: { scope: 'global' } });
    await eventually(async () => {
      const refused = await open(cookie, G);
      if (refused.status === 101) refused.socket.close();
      return refused.status === 401 && (refused.setCookie ?? []).some((line) => line.startsWith('session=;'));
    }, 'the upgrade refused with the cookie cleared');
  });

  it('signs out everywhere from a session whose access token has expired: the user’s other sessions end too', async () => {
    const { cookie, user } = await signedInCookie();
    const elsewhere = await request<{ refresh_token: string }>(T, 'POST', '/auth/login', {
      json: { username: user.username, password: user.password },
    });
    await new Promise((resolve) => setTimeout(resolve, 2500)); // the cookie's access token has expired
    const out = await fetch(`${G}/.auth/logout`, {
      method: 'POST',
      headers: { cookie: `session=${cookie}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
      body: JSON.stringify({ scope: 'global' }),
    });
    expect(out.status, await out.text()).to.equal(204);
    const refreshed = await request(T, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', refresh_token: elsewhere.body.refresh_token, client_id: 'web' },
    });
    expect(refreshed.status, 'the session signed in elsewhere has ended').to.equal(400);
    expect(refreshed.body).to.include({ error: 'invalid_grant' });
  });

  it('tells a session that has already ended it cannot sign out everywhere, and clears its cookie', async () => {
    const { cookie, user } = await signedInCookie();
    const other = await request<{ access_token: string }>(T, 'POST', '/auth/login', {
      json: { username: user.username, password: user.password },
    });
    await request(T, 'POST', '/auth/logout', { token: other.body.access_token, json: { scope: 'global' } });
    await new Promise((resolve) => setTimeout(resolve, 2500)); // renewal is now the only way to a token, and it is refused
    const out = await fetch(`${G}/.auth/logout`, {
      method: 'POST',
      headers: { cookie: `session=${cookie}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
      body: JSON.stringify({ scope: 'global' }),
    });
    expect(out.status).to.equal(401);
    expect(((await out.json()) as { error_description: string }).error_description).to.include('sign in again');
    expect(out.headers.getSetCookie().some((line) => /^session=;/.test(line))).to.equal(true);
  });
});
