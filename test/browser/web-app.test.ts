// The demo web app (services/web) in chromium, in front of a FAKE gateway: a
// node:http server that answers /.auth/session, /.auth/logout, /notes and
// /auth/sessions from memory and serves the app's real files with the real
// handler. This tests the page alone (what it shows, what it sends, what it
// never does); the real sign-in, cookie and revocation flow through the real
// gateway is tested end to end elsewhere. WEB_APP_SCREENSHOT=<file> also saves
// a screenshot of the signed-in page (`npm run screenshot` → docs/web-app.png).
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createWebHandler, PUBLIC_DIR } from '../../services/web/app.ts';
import { useChromium, type WatchedPage } from '../support/chromium.ts';

interface Note {
  id: string;
  text: string;
  created_at: string;
}

interface Device {
  id: string;
  client_id: string;
  user_agent: string | null;
  ip: string | null;
  created_at: string;
  last_used_at: string;
  current: boolean;
}

interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const SIGNED_IN = {
  signed_in: true,
  sub: 'u-1',
  name: 'alice',
  scopes: ['openid', 'notes:read', 'notes:write'],
  expires_at: '2030-01-01T00:00:00Z',
};
const MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

class FakeGateway {
  /** undefined: /.auth/session answers 404 (no gateway in front, or it is down). */
  session: Record<string, unknown> | undefined = { signed_in: false };
  /** The session was revoked elsewhere: every API call answers 401. */
  revoked = false;
  notes: Note[] = [];
  devices: Device[] = [];
  readonly seen: Seen[] = [];
  readonly server: http.Server;
  readonly #web = createWebHandler();

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => this.#answer(req, res, Buffer.concat(chunks).toString()));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  requests(method: string, pathPrefix: string): Seen[] {
    return this.seen.filter((seen) => seen.method === method && seen.path.startsWith(pathPrefix));
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    this.seen.push({ method, path: `${url.pathname}${url.search}`, headers: req.headers, body });
    const json = (status: number, value?: unknown) => {
      res.writeHead(status, value === undefined ? {} : { 'content-type': 'application/json' });
      res.end(value === undefined ? undefined : JSON.stringify(value));
    };
    const api = url.pathname === '/notes' || url.pathname.startsWith('/notes/') || url.pathname.startsWith('/auth/sessions');
    if (api && this.revoked) return json(401, { error: 'invalid_token', error_description: 'the session has ended' });
    const id = url.pathname.split('/').at(-1) ?? '';
    switch (`${method} ${url.pathname.replace(/^\/(notes|auth\/sessions)\/.+$/, '/$1/:id')}`) {
      case 'GET /.auth/session':
        return this.session ? json(200, this.session) : json(404, { error: 'not_found', error_description: 'no route' });
      case 'GET /.auth/login':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('the gateway would send you to the login page now');
        return;
      case 'POST /.auth/logout':
        this.session = { signed_in: false };
        return json(204);
      case 'GET /notes':
        return json(200, { notes: this.notes });
      case 'POST /notes': {
        const note = { id: randomUUID(), text: (JSON.parse(body) as { text: string }).text, created_at: new Date().toISOString() };
        this.notes.push(note);
        return json(201, note);
      }
      case 'DELETE /notes/:id':
        this.notes = this.notes.filter((note) => note.id !== decodeURIComponent(id));
        return json(204);
      case 'GET /auth/sessions':
        return json(200, { sessions: this.devices, next_cursor: null });
      case 'DELETE /auth/sessions/:id':
        this.devices = this.devices.filter((device) => device.id !== decodeURIComponent(id));
        return json(204);
      default:
        return this.#web(req, res);
    }
  }
}

function device(id: string, userAgent: string, current: boolean): Device {
  const at = new Date(Date.UTC(2026, 0, 5, 9, 30)).toISOString();
  return { id, client_id: 'gateway', user_agent: userAgent, ip: '127.0.0.1', created_at: at, last_used_at: at, current };
}

describe('browser: the demo web app (in front of a fake gateway)', function () {
  // Generous for a loaded CI machine; the suite takes seconds.
  this.timeout(60_000);
  const chromium = useChromium();
  let gateway: FakeGateway;

  beforeEach(async () => {
    gateway = new FakeGateway();
    await new Promise<void>((resolve) => gateway.server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    gateway.server.closeAllConnections();
    await new Promise<void>((resolve) => gateway.server.close(() => resolve()));
  });

  async function open(): Promise<WatchedPage> {
    const watched = await chromium.newPage({ viewport: { width: 900, height: 760 } });
    await watched.page.goto(`${gateway.url}/`);
    // A locator polls from Playwright's own world. waitForFunction would poll with eval in the page's world,
    // which the app's CSP (rightly) refuses on every poll after the first.
    await watched.page.locator('#status', { hasNotText: /^Loading…$/ }).waitFor({ state: 'attached' });
    return watched;
  }

  async function expectStoresNothing(watched: WatchedPage): Promise<void> {
    expect(await watched.page.evaluate('localStorage.length + sessionStorage.length'), 'web storage').to.equal(0);
  }

  it('its script never mentions browser storage, tokens or HTML sinks', () => {
    // The code, not its comments (which say what it never does).
    const source = fs
      .readFileSync(path.join(PUBLIC_DIR, 'app.js'), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '');
    expect(source).not.to.match(/localStorage|sessionStorage|indexedDB|innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect(source).not.to.match(/authorization|bearer|access_token|refresh_token/i);
  });

  it('signed out: loads without console errors or CSP violations, offers "Sign in", stores nothing', async () => {
    const watched = await open();
    const { page } = watched;
    expect(await page.locator('#sign-in').isVisible()).to.equal(true);
    expect(await page.locator('#status').textContent()).to.equal('You are not signed in.');
    expect(await page.locator('#signed-in').isVisible()).to.equal(false);
    expect(await page.locator('#whoami').isVisible()).to.equal(false);
    expect(watched.consoleErrors, 'console errors').to.deep.equal([]);
    expect(watched.pageErrors, 'page errors').to.deep.equal([]);
    await expectStoresNothing(watched);

    await Promise.all([page.waitForURL(/\/\.auth\/login/), page.locator('#sign-in').click()]);
    expect(new URL(page.url()).pathname).to.equal('/.auth/login');
    expect(new URL(page.url()).searchParams.get('return_to')).to.equal('/');
  });

  it('shows the signed-out state when /.auth/session is unavailable', async () => {
    gateway.session = undefined;
    const watched = await open();
    expect(await watched.page.locator('#sign-in').isVisible()).to.equal(true);
    expect(await watched.page.locator('#status').textContent()).to.equal('Sign-in is not available right now.');
    // Chromium reports the 404 itself; nothing else may go wrong.
    expect(watched.consoleErrors.filter((text) => !/status of 404/.test(text))).to.deep.equal([]);
    expect(watched.cspViolations()).to.deep.equal([]);
    expect(watched.pageErrors).to.deep.equal([]);
  });

  it('signed in: shows my name, my notes and devices as text; adds and deletes a note; revokes another device', async () => {
    gateway.session = SIGNED_IN;
    gateway.notes = [{ id: 'n-1', text: MARKUP, created_at: new Date().toISOString() }];
    gateway.devices = [device('s-1', 'Chromium on Linux (this one)', true), device('s-2', `Phone ${MARKUP}`, false)];
    const watched = await open();
    const { page } = watched;
    expect(await page.locator('#whoami').textContent()).to.equal('Signed in as alice');
    expect(await page.locator('#sign-in').isVisible()).to.equal(false);
    expect(await page.locator('#notes .note-text').allTextContents()).to.deep.equal([MARKUP]);
    expect(await page.locator('#devices li').count()).to.equal(2);
    expect(await page.locator('#devices li[data-id="s-1"] .revoke').count(), 'the current device has no revoke button').to.equal(0);
    expect(await page.locator('#devices li[data-id="s-1"] .current').textContent()).to.equal('this device');
    expect(await page.locator('#devices li[data-id="s-2"] .device-name').textContent()).to.equal(`Phone ${MARKUP}`);

    await page.locator('#note-text').fill('buy milk');
    await page.locator('#add-note').click();
    await page.locator('#notes .note-text', { hasText: 'buy milk' }).waitFor();
    expect(JSON.parse(gateway.requests('POST', '/notes')[0]?.body ?? '{}')).to.deep.equal({ text: 'buy milk' });
    expect(await page.locator('#note-text').inputValue()).to.equal('');

    if (process.env.WEB_APP_SCREENSHOT) await page.screenshot({ path: process.env.WEB_APP_SCREENSHOT, fullPage: true });

    await page.locator('#notes li[data-id="n-1"] .delete-note').click();
    await page.locator('#notes li[data-id="n-1"]').waitFor({ state: 'detached' });
    expect(gateway.requests('DELETE', '/notes/').map((seen) => seen.path)).to.deep.equal(['/notes/n-1']);

    await page.locator('#devices li[data-id="s-2"] .revoke').click();
    await page.locator('#devices li[data-id="s-2"]').waitFor({ state: 'detached' });
    expect(gateway.requests('DELETE', '/auth/sessions/').map((seen) => seen.path)).to.deep.equal(['/auth/sessions/s-2']);

    expect(await page.evaluate('typeof window.__pwned')).to.equal('undefined');
    expect(watched.dialogs).to.deep.equal([]);
    expect(watched.consoleErrors, 'console errors (CSP violations among them)').to.deep.equal([]);
    for (const seen of gateway.seen) expect(seen.headers.authorization, `${seen.method} ${seen.path}`).to.equal(undefined);
    await expectStoresNothing(watched);
  });

  it('a session revoked elsewhere (401) shows the signed-out state and its data goes, without a reload loop', async () => {
    gateway.session = SIGNED_IN;
    gateway.notes = [{ id: 'n-1', text: 'private', created_at: new Date().toISOString() }];
    const watched = await open();
    const { page } = watched;
    await page.locator('#notes .note-text').waitFor();
    gateway.revoked = true;
    gateway.session = { signed_in: false };
    await page.locator('#note-text').fill('too late');
    await page.locator('#add-note').click();
    await page.locator('#sign-in').waitFor();
    expect(await page.locator('#status').textContent()).to.equal('Your session has ended. Sign in again to continue.');
    expect(await page.locator('#notes li').count(), 'private notes left on the page').to.equal(0);
    expect(await page.locator('#whoami').isVisible()).to.equal(false);
    await page.waitForTimeout(300);
    expect(gateway.requests('GET', '/.auth/session'), 'the session was asked for once: no reload').to.have.length(1);
    expect(
      gateway.seen.filter((seen) => seen.path === '/'),
      'the page was loaded once',
    ).to.have.length(1);
    expect(new URL(page.url()).pathname).to.equal('/');
  });

  for (const [label, scope, message] of [
    ['sign-out', 'local', 'You are signed out.'],
    ['sign-out-everywhere', 'global', 'You are signed out on every device.'],
  ] as const) {
    it(`#${label} posts {"scope":"${scope}"} same-origin to /.auth/logout and shows the signed-out state`, async () => {
      gateway.session = SIGNED_IN;
      gateway.notes = [{ id: 'n-1', text: 'private', created_at: new Date().toISOString() }];
      const watched = await open();
      const { page } = watched;
      await page.locator('#notes .note-text').waitFor();
      await page.locator(`#${label}`).click();
      await page.locator('#sign-in').waitFor();
      const [logout] = gateway.requests('POST', '/.auth/logout');
      expect(JSON.parse(logout?.body ?? '{}')).to.deep.equal({ scope });
      expect(logout?.headers['sec-fetch-site']).to.equal('same-origin');
      expect(await page.locator('#status').textContent()).to.equal(message);
      expect(await page.locator('#notes li').count()).to.equal(0);
      await expectStoresNothing(watched);
    });
  }
});
