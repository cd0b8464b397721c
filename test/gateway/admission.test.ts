// The admission decision on its own (pipeline/admission.ts): a real verifier on
// the fake token service's keys, a real denylist, compiled routes; no server.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { discoverIssuer } from '../../gateway/keys/discovery.ts';
import { KeyStore } from '../../gateway/keys/key-store.ts';
import { admit, recheckRevocation, type Admission, type AdmissionDependencies } from '../../gateway/pipeline/admission.ts';
import type { FeedHealth } from '../../gateway/pipeline/check-revocation.ts';
import { parseRequestTarget, type RequestTarget } from '../../gateway/pipeline/match-route.ts';
import { strippedHeaderSet } from '../../gateway/pipeline/mutate-headers.ts';
import { Denylist } from '../../gateway/revocations/denylist.ts';
import { compileRoutes } from '../../gateway/routes/schema.ts';
import { AccessTokenVerifier } from '../../gateway/tokens/verify-access-token.ts';
import { VerificationCache } from '../../gateway/tokens/verification-cache.ts';
import { FakeAuthority, testLogger } from './helpers/fake-authority.ts';

const UPSTREAM = 'http://127.0.0.1:1';

describe('gateway: admission', () => {
  let authority: FakeAuthority;
  let keys: KeyStore;
  let denylist: Denylist;
  let deps: AdmissionDependencies;
  let ready: boolean;
  let feed: FeedHealth;

  before(async () => {
    authority = await FakeAuthority.start();
  });
  after(() => authority.close());

  beforeEach(async () => {
    keys = new KeyStore({ refetchCooldownMs: 60_000, logger: testLogger() });
    await keys.start((await discoverIssuer(authority.url)).jwksUri);
    denylist = new Denylist();
    ready = true;
    feed = { synced: true, stalenessMs: 0 };
    deps = {
      routes: {
        routes: compileRoutes(
          {
            routes: [
              {
                id: 'notes',
                prefix: '/notes',
                methods: ['GET'],
                upstream: UPSTREAM,
                auth: 'required',
                audience: 'notes',
                scopes: ['notes:read'],
              },
              { id: 'chat', prefix: '/chat', upstream: `${UPSTREAM}/base`, auth: 'required', audience: 'whoami', websocket: true },
              { id: 'public', prefix: '/public', upstream: UPSTREAM, auth: 'none', strip_prefix: true },
            ],
          },
          {},
          'test',
        ),
      },
      verifier: new AccessTokenVerifier({ issuer: authority.url, keys, clockToleranceMs: 30_000, cache: new VerificationCache(100) }),
      denylist,
      feedHealth: () => feed,
      isReady: () => ready,
      maxStalenessMs: 5000,
      strippedHeaders: strippedHeaderSet(['x-secret']),
    };
  });
  afterEach(() => keys.close());

  function request(method: string, path: string, headers: IncomingHttpHeaders = {}) {
    const target = parseRequestTarget(path) as RequestTarget;
    return { req: { method, headers: { host: 'gateway.test', ...headers }, socket: { remoteAddress: '10.0.0.7' } }, target };
  }

  async function decide(method: string, path: string, headers: IncomingHttpHeaders = {}, websocket = false): Promise<Admission> {
    const { req, target } = request(method, path, headers);
    return admit(deps, req, target, 'request-id-1', websocket);
  }

  function refusal(decision: Admission): { status: number; error: string; description: string; route: string | undefined } {
    assert.equal(decision.kind, 'reject', 'refused');
    const { rejection, route } = decision as Extract<Admission, { kind: 'reject' }>;
    return { status: rejection.status, error: rejection.error, description: rejection.description, route: route?.id };
  }

  const bearer = async (claims = {}) => ({ authorization: `Bearer ${await authority.token(claims)}` });

  it('forwards an authorised request: route, claims, upstream path and the headers the upstream sees', async () => {
    const token = await authority.token({ sub: 'alice', sid: 'sess-a', scope: 'notes:read' });
    const decision = await decide('GET', '/notes/1?x=2', { authorization: `Bearer ${token}`, 'x-auth-subject': 'root', 'x-secret': 's' });
    assert.equal(decision.kind, 'forward');
    assert.equal(decision.route?.id, 'notes');
    if (decision.kind !== 'forward') return;
    assert.equal(decision.claims?.sub, 'alice');
    assert.equal(decision.path, '/notes/1?x=2');
    assert.equal(decision.headers['x-auth-subject'], 'alice');
    assert.equal(decision.headers['x-auth-session'], 'sess-a');
    assert.equal(decision.headers['x-request-id'], 'request-id-1');
    assert.equal(decision.headers['x-forwarded-for'], '10.0.0.7');
    assert.equal(decision.headers['x-forwarded-host'], 'gateway.test');
    assert.equal(decision.headers['x-secret'], undefined, 'GATEWAY_STRIP_HEADERS applies');
    assert.equal(decision.headers.authorization, `Bearer ${token}`);
  });

  it('forwards anonymous callers of a public route, prefix stripped, even before the gateway is ready', async () => {
    ready = false;
    const decision = await decide('POST', '/public/a/../b', { authorization: 'Bearer not-a-jwt' });
    assert.equal(decision.kind, 'forward');
    if (decision.kind !== 'forward') return;
    assert.equal(decision.claims, undefined);
    assert.equal(decision.path, '/b');
    assert.equal(decision.headers['x-auth-subject'], undefined);
  });

  it('refuses what no route takes: 404, or 405 naming the methods allowed; with no route', async () => {
    assert.deepEqual(refusal(await decide('GET', '/nowhere')), {
      status: 404,
      error: 'not_found',
      description: 'no route for this path',
      route: undefined,
    });
    const wrongMethod = await decide('PUT', '/notes/1');
    assert.equal(refusal(wrongMethod).status, 405);
    assert.equal(wrongMethod.kind === 'reject' && wrongMethod.rejection.headers?.allow, 'GET, HEAD');
  });

  it('runs the policy in order: starting (503), token (401), revocation (401, 503 when stale), scope (403), each with its route', async () => {
    ready = false;
    assert.deepEqual(refusal(await decide('GET', '/notes', await bearer())), {
      status: 503,
      error: 'temporarily_unavailable',
      description: 'gateway is starting',
      route: 'notes',
    });
    ready = true;
    assert.equal(refusal(await decide('GET', '/notes')).description, 'missing bearer token');
    assert.equal(refusal(await decide('GET', '/notes', await bearer({ aud: 'whoami' }))).description, 'token not issued for this audience');

    denylist.apply({ id: 1, kind: 'session', key: 'sess-gone', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    assert.deepEqual(refusal(await decide('GET', '/notes', await bearer({ sid: 'sess-gone', scope: '' }))), {
      status: 401,
      error: 'invalid_token',
      description: 'session revoked',
      route: 'notes',
    });
    feed = { synced: true, stalenessMs: 10_000 };
    assert.equal(refusal(await decide('GET', '/notes', await bearer())).status, 503);
    feed = { synced: true, stalenessMs: 0 };
    assert.deepEqual(refusal(await decide('GET', '/notes', await bearer({ scope: 'notes:write' }))), {
      status: 403,
      error: 'insufficient_scope',
      description: 'requires scope notes:read',
      route: 'notes',
    });
  });

  it('decides synchronously for a token in the verification cache, and the same way as after a verification', async () => {
    const { req, target } = request('GET', '/notes/1', await bearer({ sub: 'quick', scope: 'notes:read' }));
    const first = admit(deps, req, target, 'request-id-3', false);
    assert.ok(first instanceof Promise, 'an unseen token is verified (RSA), so the answer is a promise');
    const verified = await first;
    const second = admit(deps, req, target, 'request-id-3', false);
    assert.ok(!(second instanceof Promise), 'a cached token is decided at once');
    assert.deepEqual(second, verified);

    denylist.apply({ id: 1, kind: 'user', key: 'quick', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    const revoked = admit(deps, req, target, 'request-id-3', false);
    assert.ok(!(revoked instanceof Promise));
    assert.equal(refusal(revoked).error, 'invalid_token', 'the cache never skips the revocation check');
  });

  it('tells the trace the route before the token is checked', async () => {
    const { req, target } = request('GET', '/notes', { authorization: 'Bearer not-a-jwt' });
    const trace: { route?: string } = {};
    const pending = admit(deps, req, target, 'request-id-2', false, trace);
    assert.equal(trace.route, 'notes', 'known while verification is pending');
    assert.equal(refusal(await pending).status, 401);
  });

  it('admits upgrades on WebSocket routes only, with handshake headers left to the relay, and rechecks revocation later', async () => {
    const headers = { ...(await bearer({ sub: 'wendy', sid: 'sess-ws' })), 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    assert.deepEqual(refusal(await decide('GET', '/public/ws', headers, true)), {
      status: 404,
      error: 'not_found',
      description: 'no WebSocket route for this path',
      route: undefined,
    });
    const decision = await decide('GET', '/chat/room', headers, true);
    assert.equal(decision.kind, 'forward');
    if (decision.kind !== 'forward') return;
    assert.equal(decision.path, '/chat/room');
    assert.equal(decision.headers['sec-websocket-key'], undefined);
    assert.equal(decision.headers['x-auth-subject'], 'wendy');
    assert.equal(recheckRevocation(deps, decision.claims), undefined);
    denylist.apply({ id: 2, kind: 'session', key: 'sess-ws', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    assert.equal(recheckRevocation(deps, decision.claims)?.description, 'session revoked');
  });
});
