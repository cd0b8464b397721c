import { expect } from 'chai';
import { useTestTokenService } from '../support/token-service.ts';
import { login, refresh, registerAndLogin, request, type TokenPair } from '../support/http.ts';

interface SessionList {
  sessions: Array<{ id: string; current: boolean; client_id: string; user_agent: string | null; ip: string | null }>;
}

describe('token service: logout and sessions', () => {
  const svc = useTestTokenService();

  const me = (token: string) => request(svc.url, 'GET', '/auth/me', { token });
  const logout = (token: string, scope?: string) =>
    request(svc.url, 'POST', '/auth/logout', { token, ...(scope ? { json: { scope } } : {}) });
  const threeSessions = async (): Promise<TokenPair[]> => {
    const { user, tokens } = await registerAndLogin(svc.url);
    return [tokens, await login(svc.url, user.username, user.password), await login(svc.url, user.username, user.password)];
  };

  it('GET /auth/me answers for a live token and 401 with WWW-Authenticate without one', async () => {
    const { tokens, user } = await registerAndLogin(svc.url);
    const reply = await me(tokens.access_token);
    expect(reply.status).to.equal(200);
    expect(reply.body).to.include({ username: user.username, email: user.email, client_id: 'web' });
    expect(reply.body).not.to.have.property('password_hash');
    const anonymous = await request(svc.url, 'GET', '/auth/me');
    expect(anonymous.status).to.equal(401);
    expect(anonymous.headers.get('www-authenticate')).to.match(/^Bearer error="invalid_token"/);
  });

  it('logout local revokes only this session, durably, and is idempotent', async () => {
    const [a, b] = await threeSessions();
    const sidA = (await me(a!.access_token)).body.session_id as string;
    expect((await logout(a!.access_token)).status).to.equal(204);
    // Durable before the response: the row and its revocation entry are committed.
    const session = await svc.service.knex('sessions').where({ id: sidA }).first();
    expect(session.revoked_reason).to.equal('logout');
    expect(await svc.service.knex('revocations').where({ kind: 'session', key: sidA }).first()).to.exist;

    expect((await me(a!.access_token)).status).to.equal(401);
    expect((await refresh(svc.url, a!.refresh_token)).status).to.equal(400);
    expect((await me(b!.access_token)).status).to.equal(200);
    expect((await logout(a!.access_token)).status, 'a second logout').to.equal(204);
    expect(await svc.service.knex('revocations').where({ kind: 'session', key: sidA }).count('* as n')).to.deep.equal([{ n: 1 }]);
  });

  it('logout global revokes every session of the user', async () => {
    const sessions = await threeSessions();
    expect((await logout(sessions[1]!.access_token, 'global')).status).to.equal(204);
    for (const tokens of sessions) {
      expect((await me(tokens.access_token)).status).to.equal(401);
      expect((await refresh(svc.url, tokens.refresh_token)).status).to.equal(400);
    }
  });

  it('logout others keeps this session and revokes the rest', async () => {
    const [a, b, c] = await threeSessions();
    expect((await logout(a!.access_token, 'others')).status).to.equal(204);
    expect((await me(a!.access_token)).status).to.equal(200);
    expect((await refresh(svc.url, a!.refresh_token)).status).to.equal(200);
    expect((await me(b!.access_token)).status).to.equal(401);
    expect((await me(c!.access_token)).status).to.equal(401);
  });

  it('never touches another user', async () => {
    const mine = await registerAndLogin(svc.url);
    const theirs = await registerAndLogin(svc.url);
    await logout(mine.tokens.access_token, 'global');
    expect((await me(theirs.tokens.access_token)).status).to.equal(200);
  });

  it('rejects an unknown logout scope with 400 and requires a token', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const bad = await logout(tokens.access_token, 'everything');
    expect(bad.status).to.equal(400);
    expect(bad.body.message).to.match(/^scope/);
    expect((await request(svc.url, 'POST', '/auth/logout')).status).to.equal(401);
    expect((await me(tokens.access_token)).status).to.equal(200);
  });

  it('lists my live sessions with the current one marked, and lets me revoke one', async () => {
    const [a, b] = await threeSessions();
    const list = await request<SessionList>(svc.url, 'GET', '/auth/sessions', { token: a!.access_token, headers: {} });
    expect(list.status).to.equal(200);
    expect(list.body.sessions).to.have.length(3);
    const current = list.body.sessions.filter((s) => s.current);
    expect(current).to.have.length(1);
    expect(current[0]!.id).to.equal((await me(a!.access_token)).body.session_id);
    expect(list.body.sessions[0]).to.have.keys(
      'id',
      'client_id',
      'signin_session_id',
      'created_at',
      'last_used_at',
      'expires_at',
      'user_agent',
      'ip',
      'current',
    );

    const sidB = (await me(b!.access_token)).body.session_id as string;
    expect((await request(svc.url, 'DELETE', `/auth/sessions/${sidB}`, { token: a!.access_token })).status).to.equal(204);
    expect((await me(b!.access_token)).status).to.equal(401);
    const after = await request<SessionList>(svc.url, 'GET', '/auth/sessions', { token: a!.access_token });
    expect(after.body.sessions.map((s) => s.id)).not.to.include(sidB);
  });

  it("answers 404 for someone else's session and for an unknown id", async () => {
    const mine = await registerAndLogin(svc.url);
    const theirs = await registerAndLogin(svc.url);
    const theirSid = (await me(theirs.tokens.access_token)).body.session_id as string;
    expect((await request(svc.url, 'DELETE', `/auth/sessions/${theirSid}`, { token: mine.tokens.access_token })).status).to.equal(404);
    expect((await me(theirs.tokens.access_token)).status).to.equal(200);
    expect((await request(svc.url, 'DELETE', '/auth/sessions/not-a-uuid', { token: mine.tokens.access_token })).status).to.equal(404);
  });

  it('records the user agent and address of a session', async () => {
    const { user } = await registerAndLogin(svc.url);
    const reply = await request<TokenPair>(svc.url, 'POST', '/auth/login', {
      json: { username: user.username, password: user.password },
      headers: { 'user-agent': 'TestBrowser/1.0' },
    });
    const list = await request<SessionList>(svc.url, 'GET', '/auth/sessions', { token: reply.body.access_token });
    const current = list.body.sessions.find((s) => s.current);
    expect(current?.user_agent).to.equal('TestBrowser/1.0');
    expect(current?.ip).to.match(/127\.0\.0\.1/);
  });
});
