// Machine clients are never mistaken for users (issue 9): a token whose `sub`
// equals its `client_id` is a client's own, which is unambiguous only because
// no client id can have the form of a user id (a UUID). Every way a client is
// created refuses one, naming the field; so does the database.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import * as jose from 'jose';
import { openDatabase } from '../../db/connection.ts';
import { adminOperations } from '../../services/token/admin/operations.ts';
import { readClientsFile } from '../../services/token/bootstrap.ts';
import { upsertClient } from '../../services/token/models/clients.ts';
import { basic, registerAndLogin, request } from '../support/http.ts';
import { createTestDatabase } from '../support/databases.ts';
import { DEMO_SERVICE_CLIENT, startTestTokenService, type TestTokenService } from '../support/token-service.ts';

const USER_ID_FORMS = [crypto.randomUUID(), crypto.randomUUID().toUpperCase()];

describe('security: client ids never have the form of a user id', () => {
  let svc: TestTokenService;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'client-ids-'));
  before(async () => {
    svc = await startTestTokenService();
  });
  after(async () => {
    await svc?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('CLIENTS_FILE: refused, naming the entry and the field', () => {
    for (const id of USER_ID_FORMS) {
      const file = path.join(dir, 'clients.json');
      fs.writeFileSync(file, JSON.stringify([{ client_id: 'fine' }, { client_id: id }]));
      expect(() => readClientsFile(file)).to.throw(/entry 1\.client_id: client_id must not have the form of a user id/);
    }
  });

  it('authctl client create (the admin operation): 400 naming client_id, nothing created', async () => {
    for (const id of USER_ID_FORMS) {
      let failure: { status?: number; field?: string; message?: string } | undefined;
      await adminOperations['client.create'](svc.service, { client_id: id, grant_types: 'client_credentials' }).catch(
        (error: typeof failure) => (failure = error),
      );
      expect(failure?.status).to.equal(400);
      expect(failure?.field).to.equal('client_id');
      expect(failure?.message).to.match(/^client_id must not have the form of a user id/);
      expect(await svc.service.knex('clients').where({ client_id: id }).first()).to.equal(undefined);
    }
  });

  it('anywhere else (the model, and the database itself)', async () => {
    const definition = { client_id: USER_ID_FORMS[0] as string, secret_hash: null, grant_types: [], scopes: [], audiences: [] };
    let failure: { field?: string } | undefined;
    await upsertClient(svc.service.knex, definition).catch((error: typeof failure) => (failure = error));
    expect(failure?.field).to.equal('client_id');
    let refused: { code?: string; constraint?: string } | undefined;
    await svc.service
      .knex('clients')
      .insert({ ...definition, name: 'sneaky' })
      .catch((error: typeof refused) => (refused = error));
    expect(refused?.code).to.equal('23514');
    expect(refused?.constraint).to.equal('clients_client_id_not_uuid');
  });

  it('the migration stops, naming them, if such clients already exist', async () => {
    const test = await createTestDatabase();
    const db = await openDatabase({ databaseUrl: test.env.DATABASE_URL, dataDir: test.env.DATA_DIR });
    try {
      for (let i = 0; i < 4; i += 1) await db.knex.migrate.up();
      const id = crypto.randomUUID();
      await db.knex('clients').insert({ client_id: id, name: 'old', grant_types: [], scopes: [], audiences: [] });
      let failure: Error | undefined;
      await db.migrate().catch((error: Error) => (failure = error));
      expect(failure?.message).to.include('client ids may not have the form of a user id').and.include(id);
    } finally {
      await db.close();
      await test.drop();
    }
  });

  it("so sub = client_id tells a client's token from a user's, whose sub is a UUID", async () => {
    const machine = await request<{ access_token: string }>(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'client_credentials' },
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
    const clientClaims = jose.decodeJwt(machine.body.access_token);
    expect(clientClaims.sub).to.equal(clientClaims.client_id);
    const { tokens } = await registerAndLogin(svc.url);
    const userClaims = jose.decodeJwt(tokens.access_token);
    expect(userClaims.sub).not.to.equal(userClaims.client_id);
    expect(userClaims.sub).to.match(/^[0-9a-f-]{36}$/);
  });
});
