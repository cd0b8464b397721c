// `authctl client create/update/list` as the admin operations run them (the
// same code whether authctl is on the database or goes through the service's
// admin endpoint): every registration field, checked by the one registration
// schema (schemas/client.ts) and clientDefinitionProblem.
import { expect } from 'chai';
import { adminOperations, type ClientView } from '../../services/token/admin/operations.ts';
import { sha256Hex } from '../../services/token/helpers/secrets.ts';
import { basic, request } from '../support/http.ts';
import { eventually } from '../support/stack.ts';
import { useTestTokenService } from '../support/token-service.ts';

describe('authctl client create/update (admin operations)', () => {
  const svc = useTestTokenService();
  let counter = 0;
  const newId = (prefix: string) => `${prefix}-${++counter}`;

  const create = async (args: Record<string, unknown>) => (await adminOperations['client.create'](svc.service, args)) as ClientView;
  const update = async (args: Record<string, unknown>) => (await adminOperations['client.update'](svc.service, args)) as ClientView;
  const listed = async (clientId: string) =>
    ((await adminOperations['client.list'](svc.service)) as ClientView[]).find((client) => client.client_id === clientId);
  const stored = (clientId: string) => svc.service.knex('clients').where({ client_id: clientId }).first();
  /** The 400 an operation fails with. */
  const refusal = async (operation: Promise<unknown>) => {
    const failure = (await operation.then(
      () => undefined,
      (error: unknown) => error,
    )) as { status?: number; field?: string; message?: string } | undefined;
    expect(failure, 'refused').to.not.equal(undefined);
    expect(failure!.status, failure!.message).to.equal(400);
    return { field: failure!.field, message: failure!.message ?? '' };
  };

  it('creates a public client with every field and lists it as written', async () => {
    const clientId = newId('spa');
    const created = await create({
      client_id: clientId,
      name: 'Single-page app',
      redirect_uris: 'https://app.example/callback,http://127.0.0.1/callback',
      post_logout_redirect_uris: 'https://app.example/signed-out',
      backchannel_logout_uri: 'https://app.example/backchannel-logout',
      first_party: true,
      token_endpoint_auth_method: 'none',
      rotate_refresh_tokens: true,
      scopes: 'openid,notes:read',
      audiences: 'notes',
    });
    const expected = {
      client_id: clientId,
      name: 'Single-page app',
      type: 'public',
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'notes:read'],
      audiences: ['notes'],
      redirect_uris: ['https://app.example/callback', 'http://127.0.0.1/callback'],
      post_logout_redirect_uris: ['https://app.example/signed-out'],
      backchannel_logout_uri: 'https://app.example/backchannel-logout',
      first_party: true,
      token_endpoint_auth_method: 'none',
      rotate_refresh_tokens: true,
    };
    expect(created).to.include.keys('created_at');
    expect(created).to.not.have.property('client_secret');
    expect(created).to.deep.include(expected);
    expect(await listed(clientId)).to.deep.include(expected);
    expect((await stored(clientId)).secret_hash).to.equal(null);
  });

  it('creates a confidential client with client_secret_post and rotation off; the secret is shown once and stored hashed', async () => {
    const clientId = newId('web-backend');
    const created = await create({
      client_id: clientId,
      confidential: true,
      redirect_uris: 'https://backend.example/cb',
      token_endpoint_auth_method: 'client_secret_post',
      rotate_refresh_tokens: 'false',
      first_party: 'false',
    });
    expect(created).to.deep.include({
      type: 'confidential',
      token_endpoint_auth_method: 'client_secret_post',
      rotate_refresh_tokens: false,
      first_party: false,
    });
    expect((await stored(clientId)).secret_hash).to.equal(sha256Hex(created.client_secret!));
    expect(await listed(clientId)).to.not.have.property('client_secret');
  });

  it('without --grant-types: never the password grant; the code flow with redirect URIs, else the flag is required', async () => {
    const withRedirect = await create({ client_id: newId('native'), redirect_uris: 'com.example.app:/callback' });
    expect(withRedirect.grant_types).to.deep.equal(['authorization_code', 'refresh_token']);
    const clientId = newId('bare');
    const bare = await refusal(create({ client_id: clientId }));
    expect(bare.field).to.equal('grant_types');
    expect(bare.message).to.include('--grant-types is required');
    expect(await stored(clientId)).to.equal(undefined);
    // Asked for explicitly, the legacy grant is still given.
    expect((await create({ client_id: newId('legacy'), grant_types: 'password,refresh_token' })).grant_types).to.deep.equal([
      'password',
      'refresh_token',
    ]);
  });

  for (const [uri, why] of [
    ['javascript:alert(1)', 'a javascript: URI'],
    ['http://evil.example/cb', 'plain http off loopback'],
    ['https://app.example/cb#fragment', 'a fragment'],
    ['/relative/cb', 'a relative URI'],
  ] as const) {
    it(`refuses ${why} as a redirect URI, naming the field; nothing is created`, async () => {
      const clientId = newId('bad-redirect');
      const refused = await refusal(create({ client_id: clientId, redirect_uris: `https://app.example/ok,${uri}` }));
      expect(refused.field).to.equal('redirect_uris');
      expect(refused.message).to.match(/^--redirect-uris \(item 2\): /);
      expect(refused.message).to.include(uri);
      expect(await stored(clientId)).to.equal(undefined);
    });
  }

  it('refuses a bad post-logout or back-channel logout URI, naming the field', async () => {
    const postLogout = await refusal(
      create({ client_id: newId('bad'), redirect_uris: 'https://app.example/cb', post_logout_redirect_uris: 'http://evil.example/' }),
    );
    expect(postLogout.field).to.equal('post_logout_redirect_uris');
    expect(postLogout.message).to.match(/^--post-logout-redirect-uris/);
    const backchannel = await refusal(
      create({ client_id: newId('bad'), redirect_uris: 'https://app.example/cb', backchannel_logout_uri: 'javascript:alert(1)' }),
    );
    expect(backchannel.field).to.equal('backchannel_logout_uri');
    expect(backchannel.message).to.match(/^--backchannel-logout-uri/);
  });

  it('refuses unknown grant types and auth methods, naming the field', async () => {
    const grant = await refusal(create({ client_id: newId('bad'), grant_types: 'implicit' }));
    expect(grant.field).to.equal('grant_types');
    expect(grant.message).to.match(/^--grant-types \(item 1\): /);
    const method = await refusal(
      create({ client_id: newId('bad'), grant_types: 'refresh_token', token_endpoint_auth_method: 'private_key_jwt' }),
    );
    expect(method.field).to.equal('token_endpoint_auth_method');
  });

  it('refuses a public client that would authenticate with a secret or keep its refresh tokens', async () => {
    const redirect = 'https://app.example/cb';
    for (const method of ['client_secret_basic', 'client_secret_post']) {
      const refused = await refusal(create({ client_id: newId('public'), redirect_uris: redirect, token_endpoint_auth_method: method }));
      expect(refused.field).to.equal('token_endpoint_auth_method');
      expect(refused.message).to.equal(`--token-endpoint-auth-method: ${method} needs a client secret (a confidential client)`);
    }
    const rotation = await refusal(create({ client_id: newId('public'), redirect_uris: redirect, rotate_refresh_tokens: false }));
    expect(rotation.field).to.equal('rotate_refresh_tokens');
    expect(rotation.message).to.match(/^--rotate-refresh-tokens: a public client always rotates/);
    const confidentialNone = await refusal(
      create({ client_id: newId('conf'), confidential: true, grant_types: 'client_credentials', token_endpoint_auth_method: 'none' }),
    );
    expect(confidentialNone.field).to.equal('token_endpoint_auth_method');
  });

  it('update changes only the given field and keeps the others, and the secret', async () => {
    const clientId = newId('keep');
    const created = await create({
      client_id: clientId,
      confidential: true,
      grant_types: 'authorization_code,refresh_token,client_credentials',
      redirect_uris: 'https://keep.example/cb',
      post_logout_redirect_uris: 'https://keep.example/bye',
      backchannel_logout_uri: 'https://keep.example/logout',
      first_party: true,
      token_endpoint_auth_method: 'client_secret_post',
      rotate_refresh_tokens: false,
      scopes: 'notes:read',
      audiences: 'notes',
    });
    const { client_secret: secret, ...before } = created;
    const updated = await update({ client_id: clientId, scopes: 'notes:read,notes:write' });
    expect(updated).to.not.have.property('client_secret');
    expect(updated).to.deep.equal({ ...before, scopes: ['notes:read', 'notes:write'] });
    expect((await stored(clientId)).secret_hash).to.equal(sha256Hex(secret!));
    expect(await listed(clientId)).to.deep.equal(updated);

    // An empty value returns a field to its default.
    const cleared = await update({ client_id: clientId, backchannel_logout_uri: '' });
    expect(cleared).to.deep.equal({ ...updated, backchannel_logout_uri: null });
  });

  it('update checks the given fields with the same schema, and against the fields kept', async () => {
    const clientId = newId('public-update');
    const before = await create({ client_id: clientId, redirect_uris: 'https://app.example/cb' });
    const bad = await refusal(update({ client_id: clientId, redirect_uris: 'https://app.example/cb#x' }));
    expect(bad.field).to.equal('redirect_uris');
    expect(bad.message).to.include('must not have a fragment');
    const rotation = await refusal(update({ client_id: clientId, rotate_refresh_tokens: false }));
    expect(rotation.field).to.equal('rotate_refresh_tokens');
    const method = await refusal(update({ client_id: clientId, token_endpoint_auth_method: 'client_secret_basic' }));
    expect(method.field).to.equal('token_endpoint_auth_method');
    const noRedirects = await refusal(update({ client_id: clientId, redirect_uris: '' }));
    expect(noRedirects.field).to.equal('redirect_uris');
    expect(noRedirects.message).to.include('authorization_code needs at least one redirect URI');
    const secret = await refusal(update({ client_id: clientId, rotate_secret: true }));
    expect(secret.field).to.equal('rotate_secret');
    expect(await listed(clientId), 'nothing changed').to.deep.equal(before);

    expect((await refusal(update({ client_id: clientId }))).message).to.match(/^nothing to change/);
    expect((await refusal(update({ client_id: clientId, confidential: true }))).field, 'no silent change of type').to.equal('confidential');
    expect((await refusal(create({ client_id: newId('x'), grant_types: 'client_credentials', rotate_secret: true }))).field).to.equal(
      'rotate_secret',
    );
    expect((await refusal(update({ client_id: 'web', first_party: false }))).field).to.equal('client_id');
    const missing = await adminOperations['client.update'](svc.service, { client_id: 'no-such-client', first_party: true }).catch(
      (error: { status?: number }) => error,
    );
    expect((missing as { status?: number }).status).to.equal(404);
  });

  it('an update reaches the token endpoint at once; --rotate-secret replaces the secret', async () => {
    const clientId = newId('machine');
    const { client_secret: secret } = await create({ client_id: clientId, grant_types: 'client_credentials', scopes: 'notes:read' });
    const viaBasic = (password: string) =>
      request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials' },
        headers: { authorization: basic(clientId, password) },
      });
    const viaBody = (password: string) =>
      request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'client_credentials', client_id: clientId, client_secret: password },
      });
    expect((await viaBasic(secret!)).status).to.equal(200);

    await update({ client_id: clientId, token_endpoint_auth_method: 'client_secret_post' });
    await eventually(async () => (await viaBasic(secret!)).status === 401, 'HTTP Basic refused once the client says client_secret_post');
    expect((await viaBody(secret!)).status, 'the secret was kept').to.equal(200);

    const { client_secret: rotated } = await update({ client_id: clientId, rotate_secret: true });
    expect(rotated).to.be.a('string').and.not.equal(secret);
    await eventually(async () => (await viaBody(secret!)).status === 401, 'the old secret refused');
    expect((await viaBody(rotated!)).status).to.equal(200);
    const audit = await svc.service.knex('audit_events').where({ client_id: clientId, type: 'client_updated' }).orderBy('id');
    expect(audit.map((event: { details: { fields: string[]; secret_rotated: boolean } }) => event.details)).to.deep.equal([
      { fields: ['token_endpoint_auth_method'], secret_rotated: false },
      { fields: [], secret_rotated: true },
    ]);
  });
});
