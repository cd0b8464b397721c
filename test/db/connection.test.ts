import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { openDatabase } from '../../db/connection.ts';
import { DirectoryInUseError } from '../../db/directory-lock.ts';
import { loadTokenServiceConfig } from '../../services/token/config.ts';
import { ConfigError } from '../../common/env.ts';
import { parseDuration } from '../../common/duration.ts';

describe('database layer (embedded PGlite)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'authority-db-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('creates missing parent directories, migrates, and keeps data across reopen', async () => {
    const dir = path.join(root, 'nested', 'deeper', 'data');
    const first = await openDatabase({ dataDir: dir });
    await first.migrate();
    await first.knex('clients').insert({ client_id: 'persisted', name: 'p', grant_types: [], scopes: [], audiences: [] });
    await first.close();
    const second = await openDatabase({ dataDir: dir });
    const row = await second.knex('clients').where({ client_id: 'persisted' }).first();
    expect(row.scopes).to.deep.equal([]);
    const tables = await second.knex('pg_tables').where({ schemaname: 'public' }).pluck('tablename');
    expect(tables).to.include.members(['users', 'clients', 'signing_keys', 'sessions', 'refresh_tokens', 'revocations', 'audit_events']);
    await second.close();
  });

  it('refuses a second opener of the same directory with a clear message', async () => {
    const dir = path.join(root, 'locked');
    const holder = await openDatabase({ dataDir: dir });
    try {
      let failure: unknown;
      await openDatabase({ dataDir: dir }).then(
        (db) => db.close(),
        (error: unknown) => (failure = error),
      );
      expect(failure).to.be.instanceOf(DirectoryInUseError);
      expect((failure as Error).message)
        .to.match(/already open in process \d+/)
        .and.match(/DATABASE_URL/);
    } finally {
      await holder.close();
    }
    const reopened = await openDatabase({ dataDir: dir });
    await reopened.close();
  });

  it('takes over a stale lock left by a dead process', async () => {
    const dir = path.join(root, 'stale');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.authority.lock'), '999999999');
    const db = await openDatabase({ dataDir: dir });
    expect(fs.readFileSync(path.join(dir, '.authority.lock'), 'utf8')).to.equal(String(process.pid));
    await db.close();
  });

  it('returns the same JavaScript types as PostgreSQL (numbers for bigint ids, Dates)', async () => {
    const db = await openDatabase({ dataDir: 'memory://' });
    await db.migrate();
    const [row] = await db.knex('revocations').insert({ kind: 'session', key: 'k', expires_at: new Date() }).returning('*');
    expect(row.id).to.be.a('number');
    expect(row.created_at).to.be.instanceOf(Date);
    expect(await db.knex('revocations').where({ id: row.id }).del()).to.equal(1);
    await db.close();
  });
});

describe('configuration', () => {
  it('lists every bad variable by name', () => {
    let failure: unknown;
    try {
      loadTokenServiceConfig({ TOKEN_PORT: 'eighty', ACCESS_TOKEN_TTL: 'soon', KEY_ENCRYPTION_KEY: 'short', DATABASE_URL: 'mysql://x' });
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(ConfigError);
    const problems = (failure as ConfigError).problems.join('\n');
    for (const name of ['TOKEN_PORT', 'ACCESS_TOKEN_TTL', 'KEY_ENCRYPTION_KEY', 'DATABASE_URL']) expect(problems).to.include(name);
  });

  it('accepts durations as seconds or with units, with the documented defaults', () => {
    expect(parseDuration('300')).to.equal(300_000);
    expect(parseDuration('5m')).to.equal(300_000);
    expect(parseDuration('14d')).to.equal(14 * 86_400_000);
    expect(parseDuration('250ms')).to.equal(250);
    expect(parseDuration('5 weeks')).to.equal(undefined);
    const config = loadTokenServiceConfig({});
    expect(config.ACCESS_TOKEN_TTL).to.equal(300_000);
    expect(config.REFRESH_TOKEN_IDLE_TTL).to.equal(14 * 86_400_000);
    expect(config.SESSION_MAX_AGE).to.equal(30 * 86_400_000);
    expect(config.REFRESH_REUSE_GRACE).to.equal(10_000);
    expect(config.TOKEN_PORT).to.equal(4000);
    expect(config.ISSUER).to.equal('http://localhost:4000');
  });
});

describe('CLIENTS_FILE', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authority-clients-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, content: unknown) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };

  it('hashes secrets on import and never keeps them', async () => {
    const { readClientsFile } = await import('../../services/token/bootstrap.ts');
    const secret = 'a-very-long-client-secret-0123456789abcdef';
    const [client] = readClientsFile(write('ok.json', [{ client_id: 'svc', client_secret: secret, grant_types: ['client_credentials'] }]));
    expect(client!.secret_hash).to.match(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(client)).not.to.include(secret);
  });

  it('names the bad entry and field', async () => {
    const { readClientsFile } = await import('../../services/token/bootstrap.ts');
    const file = write('bad.json', [
      { client_id: 'fine' },
      { client_id: 'svc', client_secret: 'short', grant_types: ['client_credentials'] },
    ]);
    expect(() => readClientsFile(file)).to.throw(/entry 1\.client_secret: at least 32 characters/);
    expect(() => readClientsFile(write('broken.json', '{nope'))).to.throw(/CLIENTS_FILE .*broken\.json/);
  });

  it('loads the sign-in fields; what is left out takes its default', async () => {
    const { readClientsFile } = await import('../../services/token/bootstrap.ts');
    const { clientDefaults } = await import('../../services/token/models/clients.ts');
    const [spa, web] = readClientsFile(
      write('sign-in.json', [
        {
          client_id: 'spa',
          grant_types: ['authorization_code', 'refresh_token'],
          redirect_uris: ['https://app.example/callback', 'http://127.0.0.1/callback', 'com.example.app:/callback'],
          post_logout_redirect_uris: ['https://app.example/'],
          backchannel_logout_uri: 'https://app.example/backchannel-logout',
          first_party: true,
        },
        {
          client_id: 'web-backend',
          client_secret: 'a-very-long-client-secret-0123456789abcdef',
          grant_types: ['authorization_code', 'refresh_token'],
          redirect_uris: ['https://backend.example/cb'],
          token_endpoint_auth_method: 'client_secret_post',
          rotate_refresh_tokens: false,
        },
      ]),
    );
    expect(clientDefaults(spa!)).to.deep.include({
      redirect_uris: ['https://app.example/callback', 'http://127.0.0.1/callback', 'com.example.app:/callback'],
      post_logout_redirect_uris: ['https://app.example/'],
      backchannel_logout_uri: 'https://app.example/backchannel-logout',
      first_party: true,
      token_endpoint_auth_method: 'none',
      rotate_refresh_tokens: true,
      secret_hash: null,
    });
    expect(clientDefaults(web!)).to.deep.include({
      post_logout_redirect_uris: [],
      backchannel_logout_uri: null,
      first_party: false,
      token_endpoint_auth_method: 'client_secret_post',
      rotate_refresh_tokens: false,
    });
  });

  it('the README example loads', async () => {
    const { readClientsFile } = await import('../../services/token/bootstrap.ts');
    const readme = fs.readFileSync(path.resolve('README.md'), 'utf8');
    const example = /^### Clients$[\s\S]*?^```json\n([\s\S]*?)^```$/m.exec(readme)?.[1];
    expect(example, 'a JSON example in the README Clients section').to.be.a('string');
    const clients = readClientsFile(write('readme.json', example!));
    expect(clients.map((client) => [client.client_id, client.secret_hash === null])).to.deep.equal([
      ['notes-spa', true],
      ['reports-web', false],
    ]);
  });

  it('names the entry and field of a bad redirect URI or an inconsistent client', async () => {
    const { readClientsFile } = await import('../../services/token/bootstrap.ts');
    const spa = { client_id: 'spa', grant_types: ['authorization_code'], redirect_uris: ['https://app.example/cb'] };
    const cases: Array<[unknown, RegExp]> = [
      [{ ...spa, redirect_uris: ['https://app.example/cb', 'javascript:alert(1)'] }, /entry 1\.redirect_uris\.1: javascript:alert\(1\)/],
      [{ ...spa, redirect_uris: ['http://evil.example/cb'] }, /entry 1\.redirect_uris\.0: .*plain http only for loopback hosts/],
      [
        { ...spa, post_logout_redirect_uris: ['https://app.example/#bye'] },
        /entry 1\.post_logout_redirect_uris\.0: .*must not have a fragment/,
      ],
      [
        { ...spa, token_endpoint_auth_method: 'client_secret_basic' },
        /entry 1\.token_endpoint_auth_method: client_secret_basic needs a client secret/,
      ],
      [{ ...spa, rotate_refresh_tokens: false }, /entry 1\.rotate_refresh_tokens: a public client always rotates/],
      [{ ...spa, redirect_uris: [] }, /entry 1\.redirect_uris: authorization_code needs at least one redirect URI/],
    ];
    for (const [entry, expected] of cases) {
      expect(() => readClientsFile(write('bad-sign-in.json', [{ client_id: 'fine' }, entry]))).to.throw(expected);
    }
  });
});
