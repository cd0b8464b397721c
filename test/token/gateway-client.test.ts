// The gateway's confidential client is registered by the token service itself
// from GATEWAY_CLIENT_SECRET, the one secret both sides read; in local
// development (plain-HTTP loopback issuer) from the gateway's default secret, so
// `npm run start:token` and `npm run start:gateway` work together with no set-up.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { DEVELOPMENT_GATEWAY_CLIENT_SECRET } from '../../common/development.ts';
import { ConfigError } from '../../common/env.ts';
import { loadTokenServiceConfig } from '../../services/token/config.ts';
import { basic, request } from '../support/http.ts';
import { startTestTokenService } from '../support/token-service.ts';

const feedToken = async (base: string, id: string, secret: string) =>
  request(base, 'POST', '/oauth/token', {
    form: { grant_type: 'client_credentials', scope: 'revocations:read' },
    headers: { authorization: basic(id, secret) },
  });

describe('token service: the gateway client from GATEWAY_CLIENT_SECRET', function () {
  this.timeout(60_000);
  const secret = 'a-gateway-secret-from-the-environment-0123456789';

  it('refuses a short secret, naming the variable', () => {
    try {
      loadTokenServiceConfig({ GATEWAY_CLIENT_SECRET: 'too-short' });
      expect.fail('accepted a short GATEWAY_CLIENT_SECRET');
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).problems).to.deep.equal(['GATEWAY_CLIENT_SECRET: at least 32 characters (openssl rand -hex 32)']);
    }
  });

  it('registers GATEWAY_CLIENT_ID with the secret, over a CLIENTS_FILE entry of the same id', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-client-'));
    const file = path.join(dir, 'clients.json');
    const fileSecret = 'the-clients-file-secret-0123456789abcdef';
    fs.writeFileSync(file, JSON.stringify([{ client_id: 'edge', client_secret: fileSecret, grant_types: ['client_credentials'] }]));
    const svc = await startTestTokenService({ env: { CLIENTS_FILE: file, GATEWAY_CLIENT_ID: 'edge', GATEWAY_CLIENT_SECRET: secret } });
    try {
      const granted = await feedToken(svc.url, 'edge', secret);
      expect(granted.status, JSON.stringify(granted.body)).to.equal(200);
      expect(granted.body.scope).to.equal('revocations:read');
      expect((await feedToken(svc.url, 'edge', fileSecret)).status).to.equal(401);
      const row = await svc.service.knex('clients').where({ client_id: 'edge' }).first();
      expect(JSON.stringify(row)).not.to.include(secret);
    } finally {
      await svc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses the development secret only for a plain-HTTP loopback issuer', async () => {
    const local = await startTestTokenService({ env: { ISSUER: 'http://localhost:4000', GATEWAY_CLIENT_SECRET: '' } });
    try {
      expect((await feedToken(local.url, 'gateway', DEVELOPMENT_GATEWAY_CLIENT_SECRET)).status).to.equal(200);
    } finally {
      await local.stop();
    }
    const deployed = await startTestTokenService({ env: { ISSUER: 'https://auth.example.com', GATEWAY_CLIENT_SECRET: '' } });
    try {
      expect((await feedToken(deployed.url, 'gateway', DEVELOPMENT_GATEWAY_CLIENT_SECRET)).status).to.equal(401);
      expect(await deployed.service.knex('clients').where({ client_id: 'gateway' }).first()).to.equal(undefined);
    } finally {
      await deployed.stop();
    }
  });
});
