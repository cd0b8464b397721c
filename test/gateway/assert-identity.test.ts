// The identity-assertion stage (pipeline/assert-identity.ts) alone and inside
// admission: what it signs, what it reuses (counted through an injected
// signer, never timed), and that a cached assertion serves only its own token
// and route, never a revoked session.
import { expect } from 'chai';
import * as jose from 'jose';
import type { IncomingHttpHeaders } from 'node:http';
import { GATEWAY_ASSERTION_TYPE, type GatewayAssertionClaims } from '../../contract/gateway-assertion.ts';
import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';
import { loadAssertionKeys } from '../../gateway/assertions/keys.ts';
import { rs256Signer } from '../../gateway/assertions/signer.ts';
import type { KeyStore } from '../../gateway/keys/key-store.ts';
import { admit, type Admission, type AdmissionDependencies } from '../../gateway/pipeline/admission.ts';
import { IdentityAsserter, REUSE_MARGIN_S } from '../../gateway/pipeline/assert-identity.ts';
import { parseRequestTarget, type RequestTarget } from '../../gateway/pipeline/match-route.ts';
import { strippedHeaderSet } from '../../gateway/pipeline/mutate-headers.ts';
import { Denylist } from '../../gateway/revocations/denylist.ts';
import { compileRoutes, type Route } from '../../gateway/routes/schema.ts';
import type { VerifiedClaims } from '../../gateway/tokens/claims.ts';
import { AccessTokenVerifier } from '../../gateway/tokens/verify-access-token.ts';
import { VerificationCache } from '../../gateway/tokens/verification-cache.ts';
import { FakeAuthority } from './helpers/fake-authority.ts';

const UPSTREAM = 'http://127.0.0.1:1';
const [notes, whoami] = compileRoutes(
  {
    routes: [
      { id: 'notes', prefix: '/notes', upstream: UPSTREAM, auth: 'required', audience: 'notes' },
      { id: 'whoami', prefix: '/whoami', upstream: UPSTREAM, auth: 'optional', audience: 'whoami' },
    ],
  },
  {},
  'test',
) as [Route, Route];

const alice: VerifiedClaims = Object.freeze({
  sub: 'alice',
  sid: 'session-a',
  jti: 'token-a1',
  iat: 1_900_000_000,
  exp: 1_900_000_300,
  aud: ['notes', 'whoami'],
  scopes: ['notes:read', 'notes:write'],
  clientId: 'web',
});

/** A signer that records what it was asked to sign and answers a fake JWS naming the claims. */
function countingSigner() {
  const signed: GatewayAssertionClaims[] = [];
  let fail = false;
  return {
    signed,
    failNext: () => (fail = true),
    sign: async (claims: GatewayAssertionClaims) => {
      signed.push(claims);
      await new Promise((resolve) => setImmediate(resolve));
      if (fail) {
        fail = false;
        throw new Error('signing failed');
      }
      return `jws-${signed.length}-${claims.aud}-${claims.sub}`;
    },
  };
}

describe('gateway: identity assertion', () => {
  let nowMs: number;
  let signer: ReturnType<typeof countingSigner>;
  let asserter: IdentityAsserter;
  beforeEach(() => {
    nowMs = 1_900_000_010_500;
    signer = countingSigner();
    asserter = new IdentityAsserter({ issuer: 'http://gateway.test', sign: signer.sign, maxEntries: 3, now: () => nowMs });
  });

  it('signs the verified identity for the route: iss, aud = route id, sub, sid, scope, client_id, 60 s of life', async () => {
    const jws = await asserter.assertionFor(notes, alice);
    expect(jws).to.equal('jws-1-notes-alice');
    expect(signer.signed).to.deep.equal([
      {
        iss: 'http://gateway.test',
        aud: 'notes',
        sub: 'alice',
        sid: 'session-a',
        scope: 'notes:read notes:write',
        client_id: 'web',
        iat: 1_900_000_010,
        exp: 1_900_000_070,
      },
    ]);
    const machine = await asserter.assertionFor(notes, { ...alice, jti: 'token-m', clientId: undefined });
    expect(machine).to.be.a('string');
    expect(signer.signed[1]).to.not.have.property('client_id');
  });

  it('reuses the assertion for the same token and route, synchronously, until 15 s of its life remain', async () => {
    await asserter.assertionFor(notes, alice);
    const again = asserter.assertionFor(notes, alice);
    expect(again, 'a cached assertion is answered at once').to.equal('jws-1-notes-alice');
    expect(asserter.assertionFor(notes, { ...alice }), 'an equal claims object (re-verified token)').to.equal('jws-1-notes-alice');
    expect(signer.signed).to.have.length(1);
    expect(asserter.stats).to.deep.equal({ signatures: 1, cacheHits: 2 });

    // Signed at second 1_900_000_010 with exp 70: reused while now < exp − 15 s.
    nowMs = (1_900_000_070 - REUSE_MARGIN_S) * 1000 - 1;
    expect(asserter.assertionFor(notes, alice)).to.equal('jws-1-notes-alice');
    nowMs += 1;
    const renewed = asserter.assertionFor(notes, alice);
    expect(renewed, 'too close to its exp: signed afresh').to.be.instanceOf(Promise);
    expect(await renewed).to.equal('jws-2-notes-alice');
    expect(signer.signed[1]!.iat).to.equal(1_900_000_055);
  });

  it('never serves one token or route another one’s assertion', async () => {
    await asserter.assertionFor(notes, alice);
    expect(await asserter.assertionFor(whoami, alice)).to.equal('jws-2-whoami-alice');
    expect(await asserter.assertionFor(notes, { ...alice, jti: 'token-a2' })).to.equal('jws-3-notes-alice');
    // Same jti and sid but another subject or scope (a token service gone wrong): not the cached one.
    expect(await asserter.assertionFor(notes, { ...alice, sub: 'mallory' })).to.equal('jws-4-notes-mallory');
    expect(await asserter.assertionFor(notes, { ...alice, scopes: ['notes:read'] })).to.equal('jws-5-notes-alice');
    expect(signer.signed.map((c) => [c.aud, c.sub, c.scope])).to.deep.equal([
      ['notes', 'alice', 'notes:read notes:write'],
      ['whoami', 'alice', 'notes:read notes:write'],
      ['notes', 'alice', 'notes:read notes:write'],
      ['notes', 'mallory', 'notes:read notes:write'],
      ['notes', 'alice', 'notes:read'],
    ]);
  });

  it('shares one signature between concurrent requests, and caches no failure', async () => {
    const first = asserter.assertionFor(notes, alice);
    const second = asserter.assertionFor(notes, alice);
    expect(second).to.equal(first);
    expect(await Promise.all([first, second])).to.deep.equal(['jws-1-notes-alice', 'jws-1-notes-alice']);
    expect(signer.signed).to.have.length(1);

    signer.failNext();
    const bob = { ...alice, sub: 'bob', jti: 'token-b', sid: 'session-b' };
    let failure: unknown;
    await Promise.resolve(asserter.assertionFor(notes, bob)).catch((error: unknown) => (failure = error));
    expect(failure).to.be.instanceOf(Error);
    expect(await asserter.assertionFor(notes, bob), 'signed again after a failure').to.equal('jws-3-notes-bob');
  });

  it('keeps at most maxEntries assertions, dropping the least recently used', async () => {
    const token = (n: number) => ({ ...alice, jti: `token-${n}` });
    for (const n of [1, 2, 3]) await asserter.assertionFor(notes, token(n));
    expect(asserter.assertionFor(notes, token(1))).to.be.a('string'); // 1 is now the most recent
    await asserter.assertionFor(notes, token(4)); // evicts 2
    expect(asserter.size).to.equal(3);
    expect(asserter.assertionFor(notes, token(1))).to.be.a('string');
    expect(asserter.assertionFor(notes, token(2))).to.be.instanceOf(Promise);
    expect(signer.signed).to.have.length(5);
  });

  it('makes an RS256 JWS that jose verifies against the published JWKS', async () => {
    const keys = await loadAssertionKeys({
      assertion: true,
      publicUrl: undefined,
      assertionKey: undefined,
      assertionKeyFile: undefined,
      assertionPublishedKeysFile: undefined,
    });
    const real = new IdentityAsserter({ issuer: 'http://localhost:8080', sign: rs256Signer(keys), maxEntries: 10 });
    const jws = await real.assertionFor(notes, alice);
    const { payload, protectedHeader } = await jose.jwtVerify(jws, jose.createLocalJWKSet({ keys: [...keys.jwks.keys] }), {
      algorithms: ['RS256'],
      typ: GATEWAY_ASSERTION_TYPE,
      issuer: 'http://localhost:8080',
      audience: 'notes',
    });
    expect(protectedHeader).to.deep.equal({ alg: 'RS256', typ: GATEWAY_ASSERTION_TYPE, kid: keys.signer.kid });
    expect(payload).to.include({ sub: 'alice', sid: 'session-a', scope: 'notes:read notes:write', client_id: 'web' });
    expect(payload.exp! - payload.iat!).to.equal(60);
    expect(keys.signer.kid).to.equal(await jose.calculateJwkThumbprint(keys.jwks.keys[0]!));
  });
});

describe('gateway: identity assertion in admission', () => {
  let authority: FakeAuthority;
  let keys: KeyStore;
  let denylist: Denylist;
  let deps: AdmissionDependencies;
  let signer: ReturnType<typeof countingSigner>;

  before(async () => {
    authority = await FakeAuthority.start();
  });
  after(() => authority.close());
  beforeEach(async () => {
    keys = await authority.keyStore();
    denylist = new Denylist();
    signer = countingSigner();
    deps = {
      routes: { routes: [notes, whoami] },
      verifier: new AccessTokenVerifier({ issuer: authority.url, keys, clockToleranceMs: 30_000, cache: new VerificationCache(100) }),
      denylist,
      feedHealth: () => ({ synced: true, stalenessMs: 0 }),
      isReady: () => true,
      maxStalenessMs: undefined,
      strippedHeaders: strippedHeaderSet(),
      asserter: new IdentityAsserter({ issuer: 'http://gateway.test', sign: signer.sign, maxEntries: 100 }),
    };
  });
  afterEach(() => keys.close());

  const decide = (path: string, headers: IncomingHttpHeaders) =>
    admit(
      deps,
      { method: 'GET', headers, socket: { remoteAddress: '10.0.0.7' } },
      parseRequestTarget(path) as RequestTarget,
      'request-id-1',
      false,
    );
  const forwarded = (decision: Admission) => {
    expect(decision.kind).to.equal('forward');
    return (decision as Extract<Admission, { kind: 'forward' }>).headers;
  };

  it('adds the assertion after the checks, in place of any forged one, and answers synchronously once both caches hold the token', async () => {
    const headers = { authorization: `Bearer ${await authority.token({ sub: 'alice' })}`, 'x-auth-assertion': 'forged.jws.value' };
    const first = decide('/notes', headers);
    expect(first).to.be.instanceOf(Promise);
    expect(forwarded(await first)[IDENTITY_HEADERS.assertion]).to.equal('jws-1-notes-alice');
    const second = decide('/notes', headers);
    expect(second instanceof Promise, 'verification and assertion both cached: no promise').to.equal(false);
    expect(forwarded(second as Admission)[IDENTITY_HEADERS.assertion]).to.equal('jws-1-notes-alice');
    expect(signer.signed, 'the second request signed nothing').to.have.length(1);
  });

  it('gives an anonymous caller no assertion, and strips a forged one', async () => {
    const decision = await decide('/whoami', { 'x-auth-assertion': 'forged.jws.value', x_auth_assertion: 'forged' });
    const headers = forwarded(decision);
    expect(headers).to.not.have.property('x-auth-assertion');
    expect(headers).to.not.have.property('x_auth_assertion');
    expect(signer.signed).to.have.length(0);
  });

  it('never hands a revoked session its cached assertion, nor one signed while the revocation arrived', async () => {
    const sid = 'session-gone';
    const headers = { authorization: `Bearer ${await authority.token({ sid })}` };
    expect(forwarded(await decide('/notes', headers))).to.have.property(IDENTITY_HEADERS.assertion);
    denylist.apply({ id: 1, kind: 'session', key: sid, notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    const refused = decide('/notes', headers) as Admission;
    expect(refused.kind).to.equal('reject');

    // Revoked between the check and the end of the signature (a new route: a new signature).
    const other = 'session-racing';
    const racing = { authorization: `Bearer ${await authority.token({ sid: other })}` };
    await decide('/whoami', racing); // verified and cached
    const pending = decide('/notes', racing);
    expect(pending).to.be.instanceOf(Promise);
    denylist.apply({ id: 2, kind: 'session', key: other, notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
    expect((await pending).kind).to.equal('reject');
  });
});
