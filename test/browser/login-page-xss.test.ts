// Issue 11, "the token service's login page survives <script> in every field":
// chromium opens the real login and consent pages with markup in the client's
// name, login_hint and state, and types markup into the username and password.
// The page must show each as text. The pages' CSP allows no script at all, so a
// script that did get in would be refused rather than run: the tests therefore
// also look for the refusal (a CSP violation) and for injected elements, which
// catch a broken escape even where the CSP would have saved the day.
import { expect } from 'chai';
import { upsertClient } from '../../services/token/models/clients.ts';
import { newUser, request } from '../support/http.ts';
import { useChromium, type WatchedPage } from '../support/chromium.ts';
import { useTestTokenService } from '../support/token-service.ts';

const CLIENT_NAME = '<script>window.__pwned=1</script>';
const LOGIN_HINT = '"><img src=x onerror="window.__pwned=2"><script>window.__pwned=3</script>';
const TYPED_USERNAME = '<script>window.__pwned=4</script>';
const TYPED_PASSWORD = '</script><script>window.__pwned=5</script>';
const STATE = '"><script>window.__pwned=6</script>';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const CLIENT_ID = 'xss-third-party';

/** What would show that markup got into the page: its result, elements nobody wrote, a dialog, a refused script. */
async function expectNothingInjected(watched: WatchedPage): Promise<void> {
  const { page } = watched;
  expect(await page.evaluate('typeof window.__pwned'), 'window.__pwned').to.equal('undefined');
  expect(await page.locator('script, img, iframe, svg, object, embed').count(), 'injected elements').to.equal(0);
  expect(watched.dialogs, 'dialogs').to.deep.equal([]);
  expect(watched.cspViolations(), 'CSP violations (a script got into the page)').to.deep.equal([]);
  expect(watched.pageErrors, 'page errors').to.deep.equal([]);
}

describe('browser: the token service’s login and consent pages with <script> in every field', function () {
  // Generous for a loaded CI machine; the suite takes seconds.
  this.timeout(60_000);
  const token = useTestTokenService();
  const chromium = useChromium();

  before(async () => {
    // A third-party client (so the consent page shows) whose name is markup.
    await upsertClient(token.service.knex, {
      client_id: CLIENT_ID,
      name: CLIENT_NAME,
      secret_hash: null,
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'notes:read'],
      audiences: ['notes'],
      redirect_uris: [REDIRECT_URI],
      first_party: false,
    });
  });

  function authorizeUrl(loginHint?: string): string {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'openid notes:read',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: STATE,
    });
    if (loginHint !== undefined) query.set('login_hint', loginHint);
    return `${token.url}/oauth/authorize?${query.toString()}`;
  }

  it('shows the client name and login_hint as text, and a wrong <script> username and password as a plain error', async () => {
    const watched = await chromium.newPage();
    const { page } = watched;
    const shown = await page.goto(authorizeUrl(LOGIN_HINT));
    expect(shown?.status()).to.equal(200);
    expect(await page.locator('#client-name').textContent()).to.equal(CLIENT_NAME);
    expect(await page.locator('#username').inputValue(), 'login_hint, as the field’s value').to.equal(LOGIN_HINT);
    await expectNothingInjected(watched);

    await page.locator('#username').fill(TYPED_USERNAME);
    await page.locator('#password').fill(TYPED_PASSWORD);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(answer.status()).to.equal(400);
    await page.locator('#error').waitFor();
    expect(await page.locator('#error').textContent()).to.equal('Invalid username or password.');
    expect(await page.locator('#error').isVisible()).to.equal(true);
    expect(await page.locator('#username').inputValue(), 'the typed username, given back as text').to.equal(TYPED_USERNAME);
    expect(await page.locator('#password').inputValue(), 'the password is never given back').to.equal('');
    expect(await page.locator('#client-name').textContent()).to.equal(CLIENT_NAME);
    expect(await page.content()).not.to.include(TYPED_PASSWORD);
    await expectNothingInjected(watched);
  });

  it('shows the consent page of a client named <script> as text, after a real sign-in', async () => {
    const user = newUser('xss');
    const registered = await request(token.url, 'POST', '/auth/register', { json: user });
    expect(registered.status, registered.text).to.equal(201);

    const watched = await chromium.newPage();
    const { page } = watched;
    await page.goto(authorizeUrl());
    await page.locator('#username').fill(user.username);
    await page.locator('#password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    expect(await page.locator('h1').textContent()).to.equal('Allow access?');
    expect(await page.locator('#client-name').textContent()).to.equal(CLIENT_NAME);
    expect(await page.locator('ul.scopes li').allTextContents()).to.deep.equal(['openid', 'notes:read']);
    expect(await page.locator('body').textContent()).to.include(user.username);
    await expectNothingInjected(watched);
  });
});
