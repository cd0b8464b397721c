// Client rows are cached in memory (models/clients.ts ClientCache); a change
// made anywhere reaches every instance by NOTIFY, so a token request never
// runs on a stale client for longer than the notification takes.
import { expect } from 'chai';
import { sha256Hex } from '../../services/token/helpers/secrets.ts';
import { ClientCache, deleteClient, upsertClient } from '../../services/token/models/clients.ts';
import { basic, request } from '../support/http.ts';
import { eventually } from '../support/stack.ts';
import { startTestTokenService, type TestTokenService } from '../support/token-service.ts';

describe('token service: the client cache', () => {
  let svc: TestTokenService;
  let second: TestTokenService | undefined;
  let instances: TestTokenService[];
  before(async () => {
    svc = await startTestTokenService();
    // On PostgreSQL, another instance on the same database must learn of changes made through the
    // first. (An embedded database belongs to one process: there, the one instance is checked.)
    if (svc.database.kind === 'postgres') second = await startTestTokenService({ database: svc.database });
    instances = second ? [svc, second] : [svc];
  });
  after(async () => {
    await second?.stop();
    await svc?.stop();
  });

  const client = (secret: string) => ({
    client_id: 'cache-probe',
    secret_hash: sha256Hex(secret),
    grant_types: ['client_credentials' as const],
    scopes: ['notes:read'],
    audiences: ['notes'],
  });
  const credentials = (base: string, secret: string) =>
    request(base, 'POST', '/oauth/token', {
      form: { grant_type: 'client_credentials' },
      headers: { authorization: basic('cache-probe', secret) },
    });

  it('answers from memory, and forgets a client on every instance as soon as a change commits', async () => {
    await upsertClient(svc.service.knex, client('first-secret-0123456789abcdef0123456789'));
    for (const instance of instances)
      expect((await credentials(instance.url, 'first-secret-0123456789abcdef0123456789')).status).to.equal(200);

    await upsertClient(svc.service.knex, client('second-secret-0123456789abcdef012345678'));
    for (const instance of instances) {
      await eventually(
        async () => (await credentials(instance.url, 'first-secret-0123456789abcdef0123456789')).status === 401,
        'the old secret refused',
        2000,
      );
      expect((await credentials(instance.url, 'second-secret-0123456789abcdef012345678')).status).to.equal(200);
    }

    await svc.service.knex.transaction((trx) => deleteClient(trx, 'cache-probe'));
    for (const instance of instances) {
      await eventually(
        async () => (await credentials(instance.url, 'second-secret-0123456789abcdef012345678')).status === 401,
        'the deleted client refused',
        2000,
      );
    }
  });

  it('reads a row again after maxAgeMs even without a notification, never caches an unknown id, and stays bounded', async () => {
    let now = 0;
    const cache = new ClientCache(svc.service.knex, { maxAgeMs: 1000, maxEntries: 2, now: () => now });
    await upsertClient(svc.service.knex, client('third-secret-0123456789abcdef0123456789'));
    const first = await cache.find('cache-probe');
    expect(first?.secret_hash).to.equal(sha256Hex('third-secret-0123456789abcdef0123456789'));
    // A change whose notification this cache never hears (it is not listening):
    await svc.service.knex('clients').where({ client_id: 'cache-probe' }).update({ name: 'renamed' });
    expect((await cache.find('cache-probe'))?.name).to.not.equal('renamed', 'still the cached row');
    now = 1000;
    expect((await cache.find('cache-probe'))?.name).to.equal('renamed', 'read again once too old');

    expect(await cache.find('no-such-client')).to.equal(undefined);
    await upsertClient(svc.service.knex, { ...client('x-secret-0123456789abcdef0123456789abcd'), client_id: 'no-such-client' });
    expect(await cache.find('no-such-client')).to.not.equal(undefined, 'a miss was not remembered');
    await cache.find('web');
    await cache.find('gateway');
    now = 1500;
    await svc.service.knex('clients').where({ client_id: 'cache-probe' }).update({ name: 'renamed again' });
    expect((await cache.find('cache-probe'))?.name).to.equal('renamed again', 'evicted beyond maxEntries, so read again');
  });
});
