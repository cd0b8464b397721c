// The admission decision on its own (pipeline/admission.ts): a real verifier on
// the fake token service's keys, a real denylist, compiled routes; no server.
import { expect } from 'chai';
import type { IncomingHttpHeaders } from 'node:http';
import type { KeyStore } from '../../gateway/keys/key-store.ts';
import { admit, recheckRevocation, type Admission, type AdmissionDependencies } from '../../gateway/pipeline/admission.ts';
import type { FeedHealth } from '../../gateway/pipeline/check-revocation.ts';
import { parseRequestTarget, type RequestTarget } from '../../gateway/pipeline/match-route.ts';
import { strippedHeaderSet } from '../../gateway/pipeline/mutate-headers.ts';
import { Denylist } from '../../gateway/revocations/denylist.ts';
import { compileRoutes } from '../../gateway/routes/schema.ts';
import { AccessTokenVerifier } from '../../gateway/tokens/verify-access-token.ts';
import { VerificationCache } from '../../gateway/tokens/verification-cache.ts';
import { FakeAuthority } from './helpers/fake-authority.ts';

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
    keys = await authority.keyStore();
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
    expect(decision.kind, 'refused').to.equal('reject');
    const { rejection, route } = decision as Extract<Admission, { kind: 'reject' }>;
    return { status: rejection.status, error: rejection.error, description: rejection.description, route: route?.id };
  }

  const bearer = async (claims = {}) => ({ authorization: `Bearer ${await authority.token(claims)}` });

  it('forwards an authorised request: route, claims, upstream path and the headers the upstream sees', async () => {
    const token = await authority.token({ sub: 'alice', sid: 'sess-a', scope: 'notes:read' });
    const decision = await decide('GET', '/notes/1?x=2', { authorization: `Bearer ${token}`, 'x-auth-subject': 'root', 'x-secret': 's' });
    expect(decision.kind).to.equal('forward');
    expect(decision.route?.id).to.equal('notes');
    if (decision.kind !== 'forward') return;
    expect(decision.claims?.sub).to.equal('alice');
    expect(decision.path).to.equal('/notes/1?x=2');
    expect(decision.headers['x-auth-subject']).to.equal('alice');
    expect(decision.headers['x-auth-session']).to.equal('sess-a');
    expect(decision.headers['x-request-id']).to.equal('request-id-1');
    expect(decision.headers['x-forwarded-for']).to.equal('10.0.0.7');
    expect(decision.headers['x-forwarded-host']).to.equal('gateway.test');
    expect(decision.headers['x-secret'], 'GATEWAY_STRIP_HEADERS applies').to.equal(undefined);
    expect(decision.headers.authorization).to.equal(`Bearer ${token}`);
  });

  it('forwards anonymous callers of a public route, prefix stripped, even before the gateway is ready', async () => {
    ready = false;
    const decision = await decide('POST', '/public/a/../b', { authorization: 'Bearer not-a-jwt' });
    expect(decision.kind).to.equal('forward');
    if (decision.kind !== 'forward') return;
    expect(decision.claims).to.equal(undefined);
    expect(decision.path).to.equal('/b');
    expect(decision.headers['x-auth-subject']).to.equal(undefined);
  });

  it('refuses what no route takes: 404, or 405 naming the methods allowed; with no route', async () => {
    expect(refusal(await decide('GET', '/nowhere'))).to.deep.equal({
      status: 404,
      error: 'not_found',
      description: 'no route for this path',
      route: undefined,
    });
    const wrongMethod = await decide('PUT', '/notes/1');
    expect(refusal(wrongMethod).status).to.equal(405);
    expect(wrongMethod.kind === 'reject' && wrongMethod.rejection.headers?.allow).to.equal('GET, HEAD');
  });

  it('runs the policy in order: starting (503), token (401), revocation (401, 503 when stale), scope (403), each with its route', async () => {
    ready = false;
    expect(refusal(await decide('GET', '/notes', await bearer()))).to.deep.equal({
      status: 503,
      error: 'temporarily_unavailable',
      description: 'gateway is starting',
      route: 'notes',
    });
    ready = true;
    expect(refusal(await decide('GET', '/notes')).description).to.equal('missing bearer token');
    expect(refusal(await decide('GET', '/notes', await bearer({ aud: 'whoami' }))).description).to.equal(
      'token not issued for this audience',
    );

    denylist.apply({ id: 1, kind: 'session', key: 'sess-gone', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    expect(refusal(await decide('GET', '/notes', await bearer({ sid: 'sess-gone', scope: '' })))).to.deep.equal({
      status: 401,
      error: 'invalid_token',
      description: 'session revoked',
      route: 'notes',
    });
    feed = { synced: true, stalenessMs: 10_000 };
    expect(refusal(await decide('GET', '/notes', await bearer())).status).to.equal(503);
    feed = { synced: true, stalenessMs: 0 };
    expect(refusal(await decide('GET', '/notes', await bearer({ scope: 'notes:write' })))).to.deep.equal({
      status: 403,
      error: 'insufficient_scope',
      description: 'requires scope notes:read',
      route: 'notes',
    });
  });

  it('decides synchronously for a token in the verification cache, and the same way as after a verification', async () => {
    const { req, target } = request('GET', '/notes/1', await bearer({ sub: 'quick', scope: 'notes:read' }));
    const first = admit(deps, req, target, 'request-id-3', false);
    expect(first instanceof Promise, 'an unseen token is verified (RSA), so the answer is a promise').to.be.ok;
    const verified = await first;
    const second = admit(deps, req, target, 'request-id-3', false);
    expect(second instanceof Promise, 'a cached token is decided at once').to.not.be.ok;
    expect(second).to.deep.equal(verified);

    denylist.apply({ id: 1, kind: 'user', key: 'quick', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    const revoked = admit(deps, req, target, 'request-id-3', false);
    expect(revoked instanceof Promise).to.not.be.ok;
    expect(refusal(revoked as Admission).error, 'the cache never skips the revocation check').to.equal('invalid_token');
  });

  it('tells the trace the route before the token is checked', async () => {
    const { req, target } = request('GET', '/notes', { authorization: 'Bearer not-a-jwt' });
    const trace: { route?: string } = {};
    const pending = admit(deps, req, target, 'request-id-2', false, trace);
    expect(trace.route, 'known while verification is pending').to.equal('notes');
    expect(refusal(await pending).status).to.equal(401);
  });

  it('admits upgrades on WebSocket routes only, with handshake headers left to the relay, and rechecks revocation later', async () => {
    const headers = { ...(await bearer({ sub: 'wendy', sid: 'sess-ws' })), 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    expect(refusal(await decide('GET', '/public/ws', headers, true))).to.deep.equal({
      status: 404,
      error: 'not_found',
      description: 'no WebSocket route for this path',
      route: undefined,
    });
    const decision = await decide('GET', '/chat/room', headers, true);
    expect(decision.kind).to.equal('forward');
    if (decision.kind !== 'forward') return;
    expect(decision.path).to.equal('/chat/room');
    expect(decision.headers['sec-websocket-key']).to.equal(undefined);
    expect(decision.headers['x-auth-subject']).to.equal('wendy');
    expect(recheckRevocation(deps, decision.claims)).to.equal(undefined);
    denylist.apply({ id: 2, kind: 'session', key: 'sess-ws', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    expect(recheckRevocation(deps, decision.claims)?.description).to.equal('session revoked');
  });
});
