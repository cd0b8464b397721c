// Database outage: a TCP fault proxy between the token service and PostgreSQL
// (no system changes). While it is cut the service answers 503 with
// Retry-After, promptly, /readyz fails, and the gateway keeps validating with
// its cached keys and denylist; once healed the service recovers without a
// restart, and revocations flow to the gateway again, including those made
// meanwhile through another instance that kept its database.
import { expect } from 'chai';
import * as jose from 'jose';
import type { Gateway } from '../../gateway/app.ts';
import { startWhoami, type RunningApp } from '../../services/whoami/app.ts';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/databases.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { startTestGateway } from '../support/gateway.ts';
import { refresh, registerAndLogin, request } from '../support/http.ts';
import { eventually } from '../support/stack.ts';
import { GATEWAY_CLIENT, startTestTokenService, type TestTokenService } from '../support/token-service.ts';

/** The bound for one request during the outage: a safety net, not a timing assertion. */
const BOUND_MS = 20_000;

async function timed<T>(what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = AbortSignal.timeout(BOUND_MS);
  try {
    return await run(signal);
  } catch (error) {
    if (signal.aborted)
      throw new Error(`${what}: no answer within ${BOUND_MS} ms (the service hangs on a dead database)`, { cause: error });
    throw error;
  }
}

describe('reliability: database outage (PostgreSQL behind a fault proxy)', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let dbProxy: FaultProxy;
  let svc: TestTokenService;
  let other: TestTokenService;
  let whoami: RunningApp;
  let gateway: Gateway;
  const ISSUER = 'http://auth.outage.test';
  let proxied: URL;

  before(async function () {
    const adminUrl = testDatabaseUrl();
    if (!adminUrl) this.skip();
    database = await createTestDatabase();
    const direct = new URL(database.env.DATABASE_URL as string);
    dbProxy = await startFaultProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    proxied = new URL(direct);
    proxied.port = String(dbProxy.port);
    // Instance A reaches PostgreSQL through the proxy; instance B directly. One issuer, one database.
    svc = await startTestTokenService({ database, env: { ISSUER, DATABASE_URL: proxied.toString() } });
    other = await startTestTokenService({ database, env: { ISSUER } });
    whoami = await startWhoami({ port: 0 });
    gateway = await startTestGateway(
      { issuer: ISSUER, url: svc.url, client: GATEWAY_CLIENT },
      {
        jwksRefetchCooldownMs: 100,
        routes: { routes: [{ id: 'whoami', prefix: '/whoami', upstream: whoami.url, auth: 'required', audience: 'whoami' }] },
      },
    );
  });
  after(async () => {
    dbProxy?.heal();
    await gateway?.close();
    await whoami?.close();
    await svc?.stop();
    await other?.stop();
    await dbProxy?.close();
    await database?.drop();
  });

  const atGateway = async (token: string) => (await request(gateway.url, 'GET', '/whoami', { token })).status;
  const sidOf = (token: string) => String(jose.decodeJwt(token).sid);

  it('503 with Retry-After while cut, /readyz fails, the gateway keeps validating; recovers on heal without a restart', async () => {
    const alive = await registerAndLogin(svc.url, 'outage');
    const loggedOut = await registerAndLogin(svc.url, 'outage');
    const revokedDuringOutage = await registerAndLogin(svc.url, 'outage');
    expect((await request(svc.url, 'POST', '/auth/logout', { token: loggedOut.tokens.access_token })).status).to.equal(204);
    await gateway.denylist.waitFor({ kind: 'session', key: sidOf(loggedOut.tokens.access_token) });
    expect(await atGateway(alive.tokens.access_token)).to.equal(200);
    expect(await atGateway(loggedOut.tokens.access_token)).to.equal(401);

    dbProxy.cut();
    try {
      const needsDatabase: Array<[string, (signal: AbortSignal) => Promise<Response>]> = [
        [
          'login',
          (signal) =>
            fetch(`${svc.url}/auth/login`, {
              method: 'POST',
              signal,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ username: alive.user.username, password: alive.user.password }),
            }),
        ],
        [
          'refresh',
          (signal) =>
            fetch(`${svc.url}/oauth/token`, {
              method: 'POST',
              signal,
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'web', refresh_token: alive.tokens.refresh_token }),
            }),
        ],
        ['me', (signal) => fetch(`${svc.url}/auth/me`, { signal, headers: { authorization: `Bearer ${alive.tokens.access_token}` } })],
        [
          'register',
          (signal) =>
            fetch(`${svc.url}/auth/register`, {
              method: 'POST',
              signal,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ username: 'outage-new-user', email: 'outage-new@example.com', password: 'Correct-Horse-Battery-9' }),
            }),
        ],
      ];
      for (const [name, run] of needsDatabase) {
        const reply = await timed(name, run);
        const body = (await reply.json()) as Record<string, unknown>;
        expect(reply.status, `${name}: ${JSON.stringify(body)}`).to.equal(503);
        expect(Number(reply.headers.get('retry-after')), `${name}: Retry-After`).to.be.greaterThan(0);
        expect(body.error, name).to.equal('temporarily_unavailable');
      }
      const ready = await timed('readyz', (signal) => fetch(`${svc.url}/readyz`, { signal }));
      expect(ready.status).to.equal(503);
      expect(ready.headers.get('retry-after')).to.be.a('string');
      expect((await timed('healthz', (signal) => fetch(`${svc.url}/healthz`, { signal }))).status, 'the process is up').to.equal(200);
      expect(
        (await timed('jwks', (signal) => fetch(`${svc.url}/.well-known/jwks.json`, { signal }))).status,
        'keys are in memory',
      ).to.equal(200);

      // The gateway decides alone: cached keys, denylist in memory.
      expect(await atGateway(alive.tokens.access_token)).to.equal(200);
      expect(await atGateway(loggedOut.tokens.access_token)).to.equal(401);
      expect((await request(gateway.url, 'GET', '/readyz')).status, 'gateway still ready').to.equal(200);

      // Meanwhile a logout through the instance that still reaches the database.
      expect((await request(other.url, 'POST', '/auth/logout', { token: revokedDuringOutage.tokens.access_token })).status).to.equal(204);
    } finally {
      dbProxy.heal();
    }

    await eventually(async () => (await request(svc.url, 'GET', '/readyz')).status === 200, '/readyz recovers', 30_000);
    const again = await request(svc.url, 'POST', '/auth/login', { json: { username: alive.user.username, password: alive.user.password } });
    expect(again.status, again.text).to.equal(200);
    const rotated = await refresh(svc.url, alive.tokens.refresh_token);
    expect(rotated.status, 'the refresh refused during the outage was not half-done').to.equal(200);
    expect((await request(svc.url, 'GET', '/auth/me', { token: rotated.body.access_token })).status).to.equal(200);

    // The revocation committed elsewhere during the outage reaches this gateway too.
    await eventually(
      async () => (await atGateway(revokedDuringOutage.tokens.access_token)) === 401,
      'the revocation made during the outage is enforced',
      15_000,
    );
    // And new revocations flow again through the healed instance.
    expect((await request(svc.url, 'POST', '/auth/logout', { token: rotated.body.access_token })).status).to.equal(204);
    await eventually(async () => (await atGateway(rotated.body.access_token)) === 401, 'a logout after the outage is enforced', 15_000);
  });
  it('a partition (packets dropped, no reset) answers 503 within a bound, not a hang, and recovers', async () => {
    // Its own instance, so that the stall detector can be short.
    const stalling = await startTestTokenService({
      database,
      env: { ISSUER, DATABASE_URL: proxied.toString(), DATABASE_STALL_TIMEOUT: '1s' },
    });
    try {
      const { user } = await registerAndLogin(stalling.url);
      dbProxy.stall();
      const started = Date.now();
      const during = await request(stalling.url, 'POST', '/auth/login', { json: { username: user.username, password: user.password } });
      expect(during.status).to.equal(503);
      expect(during.headers.get('retry-after')).to.match(/^\d+$/);
      // Bounded by the stall timeout and the pool's acquire timeout, not by TCP's minutes.
      expect(Date.now() - started).to.be.below(25_000);
      expect((await request(stalling.url, 'GET', '/readyz')).status).to.equal(503);
      dbProxy.heal();
      await eventually(
        async () =>
          (await request(stalling.url, 'POST', '/auth/login', { json: { username: user.username, password: user.password } })).status ===
          200,
        'login works again after the partition heals',
        30_000,
      );
    } finally {
      dbProxy.heal();
      await stalling.close();
    }
  });
});
