// The whole product in a real browser: chromium signs in to the demo web app
// through the gateway (cookie session) and the token service's login page, and
// uses it the way a person would. Nothing here is faked: real token service,
// real gateway, real notes and web apps, real cookies.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { startWeb, type RunningWeb } from '../../services/web/app.ts';
import { useChromium } from '../support/chromium.ts';
import { newUser, request } from '../support/http.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('in a real browser: the web app behind the gateway', function () {
  this.timeout(90_000);
  const chromium = useChromium();
  let stack: Stack;
  let web: RunningWeb;
  let attacker: http.Server;
  let G: string;
  let evil: string;

  before(async function () {
    web = await startWeb({ port: 0 });
    stack = await startStack({
      browserSignIn: true,
      // Short-lived access tokens: the page must keep working on renewals alone.
      tokenEnv: { ACCESS_TOKEN_TTL: '5s' },
      gateway: {
        clockToleranceMs: 0,
        sessionRefreshMarginMs: 2000,
        signInScopes: 'openid profile notes:read notes:write',
        routes: {
          routes: [
            { id: 'web', prefix: '/', methods: ['GET', 'HEAD'], upstream: '${WEB_URL}', auth: 'none', forward_authorization: false },
            {
              id: 'notes',
              prefix: '/notes',
              upstream: '${NOTES_URL}',
              auth: 'required',
              audience: 'notes',
              credentials: ['bearer', 'cookie'],
            },
            {
              id: 'whoami',
              prefix: '/whoami',
              upstream: '${WHOAMI_URL}',
              auth: 'required',
              audience: 'whoami',
              credentials: ['bearer', 'cookie'],
              websocket: true,
            },
            {
              id: 'token-sessions',
              prefix: '/auth/sessions',
              upstream: '${TOKEN_SERVICE_URL}',
              auth: 'required',
              audience: '${TOKEN_ISSUER}',
              credentials: ['bearer', 'cookie'],
            },
          ],
        },
      },
      routesEnv: { WEB_URL: web.url },
    });
    G = stack.gateway.url;
    // Another local port: another origin, but the same site, so the browser does send the SameSite=Lax
    // cookie along; only the gateway's origin check stands between this page and the victim's session.
    attacker = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><body><script>
        window.results = {};
        // A "simple" request (no preflight) the notes app would accept: only the gateway's origin check stands in the way.
        fetch('${G}/notes', { method: 'POST', credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'text=csrf' })
          .then(() => (window.results.post = 'sent'), () => (window.results.post = 'failed'));
        const ws = new WebSocket('${G.replace('http', 'ws')}/whoami');
        ws.onopen = () => (window.results.ws = 'open');
        ws.onerror = () => (window.results.ws = 'refused');
      </script></body>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    evil = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  });
  after(async () => {
    attacker?.close();
    await stack?.stop();
    await web?.close();
  });

  async function user() {
    const fresh = newUser('web');
    const registered = await request<{ id: string }>(stack.issuer, 'POST', '/auth/register', { json: fresh });
    return { ...fresh, id: registered.body.id };
  }

  async function signIn(page: Page, who: { username: string; password: string }): Promise<void> {
    await page.goto(`${G}/`);
    await page.click('#sign-in');
    await page.waitForSelector('input[name="password"]');
    await page.fill('#username', who.username);
    await page.fill('#password', who.password);
    await Promise.all([page.waitForURL(`${G}/`), page.click('button[type="submit"]')]);
    await page.waitForSelector('#whoami:not([hidden])');
  }

  const sessionCookie = async (page: Page) => (await page.context().cookies(G)).find((cookie) => cookie.name === 'session');

  it('signs in through the form, shows my name, adds and deletes a note; the page never holds a token', async () => {
    const alice = await user();
    const { page, pageErrors } = await chromium.newPage();
    const requests: string[] = [];
    page.on('request', (req) => requests.push(`${req.headers().authorization ?? ''}`));
    await signIn(page, alice);
    expect(await page.textContent('#whoami')).to.equal(`Signed in as ${alice.username}`);
    const cookie = await sessionCookie(page);
    expect(cookie).to.include({ httpOnly: true, sameSite: 'Lax', path: '/' });

    await page.fill('#note-text', 'buy milk');
    await page.click('#add-note');
    await page.waitForSelector('.note-text >> text=buy milk');
    expect(stack.notes.notebooks.get(alice.id)?.map((n) => n.text)).to.deep.equal(['buy milk']);
    // `npm run screenshot`: the README's picture of the app, signed in for real.
    if (process.env.WEB_APP_SCREENSHOT) {
      await page.waitForSelector('.device');
      await page.screenshot({ path: process.env.WEB_APP_SCREENSHOT, fullPage: true });
    }
    await page.click('.delete-note');
    await page.waitForSelector('.note', { state: 'detached' });
    expect(stack.notes.notebooks.get(alice.id)).to.deep.equal([]);

    expect(
      requests.filter((header) => header !== ''),
      'no request from the page carries a token',
    ).to.deep.equal([]);
    expect(await page.evaluate('document.cookie'), 'the session cookie is out of JavaScript’s reach').not.to.include('session=');
    expect(pageErrors).to.deep.equal([]);
  });

  it('“sign out everywhere” in one browser: the other’s next action shows it signed out within a second, its cookie gone', async () => {
    const bob = await user();
    const first = await chromium.newPage();
    const second = await chromium.newPage();
    await signIn(first.page, bob);
    await signIn(second.page, bob);
    await first.page.click('#sign-out-everywhere');
    await first.page.waitForSelector('#signed-out:not([hidden])');

    const started = Date.now();
    await second.page.fill('#note-text', 'after logout');
    await second.page.click('#add-note');
    await second.page.waitForSelector('#signed-out:not([hidden])', { timeout: 5000 });
    expect(Date.now() - started, 'ms from the action to the signed-out page').to.be.lessThan(1000);
    expect(await second.page.textContent('#status')).to.match(/session has ended/i);
    expect(await sessionCookie(second.page), 'the refusal cleared the cookie').to.equal(undefined);
    expect(stack.notes.notebooks.get(bob.id) ?? []).to.deep.equal([]);
  });

  it('keeps working for 20 s on 5-second access tokens, without signing in again', async () => {
    const carol = await user();
    const { page } = await chromium.newPage();
    await signIn(page, carol);
    const deadline = Date.now() + 20_000;
    let step = 0;
    while (Date.now() < deadline) {
      step += 1;
      await page.fill('#note-text', `note ${step}`);
      await page.click('#add-note');
      await page.waitForSelector(`.note-text >> text="note ${step}"`, { timeout: 5000 });
      await page.waitForTimeout(1500);
    }
    expect(await page.isVisible('#signed-in')).to.equal(true);
    expect(stack.notes.notebooks.get(carol.id)?.length).to.equal(step);
    // Several access tokens came and went: the family was refreshed, never signed in again.
    const refreshes = await stack.token.service.knex('audit_events').where({ type: 'token_refreshed', user_id: carol.id }).count('* as n');
    expect(Number(refreshes[0]?.n)).to.be.greaterThan(1);
    const logins = await stack.token.service.knex('audit_events').where({ type: 'login_succeeded', user_id: carol.id }).count('* as n');
    expect(Number(logins[0]?.n), 'the login page and the code exchange, once').to.equal(2);
  });

  it('after sign-out the back button shows no private data, storage is empty, and signing in asks for the password again', async () => {
    const dave = await user();
    const { page } = await chromium.newPage();
    await signIn(page, dave);
    await page.fill('#note-text', 'secret plan');
    await page.click('#add-note');
    await page.waitForSelector('.note-text >> text=secret plan');
    await page.evaluate("localStorage.setItem('left-behind', 'x')");

    await page.click('#sign-out');
    await page.waitForSelector('#signed-out:not([hidden])');
    expect(await page.evaluate('localStorage.length'), 'Clear-Site-Data emptied storage').to.equal(0);
    await page.goBack().catch(() => undefined);
    await page.goForward().catch(() => undefined);
    await page.waitForLoadState();
    expect(await page.content()).not.to.include('secret plan');
    expect(await sessionCookie(page)).to.equal(undefined);

    await page.goto(`${G}/.auth/login`);
    await page.waitForSelector('input[name="password"]');
    expect(await page.isVisible('input[name="password"]'), 'the token service’s sign-in ended too').to.equal(true);
  });

  it('a page on another site can neither post with my cookie (CSRF) nor open the WebSocket', async () => {
    const erin = await user();
    const { page, context } = await chromium.newPage();
    await signIn(page, erin);
    const victim = await context.newPage();
    await victim.goto(evil);
    await victim.waitForFunction('window.results.post && window.results.ws', undefined, { timeout: 5000 });
    const results = (await victim.evaluate('window.results')) as { post: string; ws: string };
    expect(results.ws).to.equal('refused');
    expect(stack.notes.notebooks.get(erin.id) ?? [], 'no note was created').to.deep.equal([]);
    // The same browser's own page still works.
    await page.fill('#note-text', 'legit');
    await page.click('#add-note');
    await page.waitForSelector('.note-text >> text=legit');
  });
});
