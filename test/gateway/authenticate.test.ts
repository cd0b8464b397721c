import { expect } from 'chai';
import { discoverIssuer, metadataUrl } from '../../gateway/keys/discovery.ts';
import type { KeyStore } from '../../gateway/keys/key-store.ts';
import { authenticate, extractBearerToken, type AuthenticationResult } from '../../gateway/pipeline/authenticate.ts';
import { checkRevocation } from '../../gateway/pipeline/check-revocation.ts';
import { Denylist } from '../../gateway/revocations/denylist.ts';
import { compileRoutes, type Route } from '../../gateway/routes/schema.ts';
import { AccessTokenVerifier, TokenRejected } from '../../gateway/tokens/verify-access-token.ts';
import { tokenCacheKey, VerificationCache } from '../../gateway/tokens/verification-cache.ts';
import type { VerifiedClaims } from '../../gateway/tokens/claims.ts';
import { FakeAuthority } from './helpers/fake-authority.ts';
import { rejectionOf } from '../support/rejection.ts';

describe('gateway: authenticate', () => {
  let authority: FakeAuthority;
  let keys: KeyStore;
  let verifier: AccessTokenVerifier;

  before(async () => {
    authority = await FakeAuthority.start();
  });
  after(() => authority.close());

  beforeEach(async () => {
    keys = await authority.keyStore();
    verifier = new AccessTokenVerifier({ issuer: authority.url, keys, clockToleranceMs: 30_000, cache: new VerificationCache(100) });
  });
  afterEach(() => keys.close());

  async function rejection(token: string): Promise<string> {
    try {
      await verifier.verify(token);
    } catch (error) {
      expect(error instanceof TokenRejected, String(error)).to.be.ok;
      return (error as TokenRejected).reason;
    }
    expect.fail('the token was accepted');
  }

  it('finds the JWKS through RFC 8414 metadata and checks the metadata issuer', async () => {
    expect(metadataUrl('https://as.example/tenant/')).to.equal('https://as.example/.well-known/oauth-authorization-server/tenant');
    const metadata = await discoverIssuer(authority.url);
    expect(metadata.jwksUri).to.equal(`${authority.url}/.well-known/jwks.json`);
    expect(metadata.revocationStreamEndpoint).to.equal(`${authority.url}/revocations/stream`);
    expect(await rejectionOf(discoverIssuer(`${authority.url}/`)))
      .to.have.property('message')
      .that.matches(/is not the configured issuer/);
  });

  it('accepts a valid token and exposes its claims', async () => {
    const token = await authority.token({ sub: 'alice', sid: 'sess-1', jti: 'jti-1', scope: 'notes:read', client_id: 'web' });
    const claims = await verifier.verify(token);
    expect(claims.sub).to.equal('alice');
    expect(claims.sid).to.equal('sess-1');
    expect(claims.jti).to.equal('jti-1');
    expect(claims.scopes).to.deep.equal(['notes:read']);
    expect(claims.aud).to.deep.equal(['whoami', 'notes']);
    expect(claims.clientId).to.equal('web');
  });

  it('rejects other algorithms, other typ, other issuers and expired tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await rejection(authority.forgedToken('HS256'))).to.equal('algorithm not allowed');
    expect(await rejection(authority.forgedToken('none'))).to.equal('malformed token');
    expect(await rejection(await authority.token({}, { typ: 'JWT' }))).to.equal('"typ" claim invalid');
    expect(await rejection(await authority.token({ iss: 'http://evil.example' }))).to.equal('"iss" claim invalid');
    expect(await rejection(await authority.token({ iat: now - 400, exp: now - 31 }))).to.equal('token expired');
    expect(await rejection(await authority.token({ iat: now + 120, exp: now + 400 }))).to.equal('"iat" claim in the future');
    // Within the clock tolerance an expired-by-a-little token still passes.
    await verifier.verify(await authority.token({ iat: now - 300, exp: now - 10 }));
  });

  it('requires exp, iat, jti, sub and sid', async () => {
    for (const claim of ['exp', 'iat', 'jti', 'sub', 'sid']) {
      expect(await rejection(await authority.token({ [claim]: undefined })), claim).to.equal(`"${claim}" claim invalid`);
    }
    expect(await rejection(await authority.token({ sid: 42 }))).to.equal('"sid" claim invalid');
    // aud may be absent (the route's audience check then fails), but never malformed.
    expect(await rejection(await authority.token({ aud: 5 as never }))).to.equal('"aud" claim invalid');
    expect(await rejection(await authority.token({ aud: ['whoami', 7] as never }))).to.equal('"aud" claim invalid');
  });

  it('never follows jku, x5u, jwk or x5c, and rejects crit', async () => {
    expect(await rejection(await authority.token({}, { jku: 'http://evil.example/jwks' }))).to.equal('"jku" header not accepted');
    expect(await rejection(await authority.token({}, { x5u: 'http://evil.example/cert' }))).to.equal('"x5u" header not accepted');
    expect(await rejection(await authority.token({}, { jwk: { kty: 'RSA', n: 'x', e: 'AQAB' } }))).to.equal('"jwk" header not accepted');
    expect(await rejection(await authority.token({}, { x5c: ['MIIB'] }))).to.equal('"x5c" header not accepted');
    // jose refuses an unknown crit extension before our own header check runs.
    expect(await rejection(await authority.token({}, { crit: ['x-ext'], 'x-ext': 1 }))).to.equal('malformed token');
  });

  it('rejects a tampered token and an opaque refresh token', async () => {
    const token = await authority.token({ sub: 'alice' });
    const [header, , signature] = token.split('.');
    const payload = Buffer.from(JSON.stringify(authority.claims({ sub: 'root' }))).toString('base64url');
    expect(await rejection(`${header}.${payload}.${signature}`)).to.equal('signature invalid');
    expect(await rejection('x7Gm2v0T2kq8y7VYd3_4w6vJ2e4nqB5rS1uPzT0aXyE')).to.equal('malformed token');
  });

  it('refetches the JWKS once for an unknown kid, then not again within the cooldown', async () => {
    const fetchesBefore = authority.jwksFetches;
    const rotated = await authority.addKey();
    const token = await authority.token({}, {}, rotated);
    // Many concurrent requests with the new kid share one refetch.
    const results = await Promise.all(Array.from({ length: 5 }, () => verifier.verify(token)));
    expect(results.length).to.equal(5);
    expect(authority.jwksFetches).to.equal(fetchesBefore + 1);
    expect(keys.stats.unknownKidRefetches).to.equal(1);

    // A forged kid right after: refused without another fetch (no refetch storm).
    const unpublished = await authority.addKey(false);
    expect(await rejection(await authority.token({}, {}, unpublished))).to.equal('unknown signing key');
    expect(await rejection(await authority.token({}, {}, unpublished))).to.equal('unknown signing key');
    expect(authority.jwksFetches).to.equal(fetchesBefore + 1);
    expect(keys.stats.cooldownRefusals).to.equal(2);
  });

  it('answers a repeated token from the cache, but never past its exp', async () => {
    const token = await authority.token();
    await verifier.verify(token);
    await verifier.verify(token);
    expect(verifier.stats.verifications).to.equal(1);
    expect(verifier.stats.cacheHits).to.equal(1);

    const cache = new VerificationCache(2);
    const claims = { exp: 1000 } as VerifiedClaims;
    cache.set('a', claims, 'k');
    expect(cache.get('a', 999_999)).to.equal(claims);
    expect(cache.get('a', 1_000_000), 'expired at exp').to.equal(undefined);
    expect(cache.size).to.equal(0);
    expect(tokenCacheKey('abc').length, 'a SHA-256, not the token').to.equal(43);
  });

  it('bounds the cache, evicting the least recently used, and forgets tokens of retired keys', () => {
    const cache = new VerificationCache(2);
    const claims = { exp: 10_000 } as VerifiedClaims;
    cache.set('a', claims, 'k1');
    cache.set('b', claims, 'k2');
    cache.get('a', 0); // a is now the most recently used
    cache.set('c', claims, 'k2');
    expect(cache.get('a', 0)).to.be.ok;
    expect(cache.get('b', 0)).to.equal(undefined);
    cache.evictKids(['k2']);
    expect(cache.get('c', 0)).to.equal(undefined);
    expect(cache.get('a', 0)).to.be.ok;
  });

  describe('as a pipeline stage', () => {
    type Refused = Extract<AuthenticationResult, { ok: false }>;
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
    ) as [Route, Route, Route];

    it('extracts RFC 6750 bearer tokens only', () => {
      expect(extractBearerToken('Bearer abc.def.ghi')).to.equal('abc.def.ghi');
      expect(extractBearerToken('bearer abc')).to.equal('abc');
      expect(extractBearerToken('Basic dXNlcjpwYXNz')).to.equal(undefined);
      expect(extractBearerToken('Bearer')).to.equal(undefined);
      expect(extractBearerToken('Bearer a b')).to.equal(undefined);
      expect(extractBearerToken(undefined)).to.equal(undefined);
    });

    it('answers 401 invalid_token for a missing or bad token on a required route', async () => {
      expect(required).to.be.ok;
      const missing = await authenticate(required, undefined, verifier);
      expect(missing.ok).to.not.be.ok;
      expect((missing as Refused).rejection.status).to.equal(401);
      expect((missing as Refused).rejection.headers?.['www-authenticate'] ?? '').to.match(/^Bearer realm="gateway", error="invalid_token"/);
      const bad = await authenticate(required, 'Bearer not-a-jwt', verifier);
      expect(!bad.ok && bad.rejection.status === 401).to.be.ok;
    });

    it('checks the audience per route', async () => {
      expect(required).to.be.ok;
      const notesOnly = await authority.token({ aud: 'notes' });
      const result = await authenticate(required, `Bearer ${notesOnly}`, verifier);
      expect(result.ok).to.not.be.ok;
      expect((result as Refused).rejection.description).to.equal('token not issued for this audience');
      const good = await authenticate(required, `Bearer ${await authority.token({ aud: 'whoami' })}`, verifier);
      expect(good.ok && good.claims?.sub === 'user-1').to.be.ok;
    });

    it('lets anonymous callers through optional routes but still rejects a bad token there', async () => {
      expect(optional && none).to.be.ok;
      const anonymous = await authenticate(optional, undefined, verifier);
      expect(anonymous.ok && anonymous.claims === undefined).to.be.ok;
      const bad = await authenticate(optional, 'Bearer not-a-jwt', verifier);
      expect(bad.ok).to.not.be.ok;
      const skipped = await authenticate(none, 'Bearer not-a-jwt', verifier);
      expect(skipped.ok && skipped.claims === undefined, 'auth none never looks at the token').to.be.ok;
    });

    it('checks revocation after verification, even for a cached token', async () => {
      const token = await authority.token({ sid: 'sess-r' });
      const claims = await verifier.verify(token);
      const denylist = new Denylist();
      const healthy = { synced: true, stalenessMs: 0 };
      expect(checkRevocation(claims, denylist, healthy, undefined)).to.equal(undefined);
      denylist.apply({ id: 1, kind: 'session', key: 'sess-r', notBeforeSec: Infinity, expiresAtMs: Date.now() + 60_000 });
      const cached = await verifier.verify(token);
      expect(verifier.stats.cacheHits).to.equal(1);
      const revoked = checkRevocation(cached, denylist, healthy, undefined);
      expect(revoked?.status).to.equal(401);
      expect(revoked?.description).to.equal('session revoked');
      // A stale feed refuses authenticated requests only when a maximum staleness is configured.
      const other = await verifier.verify(await authority.token());
      expect(checkRevocation(other, denylist, { synced: true, stalenessMs: 10_000 }, undefined)).to.equal(undefined);
      expect(checkRevocation(other, denylist, { synced: true, stalenessMs: 10_000 }, 5_000)?.status).to.equal(503);
      expect(checkRevocation(other, denylist, { synced: false, stalenessMs: 0 }, undefined)?.status).to.equal(503);
      expect(checkRevocation(undefined, denylist, { synced: false, stalenessMs: 0 }, 1), 'anonymous').to.equal(undefined);
    });
  });
});
