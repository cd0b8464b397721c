import assert from 'node:assert/strict';
import { discoverIssuer, metadataUrl } from '../../gateway/keys/discovery.ts';
import { KeyStore } from '../../gateway/keys/key-store.ts';
import { authenticate, extractBearerToken } from '../../gateway/pipeline/authenticate.ts';
import { checkRevocation } from '../../gateway/pipeline/check-revocation.ts';
import { Denylist } from '../../gateway/revocations/denylist.ts';
import { compileRoutes } from '../../gateway/routes/schema.ts';
import { AccessTokenVerifier, TokenRejected } from '../../gateway/tokens/verify-access-token.ts';
import { tokenCacheKey, VerificationCache } from '../../gateway/tokens/verification-cache.ts';
import type { VerifiedClaims } from '../../gateway/tokens/claims.ts';
import { FakeAuthority, testLogger } from './helpers/fake-authority.ts';

describe('gateway: authenticate', () => {
  let authority: FakeAuthority;
  let keys: KeyStore;
  let verifier: AccessTokenVerifier;

  before(async () => {
    authority = await FakeAuthority.start();
  });
  after(() => authority.close());

  beforeEach(async () => {
    keys = new KeyStore({ refetchCooldownMs: 60_000, logger: testLogger() });
    const metadata = await discoverIssuer(authority.url);
    await keys.start(metadata.jwksUri);
    verifier = new AccessTokenVerifier({ issuer: authority.url, keys, clockToleranceMs: 30_000, cache: new VerificationCache(100) });
  });
  afterEach(() => keys.close());

  async function rejection(token: string): Promise<string> {
    try {
      await verifier.verify(token);
    } catch (error) {
      assert.ok(error instanceof TokenRejected, String(error));
      return error.reason;
    }
    assert.fail('the token was accepted');
  }

  it('finds the JWKS through RFC 8414 metadata and checks the metadata issuer', async () => {
    assert.equal(metadataUrl('https://as.example/tenant/'), 'https://as.example/.well-known/oauth-authorization-server/tenant');
    const metadata = await discoverIssuer(authority.url);
    assert.equal(metadata.jwksUri, `${authority.url}/.well-known/jwks.json`);
    assert.equal(metadata.revocationStreamEndpoint, `${authority.url}/revocations/stream`);
    await assert.rejects(discoverIssuer(`${authority.url}/`), /is not the configured issuer/);
  });

  it('accepts a valid token and exposes its claims', async () => {
    const token = await authority.token({ sub: 'alice', sid: 'sess-1', jti: 'jti-1', scope: 'notes:read', client_id: 'web' });
    const claims = await verifier.verify(token);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.sid, 'sess-1');
    assert.equal(claims.jti, 'jti-1');
    assert.deepEqual(claims.scopes, ['notes:read']);
    assert.deepEqual(claims.aud, ['whoami', 'notes']);
    assert.equal(claims.clientId, 'web');
  });

  it('rejects other algorithms, other typ, other issuers and expired tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await rejection(authority.forgedToken('HS256')), 'algorithm not allowed');
    assert.equal(await rejection(authority.forgedToken('none')), 'malformed token');
    assert.equal(await rejection(await authority.token({}, { typ: 'JWT' })), '"typ" claim invalid');
    assert.equal(await rejection(await authority.token({ iss: 'http://evil.example' })), '"iss" claim invalid');
    assert.equal(await rejection(await authority.token({ iat: now - 400, exp: now - 31 })), 'token expired');
    assert.equal(await rejection(await authority.token({ iat: now + 120, exp: now + 400 })), '"iat" claim in the future');
    // Within the clock tolerance an expired-by-a-little token still passes.
    await verifier.verify(await authority.token({ iat: now - 300, exp: now - 10 }));
  });

  it('requires exp, iat, jti, sub and sid', async () => {
    for (const claim of ['exp', 'iat', 'jti', 'sub', 'sid']) {
      assert.equal(await rejection(await authority.token({ [claim]: undefined })), `"${claim}" claim invalid`, claim);
    }
    assert.equal(await rejection(await authority.token({ sid: 42 })), '"sid" claim invalid');
    // aud may be absent (the route's audience check then fails), but never malformed.
    assert.equal(await rejection(await authority.token({ aud: 5 as never })), '"aud" claim invalid');
    assert.equal(await rejection(await authority.token({ aud: ['whoami', 7] as never })), '"aud" claim invalid');
  });

  it('never follows jku, x5u, jwk or x5c, and rejects crit', async () => {
    assert.equal(await rejection(await authority.token({}, { jku: 'http://evil.example/jwks' })), '"jku" header not accepted');
    assert.equal(await rejection(await authority.token({}, { x5u: 'http://evil.example/cert' })), '"x5u" header not accepted');
    assert.equal(await rejection(await authority.token({}, { jwk: { kty: 'RSA', n: 'x', e: 'AQAB' } })), '"jwk" header not accepted');
    assert.equal(await rejection(await authority.token({}, { x5c: ['MIIB'] })), '"x5c" header not accepted');
    assert.ok(await rejection(await authority.token({}, { crit: ['x-ext'], 'x-ext': 1 })));
  });

  it('rejects a tampered token and an opaque refresh token', async () => {
    const token = await authority.token({ sub: 'alice' });
    const [header, , signature] = token.split('.');
    const payload = Buffer.from(JSON.stringify(authority.claims({ sub: 'root' }))).toString('base64url');
    assert.equal(await rejection(`${header}.${payload}.${signature}`), 'signature invalid');
    assert.equal(await rejection('x7Gm2v0T2kq8y7VYd3_4w6vJ2e4nqB5rS1uPzT0aXyE'), 'malformed token');
  });

  it('refetches the JWKS once for an unknown kid, then not again within the cooldown', async () => {
    const fetchesBefore = authority.jwksFetches;
    const rotated = await authority.addKey();
    const token = await authority.token({}, {}, rotated);
    // Many concurrent requests with the new kid share one refetch.
    const results = await Promise.all(Array.from({ length: 5 }, () => verifier.verify(token)));
    assert.equal(results.length, 5);
    assert.equal(authority.jwksFetches, fetchesBefore + 1);
    assert.equal(keys.stats.unknownKidRefetches, 1);

    // A forged kid right after: refused without another fetch (no refetch storm).
    const unpublished = await authority.addKey(false);
    assert.equal(await rejection(await authority.token({}, {}, unpublished)), 'unknown signing key');
    assert.equal(await rejection(await authority.token({}, {}, unpublished)), 'unknown signing key');
    assert.equal(authority.jwksFetches, fetchesBefore + 1);
    assert.equal(keys.stats.cooldownRefusals, 2);
  });

  it('answers a repeated token from the cache, but never past its exp', async () => {
    const token = await authority.token();
    await verifier.verify(token);
    await verifier.verify(token);
    assert.equal(verifier.stats.verifications, 1);
    assert.equal(verifier.stats.cacheHits, 1);

    const cache = new VerificationCache(2);
    const claims = { exp: 1000 } as VerifiedClaims;
    cache.set('a', claims, 'k');
    assert.equal(cache.get('a', 999_999), claims);
    assert.equal(cache.get('a', 1_000_000), undefined, 'expired at exp');
    assert.equal(cache.size, 0);
    assert.equal(tokenCacheKey('abc').length, 43, 'a SHA-256, not the token');
  });

  it('bounds the cache, evicting the least recently used, and forgets tokens of retired keys', () => {
    const cache = new VerificationCache(2);
    const claims = { exp: 10_000 } as VerifiedClaims;
    cache.set('a', claims, 'k1');
    cache.set('b', claims, 'k2');
    cache.get('a', 0); // a is now the most recently used
    cache.set('c', claims, 'k2');
    assert.ok(cache.get('a', 0));
    assert.equal(cache.get('b', 0), undefined);
    cache.evictKids(['k2']);
    assert.equal(cache.get('c', 0), undefined);
    assert.ok(cache.get('a', 0));
  });

  describe('as a pipeline stage', () => {
    const [required, optional, none] = compileRoutes(
      {
        routes: [
          { id: 'req', prefix: '/req', upstream: 'http://127.0.0.1:1', auth: 'required', audience: 'whoami' },
          { id: 'opt', prefix: '/opt', upstream: 'http://127.0.0.1:1', auth: 'optional', audience: 'whoami' },
          { id: 'none', prefix: '/none', upstream: 'http://127.0.0.1:1', auth: 'none' },
        ],
      },
      {},
      'test',
    );

    it('extracts RFC 6750 bearer tokens only', () => {
      assert.equal(extractBearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
      assert.equal(extractBearerToken('bearer abc'), 'abc');
      assert.equal(extractBearerToken('Basic dXNlcjpwYXNz'), undefined);
      assert.equal(extractBearerToken('Bearer'), undefined);
      assert.equal(extractBearerToken('Bearer a b'), undefined);
      assert.equal(extractBearerToken(undefined), undefined);
    });

    it('answers 401 invalid_token for a missing or bad token on a required route', async () => {
      assert.ok(required);
      const missing = await authenticate(required, undefined, verifier);
      assert.ok(!missing.ok);
      assert.equal(missing.rejection.status, 401);
      assert.match(missing.rejection.headers?.['www-authenticate'] ?? '', /^Bearer realm="gateway", error="invalid_token"/);
      const bad = await authenticate(required, 'Bearer not-a-jwt', verifier);
      assert.ok(!bad.ok && bad.rejection.status === 401);
    });

    it('checks the audience per route', async () => {
      assert.ok(required);
      const notesOnly = await authority.token({ aud: 'notes' });
      const result = await authenticate(required, `Bearer ${notesOnly}`, verifier);
      assert.ok(!result.ok);
      assert.equal(result.rejection.description, 'token not issued for this audience');
      const good = await authenticate(required, `Bearer ${await authority.token({ aud: 'whoami' })}`, verifier);
      assert.ok(good.ok && good.claims?.sub === 'user-1');
    });

    it('lets anonymous callers through optional routes but still rejects a bad token there', async () => {
      assert.ok(optional && none);
      const anonymous = await authenticate(optional, undefined, verifier);
      assert.ok(anonymous.ok && anonymous.claims === undefined);
      const bad = await authenticate(optional, 'Bearer not-a-jwt', verifier);
      assert.ok(!bad.ok);
      const skipped = await authenticate(none, 'Bearer not-a-jwt', verifier);
      assert.ok(skipped.ok && skipped.claims === undefined, 'auth none never looks at the token');
    });

    it('checks revocation after verification, even for a cached token', async () => {
      const token = await authority.token({ sid: 'sess-r' });
      const claims = await verifier.verify(token);
      const denylist = new Denylist();
      const healthy = { synced: true, stalenessMs: 0 };
      assert.equal(checkRevocation(claims, denylist, healthy, undefined), undefined);
      denylist.apply({ id: 1, kind: 'session', key: 'sess-r', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
      const cached = await verifier.verify(token);
      assert.equal(verifier.stats.cacheHits, 1);
      const revoked = checkRevocation(cached, denylist, healthy, undefined);
      assert.equal(revoked?.status, 401);
      assert.equal(revoked?.description, 'session revoked');
      // A stale feed refuses authenticated requests only when a maximum staleness is configured.
      const other = await verifier.verify(await authority.token());
      assert.equal(checkRevocation(other, denylist, { synced: true, stalenessMs: 10_000 }, undefined), undefined);
      assert.equal(checkRevocation(other, denylist, { synced: true, stalenessMs: 10_000 }, 5_000)?.status, 503);
      assert.equal(checkRevocation(other, denylist, { synced: false, stalenessMs: 0 }, undefined)?.status, 503);
      assert.equal(checkRevocation(undefined, denylist, { synced: false, stalenessMs: 0 }, 1), undefined, 'anonymous');
    });
  });
});
