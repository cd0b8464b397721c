// Two token-service instances and two gateways on one PostgreSQL database: a
// logout handled by either instance is enforced by both gateways.
import { expect } from 'chai';
import { registerAndLogin, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/databases.ts';
import type { Gateway } from '../../gateway/app.ts';

describe('end to end: two token services and two gateways on one PostgreSQL', function () {
  let database: TestDatabase;
  let a: Stack;
  let b: Stack;
  let gateways: Gateway[];
  before(async function () {
    // One process per PGlite directory: several instances need PostgreSQL.
    if (!testDatabaseUrl()) this.skip();
    database = await createTestDatabase();
    // Both instances carry one public issuer; each gateway reaches "its" instance by an internal URL.
    a = await startStack({ database, issuer: 'http://auth.example.test' });
    b = await startStack({ database, issuer: 'http://auth.example.test' });
    gateways = [a.gateway, b.gateway];
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await database?.drop();
  });

  const statusAt = async (gateway: Gateway, token: string) => (await request(gateway.url, 'GET', '/whoami', { token })).status;

  for (const [name, via] of [
    ['instance A', () => a],
    ['instance B', () => b],
  ] as const) {
    it(`enforces a logout made through ${name} at both gateways`, async () => {
      const service = via();
      const { tokens } = await registerAndLogin(a.token.url);
      for (const gateway of gateways) expect(await statusAt(gateway, tokens.access_token)).to.equal(200);
      expect((await request(service.token.url, 'POST', '/auth/logout', { token: tokens.access_token })).status).to.equal(204);
      for (const gateway of gateways) {
        await eventually(async () => (await statusAt(gateway, tokens.access_token)) === 401, `${gateway.url} rejects the token`);
      }
    });
  }
});
