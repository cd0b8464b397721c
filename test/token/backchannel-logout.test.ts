// OpenID Connect Back-Channel Logout 1.0: every kind of family revocation owes
// the family's client a logout token (outbox row in the revoking transaction),
// and the deliverer POSTs it, retries, abandons, and resumes after a restart.
// A demo client (node:http) verifies each token with jose against the JWKS.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { createLogger } from '../../common/logger.ts';
import { adminOperations } from '../../services/token/admin/operations.ts';
import { retryDelayMs } from '../../services/token/backchannel-logout.ts';
import { BACKCHANNEL_LOGOUT_EVENT, logoutTokenClaims } from '../../services/token/helpers/logout-tokens.ts';
import { upsertClient, type GrantType } from '../../services/token/models/clients.ts';
import { purgeExpired, purgeOptions } from '../../services/token/models/cleanup.ts';
import { claimDueDeliveries } from '../../services/token/models/logout-deliveries.ts';
import { revokeSessions } from '../../services/token/models/sessions.ts';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/databases.ts';
import { newUser, request, type TokenPair } from '../support/http.ts';
import { eventually } from '../support/stack.ts';
import { startTestTokenService, useTestTokenService } from '../support/token-service.ts';

const ISSUER = 'http://issuer.test';

/** What the demo client does with the next POST to one of its paths. */
type Behaviour = 'ok' | 'fail' | 'hang';

interface Received {
  clientId: string;
  payload: JWTPayload;
  at: number;
}

/**
 * A client's back-channel logout endpoint: POST /<client_id>. It verifies the
 * logout token as §2.6 asks (signature by the issuer's JWKS, RS256, issuer,
 * audience = its client id, typ, events, no nonce) and records it.
 */
async function startReceiver(jwksUrl: () => string | Promise<string>) {
  const received: Received[] = [];
  /** Every logout token posted, verified or not (to show that none reaches a log). */
  const posted: string[] = [];
  const problems: string[] = [];
  const attempts = new Map<string, number>();
  const behaviours = new Map<string, (attempt: number) => Behaviour>();
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let jwksFrom: string | undefined;
  const hanging = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    const clientId = decodeURIComponent((req.url ?? '/').slice(1));
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token');
        if (token) posted.push(token);
        const attempt = (attempts.get(clientId) ?? 0) + 1;
        attempts.set(clientId, attempt);
        const behaviour = behaviours.get(clientId)?.(attempt) ?? 'ok';
        if (behaviour === 'hang') {
          hanging.add(res);
          return;
        }
        if (behaviour === 'fail') {
          res.writeHead(503).end();
          return;
        }
        try {
          if (req.method !== 'POST') throw new Error(`method ${req.method}`);
          if (req.headers['content-type'] !== 'application/x-www-form-urlencoded')
            throw new Error(`content-type ${req.headers['content-type']}`);
          if (!token) throw new Error('no logout_token');
          const url = await jwksUrl();
          if (jwksFrom !== url) {
            jwksFrom = url;
            jwks = createRemoteJWKSet(new URL(url));
          }
          const { payload } = await jwtVerify(token, jwks as ReturnType<typeof createRemoteJWKSet>, {
            algorithms: ['RS256'],
            issuer: ISSUER,
            audience: clientId,
            typ: 'logout+jwt',
            requiredClaims: ['iat', 'exp', 'jti', 'sub', 'sid', 'events'],
          });
          const events = payload.events as Record<string, unknown> | undefined;
          if (typeof events?.[BACKCHANNEL_LOGOUT_EVENT] !== 'object') throw new Error('no back-channel logout event');
          if ('nonce' in payload) throw new Error('a nonce');
          received.push({ clientId, payload, at: Date.now() });
          res.writeHead(200, { 'cache-control': 'no-store' }).end();
        } catch (error) {
          problems.push(`${clientId}: ${(error as Error).message}`);
          res.writeHead(400).end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    received,
    posted,
    problems,
    attempts,
    uri: (clientId: string) => `${base}/${encodeURIComponent(clientId)}`,
    behave(clientId: string, behaviour: (attempt: number) => Behaviour) {
      behaviours.set(clientId, behaviour);
    },
    bySid: (sid: string) => received.filter((entry) => entry.payload.sid === sid),
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** A log destination that keeps each JSON line. */
function capture(lines: Array<Record<string, unknown>>): PassThrough {
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  return destination;
}

const GRANTS: GrantType[] = ['password', 'refresh_token'];

/** A public client whose families are created by the password grant; its tokens are also for the account endpoints. */
async function registerClient(knex: Parameters<typeof upsertClient>[0], clientId: string, uri: string | null): Promise<void> {
  await upsertClient(knex, {
    client_id: clientId,
    secret_hash: null,
    grant_types: GRANTS,
    scopes: ['openid'],
    audiences: [ISSUER],
    backchannel_logout_uri: uri,
  });
}

async function signUp(base: string): Promise<{ userId: string; username: string; password: string }> {
  const user = newUser('bcl');
  const registered = await request<{ id: string }>(base, 'POST', '/auth/register', { json: user });
  expect(registered.status).to.equal(201);
  return { userId: registered.body.id, username: user.username, password: user.password };
}

/** A new refresh-token family of `clientId` (password grant); its id is the access token's sid. */
async function family(base: string, clientId: string, user: { username: string; password: string }) {
  const reply = await request<TokenPair>(base, 'POST', '/oauth/token', {
    form: { grant_type: 'password', client_id: clientId, username: user.username, password: user.password },
  });
  expect(reply.status, reply.text).to.equal(200);
  return { tokens: reply.body, id: decodeJwt(reply.body.access_token).sid as string };
}

describe('token service: back-channel logout', function () {
  // Starting a service (migrations, key generation) takes seconds on a busy machine.
  this.timeout(60_000);
  let receiver: Receiver;
  const logLines: Array<Record<string, unknown>> = [];
  const svc = useTestTokenService(() => ({
    logger: createLogger({ name: 'token', level: 'debug', destination: capture(logLines) }),
    env: {
      BACKCHANNEL_LOGOUT_MAX_ATTEMPTS: '3',
      BACKCHANNEL_LOGOUT_RETRY_MIN: '20ms',
      BACKCHANNEL_LOGOUT_RETRY_MAX: '200ms',
      BACKCHANNEL_LOGOUT_TIMEOUT: '2s',
      SESSIONS_PER_USER_MAX: '3',
      // Any re-presented refresh token is reuse (no grace).
      REFRESH_REUSE_GRACE: '0',
    },
  }));

  before(async () => {
    receiver = await startReceiver(() => `${svc.url}/.well-known/jwks.json`);
    await registerClient(svc.service.knex, 'bcl-app', receiver.uri('bcl-app'));
    await registerClient(svc.service.knex, 'bcl-other', receiver.uri('bcl-other'));
    await registerClient(svc.service.knex, 'bcl-none', null);
  });
  after(() => receiver?.close());
  afterEach(() => {
    expect(receiver.problems, 'tokens the demo client refused').to.deep.equal([]);
  });

  const outbox = (familyId: string) => svc.service.knex('logout_deliveries').where({ family_id: familyId });
  /** Waits for the verified logout token of a family (sid = family id: these families have no sign-in session). */
  const deliveredTo = async (clientId: string, familyId: string, userId: string): Promise<JWTPayload> => {
    await eventually(() => receiver.bySid(familyId).length > 0, `a logout token for family ${familyId}`);
    const [entry, ...more] = receiver.bySid(familyId);
    expect(more, 'one token per family').to.have.length(0);
    expect(entry!.clientId).to.equal(clientId);
    expect(entry!.payload).to.include({ iss: ISSUER, aud: clientId, sub: userId, sid: familyId });
    expect(entry!.payload.exp! - entry!.payload.iat!).to.be.within(1, 300);
    await eventually(async () => (await outbox(familyId).first())?.delivered_at != null, 'the row marked delivered');
    return entry!.payload;
  };

  it('logout (local) delivers one verified logout token to the family’s client', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const b = await family(svc.url, 'bcl-app', user);
    const reply = await request(svc.url, 'POST', '/auth/logout', { token: a.tokens.access_token });
    expect(reply.status).to.equal(204);
    // Owed by the time the answer comes: the row committed with the revocation.
    const [row] = await outbox(a.id);
    expect(row).to.include({ client_id: 'bcl-app', uri: receiver.uri('bcl-app'), user_id: user.userId, sid: a.id });
    await deliveredTo('bcl-app', a.id, user.userId);
    expect(await outbox(b.id)).to.have.length(0);
  });

  it('logout (global) delivers one token per family, to each family’s own client, and none for clients without a URI', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const b = await family(svc.url, 'bcl-other', user);
    const none = await family(svc.url, 'bcl-none', user);
    expect((await request(svc.url, 'POST', '/auth/logout', { token: a.tokens.access_token, json: { scope: 'global' } })).status).to.equal(
      204,
    );
    await deliveredTo('bcl-app', a.id, user.userId);
    await deliveredTo('bcl-other', b.id, user.userId);
    expect(await outbox(none.id), 'no backchannel_logout_uri, no row').to.have.length(0);
    // One user-wide revocation entry, yet a logout per family.
    expect(await svc.service.knex('revocations').where({ kind: 'user', key: user.userId })).to.have.length(1);
  });

  it('logout (others) delivers for the other families only', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const b = await family(svc.url, 'bcl-app', user);
    expect((await request(svc.url, 'POST', '/auth/logout', { token: a.tokens.access_token, json: { scope: 'others' } })).status).to.equal(
      204,
    );
    await deliveredTo('bcl-app', b.id, user.userId);
    expect(await outbox(a.id)).to.have.length(0);
  });

  it('refresh-token reuse revokes the family and delivers', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const form = { grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token, client_id: 'bcl-app' };
    expect((await request(svc.url, 'POST', '/oauth/token', { form })).status).to.equal(200);
    const reused = await request(svc.url, 'POST', '/oauth/token', { form });
    expect(reused.status).to.equal(400);
    expect((await svc.service.knex('sessions').where({ id: a.id }).first()).revoked_reason).to.equal('refresh_token_reuse');
    await deliveredTo('bcl-app', a.id, user.userId);
  });

  it('RFC 7009 revocation of a refresh token delivers', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const reply = await request(svc.url, 'POST', '/oauth/revoke', { form: { token: a.tokens.refresh_token, client_id: 'bcl-app' } });
    expect(reply.status).to.equal(200);
    await deliveredTo('bcl-app', a.id, user.userId);
  });

  it('DELETE /auth/sessions/:id delivers', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const b = await family(svc.url, 'bcl-app', user);
    expect((await request(svc.url, 'DELETE', `/auth/sessions/${b.id}`, { token: a.tokens.access_token })).status).to.equal(204);
    await deliveredTo('bcl-app', b.id, user.userId);
    expect(await outbox(a.id)).to.have.length(0);
  });

  it('disabling the user (admin operations) delivers for each family', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const b = await family(svc.url, 'bcl-other', user);
    const { service } = svc;
    await adminOperations['user.disable'](
      { knex: service.knex, config: service.config, keys: service.keys, passwords: service.passwords, logger: service.logger },
      { user: user.username },
    );
    await deliveredTo('bcl-app', a.id, user.userId);
    await deliveredTo('bcl-other', b.id, user.userId);
  });

  it('a login beyond the session limit delivers for the family it evicts', async () => {
    const user = await signUp(svc.url);
    const oldest = await family(svc.url, 'bcl-app', user);
    const kept = [await family(svc.url, 'bcl-app', user), await family(svc.url, 'bcl-app', user)];
    await family(svc.url, 'bcl-app', user);
    expect((await svc.service.knex('sessions').where({ id: oldest.id }).first()).revoked_reason).to.equal('session_limit');
    await deliveredTo('bcl-app', oldest.id, user.userId);
    for (const { id } of kept) expect(await outbox(id)).to.have.length(0);
  });

  it('the sid is the family’s sign-in session when it has one', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const { knex } = svc.service;
    const [signin] = await knex('signin_sessions')
      .insert({ token_hash: `test-${a.id}`, user_id: user.userId, auth_time: new Date(), expires_at: new Date(Date.now() + 3_600_000) })
      .returning('id');
    await knex('sessions').where({ id: a.id }).update({ signin_session_id: signin.id });
    expect((await request(svc.url, 'POST', '/auth/logout', { token: a.tokens.access_token })).status).to.equal(204);
    await eventually(() => receiver.bySid(signin.id).length > 0, 'a logout token with the sign-in session as sid');
    expect(receiver.bySid(signin.id)[0]!.payload).to.include({ sub: user.userId, aud: 'bcl-app' });
    expect(await outbox(a.id).first()).to.include({ sid: signin.id });
  });

  it('retries a failing client with growing waits until it acknowledges', async () => {
    const clientId = 'bcl-flaky';
    await registerClient(svc.service.knex, clientId, receiver.uri(clientId));
    const failedAt: number[] = [];
    receiver.behave(clientId, (attempt) => {
      if (attempt > 2) return 'ok';
      failedAt.push(Date.now());
      return 'fail';
    });
    const user = await signUp(svc.url);
    const a = await family(svc.url, clientId, user);
    await request(svc.url, 'POST', '/oauth/revoke', { form: { token: a.tokens.refresh_token, client_id: clientId } });
    await deliveredTo(clientId, a.id, user.userId);
    const row = await outbox(a.id).first();
    expect(row).to.include({ attempts: 3, last_error: null, abandoned_at: null });
    // After the n-th failure the wait is at least half of 20 ms · 2^(n-1).
    const deliveredAt = receiver.bySid(a.id)[0]!.at;
    expect(failedAt).to.have.length(2);
    expect(failedAt[1]! - failedAt[0]!).to.be.at.least(10);
    expect(deliveredAt - failedAt[1]!).to.be.at.least(20);
  });

  it('abandons after the last attempt, keeping a short reason', async () => {
    const clientId = 'bcl-down';
    await registerClient(svc.service.knex, clientId, receiver.uri(clientId));
    receiver.behave(clientId, () => 'fail');
    const user = await signUp(svc.url);
    const a = await family(svc.url, clientId, user);
    await request(svc.url, 'POST', '/oauth/revoke', { form: { token: a.tokens.refresh_token, client_id: clientId } });
    await eventually(async () => (await outbox(a.id).first())?.abandoned_at != null, 'the row abandoned');
    const row = await outbox(a.id).first();
    expect(row).to.include({ attempts: 3, last_error: 'HTTP 503', delivered_at: null });
    expect(receiver.attempts.get(clientId)).to.equal(3);
    await eventually(() => logLines.some((line) => line.msg === 'back-channel logout abandoned after the last attempt'), 'a warning');
    const warning = logLines.find((line) => line.msg === 'back-channel logout abandoned after the last attempt');
    expect(warning).to.include({ level: 40, clientId, attempts: 3, error: 'HTTP 503' });
    const logged = logLines.map((line) => JSON.stringify(line)).join('\n');
    expect(receiver.posted.length).to.be.at.least(3);
    for (const token of receiver.posted) expect(logged).not.to.include(token.split('.')[2]);
  });

  it('writes the outbox row in the revoking transaction: a rollback leaves none', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    const { knex, config } = svc.service;
    const rolledBack = new Error('rolled back on purpose');
    const attempt = knex.transaction(async (trx) => {
      const revoked = await revokeSessions(trx, (q) => q.where({ id: a.id }), {
        reason: 'admin',
        accessTokenLifetimeMs: config.ACCESS_TOKEN_TTL,
      });
      expect(revoked).to.deep.equal([a.id]);
      expect(await trx('logout_deliveries').where({ family_id: a.id })).to.have.length(1);
      throw rolledBack;
    });
    await attempt.then(
      () => expect.fail('the transaction should have rolled back'),
      (error: unknown) => expect(error).to.equal(rolledBack),
    );
    expect(await outbox(a.id)).to.have.length(0);
    expect((await knex('sessions').where({ id: a.id }).first()).revoked_at).to.equal(null);
    // Committed, the same revocation owes exactly one delivery.
    await knex.transaction((trx) =>
      revokeSessions(trx, (q) => q.where({ id: a.id }), { reason: 'admin', accessTokenLifetimeMs: config.ACCESS_TOKEN_TTL }),
    );
    await deliveredTo('bcl-app', a.id, user.userId);
  });

  it('a claimed row is leased: no second claim sends it while the first attempt runs', async () => {
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-none', user);
    const { knex } = svc.service;
    const rolledBack = new Error('rolled back on purpose');
    // In a transaction of its own (rolled back), so that the running deliverer never sees the row.
    await knex
      .transaction(async (trx) => {
        await trx('logout_deliveries').insert({
          client_id: 'bcl-app',
          uri: receiver.uri('bcl-app'),
          user_id: user.userId,
          sid: a.id,
          family_id: a.id,
        });
        const [claimed, ...others] = await claimDueDeliveries(trx, 100, 60_000);
        expect(others).to.have.length(0);
        expect(claimed).to.include({ client_id: 'bcl-app', sid: a.id, attempts: 1 });
        expect(await claimDueDeliveries(trx, 100, 60_000), 'a second claim during the lease').to.deep.equal([]);
        throw rolledBack;
      })
      .catch((error: unknown) => expect(error).to.equal(rolledBack));
  });

  it('purges delivered rows after a day and abandoned ones after a week', async () => {
    const { knex } = svc.service;
    const user = await signUp(svc.url);
    const a = await family(svc.url, 'bcl-app', user);
    await request(svc.url, 'POST', '/oauth/revoke', { form: { token: a.tokens.refresh_token, client_id: 'bcl-app' } });
    await deliveredTo('bcl-app', a.id, user.userId);
    await purgeExpired(knex, purgeOptions(svc.service.config));
    expect(await outbox(a.id), 'delivered just now: kept').to.have.length(1);
    await outbox(a.id).update({ delivered_at: knex.raw("now() - interval '25 hours'") });
    const counts = await purgeExpired(knex, purgeOptions(svc.service.config));
    expect(counts.logout_deliveries).to.be.at.least(1);
    expect(await outbox(a.id)).to.have.length(0);
  });
});

describe('token service: back-channel logout across a restart', function () {
  // An embedded database on disk is created (initdb and migrations) the first time: seconds.
  this.timeout(90_000);
  let database: TestDatabase;
  let dataDir: string | undefined;
  let receiver: Receiver;
  // Only the second service's tokens are verified (the first one's attempt hangs): its JWKS is known once it has started.
  let secondStarted: (jwksUrl: string) => void;
  const secondJwks = new Promise<string>((resolve) => {
    secondStarted = resolve;
  });

  before(async () => {
    if (testDatabaseUrl()) database = await createTestDatabase();
    else {
      // In-memory PGlite would not outlive the first service: a directory does.
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'backchannel-'));
      const dir = dataDir;
      database = {
        env: { DATA_DIR: path.join(dir, 'db') },
        kind: 'pglite',
        drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
      };
    }
    receiver = await startReceiver(() => secondJwks);
  });
  after(async () => {
    await receiver?.close();
    await database?.drop();
  });

  it('a delivery cut short by a stop is made by the next service on the same database', async () => {
    const env = { BACKCHANNEL_LOGOUT_RETRY_MIN: '20ms', BACKCHANNEL_LOGOUT_TIMEOUT: '10s' };
    const first = await startTestTokenService({ database, env, logger: createLogger({ name: 'first', level: 'silent' }) });
    let familyId: string;
    let userId: string;
    try {
      await registerClient(first.service.knex, 'bcl-app', receiver.uri('bcl-app'));
      receiver.behave('bcl-app', (attempt) => (attempt === 1 ? 'hang' : 'ok'));
      const user = await signUp(first.url);
      userId = user.userId;
      const a = await family(first.url, 'bcl-app', user);
      familyId = a.id;
      await request(first.url, 'POST', '/oauth/revoke', { form: { token: a.tokens.refresh_token, client_id: 'bcl-app' } });
      await eventually(() => receiver.attempts.get('bcl-app') === 1, 'the first attempt in flight');
    } finally {
      await first.stop();
    }
    expect(receiver.received).to.have.length(0);

    const second = await startTestTokenService({ database, env });
    try {
      secondStarted(`${second.url}/.well-known/jwks.json`);
      await eventually(() => receiver.bySid(familyId).length > 0, 'the logout token delivered after the restart');
      expect(receiver.bySid(familyId)[0]!.payload).to.include({ aud: 'bcl-app', sub: userId, sid: familyId });
      const row = () => second.service.knex('logout_deliveries').where({ family_id: familyId }).first();
      await eventually(async () => (await row()).delivered_at !== null, 'the row marked delivered');
      // The interrupted attempt counts: one cut short, one acknowledged.
      expect(await row()).to.include({ attempts: 2, abandoned_at: null });
      expect(receiver.problems).to.deep.equal([]);
    } finally {
      await second.stop();
    }
  });
});

describe('back-channel logout: pure parts', () => {
  it('logout-token claims follow §2.4: events, no nonce, a short life', () => {
    const claims = logoutTokenClaims(
      { issuer: ISSUER, lifetimeMs: 120_000, now: 1_700_000_000_500 },
      { clientId: 'c', sub: 'u', sid: 's' },
    );
    expect(claims).to.deep.include({ iss: ISSUER, aud: 'c', sub: 'u', sid: 's', iat: 1_700_000_000, exp: 1_700_000_120 });
    expect(claims.events).to.deep.equal({ [BACKCHANNEL_LOGOUT_EVENT]: {} });
    expect(claims).not.to.have.property('nonce');
    expect(logoutTokenClaims({ issuer: ISSUER, lifetimeMs: 1, now: 0 }, { clientId: 'c', sub: 'u', sid: 's' }).jti).not.to.equal(
      claims.jti,
    );
  });

  it('the retry wait doubles per failure, with jitter, up to the cap', () => {
    const settings = { minMs: 1000, maxMs: 60_000 };
    expect(retryDelayMs(1, settings, () => 0)).to.equal(500);
    expect(retryDelayMs(1, settings, () => 1)).to.equal(1000);
    expect(retryDelayMs(3, settings, () => 1)).to.equal(4000);
    expect(retryDelayMs(50, settings, () => 1)).to.equal(60_000);
    expect(retryDelayMs(50, settings, () => 0)).to.equal(30_000);
  });
});
