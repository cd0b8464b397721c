// The gateway's revocation feed is cut and restored (a TCP fault proxy between
// gateway and token service) while users log out: after catch-up every one of
// those revocations is enforced. With REVOCATION_MAX_STALENESS the gateway
// refuses authenticated requests while its knowledge is stale.
import { expect } from 'chai';
import * as jose from 'jose';
import type { Gateway } from '../../gateway/app.ts';
import { login, registerAndLogin, request, type TokenPair } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';

describe('reliability: revocation feed cut and restored', function () {
  this.timeout(90_000);
  let stack: Stack;
  let T: string;
  let strict: Gateway;

  before(async () => {
    stack = await startStack();
    T = stack.token.url;
    strict = await stack.startGateway({ revocationMaxStalenessMs: 300 });
  });
  after(() => stack?.stop());

  const status = async (gateway: Gateway, token: string, path = '/whoami') => (await request(gateway.url, 'GET', path, { token })).status;
  const cursorInDatabase = async () => Number((await stack.token.service.knex('revocations').max('id as max'))[0]?.max ?? 0);

  it('every revocation made while the feed was down (cut twice, logouts throughout) is enforced after catch-up', async () => {
    const { gateway } = stack;
    const { user } = await registerAndLogin(T, 'feed');
    // 24 sessions of one user; each is logged out at some point of the cut/heal sequence.
    const sessions: TokenPair[] = [];
    for (let i = 0; i < 24; i += 1) sessions.push(await login(T, user.username, user.password));
    const survivor = await login(T, user.username, user.password);
    for (const session of [...sessions, survivor]) expect(await status(gateway, session.access_token)).to.equal(200);

    const revoked: TokenPair[] = [];
    const logoutNext = async (count: number) => {
      for (let i = 0; i < count; i += 1) {
        const session = sessions.shift() as TokenPair;
        // Straight to the token service: only the gateway's feed goes through the proxy.
        expect((await request(T, 'POST', '/auth/logout', { token: session.access_token })).status).to.equal(204);
        revoked.push(session);
      }
    };
    await logoutNext(4); // while live
    stack.issuerProxy.cut();
    await eventually(async () => gateway.feed.status().state === 'down', 'the gateway notices the cut');
    await logoutNext(8); // while down
    // Without REVOCATION_MAX_STALENESS the gateway keeps serving on what it knows.
    expect(await status(gateway, survivor.access_token)).to.equal(200);
    stack.issuerProxy.heal();
    await logoutNext(4); // while reconnecting
    await eventually(async () => gateway.feed.status().state === 'live', 'the feed reconnects', 15_000);
    stack.issuerProxy.cut();
    await logoutNext(4); // down again
    stack.issuerProxy.heal();
    await logoutNext(4); // and back

    await eventually(async () => gateway.feed.cursor >= (await cursorInDatabase()), 'the gateway catches up to the end of the log', 15_000);
    for (const session of revoked) {
      await gateway.denylist.waitFor({ kind: 'session', key: String(jose.decodeJwt(session.access_token).sid) }, 10_000);
      expect(await status(gateway, session.access_token), 'a revocation made during the outage').to.equal(401);
    }
    expect(revoked).to.have.length(24);
    expect(await status(gateway, survivor.access_token), 'the session nobody revoked').to.equal(200);
    expect(gateway.feed.status().connects).to.be.at.least(3);
  });

  it('with REVOCATION_MAX_STALENESS: authenticated requests get 503 while stale, public routes work, all is well after heal', async () => {
    const { tokens } = await registerAndLogin(T, 'stale');
    expect(await status(strict, tokens.access_token)).to.equal(200);
    stack.issuerProxy.cut();
    try {
      await eventually(async () => (await status(strict, tokens.access_token)) === 503, 'the strict gateway refuses while stale', 10_000);
      const refused = await request(strict.url, 'GET', '/whoami', { token: tokens.access_token });
      expect(refused.body).to.deep.include({ error: 'temporarily_unavailable' });
      expect(refused.headers.get('retry-after')).to.be.a('string');
      expect((await request(strict.url, 'GET', '/public')).status, 'auth: none routes do not depend on the feed').to.equal(200);
      expect((await request(strict.url, 'GET', '/readyz')).status, 'not ready while stale').to.equal(503);
      // A bad token is still a 401, not a 503: staleness never lets anything through.
      expect(await status(strict, `${tokens.access_token}x`)).to.equal(401);
      // The lenient gateway keeps serving.
      expect(await status(stack.gateway, tokens.access_token)).to.equal(200);
      // A logout during the outage.
      expect((await request(T, 'POST', '/auth/logout', { token: tokens.access_token })).status).to.equal(204);
    } finally {
      stack.issuerProxy.heal();
    }
    const fresh = await registerAndLogin(T, 'stale');
    await eventually(async () => (await status(strict, fresh.tokens.access_token)) === 200, 'the strict gateway serves again', 15_000);
    expect(await status(strict, tokens.access_token), 'and enforces the logout it missed').to.equal(401);
    expect((await request(strict.url, 'GET', '/readyz')).status).to.equal(200);
  });
});
