// The assembled gateway in-process, against the fake token service and the two
// real demo apps, using the shipped routes.json (upstreams substituted from env).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { createLogger } from '../../common/logger.ts';
import type { Gateway } from '../../gateway/app.ts';
import { startNotes, type RunningNotes } from '../../services/notes/app.ts';
import { startWhoami, type RunningApp } from '../../services/whoami/app.ts';
import { startTestGateway } from '../support/gateway.ts';
import { request } from '../support/http.ts';
import { eventually } from '../support/stack.ts';
import { FakeAuthority } from './helpers/fake-authority.ts';

const ROUTES = fileURLToPath(new URL('../../gateway/routes.json', import.meta.url));

describe('gateway: in-process with demo apps', function () {
  let authority: FakeAuthority;
  let whoami: RunningApp;
  let notes: RunningNotes;
  let gateway: Gateway;
  let logText = '';

  before(async () => {
    authority = await FakeAuthority.start();
    whoami = await startWhoami();
    notes = await startNotes();
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
        env: { WHOAMI_URL: whoami.url, NOTES_URL: notes.url },
      },
    );
  });
  after(async () => {
    await gateway?.close();
    await whoami?.close();
    await notes?.close();
    await authority?.close();
  });

  it('reports health and readiness', async () => {
    const health = await request(gateway.url, 'GET', '/healthz');
    assert.equal(health.status, 200);
    const ready = await request(gateway.url, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    assert.equal(ready.body.keys, true);
    assert.equal(ready.body.denylist, true);
    assert.equal(ready.body.feed, 'live');
    assert.equal(gateway.readiness().checks.feed, 'live');
  });

  it('answers unmatched paths with 404 JSON and wrong methods with 405', async () => {
    const missing = await request(gateway.url, 'GET', '/nowhere');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, 'not_found');
    const put = await request(gateway.url, 'PUT', '/notes/1', { token: await authority.token() });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'DELETE, GET, HEAD, POST');
  });

  it('requires a token on /whoami (401 invalid_token) and forwards the verified identity', async () => {
    const anonymous = await request(gateway.url, 'GET', '/whoami');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

    const token = await authority.token({ sub: 'alice', sid: 'sess-alice', client_id: 'web', scope: 'notes:read' });
    const reply = await request(gateway.url, 'GET', '/whoami/me', { token, headers: { 'x-request-id': 'trace-12345678' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.subject, 'alice');
    assert.equal(reply.body.session, 'sess-alice');
    assert.equal(reply.body.client, 'web');
    assert.deepEqual(reply.body.scopes, ['notes:read']);
    assert.equal(reply.body.path, '/whoami/me');
    assert.equal(reply.body.authorization, 'present');
    assert.equal(reply.body.request_id, 'trace-12345678');
    assert.equal(reply.headers.get('x-request-id'), 'trace-12345678');
  });

  it('never lets a spoofed X-Auth-Subject (or X-User-*, X-Forwarded-*) reach the upstream', async () => {
    const spoof = { 'x-auth-subject': 'root', 'x-auth-scopes': 'admin', 'x-user-id': 'root', 'x-forwarded-for': '6.6.6.6' };
    const publicReply = await request(gateway.url, 'GET', '/public', { headers: spoof });
    assert.equal(publicReply.status, 200);
    assert.equal(publicReply.body.subject, null);
    const seen = publicReply.body.headers as Record<string, string>;
    assert.equal(seen['x-user-id'], undefined);
    assert.equal(seen['x-auth-scopes'], undefined);
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');

    const token = await authority.token({ sub: 'alice' });
    const authed = await request(gateway.url, 'GET', '/whoami', { token, headers: spoof });
    assert.equal(authed.body.subject, 'alice');
    assert.deepEqual(authed.body.scopes, ['notes:read', 'notes:write']);
  });

  it('does not forward Authorization on the public route (forward_authorization: false)', async () => {
    const reply = await request(gateway.url, 'GET', '/public', { token: await authority.token() });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.authorization, 'absent');
  });

  it('answers 403 insufficient_scope on /admin for a token without the admin scope', async () => {
    const reply = await request(gateway.url, 'GET', '/admin', { token: await authority.token() });
    assert.equal(reply.status, 403);
    assert.match(reply.headers.get('www-authenticate') ?? '', /error="insufficient_scope", .*scope="admin"/);
    const admin = await request(gateway.url, 'GET', '/admin', { token: await authority.token({ scope: 'admin' }) });
    assert.equal(admin.status, 200);
  });

  it('matches the normalized path, so dot segments cannot reach /admin through /public', async () => {
    // node:http sends the path verbatim (fetch would normalize it first).
    const status = async (path: string) => {
      const sent = http.get(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${await authority.token()}` } });
      const [response] = (await once(sent, 'response')) as [http.IncomingMessage];
      response.resume();
      return response.statusCode;
    };
    assert.equal(await status('/public/%2e%2e/admin'), 403);
    assert.equal(await status('/public/../admin'), 403);
    assert.equal(await status('/public/./x'), 200);
  });

  it('rejects a token for another audience', async () => {
    const reply = await request(gateway.url, 'GET', '/whoami', { token: await authority.token({ aud: 'notes' }) });
    assert.equal(reply.status, 401);
    assert.equal(reply.body.error_description, 'token not issued for this audience');
  });

  it('runs the notes API per user, with notes:read for GET and notes:write for POST/DELETE', async () => {
    const writer = await authority.token({ sub: 'nora', scope: 'notes:read notes:write' });
    const reader = await authority.token({ sub: 'nora', scope: 'notes:read' });
    const created = await request(gateway.url, 'POST', '/notes', { token: writer, json: { text: 'buy milk' } });
    assert.equal(created.status, 201);
    const forbidden = await request(gateway.url, 'POST', '/notes', { token: reader, json: { text: 'nope' } });
    assert.equal(forbidden.status, 403);
    const listed = await request(gateway.url, 'GET', '/notes', { token: reader });
    assert.deepEqual(
      (listed.body.notes as { text: string }[]).map((n) => n.text),
      ['buy milk'],
    );
    const someoneElse = await request(gateway.url, 'GET', '/notes', { token: await authority.token({ sub: 'otto' }) });
    assert.deepEqual(someoneElse.body.notes, []);
    const deleted = await request(gateway.url, 'DELETE', `/notes/${String(created.body.id)}`, { token: writer });
    assert.equal(deleted.status, 204);
    assert.deepEqual(notes.notebooks.get('nora'), []);
  });

  it('answers 401 for a session once its revocation arrives, while other sessions carry on', async () => {
    const revoked = await authority.token({ sid: 'sess-to-revoke' });
    const other = await authority.token({ sid: 'sess-other' });
    assert.equal((await request(gateway.url, 'GET', '/whoami', { token: revoked })).status, 200); // now cached as verified
    const entry = authority.revoke('session', 'sess-to-revoke');
    await gateway.denylist.waitFor(entry.id);
    const after = await request(gateway.url, 'GET', '/whoami', { token: revoked });
    assert.equal(after.status, 401);
    assert.equal(after.body.error_description, 'session revoked');
    assert.equal((await request(gateway.url, 'GET', '/whoami', { token: other })).status, 200);
  });

  it('revokes single tokens by jti and users from a not-before instant', async () => {
    const now = Math.floor(Date.now() / 1000);
    const single = await authority.token({ jti: 'jti-to-revoke' });
    await gateway.denylist.waitFor(authority.revoke('token', 'jti-to-revoke').id);
    assert.equal((await request(gateway.url, 'GET', '/whoami', { token: single })).status, 401);

    const oldToken = await authority.token({ sub: 'victor', iat: now - 60 });
    const entry = authority.revoke('user', 'victor', { notBefore: new Date((now - 30) * 1000) });
    await gateway.denylist.waitFor({ kind: 'user', key: 'victor' });
    assert.equal(entry.kind, 'user');
    assert.equal((await request(gateway.url, 'GET', '/whoami', { token: oldToken })).status, 401);
    const fresh = await authority.token({ sub: 'victor', iat: now });
    assert.equal((await request(gateway.url, 'GET', '/whoami', { token: fresh })).status, 200, 'a login after the not-before is fine');
  });

  it('accepts tokens from a rotated key without a restart', async () => {
    const kid = await authority.addKey();
    const reply = await request(gateway.url, 'GET', '/whoami', { token: await authority.token({}, {}, kid) });
    assert.equal(reply.status, 200);
    assert.ok(gateway.keys.kids.includes(kid));
  });

  it('writes an access log line per request without ever logging the token', async () => {
    const token = await authority.token({ sub: 'logged-user' });
    await request(gateway.url, 'GET', '/whoami?access_token=should-not-appear', { token, headers: { 'x-request-id': 'log-check-1234' } });
    const line = logText
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.requestId === 'log-check-1234');
    assert.ok(line, 'an access log line for the request');
    assert.equal(line.route, 'whoami');
    assert.equal(line.status, 200);
    assert.equal(line.subject, 'logged-user');
    assert.equal(typeof line.latencyMs, 'number');
    assert.ok(!logText.includes(token), 'the token is not in the logs');
    assert.ok(!logText.includes('should-not-appear'), 'nor is the query string');
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
    assert.equal(ready.status, 503);
    assert.equal(ready.body.denylist, false);
    assert.equal(ready.body.feed, 'starting');
    const authed = await request(gateway.url, 'GET', '/whoami', { token: await authority.token() });
    assert.equal(authed.status, 503);
    assert.equal((await request(gateway.url, 'GET', '/public')).status, 200, 'public routes do not depend on the token service');
  });

  it('with REVOCATION_MAX_STALENESS, refuses authenticated requests while the feed is down, and recovers', async () => {
    gateway = await startTestGateway(authority.followed, {
      routes: routes(whoami.url),
      revocationMaxStalenessMs: 1,
      feedReconnectMinMs: 5,
      feedReconnectMaxMs: 20,
    });
    const token = await authority.token();
    assert.equal((await request(gateway.url, 'GET', '/whoami', { token })).status, 200);

    authority.feedAvailable = false;
    const down = once(gateway.feed, 'down');
    authority.dropStreams();
    await down;
    const { feed } = gateway;
    await eventually(() => feed.stalenessMs() > 1, 'the feed counts as stale');
    const refused = await request(gateway.url, 'GET', '/whoami', { token });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    const notReady = await request(gateway.url, 'GET', '/readyz');
    assert.equal(notReady.status, 503);
    assert.equal(notReady.body.feed, 'down');
    assert.equal(notReady.body.stale, true);

    authority.feedAvailable = true;
    await gateway.feed.whenLive();
    assert.equal((await request(gateway.url, 'GET', '/whoami', { token })).status, 200);
  });

  it('answers 502 when the upstream is down', async () => {
    const deadUpstream = whoami.url;
    await whoami.close();
    whoami = await startWhoami(); // keep afterEach happy; the route still points at the closed port
    gateway = await startTestGateway(authority.followed, { routes: routes(deadUpstream) });
    const reply = await request(gateway.url, 'GET', '/whoami', { token: await authority.token() });
    assert.equal(reply.status, 502);
    assert.equal(reply.body.error, 'bad_gateway');
  });

  it('fails start-up with a clear error when the routes are invalid', async () => {
    await assert.rejects(
      startTestGateway(authority.followed, { routes: { routes: [{ id: 'x', prefix: '/x', upstream: whoami.url, auth: 'required' }] } }),
      /routes\[0\] "x"\.audience/,
    );
  });
});
