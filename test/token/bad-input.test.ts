import { expect } from 'chai';
import { GATEWAY_CLIENT, useTestTokenService } from '../support/token-service.ts';
import { basic, registerAndLogin, request } from '../support/http.ts';

describe('token service: bad input never crashes', () => {
  let accessToken: string;
  const svc = useTestTokenService();
  before(async () => {
    accessToken = (await registerAndLogin(svc.url)).tokens.access_token;
  });

  const postEndpoints = ['/oauth/token', '/oauth/revoke', '/oauth/introspect', '/auth/register', '/auth/login', '/auth/logout'];
  const oauth = (path: string) => path.startsWith('/oauth/');
  const errorShape = (path: string, body: Record<string, unknown>) => {
    if (oauth(path)) expect(body).to.have.keys('error', 'error_description');
    else expect(body).to.have.keys('error', 'message');
  };

  for (const path of postEndpoints) {
    describe(`POST ${path}`, () => {
      it('answers 400 for malformed JSON', async () => {
        const reply = await request(svc.url, 'POST', path, {
          body: '{"grant_type": ',
          headers: { 'content-type': 'application/json' },
          token: accessToken,
        });
        expect(reply.status).to.equal(400);
        expect(reply.body.error).to.equal('invalid_request');
        errorShape(path, reply.body);
      });
      it('answers 415 for an unsupported media type', async () => {
        const reply = await request(svc.url, 'POST', path, {
          body: '<xml/>',
          headers: { 'content-type': 'application/xml' },
          token: accessToken,
        });
        expect(reply.status).to.equal(415);
        errorShape(path, reply.body);
      });
      it('answers 413 for an oversized body', async () => {
        const reply = await request(svc.url, 'POST', path, { json: { padding: 'x'.repeat(64 * 1024) }, token: accessToken });
        expect(reply.status).to.equal(413);
        errorShape(path, reply.body);
      });
      it('answers 400 for a JSON body that is not an object', async () => {
        const reply = await request(svc.url, 'POST', path, {
          body: '["a", "b"]',
          headers: { 'content-type': 'application/json' },
          token: accessToken,
        });
        expect(reply.status).to.equal(400);
        errorShape(path, reply.body);
      });
    });
  }

  it('rejects repeated form parameters (RFC 6749 §3.2)', async () => {
    const reply = await request(svc.url, 'POST', '/oauth/token', {
      body: 'grant_type=password&grant_type=client_credentials&client_id=web',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(reply.status).to.equal(400);
    expect(reply.body).to.deep.equal({ error: 'invalid_request', error_description: 'grant_type must not be repeated' });
  });

  it('does not turn bracketed form keys into nested objects', async () => {
    const reply = await request(svc.url, 'POST', '/oauth/token', {
      body: 'grant_type[a]=password&__proto__[x]=1&client_id=web',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(reply.status).to.equal(400);
    expect(reply.body.error).to.equal('invalid_request');
  });

  it('answers 400 for missing and extra-long OAuth parameters', async () => {
    const missing = await request(svc.url, 'POST', '/oauth/token', { form: { client_id: 'web' } });
    expect(missing.body).to.deep.equal({ error: 'invalid_request', error_description: 'grant_type is required' });
    const long = await request(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', client_id: 'web', refresh_token: 'x'.repeat(600) },
    });
    expect(long.status).to.equal(400);
    expect(long.body.error_description).to.match(/refresh_token must be at most/);
    const wrongType = await request(svc.url, 'POST', '/oauth/token', { json: { grant_type: 42, client_id: 'web' } });
    expect(wrongType.body).to.deep.equal({ error: 'invalid_request', error_description: 'grant_type must be a string' });
  });

  it('checks the client before the parameters of its grant (RFC 6749 §5.2 order)', async () => {
    const unknownClient = await request(svc.url, 'POST', '/oauth/token', { form: { grant_type: 'password', client_id: 'nobody' } });
    expect(unknownClient.status).to.equal(401);
    expect(unknownClient.body.error).to.equal('invalid_client');
    const unsupported = await request(svc.url, 'POST', '/oauth/token', {
      json: { grant_type: 'implicit', client_id: 'web', username: 42 },
    });
    expect(unsupported.body.error).to.equal('unsupported_grant_type');
    const missing = await request(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'password', client_id: 'web', username: 'someone' },
    });
    expect(missing.body).to.deep.equal({ error: 'invalid_request', error_description: 'password is required' });
  });

  it('answers 404 JSON for unknown paths and 405 for wrong methods', async () => {
    const missing = await request(svc.url, 'GET', '/nope');
    expect(missing.status).to.equal(404);
    expect(missing.body).to.deep.equal({ error: 'not_found', message: 'no such endpoint' });
    const method = await request(svc.url, 'GET', '/oauth/token');
    expect(method.status).to.equal(405);
    expect(method.headers.get('allow')).to.include('POST');
  });

  it('answers 401 for malformed bearer headers', async () => {
    for (const authorization of ['Bearer', 'Bearer a b', 'Basic abc', `Bearer ${'x'.repeat(5000)}`, 'Bearer a.b.c']) {
      const reply = await request(svc.url, 'GET', '/auth/me', { headers: { authorization } });
      expect(reply.status, authorization.slice(0, 20)).to.equal(401);
    }
  });

  it('answers 400 for bad cursors on the revocation feed', async () => {
    const headers = { authorization: basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret) };
    for (const query of ['after=-1', 'after=abc', 'after=1&after=2', 'limit=0', 'limit=5001']) {
      const reply = await request(svc.url, 'GET', `/revocations?${query}`, { headers });
      expect(reply.status, query).to.equal(400);
      expect(reply.body.error, query).to.equal('invalid_request');
    }
    expect((await request(svc.url, 'GET', '/revocations?after=0', { headers })).status).to.equal(200);
  });

  it('serves health and readiness', async () => {
    expect((await request(svc.url, 'GET', '/healthz')).body).to.deep.equal({ status: 'ok' });
    expect((await request(svc.url, 'GET', '/readyz')).body).to.deep.equal({ status: 'ready', database: 'ok' });
  });
});
