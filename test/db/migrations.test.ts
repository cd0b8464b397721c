// Migrations that transform data, on both databases: PGlite, and PostgreSQL
// when TEST_DATABASE_URL is set.
import { expect } from 'chai';
import { openDatabase, type Database } from '../../db/connection.ts';
import { canonicalIdentifier } from '../../db/identifiers.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

async function databaseAt(migration: string): Promise<{ db: Database; test: TestDatabase }> {
  const test = await createTestDatabase();
  const db = await openDatabase({ databaseUrl: test.env.DATABASE_URL, dataDir: test.env.DATA_DIR });
  for (;;) {
    const [, pending] = (await db.knex.migrate.list()) as [unknown, Array<{ file: string } | string>];
    const next = pending[0];
    const name = typeof next === 'string' ? next : next?.file;
    if (!name || name > migration) break;
    await db.knex.migrate.up();
  }
  return { db, test };
}

describe('database migrations', () => {
  describe('0003 canonical identifiers', () => {
    let db: Database;
    let test: TestDatabase;
    beforeEach(async () => {
      ({ db, test } = await databaseAt('0002_login_throttles'));
    });
    afterEach(async () => {
      await db.close();
      await test.drop();
    });

    const insertUser = (username: string, email: string) =>
      db
        .knex('users')
        .insert({ username, email, password_hash: 'scrypt$x' })
        .returning('id')
        .then((rows) => (rows[0] as { id: string }).id);

    it("backfills the canonical columns with the service's own function, and moves uniqueness to them", async () => {
      const spellings: Array<[string, string]> = [
        ['Alice', 'Alice@Example.COM'],
        ['ＢＯＢ', 'ｂｏｂ@example.com'],
        ['oﬃce', 'İnci@example.com'],
      ];
      const ids = [];
      for (const [username, email] of spellings) ids.push(await insertUser(username, email));
      await db.migrate();
      for (const [index, [username, email]] of spellings.entries()) {
        const row = await db.knex('users').where({ id: ids[index] }).first();
        expect(row.username).to.equal(username);
        expect(row.username_canonical).to.equal(canonicalIdentifier(username));
        expect(row.email_canonical).to.equal(canonicalIdentifier(email));
      }
      expect((await db.knex('users').where({ id: ids[1] }).first()).username_canonical).to.equal('bob');
      // The canonical indexes decide now; the locale-dependent lower() ones are gone.
      const indexes = await db.knex('pg_indexes').where({ tablename: 'users' }).pluck('indexname');
      expect(indexes).to.include.members(['users_username_canonical', 'users_email_canonical']);
      expect(indexes).not.to.include('users_username_lower');
      expect(indexes).not.to.include('users_email_lower');
      let failure: { code?: string } | undefined;
      await db
        .knex('users')
        .insert({
          username: 'office',
          email: 'new@example.com',
          username_canonical: 'office',
          email_canonical: 'new@example.com',
          password_hash: 'x',
        })
        .catch((error: { code?: string }) => (failure = error));
      expect(failure?.code, '"office" is "oﬃce" in canonical form').to.equal('23505');
    });

    it('stops with a message naming the users when two rows share a canonical form', async () => {
      const first = await insertUser('ﬁx', 'one@example.com');
      const second = await insertUser('fix', 'two@example.com');
      let failure: Error | undefined;
      await db.migrate().catch((error: Error) => (failure = error));
      expect(failure?.message).to.include('users share a canonical username').and.include(first).and.include(second);
      const [, pending] = (await db.knex.migrate.list()) as [unknown, unknown[]];
      expect(pending, 'nothing half-applied').to.have.length.greaterThan(0);
      expect(await db.knex.schema.hasColumn('users', 'username_canonical')).to.equal(false);
    });
  });

  describe('0008 browser sign-in', () => {
    let db: Database;
    let test: TestDatabase;
    before(async () => {
      ({ db, test } = await databaseAt('0007_refresh_rotation_function'));
    });
    after(async () => {
      await db.close();
      await test.drop();
    });

    it('gives existing clients the authentication method their secret implies, `web` first-party, and every client rotation', async () => {
      const client = (client_id: string, secret_hash: string | null) => ({
        client_id,
        name: client_id,
        secret_hash,
        grant_types: ['refresh_token'],
        scopes: [],
        audiences: [],
      });
      await db.knex('clients').insert([client('web', null), client('spa', null), client('backend', 'f'.repeat(64))]);
      await db.migrate();
      const rows = await db
        .knex('clients')
        .orderBy('client_id')
        .select('client_id', 'token_endpoint_auth_method', 'first_party', 'rotate_refresh_tokens', 'redirect_uris');
      expect(rows).to.deep.equal([
        {
          client_id: 'backend',
          token_endpoint_auth_method: 'client_secret_basic',
          first_party: false,
          rotate_refresh_tokens: true,
          redirect_uris: [],
        },
        { client_id: 'spa', token_endpoint_auth_method: 'none', first_party: false, rotate_refresh_tokens: true, redirect_uris: [] },
        { client_id: 'web', token_endpoint_auth_method: 'none', first_party: true, rotate_refresh_tokens: true, redirect_uris: [] },
      ]);
      // The database refuses what clientDefinitionProblem refuses: a public client that does not rotate, or claims a secret method.
      const refused = async (change: Record<string, unknown>): Promise<string | undefined> => {
        let code: string | undefined;
        await db
          .knex('clients')
          .where({ client_id: 'spa' })
          .update(change)
          .catch((error: { code?: string }) => (code = error.code));
        return code;
      };
      expect(await refused({ rotate_refresh_tokens: false })).to.equal('23514');
      expect(await refused({ token_endpoint_auth_method: 'client_secret_basic' })).to.equal('23514');
    });
  });
});
