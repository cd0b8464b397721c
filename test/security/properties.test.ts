// Security properties of the deployed pair: token responses are never cached,
// secrets never stored or logged in plain form, secrets compared in constant
// time, CORS closed unless configured.
import crypto from 'node:crypto';
import { expect } from 'chai';
import * as jose from 'jose';
import { createLogger } from '../../common/logger.ts';
import { bearerSecretMatches, safeEqual as commonSafeEqual } from '../../common/secrets.ts';
import type { Gateway } from '../../gateway/app.ts';
import { safeEqual, sha256Hex } from '../../services/token/helpers/secrets.ts';
import { startWhoami, type RunningApp } from '../../services/whoami/app.ts';
import { startTestGateway } from '../support/gateway.ts';
import { LogCapture } from '../support/log-capture.ts';
import { basic, login, newUser, refresh, registerAndLogin, request, type TokenPair } from '../support/http.ts';
import {
  DEMO_SERVICE_CLIENT,
  GATEWAY_CLIENT,
  POST_CLIENT,
  startTestTokenService,
  type TestTokenService,
} from '../support/token-service.ts';

describe('security properties', function () {
  this.timeout(30_000);
  const tokenLog = new LogCapture();
  const gatewayLog = new LogCapture();
  /** Every secret that went over the wire in this suite: none may be stored or logged. */
  const secrets = new Map<string, string>();
  const remember = (what: string, value: string | undefined) => {
    if (value) secrets.set(value, what);
  };
  let svc: TestTokenService;
  /** A second instance with the optional hardening switched on: CORS_ORIGINS and KEY_ENCRYPTION_KEY. */
  let configured: TestTokenService;
  const APP = 'https://app.example.com';
  let T: string;
  let whoami: RunningApp;
  let gateway: Gateway;

  before(async () => {
    [svc, configured] = await Promise.all([
      startTestTokenService({ logger: createLogger({ name: 'token-service', level: 'trace', destination: tokenLog }) }),
      startTestTokenService({
        env: { CORS_ORIGINS: `${APP}, http://localhost:3000/`, KEY_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64') },
      }),
    ]);
    T = svc.url;
    whoami = await startWhoami({ port: 0 });
    gateway = await startTestGateway(
      { issuer: svc.service.config.ISSUER, url: svc.url, client: GATEWAY_CLIENT },
      { routes: { routes: [{ id: 'whoami', prefix: '/whoami', upstream: whoami.url, auth: 'required', audience: 'whoami' }] } },
      { logger: createLogger({ name: 'gateway', level: 'trace', destination: gatewayLog }) },
    );
    remember('gateway client secret', GATEWAY_CLIENT.secret);
    remember('demo client secret', DEMO_SERVICE_CLIENT.secret);
    remember('body-authenticating client secret', POST_CLIENT.secret);
  });
  after(async () => {
    await gateway?.close();
    await whoami?.close();
    await svc?.stop();
    await configured?.stop();
  });

  const rememberPair = (pair: Partial<TokenPair> | undefined) => {
    remember('access token', pair?.access_token);
    remember('access token signature', pair?.access_token?.split('.')[2]);
    remember('refresh token', pair?.refresh_token);
  };
  const registered = async (prefix: string) => {
    const result = await registerAndLogin(T, prefix);
    remember('password', result.user.password);
    rememberPair(result.tokens);
    return result;
  };

  describe('Cache-Control: no-store on token responses', () => {
    const expectNoStore = (reply: { status: number; headers: Headers }, what: string) => {
      expect(reply.headers.get('cache-control'), `${what} (${reply.status})`).to.equal('no-store');
    };

    it('on every grant of /oauth/token and on /auth/login, with Pragma: no-cache', async () => {
      const { user, tokens } = await registered('cache');
      const loginReply = await request<TokenPair>(T, 'POST', '/auth/login', { json: { username: user.username, password: user.password } });
      rememberPair(loginReply.body);
      expectNoStore(loginReply, '/auth/login');
      expect(loginReply.headers.get('pragma')).to.equal('no-cache');

      const password = await request<TokenPair>(T, 'POST', '/oauth/token', {
        form: { grant_type: 'password', client_id: 'web', username: user.username, password: user.password },
      });
      expect(password.status).to.equal(200);
      rememberPair(password.body);
      expectNoStore(password, 'password grant');

      const refreshed = await refresh(T, tokens.refresh_token);
      expect(refreshed.status).to.equal(200);
      rememberPair(refreshed.body);
      expectNoStore(refreshed, 'refresh grant');
      expect(refreshed.headers.get('pragma')).to.equal('no-cache');

      const machine = await request<TokenPair>(T, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials' },
        headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
      });
      expect(machine.status).to.equal(200);
      rememberPair(machine.body);
      expectNoStore(machine, 'client_credentials grant');
    });

    it('on token error responses, introspection, the revocation feed and the account endpoints', async () => {
      const { tokens } = await registered('cache');
      expectNoStore(await refresh(T, 'not-a-token'), 'invalid_grant');
      expectNoStore(
        await request(T, 'POST', '/oauth/token', { form: { grant_type: 'client_credentials', client_id: 'nobody' } }),
        'invalid_client',
      );
      expectNoStore(
        await request(T, 'POST', '/auth/login', { json: { username: 'nobody-here', password: 'wrong password 1' } }),
        'failed login',
      );
      const introspected = await request(T, 'POST', '/oauth/introspect', {
        form: { token: tokens.access_token },
        headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
      });
      expect(introspected.body.active).to.equal(true);
      expectNoStore(introspected, 'introspection');
      expectNoStore(
        await request(T, 'GET', '/revocations', { headers: { authorization: basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret) } }),
        'feed',
      );
      expectNoStore(await request(T, 'GET', '/auth/me', { token: tokens.access_token }), '/auth/me');
      expectNoStore(await request(T, 'GET', '/auth/sessions', { token: tokens.access_token }), '/auth/sessions');
      expectNoStore(await request(gateway.url, 'GET', '/whoami', { token: 'garbage' }), 'gateway 401');
    });
  });

  describe('secrets are never stored in plain form', () => {
    const dumpTables = async (): Promise<string> => {
      const tables = ['users', 'clients', 'sessions', 'refresh_tokens', 'revocations', 'audit_events', 'signing_keys'];
      const dump: Record<string, unknown[]> = {};
      for (const table of tables) dump[table] = await svc.service.knex(table).select('*');
      return JSON.stringify(dump);
    };

    it('passwords are scrypt hashes; refresh tokens and client secrets SHA-256 hashes; nothing plain anywhere in the database', async () => {
      const { user, userId, tokens } = await registered('stored');
      const rotated = await refresh(T, tokens.refresh_token);
      rememberPair(rotated.body);
      // Failed attempts too: a mistyped password must not land in an audit row.
      const typo = `${user.password}x`;
      remember('mistyped password', typo);
      await request(T, 'POST', '/auth/login', { json: { username: user.username, password: typo } });
      await request(T, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_id: DEMO_SERVICE_CLIENT.id, client_secret: `${DEMO_SERVICE_CLIENT.secret}x` },
      });
      remember('wrong client secret', `${DEMO_SERVICE_CLIENT.secret}x`);

      const row = await svc.service.knex('users').where({ id: userId }).first();
      expect(row.password_hash).to.match(/^scrypt\$\d+\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      for (const token of [tokens.refresh_token, rotated.body.refresh_token]) {
        const stored = await svc.service
          .knex('refresh_tokens')
          .where({ token_hash: sha256Hex(token) })
          .first();
        expect(stored, 'found by its hash').to.exist;
      }
      for (const client of [GATEWAY_CLIENT, DEMO_SERVICE_CLIENT]) {
        const stored = await svc.service.knex('clients').where({ client_id: client.id }).first();
        expect(stored.secret_hash).to.equal(sha256Hex(client.secret));
      }

      const dump = await dumpTables();
      expect(dump).to.include(row.password_hash); // the dump really holds the rows
      for (const [secret, what] of secrets) {
        expect(dump.includes(secret), `${what} found in the database`).to.equal(false);
        expect(dump.includes(encodeURIComponent(secret)), `${what} (URL-encoded) found in the database`).to.equal(false);
      }
    });

    it('with KEY_ENCRYPTION_KEY set, private signing keys are stored encrypted', async () => {
      const rows = await configured.service.knex('signing_keys').select('*');
      expect(rows).to.have.length(1);
      expect(rows[0].private_key_encrypted).to.equal(true);
      expect(rows[0].private_key).to.match(/^aes256gcm-v1\./);
      expect(rows[0].private_key).not.to.include('PRIVATE KEY');
      // The default instance, without the key, stores PEM (and warns about it at start).
      expect((await svc.service.knex('signing_keys').first('private_key')).private_key).to.include('PRIVATE KEY');
      expect(tokenLog.text).to.include('KEY_ENCRYPTION_KEY is not set');
    });
  });

  describe('secret comparisons are constant-time', () => {
    let calls: Array<[number, number]>;
    const original = crypto.timingSafeEqual;
    beforeEach(() => {
      calls = [];
      // secrets.ts and passwords.ts call crypto.timingSafeEqual through the module object at call time.
      (crypto as { timingSafeEqual: typeof original }).timingSafeEqual = (a, b) => {
        calls.push([a.byteLength, b.byteLength]);
        return original(a, b);
      };
    });
    afterEach(() => {
      (crypto as { timingSafeEqual: typeof original }).timingSafeEqual = original;
    });

    it('safeEqual compares fixed-size digests with crypto.timingSafeEqual, whatever the lengths', () => {
      expect(safeEqual('correct secret', 'correct secret')).to.equal(true);
      expect(safeEqual('correct secret', 'correct secreT')).to.equal(false);
      expect(safeEqual('short', 'a much longer string than the other one')).to.equal(false);
      expect(safeEqual('', '')).to.equal(true);
      expect(safeEqual('a', '')).to.equal(false);
      expect(calls).to.deep.equal([
        [32, 32],
        [32, 32],
        [32, 32],
        [32, 32],
        [32, 32],
      ]);
    });

    it('client secrets (Basic and body) and passwords are checked through crypto.timingSafeEqual', async () => {
      const wrongBasic = await request(T, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials' },
        headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, 'wrong-secret-wrong-secret-wrong-secret') },
      });
      expect(wrongBasic.status).to.equal(401);
      expect(calls.length, 'wrong Basic secret').to.be.greaterThan(0);
      for (const [a, b] of calls) expect(a, 'wrong Basic secret: digests of equal length').to.equal(b);
      calls = [];
      const rightBody = await request(T, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_id: POST_CLIENT.id, client_secret: POST_CLIENT.secret },
      });
      expect(rightBody.status).to.equal(200);
      rememberPair(rightBody.body as Partial<TokenPair>);
      expect(calls.length, 'right body secret').to.be.greaterThan(0);
      for (const [a, b] of calls) expect(a, 'right body secret: digests of equal length').to.equal(b);
      calls = [];
      const user = newUser('ct');
      remember('password', user.password);
      await request(T, 'POST', '/auth/register', { json: user });
      calls = [];
      const wrongPassword = await request(T, 'POST', '/auth/login', { json: { username: user.username, password: 'not the password 42' } });
      expect(wrongPassword.status).to.equal(400);
      expect(calls.length, 'password verification').to.be.greaterThan(0);
      for (const [a, b] of calls) expect(a).to.equal(b);
    });

    // That nothing compares a secret with ==/=== is a lint rule (eslint.config.js, proved in test/lint/rules.test.ts).
    it('the token service and the gateway share the one constant-time primitive of common/secrets.ts', () => {
      expect(safeEqual).to.equal(commonSafeEqual);
      expect(bearerSecretMatches('Bearer the-metrics-token', 'the-metrics-token')).to.equal(true);
      expect(bearerSecretMatches('Bearer the-metrics-tokeN', 'the-metrics-token')).to.equal(false);
      expect(bearerSecretMatches('Bearer x', 'the-metrics-token')).to.equal(false);
      expect(bearerSecretMatches(undefined, 'the-metrics-token')).to.equal(false);
      expect(calls, 'each presented bearer secret goes through crypto.timingSafeEqual on equal lengths').to.deep.equal([
        [32, 32],
        [32, 32],
        [32, 32],
      ]);
    });
  });

  describe('CORS', () => {
    const preflight = (base: string, target: string, origin: string, method = 'POST') =>
      fetch(base + target, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
      });

    it('is closed by default: no Access-Control-Allow-Origin on preflights or responses', async () => {
      const { tokens } = await registered('cors');
      for (const target of ['/oauth/token', '/oauth/revoke', '/auth/login', '/auth/me', '/oauth/introspect', '/.well-known/jwks.json']) {
        const reply = await preflight(T, target, 'https://app.example.com');
        expect(reply.headers.get('access-control-allow-origin'), `preflight ${target}`).to.equal(null);
        expect(reply.headers.get('access-control-allow-methods'), `preflight ${target}`).to.equal(null);
      }
      const posted = await request(T, 'POST', '/auth/login', {
        json: { username: 'x', password: 'y' },
        headers: { origin: 'https://app.example.com' },
      });
      expect(posted.headers.get('access-control-allow-origin')).to.equal(null);
      const me = await request(T, 'GET', '/auth/me', { token: tokens.access_token, headers: { origin: 'https://app.example.com' } });
      expect(me.status).to.equal(200);
      expect(me.headers.get('access-control-allow-origin')).to.equal(null);
    });

    describe('with CORS_ORIGINS', () => {
      let cors: TestTokenService;
      before(() => {
        cors = configured;
      });

      it('answers preflights from listed origins for /oauth/token, /oauth/revoke and /auth/*', async () => {
        for (const [target, method] of [
          ['/oauth/token', 'POST'],
          ['/oauth/revoke', 'POST'],
          ['/auth/login', 'POST'],
          ['/auth/register', 'POST'],
          ['/auth/logout', 'POST'],
          ['/auth/me', 'GET'],
          ['/auth/sessions/5e2a3c1e-0000-4000-8000-000000000000', 'DELETE'],
        ] as const) {
          for (const origin of [APP, 'http://localhost:3000']) {
            const reply = await preflight(cors.url, target, origin, method);
            expect(reply.status, `${target} from ${origin}`).to.equal(204);
            expect(reply.headers.get('access-control-allow-origin')).to.equal(origin);
            expect(reply.headers.get('access-control-allow-methods')).to.include(method);
            expect(reply.headers.get('access-control-allow-headers')?.toLowerCase())
              .to.include('authorization')
              .and.include('content-type');
            expect(reply.headers.get('access-control-allow-credentials')).to.equal(null);
            expect(reply.headers.get('vary')).to.match(/origin/i);
          }
        }
      });

      it('allows nothing to other origins, nor on introspection, the feed or discovery', async () => {
        for (const origin of ['https://evil.example', `${APP}.evil.example`, 'http://app.example.com', 'null', `${APP}:8443`]) {
          const reply = await preflight(cors.url, '/oauth/token', origin);
          expect(reply.headers.get('access-control-allow-origin'), origin).to.equal(null);
          expect(reply.headers.get('access-control-allow-methods'), origin).to.equal(null);
        }
        for (const target of ['/oauth/introspect', '/revocations', '/.well-known/jwks.json', '/healthz']) {
          const reply = await preflight(cors.url, target, APP, 'GET');
          expect(reply.headers.get('access-control-allow-origin'), target).to.equal(null);
        }
      });

      it('puts the headers on real responses, errors included, so the app can read an invalid_grant', async () => {
        const { tokens } = await registerAndLogin(cors.url, 'corsok');
        rememberPair(tokens);
        const bad = await request(cors.url, 'POST', '/oauth/token', {
          form: { grant_type: 'refresh_token', client_id: 'web', refresh_token: 'nope' },
          headers: { origin: APP },
        });
        expect(bad.status).to.equal(400);
        expect(bad.body.error).to.equal('invalid_grant');
        expect(bad.headers.get('access-control-allow-origin')).to.equal(APP);
        expect(bad.headers.get('access-control-expose-headers')).to.match(/WWW-Authenticate/i);
        const me = await request(cors.url, 'GET', '/auth/me', { token: tokens.access_token, headers: { origin: APP } });
        expect(me.status).to.equal(200);
        expect(me.headers.get('access-control-allow-origin')).to.equal(APP);
        const evil = await request(cors.url, 'GET', '/auth/me', {
          token: tokens.access_token,
          headers: { origin: 'https://evil.example' },
        });
        expect(evil.headers.get('access-control-allow-origin')).to.equal(null);
      });
    });
  });

  // Last, so that the capture holds the traffic of every test above as well.
  describe('logs', () => {
    it('never contain a token, password or client secret during a full flow (token service and gateway, level trace)', async () => {
      const { user, userId, tokens } = await registered('logged');
      const G = gateway.url;
      expect((await request(G, 'GET', '/whoami', { token: tokens.access_token })).status).to.equal(200);
      // A token in the query string, and a token in the wrong header.
      await request(G, 'GET', `/whoami?access_token=${tokens.access_token}`);
      await request(G, 'GET', '/whoami', { headers: { authorization: `Token ${tokens.access_token}` } });
      expect((await request(G, 'GET', '/whoami', { token: `${tokens.access_token}x` })).status).to.equal(401);
      expect((await request(T, 'GET', '/auth/me', { token: tokens.access_token })).status).to.equal(200);
      await request(T, 'GET', '/auth/sessions', { token: tokens.access_token });
      const wrong = `${user.password}-wrong`;
      remember('wrong password', wrong);
      await request(T, 'POST', '/auth/login', { json: { username: user.username, password: wrong } });
      await request(T, 'POST', '/auth/login', {
        body: `{"username":"${user.username}","password":"${user.password}"`,
        headers: { 'content-type': 'application/json' },
      });
      const second = await login(T, user.email, user.password);
      rememberPair(second);
      const rotated = await refresh(T, tokens.refresh_token);
      rememberPair(rotated.body);
      await refresh(T, tokens.refresh_token); // within grace
      await svc.service
        .knex('refresh_tokens')
        .whereNotNull('consumed_at')
        .update({ consumed_at: new Date(Date.now() - 60_000) });
      expect((await refresh(T, tokens.refresh_token)).status).to.equal(400); // reuse: logged as a warning
      await request(T, 'POST', '/oauth/introspect', {
        form: { token: second.access_token },
        headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
      });
      await request(T, 'POST', '/oauth/introspect', {
        form: { token: second.refresh_token, client_id: POST_CLIENT.id, client_secret: POST_CLIENT.secret },
      });
      await request(T, 'POST', '/oauth/revoke', { form: { token: second.access_token, client_id: 'web' } });
      await request(T, 'GET', '/revocations', {
        headers: { authorization: basic(GATEWAY_CLIENT.id, 'not-the-gateway-secret-at-all-0123456789') },
      });
      remember('wrong gateway secret', 'not-the-gateway-secret-at-all-0123456789');
      const third = await login(T, user.username, user.password);
      rememberPair(third);
      expect((await request(T, 'POST', '/auth/logout', { token: third.access_token, json: { scope: 'global' } })).status).to.equal(204);
      await gateway.denylist.waitFor({ kind: 'user', key: userId });
      expect((await request(G, 'GET', '/whoami', { token: third.access_token })).status).to.equal(401);

      const logs = { 'token service': tokenLog.text, gateway: gatewayLog.text };
      // The capture works: it holds this flow's traces.
      expect(logs.gateway).to.include('"log":"access"');
      expect(logs['token service']).to.include('token service listening');
      expect(logs['token service']).to.include(String(jose.decodeJwt(tokens.access_token).sid)); // the reuse warning
      expect(logs.gateway).to.include(userId); // the access log's subject
      expect(secrets.size).to.be.greaterThan(20);
      for (const [source, text] of Object.entries(logs)) {
        for (const [secret, what] of secrets) {
          expect(text.includes(secret), `${what} found in the ${source} log`).to.equal(false);
        }
        // Basic credentials as sent on the wire.
        expect(text).not.to.include(basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret).slice(6));
        expect(text).not.to.include(basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret).slice(6));
      }
    });
  });
});
