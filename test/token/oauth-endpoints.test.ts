import { expect } from 'chai';
import * as jose from 'jose';
import {
  DEMO_SERVICE_CLIENT,
  GATEWAY_CLIENT,
  POST_CLIENT,
  startTestTokenService,
  testClock,
  useTestTokenService,
} from '../support/token-service.ts';
import { eventually } from '../support/stack.ts';
import { basic, refresh, registerAndLogin, request, type TokenPair } from '../support/http.ts';

describe('token service: RFC 7009 revocation, RFC 7662 introspection, client credentials', () => {
  const svc = useTestTokenService();

  const demoAuth = { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) };
  const introspect = (token: string) => request(svc.url, 'POST', '/oauth/introspect', { form: { token }, headers: demoAuth });
  const revoke = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    request(svc.url, 'POST', '/oauth/revoke', { form, headers });

  describe('POST /oauth/revoke', () => {
    it('revokes the whole family for a refresh token', async () => {
      const { tokens } = await registerAndLogin(svc.url);
      const rotated = await refresh(svc.url, tokens.refresh_token);
      const reply = await revoke({ token: rotated.body.refresh_token, token_type_hint: 'refresh_token', client_id: 'web' });
      expect(reply.status).to.equal(200);
      expect((await refresh(svc.url, rotated.body.refresh_token)).status).to.equal(400);
      expect((await introspect(rotated.body.access_token)).body.active).to.equal(false);
      const sid = jose.decodeJwt(tokens.access_token).sid as string;
      expect((await svc.service.knex('sessions').where({ id: sid }).first()).revoked_reason).to.equal('revoked_by_client');
    });

    it('revokes one access token by its jti and leaves the session alive', async () => {
      const { tokens } = await registerAndLogin(svc.url);
      const reply = await revoke({ token: tokens.access_token, client_id: 'web' });
      expect(reply.status).to.equal(200);
      const { jti } = jose.decodeJwt(tokens.access_token);
      expect(await svc.service.knex('revocations').where({ kind: 'token', key: jti }).first()).to.exist;
      expect((await request(svc.url, 'GET', '/auth/me', { token: tokens.access_token })).status).to.equal(401);
      expect((await introspect(tokens.access_token)).body).to.deep.equal({ active: false });
      const next = await refresh(svc.url, tokens.refresh_token);
      expect(next.status).to.equal(200);
      expect((await request(svc.url, 'GET', '/auth/me', { token: next.body.access_token })).status).to.equal(200);
    });

    it('answers 200 for unknown or garbage tokens', async () => {
      expect((await revoke({ token: 'no-such-token', client_id: 'web' })).status).to.equal(200);
      expect((await revoke({ token: 'aaa.bbb.ccc', client_id: 'web' })).status).to.equal(200);
    });

    it('requires client identification and refuses tokens of another client', async () => {
      const { tokens } = await registerAndLogin(svc.url);
      const anonymous = await revoke({ token: tokens.refresh_token });
      expect(anonymous.status).to.equal(401);
      expect(anonymous.body.error).to.equal('invalid_client');
      const foreign = await revoke({ token: tokens.refresh_token }, demoAuth);
      expect(foreign.status).to.equal(400);
      expect(foreign.body.error).to.equal('invalid_request');
      expect((await refresh(svc.url, tokens.refresh_token)).status, 'still valid').to.equal(200);
    });

    it('requires the token parameter', async () => {
      const reply = await revoke({ client_id: 'web' });
      expect(reply.status).to.equal(400);
      expect(reply.body).to.deep.equal({ error: 'invalid_request', error_description: 'token is required' });
    });
  });

  describe('POST /oauth/introspect', () => {
    it('describes a live access token and a live refresh token', async () => {
      const { tokens, userId, user } = await registerAndLogin(svc.url);
      const access = await introspect(tokens.access_token);
      expect(access.status).to.equal(200);
      expect(access.headers.get('cache-control')).to.equal('no-store');
      expect(access.body).to.include({ active: true, token_type: 'access_token', sub: userId, client_id: 'web', username: user.username });
      const refreshInfo = await introspect(tokens.refresh_token);
      expect(refreshInfo.body).to.include({ active: true, token_type: 'refresh_token', sub: userId, client_id: 'web' });
    });

    it('answers inactive for unknown, expired, consumed and revoked tokens', async () => {
      const { tokens } = await registerAndLogin(svc.url);
      expect((await introspect('garbage')).body).to.deep.equal({ active: false });
      await refresh(svc.url, tokens.refresh_token);
      expect((await introspect(tokens.refresh_token)).body, 'consumed').to.deep.equal({ active: false });

      const clock = testClock();
      const expiredService = await startTestTokenService({ env: { ACCESS_TOKEN_TTL: '1' }, now: clock.now });
      try {
        const other = await registerAndLogin(expiredService.url);
        clock.advance(2100);
        const reply = await request(expiredService.url, 'POST', '/oauth/introspect', {
          form: { token: other.tokens.access_token },
          headers: demoAuth,
        });
        expect(reply.body, 'expired').to.deep.equal({ active: false });
      } finally {
        await expiredService.stop();
      }
    });

    it('requires a confidential client', async () => {
      const { tokens } = await registerAndLogin(svc.url);
      const publicClient = await request(svc.url, 'POST', '/oauth/introspect', { form: { token: tokens.access_token, client_id: 'web' } });
      expect(publicClient.status).to.equal(401);
      expect(publicClient.body.error).to.equal('invalid_client');
      const wrongSecret = await request(svc.url, 'POST', '/oauth/introspect', {
        form: { token: tokens.access_token },
        headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, 'wrong-secret') },
      });
      expect(wrongSecret.status).to.equal(401);
      expect(wrongSecret.headers.get('www-authenticate')).to.match(/^Basic/);
    });
  });

  describe('client_credentials', () => {
    it("issues an access token without a refresh token, by the client's registered authentication method only", async () => {
      const viaBasic = await request<TokenPair>(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials' },
        headers: demoAuth,
      });
      expect(viaBasic.status).to.equal(200);
      expect(viaBasic.body).not.to.have.property('refresh_token');
      const claims = jose.decodeJwt(viaBasic.body.access_token);
      expect(claims).to.include({ sub: DEMO_SERVICE_CLIENT.id, client_id: DEMO_SERVICE_CLIENT.id, aud: 'notes', scope: 'notes:read' });
      expect(claims.sid).to.equal(claims.jti);
      expect((await introspect(viaBasic.body.access_token)).body.active).to.equal(true);

      // demo-service registered client_secret_basic: its right secret in the body is refused.
      const viaBody = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_id: DEMO_SERVICE_CLIENT.id, client_secret: DEMO_SERVICE_CLIENT.secret },
      });
      expect(viaBody.status).to.equal(401);
      expect(viaBody.body).to.deep.equal({
        error: 'invalid_client',
        error_description: 'this client authenticates with client_secret_basic',
      });

      const postViaBody = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_id: POST_CLIENT.id, client_secret: POST_CLIENT.secret },
      });
      expect(postViaBody.status).to.equal(200);
      const postViaBasic = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials' },
        headers: { authorization: basic(POST_CLIENT.id, POST_CLIENT.secret) },
      });
      expect(postViaBasic.status).to.equal(401);
      expect(postViaBasic.headers.get('www-authenticate')).to.equal('Basic realm="token"');
    });

    it('refuses public clients, wrong secrets, two auth methods and unlisted scopes', async () => {
      const publicClient = await request(svc.url, 'POST', '/oauth/token', { form: { grant_type: 'client_credentials', client_id: 'web' } });
      expect(publicClient.status).to.equal(400);
      expect(publicClient.body.error).to.equal('unauthorized_client');
      const wrong = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_id: DEMO_SERVICE_CLIENT.id, client_secret: 'nope' },
      });
      expect(wrong.status).to.equal(401);
      expect(wrong.body.error).to.equal('invalid_client');
      const both = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_secret: DEMO_SERVICE_CLIENT.secret },
        headers: demoAuth,
      });
      expect(both.status).to.equal(400);
      const scope = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', scope: 'notes:write' },
        headers: demoAuth,
      });
      expect(scope.body.error).to.equal('invalid_scope');
      const noGrant = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'password', username: 'x', password: 'y' },
        headers: { authorization: basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret) },
      });
      expect(noGrant.body.error).to.equal('unauthorized_client');
    });

    it('answers unsupported_grant_type and invalid_client as RFC 6749 §5.2 asks', async () => {
      const unsupported = await request(svc.url, 'POST', '/oauth/token', { form: { grant_type: 'implicit', client_id: 'web' } });
      expect(unsupported.status).to.equal(400);
      expect(unsupported.body).to.have.keys('error', 'error_description');
      expect(unsupported.body.error).to.equal('unsupported_grant_type');
      const unknownClient = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_id: 'nobody' },
      });
      expect(unknownClient.status).to.equal(401);
      expect(unknownClient.body.error).to.equal('invalid_client');
    });
  });
});

describe('token service: background cleanup', () => {
  it('purges expired rows on its own and leaves live ones', async () => {
    const svc = await startTestTokenService({ env: { CLEANUP_INTERVAL: '200ms' } });
    try {
      const { knex } = svc.service;
      const past = new Date(Date.now() - 60_000);
      const future = new Date(Date.now() + 60_000);
      await knex('revocations').insert([
        { kind: 'token', key: 'expired-jti', expires_at: past },
        { kind: 'token', key: 'live-jti', expires_at: future },
      ]);
      const { tokens, userId } = await registerAndLogin(svc.url);
      const sid = jose.decodeJwt(tokens.access_token).sid as string;
      await knex('sessions').where({ id: sid }).update({ expires_at: past });
      // A session whose refresh token idle-expired, and a device cookie unused for longer than LOGIN_DEVICE_TTL.
      const idle = jose.decodeJwt((await registerAndLogin(svc.url)).tokens.access_token).sid as string;
      await knex('sessions')
        .where({ id: idle })
        .update({ last_refreshed_at: new Date(Date.now() - 15 * 86_400_000) });
      await knex('login_devices')
        .where({ user_id: userId })
        .update({ last_used_at: new Date(Date.now() - 91 * 86_400_000) });
      // A key retired long ago (its last token expired two days back) and one still published.
      const {
        retired: [longGone],
      } = await svc.service.keys.rotate();
      await knex('signing_keys')
        .where({ kid: longGone })
        .update({ expires_at: new Date(Date.now() - 2 * 86_400_000) });
      const {
        retired: [stillPublished],
      } = await svc.service.keys.rotate();
      // One run purges table after table: wait for the first and the last of these.
      const pending = async () =>
        (await knex('revocations').where({ key: 'expired-jti' }).first()) || (await knex('signing_keys').where({ kid: longGone }).first());
      await eventually(async () => !(await pending()), 'the background cleanup purged', 10_000);
      expect(await knex('revocations').where({ key: 'expired-jti' }).first()).to.equal(undefined);
      expect(await knex('revocations').where({ key: 'live-jti' }).first()).to.exist;
      expect(await knex('sessions').where({ id: sid }).first(), 'the expired session and its tokens').to.equal(undefined);
      expect(await knex('refresh_tokens').where({ session_id: sid }).first()).to.equal(undefined);
      expect(await knex('sessions').where({ id: idle }).first(), 'the idle session').to.equal(undefined);
      expect(await knex('login_devices').where({ user_id: userId }).first(), 'the stale device').to.equal(undefined);
      expect(await knex('signing_keys').where({ kid: longGone }).first(), 'private half destroyed').to.equal(undefined);
      expect(await knex('signing_keys').where({ kid: stillPublished }).first()).to.exist;
      expect(await knex('signing_keys').where({ kid: svc.service.keys.signer.kid }).first()).to.exist;
    } finally {
      await svc.stop();
    }
  });
});
