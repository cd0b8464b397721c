// Revoking what is already revoked writes nothing and notifies no one (issue
// 9: one access token revoked 300 times used to write 300 entries, each pushed
// to every gateway), and a global logout is one user-wide entry.
import { expect } from 'chai';
import * as jose from 'jose';
import { adminOperations } from '../../services/token/admin/operations.ts';
import { basic, login, registerAndLogin, request, type TokenPair } from '../support/http.ts';
import { GATEWAY_CLIENT, useTestTokenService } from '../support/token-service.ts';

interface FeedEntry {
  id: number;
  kind: string;
  key: string;
  not_before: string | null;
}

describe('token service: idempotent revocation and global logout', () => {
  const svc = useTestTokenService();

  const claimsOf = (token: string) => jose.decodeJwt(token) as { sid: string; jti: string; sub: string; iat: number };
  const revoke = (token: string) => request(svc.url, 'POST', '/oauth/revoke', { form: { token, client_id: 'web' } });
  const logout = (token: string, scope = 'local') => request(svc.url, 'POST', '/auth/logout', { token, json: { scope } });
  const cursor = async (): Promise<number> => Number((await svc.service.knex('revocations').max('id as max'))[0]?.max ?? 0);
  /** What gateways are sent after `after`: the catch-up feed (the stream relays the same rows). */
  const feedAfter = async (after: number): Promise<FeedEntry[]> => {
    const page = await request<{ revocations: FeedEntry[] }>(svc.url, 'GET', `/revocations?after=${after}`, {
      headers: { authorization: basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret) },
    });
    return page.body.revocations;
  };
  const sessionsOf = async (user: { username: string; password: string }, first: TokenPair, more: number): Promise<TokenPair[]> => {
    const pairs = [first];
    for (let i = 0; i < more; i += 1) pairs.push(await login(svc.url, user.username, user.password));
    return pairs;
  };

  it('an access token revoked 300 times (100 at once): one entry, one feed event, one audit event', async () => {
    const { tokens, userId } = await registerAndLogin(svc.url);
    const { jti } = claimsOf(tokens.access_token);
    const start = await cursor();
    const first = await Promise.all(Array.from({ length: 100 }, () => revoke(tokens.access_token)));
    for (let i = 0; i < 200; i += 1) expect((await revoke(tokens.access_token)).status).to.equal(200);
    expect(first.every((reply) => reply.status === 200)).to.equal(true);
    expect(await svc.service.knex('revocations').where({ kind: 'token', key: jti }).count('* as n')).to.deep.equal([{ n: 1 }]);
    expect((await feedAfter(start)).map((e) => `${e.kind}:${e.key}`)).to.deep.equal([`token:${jti}`]);
    const audits = await svc.service.knex('audit_events').where({ user_id: userId, type: 'access_token_revoked' }).count('* as n');
    expect(audits).to.deep.equal([{ n: 1 }]);
    expect((await request(svc.url, 'GET', '/auth/me', { token: tokens.access_token })).status).to.equal(401);
  });

  it('an access token whose session, or whose user, is already revoked: nothing written', async () => {
    const { user, tokens } = await registerAndLogin(svc.url);
    const [a, b, c] = await sessionsOf(user, tokens, 2);
    await logout(a!.access_token); // its session entry covers it
    await logout(b!.access_token, 'others'); // per-session entries for b's siblings, c among them
    const start = await cursor();
    for (const pair of [a!, c!]) expect((await revoke(pair.access_token)).status).to.equal(200);
    expect(await feedAfter(start)).to.deep.equal([]);

    await logout(b!.access_token, 'global');
    const afterGlobal = await cursor();
    expect((await revoke(b!.access_token)).status).to.equal(200);
    expect(await cursor(), 'the user entry covers it').to.equal(afterGlobal);
  });

  it('a refresh token revoked again: its session is revoked once', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const { sid } = claimsOf(tokens.access_token);
    const start = await cursor();
    for (let i = 0; i < 5; i += 1) expect((await revoke(tokens.refresh_token)).status).to.equal(200);
    expect((await feedAfter(start)).map((e) => `${e.kind}:${e.key}`)).to.deep.equal([`session:${sid}`]);
    expect(await svc.service.knex('audit_events').where({ session_id: sid, type: 'session_revoked' }).count('* as n')).to.deep.equal([
      { n: 1 },
    ]);
  });

  it('logout global: every session revoked by one user entry, none per session', async () => {
    const { user, userId, tokens } = await registerAndLogin(svc.url);
    const pairs = await sessionsOf(user, tokens, 3);
    const start = await cursor();
    expect((await logout(pairs[2]!.access_token, 'global')).status).to.equal(204);
    const entries = await feedAfter(start);
    expect(entries.map((e) => `${e.kind}:${e.key}`)).to.deep.equal([`user:${userId}`]);
    const notBefore = Date.parse(entries[0]!.not_before as string);
    for (const pair of pairs) expect(claimsOf(pair.access_token).iat * 1000).to.be.at.most(notBefore);
    const sessions = await svc.service.knex('sessions').where({ user_id: userId });
    expect(sessions.map((s: { revoked_reason: string | null }) => s.revoked_reason)).to.deep.equal(Array(4).fill('logout_global'));
    for (const pair of pairs) expect((await request(svc.url, 'GET', '/auth/me', { token: pair.access_token })).status).to.equal(401);

    // Again, with any of the now revoked tokens: nothing more.
    expect((await logout(pairs[0]!.access_token, 'global')).status).to.equal(204);
    expect(await feedAfter(start)).to.have.length(1);
  });

  it('authctl revoke --user and user disable: one user entry when there is something to revoke, none after', async () => {
    const { user, userId, tokens } = await registerAndLogin(svc.url);
    await sessionsOf(user, tokens, 1);
    const start = await cursor();
    const first = await adminOperations['revoke.user'](svc.service, { user: user.username });
    expect(first.sessions_revoked).to.equal(2);
    expect((await feedAfter(start)).map((e) => `${e.kind}:${e.key}`)).to.deep.equal([`user:${userId}`]);
    await adminOperations['revoke.user'](svc.service, { user: user.username });
    await adminOperations['user.disable'](svc.service, { user: user.username });
    expect(await feedAfter(start), 'nothing new was covered').to.have.length(1);
  });

  it('a login right after a global logout gets tokens the user entry does not cover', async () => {
    const { user, userId, tokens } = await registerAndLogin(svc.url);
    await logout(tokens.access_token, 'global');
    const entry = await svc.service.knex('revocations').where({ kind: 'user', key: userId }).first();
    const fresh = await login(svc.url, user.username, user.password);
    const { iat } = claimsOf(fresh.access_token);
    // Gateways revoke iat <= not_before in whole seconds.
    expect(iat).to.be.greaterThan(Math.floor(entry.not_before.getTime() / 1000));
    expect(iat * 1000 - Date.now(), 'at most a second ahead').to.be.below(1000);
    expect((await request(svc.url, 'GET', '/auth/me', { token: fresh.access_token })).status).to.equal(200);
    const refreshed = await request<TokenPair>(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', refresh_token: fresh.refresh_token, client_id: 'web' },
    });
    expect(claimsOf(refreshed.body.access_token).iat).to.be.greaterThan(Math.floor(entry.not_before.getTime() / 1000));
  });
});
