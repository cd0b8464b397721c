// End to end: a global logout is one user-wide revocation entry, and a login
// right after it (even within the same second) gets a token that the gateway
// accepts, while every earlier token stays refused.
import { expect } from 'chai';
import * as jose from 'jose';
import { login, registerAndLogin, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';

describe('end to end: global logout, then log in again at once', () => {
  let stack: Stack;
  before(async () => {
    // The gateway's default clock tolerance (30 s).
    stack = await startStack();
  });
  after(() => stack?.stop());

  const whoami = (token: string) => request(stack.gateway.url, 'GET', '/whoami', { token });

  it("refuses every earlier token at the gateway and accepts the new one, also within the logout's second", async () => {
    let sameSecond = 0;
    for (let round = 0; round < 5; round += 1) {
      const T = stack.token.url;
      const { user, userId, tokens } = await registerAndLogin(T, 'again');
      const second = await login(T, user.username, user.password);
      expect((await whoami(second.access_token)).status).to.equal(200);

      expect((await request(T, 'POST', '/auth/logout', { token: tokens.access_token, json: { scope: 'global' } })).status).to.equal(204);
      const fresh = await login(T, user.username, user.password);
      const loggedInBy = Date.now();

      await stack.gateway.denylist.waitFor({ kind: 'user', key: userId });
      for (const old of [tokens.access_token, second.access_token]) {
        await eventually(async () => (await whoami(old)).status === 401, 'an earlier token refused');
      }
      const reply = await whoami(fresh.access_token);
      expect(reply.status, 'the token issued after the logout').to.equal(200);
      expect(reply.body).to.include({ subject: userId });

      const entry = await stack.token.service.knex('revocations').where({ kind: 'user', key: userId }).first();
      const notBeforeSec = Math.floor(entry.not_before.getTime() / 1000);
      const { iat } = jose.decodeJwt(fresh.access_token) as { iat: number };
      expect(iat).to.be.greaterThan(notBeforeSec);
      if (Math.floor(loggedInBy / 1000) === notBeforeSec) {
        // Issued within the logout's own second: its iat is the next one.
        expect(iat).to.equal(notBeforeSec + 1);
        sameSecond += 1;
      }
    }
    expect(sameSecond, "rounds whose login landed in the second after the logout's").to.be.greaterThan(0);
  });
});
