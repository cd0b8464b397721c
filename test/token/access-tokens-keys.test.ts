import crypto from 'node:crypto';
import { expect } from 'chai';
import * as jose from 'jose';
import { signCompactJws } from '../../services/token/helpers/access-tokens.ts';
import { startTestTokenService, useTestTokenService } from '../support/token-service.ts';
import { createTestDatabase } from '../support/databases.ts';
import { registerAndLogin, request } from '../support/http.ts';

describe('token service: access tokens, discovery and signing keys', () => {
  const svc = useTestTokenService({ env: { ACCESS_TOKEN_TTL: '2m' } });

  const remoteJwks = () => jose.createRemoteJWKSet(new URL(`${svc.url}/.well-known/jwks.json`), { cacheMaxAge: 0, cooldownDuration: 0 });

  it('signs RS256 compact JWS that jose verifies, with exactly our header, for any claims', async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const claims = { sub: 'ünïcode ✓', scope: 'a b', n: 1, nested: { list: [1, 'x'] } };
    const token = await signCompactJws({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' }, claims, privateKey);
    const { payload, protectedHeader } = await jose.compactVerify(token, publicKey, { algorithms: ['RS256'] });
    expect(protectedHeader).to.deep.equal({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' });
    expect(JSON.parse(new TextDecoder().decode(payload))).to.deep.equal(claims);
    // Any change to header, payload or signature breaks it.
    const [header, body, signature] = token.split('.') as [string, string, string];
    const flipped = (part: string) => (part[5] === 'A' ? `${part.slice(0, 5)}B${part.slice(6)}` : `${part.slice(0, 5)}A${part.slice(6)}`);
    for (const forged of [
      `${flipped(header)}.${body}.${signature}`,
      `${header}.${flipped(body)}.${signature}`,
      `${header}.${body}.${flipped(signature)}`,
    ]) {
      let refused = false;
      await jose.compactVerify(forged, publicKey, { algorithms: ['RS256'] }).catch(() => (refused = true));
      expect(refused, forged).to.equal(true);
    }
  });

  it('publishes RFC 8414 and OpenID Connect metadata under both well-known names: what works, no more', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const reply = await request(svc.url, 'GET', path);
      expect(reply.status).to.equal(200);
      expect(reply.body).to.deep.include({
        issuer: 'http://issuer.test',
        jwks_uri: 'http://issuer.test/.well-known/jwks.json',
        authorization_endpoint: 'http://issuer.test/oauth/authorize',
        token_endpoint: 'http://issuer.test/oauth/token',
        userinfo_endpoint: 'http://issuer.test/oauth/userinfo',
        end_session_endpoint: 'http://issuer.test/oauth/end-session',
        revocation_endpoint: 'http://issuer.test/oauth/revoke',
        introspection_endpoint: 'http://issuer.test/oauth/introspect',
        response_types_supported: ['code'],
        response_modes_supported: ['query'],
        code_challenge_methods_supported: ['S256'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        authorization_response_iss_parameter_supported: true,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
      });
      expect(reply.body.grant_types_supported).to.have.members(['authorization_code', 'password', 'refresh_token', 'client_credentials']);
      // Nothing we do not do: no private_key_jwt, no signed userinfo, no implicit or hybrid.
      expect(reply.body).not.to.have.any.keys('token_endpoint_auth_signing_alg_values_supported', 'userinfo_signing_alg_values_supported');
      // Every advertised endpoint answers (an empty GET is an error, but never a 404).
      for (const endpoint of ['authorization_endpoint', 'userinfo_endpoint', 'end_session_endpoint'] as const) {
        const url = new URL(reply.body[endpoint] as string);
        expect((await request(svc.url, 'GET', url.pathname)).status, endpoint).to.be.oneOf([200, 400, 401]);
      }
    }
  });

  it('publishes RS256 signing keys with kid and use, cacheable for JWKS_MAX_AGE', async () => {
    const reply = await request<{ keys: jose.JWK[] }>(svc.url, 'GET', '/.well-known/jwks.json');
    expect(reply.headers.get('cache-control')).to.equal('public, max-age=300');
    expect(reply.body.keys).to.have.length.greaterThan(0);
    for (const key of reply.body.keys) {
      expect(key).to.include({ kty: 'RSA', alg: 'RS256', use: 'sig' });
      expect(key.kid).to.be.a('string');
      expect(key).not.to.have.any.keys('d', 'p', 'q', 'dp', 'dq', 'qi');
    }
  });

  it('issues an RFC 9068 access token that verifies against the JWKS with every claim', async () => {
    const { tokens, userId } = await registerAndLogin(svc.url);
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, remoteJwks(), {
      algorithms: ['RS256'],
      typ: 'at+jwt',
      issuer: 'http://issuer.test',
      audience: 'whoami',
    });
    expect(protectedHeader.alg).to.equal('RS256');
    expect(protectedHeader.typ).to.equal('at+jwt');
    expect(protectedHeader.kid).to.be.a('string');
    // Exactly these: nothing of contract/access-token.ts FORBIDDEN_JOSE_HEADERS (crit included).
    expect(Object.keys(protectedHeader).sort()).to.deep.equal(['alg', 'kid', 'typ']);
    expect(payload).to.include({ iss: 'http://issuer.test', sub: userId, client_id: 'web', scope: tokens.scope });
    expect(payload.aud).to.include.members(['whoami', 'notes', 'http://issuer.test']);
    expect(payload.exp! - payload.iat!).to.equal(120);
    expect(tokens.expires_in).to.equal(120);
    expect(payload.jti).to.match(/^[0-9a-f-]{36}$/);
    const session = await svc.service.knex('sessions').where({ user_id: userId }).first();
    expect(payload.sid).to.equal(session.id);
  });

  it('gives every token a unique jti', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const other = await registerAndLogin(svc.url);
    expect(jose.decodeJwt(tokens.access_token).jti).not.to.equal(jose.decodeJwt(other.tokens.access_token).jti);
  });

  it('rotates keys: new tokens use the new key, old tokens stay verifiable until they expire', async () => {
    const before = await registerAndLogin(svc.url);
    const oldKid = jose.decodeProtectedHeader(before.tokens.access_token).kid;
    const { kid: newKid, retired } = await svc.service.keys.rotate();
    expect(retired).to.deep.equal([oldKid]);

    const after = await registerAndLogin(svc.url);
    expect(jose.decodeProtectedHeader(after.tokens.access_token).kid).to.equal(newKid);
    const jwks = remoteJwks();
    await jose.jwtVerify(before.tokens.access_token, jwks, { algorithms: ['RS256'] });
    await jose.jwtVerify(after.tokens.access_token, jwks, { algorithms: ['RS256'] });
    expect((await request(svc.url, 'GET', '/auth/me', { token: before.tokens.access_token })).status).to.equal(200);

    // The retired key leaves the JWKS once every token it signed has expired.
    const row = await svc.service.knex('signing_keys').where({ kid: oldKid }).first();
    expect(row.expires_at.getTime()).to.be.greaterThan(Date.now() + 120_000);
    await svc.service
      .knex('signing_keys')
      .where({ kid: oldKid })
      .update({ expires_at: new Date(Date.now() - 1000) });
    await svc.service.keys.reload();
    const kids = (await request<{ keys: jose.JWK[] }>(svc.url, 'GET', '/.well-known/jwks.json')).body.keys.map((k) => k.kid);
    expect(kids).to.include(newKid).and.not.include(oldKid);
  });
});

describe('token service: signing keys at rest', () => {
  it('encrypts private keys with KEY_ENCRYPTION_KEY and refuses to start with the wrong one', async () => {
    const database = await createTestDatabase();
    // PGlite in memory lives only as long as its instance: use a directory for this restart test.
    if (database.kind === 'pglite') database.env.DATA_DIR = `/tmp/authority-test-keys-${process.pid}-${Date.now()}`;
    const key = crypto.randomBytes(32).toString('base64');
    const first = await startTestTokenService({ database, env: { KEY_ENCRYPTION_KEY: key } });
    const row = await first.service.knex('signing_keys').first();
    expect(row.private_key_encrypted).to.equal(true);
    expect(row.private_key).not.to.include('PRIVATE KEY');
    const { tokens } = await registerAndLogin(first.url);
    await first.close();

    const wrong = crypto.randomBytes(32).toString('hex');
    let failure: Error | undefined;
    await startTestTokenService({ database, env: { KEY_ENCRYPTION_KEY: wrong } }).then(
      (s) => s.close(),
      (error: Error) => (failure = error),
    );
    expect(failure?.message).to.match(/KEY_ENCRYPTION_KEY/);

    const again = await startTestTokenService({ database, env: { KEY_ENCRYPTION_KEY: key } });
    expect((await request(again.url, 'GET', '/auth/me', { token: tokens.access_token })).status).to.equal(200);
    await again.stop();
    await database.drop();
  });
});
