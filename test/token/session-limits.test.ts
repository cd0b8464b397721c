// Sessions per user are capped, listed a page at a time, and an idle session
// is dead everywhere and purged (issue 9).
import { expect } from 'chai';
import * as jose from 'jose';
import { purgeExpired, purgeOptions } from '../../services/token/models/cleanup.ts';
import { basic, login, newUser, refresh, request, type TokenPair } from '../support/http.ts';
import { DEMO_SERVICE_CLIENT, useTestTokenService } from '../support/token-service.ts';

interface SessionPage {
  sessions: Array<{ id: string; current: boolean; created_at: string }>;
  next_cursor: string | null;
  message?: string;
}

describe('token service: session limits', () => {
  const svc = useTestTokenService({ env: { SESSIONS_PER_USER_MAX: '4' } });

  const sidOf = (pair: TokenPair) => String(jose.decodeJwt(pair.access_token).sid);
  const me = (pair: TokenPair) => request(svc.url, 'GET', '/auth/me', { token: pair.access_token });
  const page = (pair: TokenPair, query = '') =>
    request<SessionPage>(svc.url, 'GET', `/auth/sessions${query}`, { token: pair.access_token });
  const userWithSessions = async (count: number) => {
    const user = newUser('limits');
    const registered = await request<{ id: string }>(svc.url, 'POST', '/auth/register', { json: user });
    const pairs: TokenPair[] = [];
    for (let i = 0; i < count; i += 1) pairs.push(await login(svc.url, user.username, user.password));
    return { user, userId: registered.body.id, pairs };
  };

  it('defaults to 100 sessions per user', async () => {
    const { loadTokenServiceConfig } = await import('../../services/token/config.ts');
    expect(loadTokenServiceConfig({}).SESSIONS_PER_USER_MAX).to.equal(100);
  });

  describe('the cap (SESSIONS_PER_USER_MAX)', () => {
    it('revokes the least recently used session beyond it, with a revocation entry and an audit event', async () => {
      const { user, userId, pairs } = await userWithSessions(4);
      // The oldest session is used (refreshed) again: the second one is now the least recently used.
      await svc.service
        .knex('sessions')
        .where({ id: sidOf(pairs[1]!) })
        .update({ last_refreshed_at: new Date(Date.now() - 60_000) });
      const refreshed = await refresh(svc.url, pairs[0]!.refresh_token);
      expect(refreshed.status).to.equal(200);

      const fifth = await login(svc.url, user.username, user.password);
      const evicted = sidOf(pairs[1]!);
      expect((await me(pairs[1]!)).status).to.equal(401);
      expect((await refresh(svc.url, pairs[1]!.refresh_token)).status).to.equal(400);
      for (const live of [refreshed.body, pairs[2]!, pairs[3]!, fifth]) expect((await me(live)).status).to.equal(200);
      const session = await svc.service.knex('sessions').where({ id: evicted }).first();
      expect(session.revoked_reason).to.equal('session_limit');
      expect(await svc.service.knex('revocations').where({ kind: 'session', key: evicted }).first()).to.exist;
      const audit = await svc.service.knex('audit_events').where({ user_id: userId, session_id: evicted, type: 'session_revoked' }).first();
      expect(audit.details).to.deep.include({ reason: 'session_limit', limit: 4 });
      expect((await page(fifth)).body.sessions).to.have.length(4);
    });

    it('brings a user with more live sessions than the cap (say, from before it) back within it', async () => {
      const { user, userId, pairs } = await userWithSessions(1);
      const template = await svc.service
        .knex('sessions')
        .where({ id: sidOf(pairs[0]!) })
        .first();
      await svc.service.knex.raw(
        `INSERT INTO sessions (user_id, client_id, scope, audiences, expires_at, last_refreshed_at)
         SELECT ?, ?, ?, ?, ?, now() - make_interval(secs => g) FROM generate_series(1, 9) AS g`,
        [userId, template.client_id, template.scope, template.audiences, template.expires_at],
      );
      const fresh = await login(svc.url, user.username, user.password);
      const live = await svc.service.knex('sessions').where({ user_id: userId }).whereNull('revoked_at');
      expect(live.map((s: { id: string }) => s.id))
        .to.have.length(4)
        .and.include(sidOf(fresh))
        .and.include(sidOf(pairs[0]!));
      expect(await svc.service.knex('sessions').where({ user_id: userId, revoked_reason: 'session_limit' }).count('* as n')).to.deep.equal([
        { n: 7 },
      ]);
    });

    it('holds under concurrent logins of one user', async () => {
      const { user, userId } = await userWithSessions(0);
      await Promise.all(Array.from({ length: 4 }, () => login(svc.url, user.username, user.password)));
      await Promise.all(Array.from({ length: 3 }, () => login(svc.url, user.username, user.password)));
      const live = await svc.service.knex('sessions').where({ user_id: userId }).whereNull('revoked_at').count('* as n');
      expect(live).to.deep.equal([{ n: 4 }]);
    });
  });

  describe('GET /auth/sessions pages', () => {
    it('pages newest first with an opaque cursor, every session once, the current one marked', async () => {
      const { pairs } = await userWithSessions(4);
      // Three sessions created in the same microsecond: the order falls back on the id.
      const same = new Date(Date.now() - 5_000);
      await svc.service.knex('sessions').whereIn('id', pairs.slice(0, 3).map(sidOf)).update({ created_at: same });
      const seen: SessionPage['sessions'] = [];
      let query = '?limit=1';
      for (let pages = 0; pages < 10; pages += 1) {
        const reply = await page(pairs[3]!, query);
        expect(reply.status).to.equal(200);
        expect(reply.body.sessions.length).to.be.at.most(1);
        seen.push(...reply.body.sessions);
        if (reply.body.next_cursor === null) break;
        expect(reply.body.next_cursor).to.match(/^[A-Za-z0-9_-]+$/);
        query = `?limit=1&cursor=${reply.body.next_cursor}`;
      }
      expect(seen.map((s) => s.id).sort()).to.deep.equal(pairs.map(sidOf).sort());
      expect(seen[0]!.id, 'newest first').to.equal(sidOf(pairs[3]!));
      expect(seen.filter((s) => s.current).map((s) => s.id)).to.deep.equal([sidOf(pairs[3]!)]);
      const all = await page(pairs[3]!);
      expect(all.body.sessions.map((s) => s.id)).to.deep.equal(seen.map((s) => s.id));
      expect(all.body.next_cursor).to.equal(null);
    });

    it('answers 400 naming the parameter for a bad limit or cursor', async () => {
      const { pairs } = await userWithSessions(1);
      for (const query of ['?limit=0', '?limit=101', '?limit=ten', '?limit=1&limit=2']) {
        const reply = await page(pairs[0]!, query);
        expect(reply.status, query).to.equal(400);
        expect(reply.body.message).to.match(/^limit/);
      }
      for (const cursor of ['nonsense', Buffer.from('[1,"x"]').toString('base64url'), 'a'.repeat(500)]) {
        const reply = await page(pairs[0]!, `?cursor=${cursor}`);
        expect(reply.status).to.equal(400);
        expect(reply.body.message).to.match(/^cursor/);
      }
      expect((await page(pairs[0]!, '?limit=100')).status).to.equal(200);
    });
  });

  describe('idle sessions (REFRESH_TOKEN_IDLE_TTL)', () => {
    it('are no longer live anywhere, and the purge deletes them', async () => {
      const { pairs } = await userWithSessions(2);
      const [idle, active] = pairs as [TokenPair, TokenPair];
      // Last used 15 days ago, beyond the 14-day idle lifetime.
      await svc.service
        .knex('sessions')
        .where({ id: sidOf(idle) })
        .update({ last_refreshed_at: new Date(Date.now() - 15 * 86_400_000) });

      const listed = await page(active);
      expect(listed.body.sessions.map((s) => s.id)).to.deep.equal([sidOf(active)]);
      expect((await me(idle)).status).to.equal(401);
      const introspect = (token: string) =>
        request(svc.url, 'POST', '/oauth/introspect', {
          form: { token },
          headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
        });
      expect((await introspect(idle.access_token)).body).to.deep.equal({ active: false });
      expect((await introspect(idle.refresh_token)).body).to.deep.equal({ active: false });
      expect((await introspect(active.access_token)).body.active).to.equal(true);
      expect((await refresh(svc.url, idle.refresh_token)).status).to.equal(400);

      const counts = await purgeExpired(svc.service.knex, purgeOptions(svc.service.config));
      expect(counts.sessions).to.be.at.least(1);
      expect(
        await svc.service
          .knex('sessions')
          .where({ id: sidOf(idle) })
          .first(),
      ).to.equal(undefined);
      expect(
        await svc.service
          .knex('sessions')
          .where({ id: sidOf(active) })
          .first(),
      ).to.exist;
    });
  });
});
