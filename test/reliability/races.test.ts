// Races on real PostgreSQL (real concurrency: a pool of connections, row
// locks). Skipped on PGlite, whose single connection serialises everything
// (test/token/refresh-families.test.ts covers the serialised case).
import { expect } from 'chai';
import * as jose from 'jose';
import { testDatabaseUrl } from '../support/databases.ts';
import { basic, newUser, refresh, registerAndLogin, request, type Reply, type TokenPair } from '../support/http.ts';
import { DEMO_SERVICE_CLIENT, startTestTokenService, type TestTokenService } from '../support/token-service.ts';
import { invariantViolations, liveTokens } from './invariants.ts';

type RefreshReply = Reply<TokenPair & { error?: string; error_description?: string }>;

describe('reliability: races on PostgreSQL', function () {
  this.timeout(60_000);
  let svc: TestTokenService;
  let T: string;

  before(async function () {
    if (!testDatabaseUrl()) this.skip();
    svc = await startTestTokenService({
      env: {
        DATABASE_POOL_MAX: '20',
        // These races come from one address; its limits (test/token/hashing-admission.test.ts)
        // are lifted so that every request reaches the database.
        PASSWORD_HASH_PENDING_MAX: '200',
        PASSWORD_HASH_PENDING_PER_ADDRESS: '200',
        LOGIN_THROTTLE_IP_FREE: '1000000',
      },
    });
    T = svc.url;
  });
  after(() => svc?.stop());
  afterEach(async function () {
    if (!svc) return;
    expect(await invariantViolations(svc.service.knex), 'database invariants').to.deep.equal([]);
  });

  const sidOf = (token: string) => String(jose.decodeJwt(token).sid);
  const introspect = (token: string) =>
    request(T, 'POST', '/oauth/introspect', {
      form: { token },
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
  const noServerErrors = (replies: Array<{ status: number; text: string }>) => {
    for (const reply of replies) expect(reply.status, reply.text).to.be.below(500);
  };

  it('100 concurrent refreshes of one token (three families at once): exactly one branch each, grace holds', async () => {
    const families = await Promise.all([1, 2, 3].map(() => registerAndLogin(T, 'race')));
    const all = await Promise.all(
      families.flatMap(({ tokens }, family) =>
        Array.from({ length: 100 }, () => refresh(T, tokens.refresh_token).then((reply) => ({ family, reply }))),
      ),
    );
    noServerErrors(all.map(({ reply }) => reply));
    for (const [family, { tokens }] of families.entries()) {
      const replies: RefreshReply[] = all.filter((entry) => entry.family === family).map((entry) => entry.reply);
      const winners = replies.filter((reply) => reply.status === 200);
      expect(winners, `family ${family}: winners`).to.have.length(1);
      const losers = replies.filter((reply) => reply.status !== 200);
      expect(losers).to.have.length(99);
      for (const loser of losers) {
        expect(loser.status).to.equal(400);
        // Every loser is the immediate parent inside the grace window: refused, nothing revoked.
        expect(loser.body).to.deep.include({ error: 'invalid_grant' });
        expect(loser.body.error_description).to.match(/just been rotated/);
      }
      const sid = sidOf(tokens.access_token);
      const session = await svc.service.knex('sessions').where({ id: sid }).first();
      expect(session.revoked_at, 'grace: the family lives on').to.equal(null);
      expect(await liveTokens(svc.service.knex, sid)).to.equal(1);
      const next = await refresh(T, (winners[0] as RefreshReply).body.refresh_token);
      expect(next.status, "the winner's branch goes on").to.equal(200);
    }
  });

  it('concurrent logout and refreshes of one family (20 families): no live token remains', async () => {
    const outcomes = { refreshedBeforeLogout: 0, refusedAfterLogout: 0 };
    await Promise.all(
      Array.from({ length: 20 }, async (_, index) => {
        const { tokens } = await registerAndLogin(T, 'lr');
        const sid = sidOf(tokens.access_token);
        const refreshes = Array.from({ length: 3 }, () => refresh(T, tokens.refresh_token));
        const logout = request(T, 'POST', '/auth/logout', { token: tokens.access_token, json: { scope: index % 2 ? 'global' : 'local' } });
        const [logoutReply, ...refreshReplies] = await Promise.all([logout, ...refreshes]);
        expect(logoutReply.status).to.equal(204);
        noServerErrors(refreshReplies);
        for (const reply of refreshReplies) {
          if (reply.status === 200) outcomes.refreshedBeforeLogout += 1;
          else outcomes.refusedAfterLogout += 1;
        }
        expect(await liveTokens(svc.service.knex, sid), `family ${sid}`).to.equal(0);
        const session = await svc.service.knex('sessions').where({ id: sid }).first();
        expect(session.revoked_at).to.be.instanceOf(Date);
        // Whatever a refresh handed out before the logout committed is dead too.
        for (const reply of refreshReplies.filter((r) => r.status === 200)) {
          expect((await refresh(T, reply.body.refresh_token)).status).to.equal(400);
          expect((await request(T, 'GET', '/auth/me', { token: reply.body.access_token })).status).to.equal(401);
          expect((await introspect(reply.body.access_token)).body).to.deep.equal({ active: false });
        }
        expect((await refresh(T, tokens.refresh_token)).status).to.equal(400);
      }),
    );
    expect(outcomes.refreshedBeforeLogout + outcomes.refusedAfterLogout).to.equal(60);
  });

  it('reuse detection racing a legitimate refresh of the child: the family ends revoked, nothing live', async () => {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const { tokens } = await registerAndLogin(T, 'reuse');
        const sid = sidOf(tokens.access_token);
        const child = await refresh(T, tokens.refresh_token);
        expect(child.status).to.equal(200);
        // Push the parent's consumption out of the grace window: presenting it is now reuse.
        await svc.service
          .knex('refresh_tokens')
          .where({ session_id: sid })
          .whereNotNull('consumed_at')
          .update({ consumed_at: new Date(Date.now() - 60_000) });
        const replies = await Promise.all([
          refresh(T, tokens.refresh_token),
          refresh(T, child.body.refresh_token),
          refresh(T, child.body.refresh_token),
        ]);
        noServerErrors(replies);
        expect((replies[0] as RefreshReply).status, 'the replayed parent').to.equal(400);
        const session = await svc.service.knex('sessions').where({ id: sid }).first();
        expect(session.revoked_reason).to.equal('refresh_token_reuse');
        expect(await liveTokens(svc.service.knex, sid)).to.equal(0);
        for (const reply of replies.filter((r) => r.status === 200)) {
          expect((await refresh(T, reply.body.refresh_token)).status).to.equal(400);
        }
      }),
    );
  });

  it('concurrent registrations of one username (30, in mixed case) and of one e-mail: exactly one 201 each', async () => {
    const { username, password } = newUser('dup');
    const variants = [username, username.toUpperCase(), username.charAt(0).toUpperCase() + username.slice(1)];
    const byName = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(T, 'POST', '/auth/register', { json: { username: variants[i % 3], email: `${username}.${i}@example.com`, password } }),
      ),
    );
    noServerErrors(byName);
    expect(byName.filter((r) => r.status === 201)).to.have.length(1);
    for (const reply of byName.filter((r) => r.status !== 201)) {
      expect(reply.status).to.equal(409);
      expect(reply.body).to.deep.equal({ error: 'conflict', message: 'username or email is already registered' });
    }
    const users = await svc.service.knex('users').where({ username_canonical: username.toLowerCase() });
    expect(users).to.have.length(1);

    const email = `${username}-shared@example.com`;
    const byEmail = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(T, 'POST', '/auth/register', {
          json: { username: `${username}e${i}`, email: i % 2 ? email : email.toUpperCase(), password },
        }),
      ),
    );
    noServerErrors(byEmail);
    expect(byEmail.filter((r) => r.status === 201)).to.have.length(1);
    expect(byEmail.filter((r) => r.status === 409)).to.have.length(29);
  });
});
