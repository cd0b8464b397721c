// The assembled gateway in-process, against the fake token service and the two
// real demo apps and the browser app, using the shipped routes.json (upstreams
// substituted from env).
import { expect } from 'chai';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { createLogger } from '../../common/logger.ts';
import type { Gateway } from '../../gateway/app.ts';
import { startNotes, type RunningNotes } from '../../services/notes/app.ts';
import { startWeb, type RunningWeb } from '../../services/web/app.ts';
import { startWhoami, type RunningApp } from '../../services/whoami/app.ts';
import { startTestGateway } from '../support/gateway.ts';
import { request } from '../support/http.ts';
import { eventually } from '../support/stack.ts';
import { FakeAuthority } from './helpers/fake-authority.ts';
import { rejectionOf } from '../support/rejection.ts';

const ROUTES = fileURLToPath(new URL('../../gateway/routes.json', import.meta.url));

describe('gateway: in-process with demo apps', function () {
  let authority: FakeAuthority;
  let whoami: RunningApp;
  let notes: RunningNotes;
  let web: RunningWeb;
  let gateway: Gateway;
  let logText = '';

  before(async () => {
    authority = await FakeAuthority.start();
    whoami = await startWhoami();
    notes = await startNotes();
    web = await startWeb();
    const capture = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logText += chunk.toString();
        callback();
      },
    });
    gateway = await startTestGateway(
      authority.followed,
      { routes: ROUTES },
      {
        logger: createLogger({ name: 'gateway', level: 'info', destination: capture }),
        env: { WHOAMI_URL: whoami.url, NOTES_URL: notes.url, WEB_URL: web.url },
      },
    );
  });
  after(async () => {
    await gateway?.close();
    await whoami?.close();
    await notes?.close();
    await web?.close();
    await authority?.close();
  });

  it('reports health and readiness', async () => {
    const health = await request(gateway.url, 'GET', '/healthz');
    expect(health.status).to.equal(200);
    const ready = await request(gateway.url, 'GET', '/readyz');
    expect(ready.status).to.equal(200);
    expect(ready.body.status).to.equal('ready');
    expect(ready.body.keys).to.equal(true);
    expect(ready.body.denylist).to.equal(true);
    expect(ready.body.feed).to.equal('live');
    expect(gateway.readiness().checks.feed).to.equal('live');
  });

  it('serves the browser app at / (so no GET is unmatched) and answers wrong methods with 405', async () => {
    const page = await request(gateway.url, 'GET', '/');
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    const missing = await request(gateway.url, 'GET', '/nowhere');
    expect(missing.status, 'the web app’s own 404').to.equal(404);
    const post = await request(gateway.url, 'POST', '/nowhere', { json: {} });
    expect(post.status).to.equal(405);
    expect(post.body.error).to.equal('method_not_allowed');
    expect(post.headers.get('allow')).to.equal('GET, HEAD');
    const put = await request(gateway.url, 'PUT', '/notes/1', { token: await authority.token() });
    expect(put.status).to.equal(405);
    expect(put.headers.get('allow')).to.equal('DELETE, GET, HEAD, POST');
  });

  it('requires a token on /whoami (401 invalid_token) and forwards the verified identity', async () => {
    const anonymous = await request(gateway.url, 'GET', '/whoami');
    expect(anonymous.status).to.equal(401);
    expect(anonymous.headers.get('www-authenticate') ?? '').to.match(/error="invalid_token"/);

    const token = await authority.token({ sub: 'alice', sid: 'sess-alice', client_id: 'web', scope: 'notes:read' });
    const reply = await request(gateway.url, 'GET', '/whoami/me', { token, headers: { 'x-request-id': 'trace-12345678' } });
    expect(reply.status).to.equal(200);
    expect(reply.body.subject).to.equal('alice');
    expect(reply.body.session).to.equal('sess-alice');
    expect(reply.body.client).to.equal('web');
    expect(reply.body.scopes).to.deep.equal(['notes:read']);
    expect(reply.body.path).to.equal('/whoami/me');
    expect(reply.body.authorization).to.equal('present');
    expect(reply.body.request_id).to.equal('trace-12345678');
    expect(reply.headers.get('x-request-id')).to.equal('trace-12345678');
  });

  it('never lets a spoofed X-Auth-Subject (or X-User-*, X-Forwarded-*) reach the upstream', async () => {
    const spoof = { 'x-auth-subject': 'root', 'x-auth-scopes': 'admin', 'x-user-id': 'root', 'x-forwarded-for': '6.6.6.6' };
    const publicReply = await request(gateway.url, 'GET', '/public', { headers: spoof });
    expect(publicReply.status).to.equal(200);
    expect(publicReply.body.subject).to.equal(null);
    const seen = publicReply.body.headers as Record<string, string>;
    expect(seen['x-user-id']).to.equal(undefined);
    expect(seen['x-auth-scopes']).to.equal(undefined);
    expect(seen['x-forwarded-for']).to.equal('127.0.0.1');

    const token = await authority.token({ sub: 'alice' });
    const authed = await request(gateway.url, 'GET', '/whoami', { token, headers: spoof });
    expect(authed.body.subject).to.equal('alice');
    expect(authed.body.scopes).to.deep.equal(['notes:read', 'notes:write']);
  });

  it('does not forward Authorization on the public route (forward_authorization: false)', async () => {
    const reply = await request(gateway.url, 'GET', '/public', { token: await authority.token() });
    expect(reply.status).to.equal(200);
    expect(reply.body.authorization).to.equal('absent');
  });

  it('answers 403 insufficient_scope on /admin for a token without the admin scope', async () => {
    const reply = await request(gateway.url, 'GET', '/admin', { token: await authority.token() });
    expect(reply.status).to.equal(403);
    expect(reply.headers.get('www-authenticate') ?? '').to.match(/error="insufficient_scope", .*scope="admin"/);
    const admin = await request(gateway.url, 'GET', '/admin', { token: await authority.token({ scope: 'admin' }) });
    expect(admin.status).to.equal(200);
  });

  it('matches the normalized path, so dot segments cannot reach /admin through /public', async () => {
    // node:http sends the path verbatim (fetch would normalize it first).
    const status = async (path: string) => {
      const sent = http.get(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${await authority.token()}` } });
      const [response] = (await once(sent, 'response')) as [http.IncomingMessage];
      response.resume();
      return response.statusCode;
    };
    expect(await status('/public/%2e%2e/admin')).to.equal(403);
    expect(await status('/public/../admin')).to.equal(403);
    expect(await status('/public/./x')).to.equal(200);
  });

  it('rejects a token for another audience', async () => {
    const reply = await request(gateway.url, 'GET', '/whoami', { token: await authority.token({ aud: 'notes' }) });
    expect(reply.status).to.equal(401);
    expect(reply.body.error_description).to.equal('token not issued for this audience');
  });

  it('runs the notes API per user, with notes:read for GET and notes:write for POST/DELETE', async () => {
    const writer = await authority.token({ sub: 'nora', scope: 'notes:read notes:write' });
    const reader = await authority.token({ sub: 'nora', scope: 'notes:read' });
    const created = await request(gateway.url, 'POST', '/notes', { token: writer, json: { text: 'buy milk' } });
    expect(created.status).to.equal(201);
    const forbidden = await request(gateway.url, 'POST', '/notes', { token: reader, json: { text: 'nope' } });
    expect(forbidden.status).to.equal(403);
    const listed = await request(gateway.url, 'GET', '/notes', { token: reader });
    expect((listed.body.notes as { text: string }[]).map((n) => n.text)).to.deep.equal(['buy milk']);
    const someoneElse = await request(gateway.url, 'GET', '/notes', { token: await authority.token({ sub: 'otto' }) });
    expect(someoneElse.body.notes).to.deep.equal([]);
    const deleted = await request(gateway.url, 'DELETE', `/notes/${String(created.body.id)}`, { token: writer });
    expect(deleted.status).to.equal(204);
    expect(notes.notebooks.get('nora')).to.deep.equal([]);
  });

  it('answers 401 for a session once its revocation arrives, while other sessions carry on', async () => {
    const revoked = await authority.token({ sid: 'sess-to-revoke' });
    const other = await authority.token({ sid: 'sess-other' });
    expect((await request(gateway.url, 'GET', '/whoami', { token: revoked })).status).to.equal(200); // now cached as verified
    const entry = authority.revoke('session', 'sess-to-revoke');
    await gateway.denylist.waitFor(entry.id);
    const after = await request(gateway.url, 'GET', '/whoami', { token: revoked });
    expect(after.status).to.equal(401);
    expect(after.body.error_description).to.equal('session revoked');
    expect((await request(gateway.url, 'GET', '/whoami', { token: other })).status).to.equal(200);
  });

  it('revokes single tokens by jti and users from a not-before instant', async () => {
    const now = Math.floor(Date.now() / 1000);
    const single = await authority.token({ jti: 'jti-to-revoke' });
    await gateway.denylist.waitFor(authority.revoke('token', 'jti-to-revoke').id);
    expect((await request(gateway.url, 'GET', '/whoami', { token: single })).status).to.equal(401);

    const oldToken = await authority.token({ sub: 'victor', iat: now - 60 });
    const entry = authority.revoke('user', 'victor', { notBefore: new Date((now - 30) * 1000) });
    await gateway.denylist.waitFor({ kind: 'user', key: 'victor' });
    expect(entry.kind).to.equal('user');
    expect((await request(gateway.url, 'GET', '/whoami', { token: oldToken })).status).to.equal(401);
    const fresh = await authority.token({ sub: 'victor', iat: now });
    expect((await request(gateway.url, 'GET', '/whoami', { token: fresh })).status, 'a login after the not-before is fine').to.equal(200);
  });

  it('accepts tokens from a rotated key without a restart', async () => {
    const kid = await authority.addKey();
    const reply = await request(gateway.url, 'GET', '/whoami', { token: await authority.token({}, {}, kid) });
    expect(reply.status).to.equal(200);
    expect(gateway.keys.kids.includes(kid)).to.be.ok;
  });

  it('writes an access log line per request without ever logging the token', async () => {
    const token = await authority.token({ sub: 'logged-user' });
    await request(gateway.url, 'GET', '/whoami?access_token=should-not-appear', { token, headers: { 'x-request-id': 'log-check-1234' } });
    const line = logText
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.requestId === 'log-check-1234');
    expect(line, 'an access log line for the request').to.be.ok;
    expect(line!.route).to.equal('whoami');
    expect(line!.status).to.equal(200);
    expect(line!.subject).to.equal('logged-user');
    expect(typeof line!.latencyMs).to.equal('number');
    expect(logText.includes(token), 'the token is not in the logs').to.not.be.ok;
    expect(logText.includes('should-not-appear'), 'nor is the query string').to.not.be.ok;
  });
});

describe('gateway: availability', () => {
  let authority: FakeAuthority;
  let whoami: RunningApp;
  let gateway: Gateway | undefined;
  const routes = (upstream: string) => ({
    routes: [
      { id: 'whoami', prefix: '/whoami', upstream, auth: 'required' as const, audience: 'whoami' },
      { id: 'public', prefix: '/public', upstream, auth: 'none' as const },
    ],
  });

  beforeEach(async () => {
    authority = await FakeAuthority.start();
    whoami = await startWhoami();
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await whoami.close();
    await authority.close();
  });

  it('is not ready, and refuses authenticated requests with 503, until the denylist has synced', async () => {
    gateway = await startTestGateway(
      authority.followed,
      { clientSecret: 'not-the-right-secret', routes: routes(whoami.url) },
      { waitUntilReady: false },
    );
    await once(gateway.feed, 'down'); // the feed refused our credentials
    const ready = await request(gateway.url, 'GET', '/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.body.denylist).to.equal(false);
    expect(ready.body.feed).to.equal('starting');
    const authed = await request(gateway.url, 'GET', '/whoami', { token: await authority.token() });
    expect(authed.status).to.equal(503);
    expect((await request(gateway.url, 'GET', '/public')).status, 'public routes do not depend on the token service').to.equal(200);
  });

  it('with REVOCATION_MAX_STALENESS, refuses authenticated requests while the feed is down, and recovers', async () => {
    gateway = await startTestGateway(authority.followed, {
      routes: routes(whoami.url),
      revocationMaxStalenessMs: 1,
      feedReconnectMinMs: 5,
      feedReconnectMaxMs: 20,
    });
    const token = await authority.token();
    expect((await request(gateway.url, 'GET', '/whoami', { token })).status).to.equal(200);

    authority.feedAvailable = false;
    const down = once(gateway.feed, 'down');
    authority.dropStreams();
    await down;
    const { feed } = gateway;
    await eventually(() => feed.stalenessMs() > 1, 'the feed counts as stale');
    const refused = await request(gateway.url, 'GET', '/whoami', { token });
    expect(refused.status).to.equal(503);
    expect(refused.headers.get('retry-after')).to.equal('1');
    const notReady = await request(gateway.url, 'GET', '/readyz');
    expect(notReady.status).to.equal(503);
    expect(notReady.body.feed).to.equal('down');
    expect(notReady.body.stale).to.equal(true);

    authority.feedAvailable = true;
    await gateway.feed.whenLive();
    expect((await request(gateway.url, 'GET', '/whoami', { token })).status).to.equal(200);
  });

  it('answers 502 when the upstream is down', async () => {
    const deadUpstream = whoami.url;
    await whoami.close();
    whoami = await startWhoami(); // keep afterEach happy; the route still points at the closed port
    gateway = await startTestGateway(authority.followed, { routes: routes(deadUpstream) });
    const reply = await request(gateway.url, 'GET', '/whoami', { token: await authority.token() });
    expect(reply.status).to.equal(502);
    expect(reply.body.error).to.equal('bad_gateway');
  });

  it('fails start-up with a clear error when the routes are invalid', async () => {
    expect(
      await rejectionOf(
        startTestGateway(authority.followed, { routes: { routes: [{ id: 'x', prefix: '/x', upstream: whoami.url, auth: 'required' }] } }),
      ),
    )
      .to.have.property('message')
      .that.matches(/routes\[0\] "x"\.audience/);
  });
});
