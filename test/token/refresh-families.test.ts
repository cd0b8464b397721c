import { expect } from 'chai';
import { DEMO_SERVICE_CLIENT, useTestTokenService } from '../support/token-service.ts';
import { basic, refresh, registerAndLogin, request, type TokenPair } from '../support/http.ts';
import { sha256Hex } from '../../services/token/helpers/secrets.ts';
import { upsertClient } from '../../services/token/models/clients.ts';

describe('token service: refresh-token families', () => {
  const svc = useTestTokenService();

  const tokenRow = (token: string) =>
    svc.service
      .knex('refresh_tokens')
      .where({ token_hash: sha256Hex(token) })
      .first();
  const introspect = (token: string) =>
    request(svc.url, 'POST', '/oauth/introspect', {
      form: { token },
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
  /** Moves a consumed token's consumption into the past, outside the grace window. */
  const ageConsumption = async (token: string, seconds: number) =>
    svc.service
      .knex('refresh_tokens')
      .where({ token_hash: sha256Hex(token) })
      .update({ consumed_at: svc.service.knex.raw(`now() - interval '${seconds} seconds'`) });
  const liveTokensInFamily = async (sid: string) =>
    Number((await svc.service.knex('refresh_tokens').where({ session_id: sid }).whereNull('consumed_at').count('* as n'))[0]?.n);

  it('stores refresh tokens only as SHA-256 hashes', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const row = await tokenRow(tokens.refresh_token);
    expect(row.token_hash).to.equal(sha256Hex(tokens.refresh_token));
    const dump = JSON.stringify(await svc.service.knex('refresh_tokens').select('*'));
    expect(dump).not.to.include(tokens.refresh_token);
  });

  it('rotates on every refresh, keeping the family and making the old token single-use', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const first = await refresh(svc.url, tokens.refresh_token);
    expect(first.status).to.equal(200);
    expect(first.body.refresh_token).to.be.a('string').and.not.equal(tokens.refresh_token);
    expect(first.headers.get('cache-control')).to.equal('no-store');
    const parent = await tokenRow(tokens.refresh_token);
    const child = await tokenRow(first.body.refresh_token);
    expect(child.parent_id).to.equal(parent.id);
    expect(child.session_id).to.equal(parent.session_id);
    expect(parent.consumed_at).to.be.instanceOf(Date);

    const second = await refresh(svc.url, first.body.refresh_token);
    expect(second.status).to.equal(200);
    // The first token is spent: presenting it again fails.
    const again = await refresh(svc.url, tokens.refresh_token);
    expect(again.status).to.equal(400);
    expect(again.body.error).to.equal('invalid_grant');
  });

  it('revokes the whole family when an already-rotated token is reused outside the grace window', async () => {
    const { tokens, userId } = await registerAndLogin(svc.url);
    const rotated = await refresh(svc.url, tokens.refresh_token);
    const sid = (await tokenRow(tokens.refresh_token)).session_id;
    await ageConsumption(tokens.refresh_token, 11);

    const reuse = await refresh(svc.url, tokens.refresh_token);
    expect(reuse.status).to.equal(400);
    expect(reuse.body).to.deep.equal({ error: 'invalid_grant', error_description: 'the grant is invalid, expired or revoked' });

    const session = await svc.service.knex('sessions').where({ id: sid }).first();
    expect(session.revoked_at).to.be.instanceOf(Date);
    expect(session.revoked_reason).to.equal('refresh_token_reuse');
    const revocation = await svc.service.knex('revocations').where({ kind: 'session', key: sid }).first();
    expect(revocation, 'a revocation row for the family').to.exist;
    const audit = await svc.service.knex('audit_events').where({ session_id: sid, type: 'refresh_token_reused' }).first();
    expect(audit.user_id).to.equal(userId);

    // The child, which the thief or the victim may hold, is dead too.
    const child = await refresh(svc.url, rotated.body.refresh_token);
    expect(child.status).to.equal(400);
    expect((await introspect(rotated.body.refresh_token)).body).to.deep.equal({ active: false });
    // And so is every access token of the family.
    expect((await introspect(rotated.body.access_token)).body).to.deep.equal({ active: false });
    expect((await request(svc.url, 'GET', '/auth/me', { token: tokens.access_token })).status).to.equal(401);
  });

  it('inside the grace window, reuse of the immediate parent is refused without revoking the family', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const rotated = await refresh(svc.url, tokens.refresh_token);
    const sid = (await tokenRow(tokens.refresh_token)).session_id;

    const retry = await refresh(svc.url, tokens.refresh_token);
    expect(retry.status).to.equal(400);
    expect(retry.body.error).to.equal('invalid_grant');
    expect(retry.body.error_description).to.match(/just been rotated/);
    // Nothing was minted and nothing was revoked: the sibling's token still works.
    expect(await liveTokensInFamily(sid)).to.equal(1);
    const session = await svc.service.knex('sessions').where({ id: sid }).first();
    expect(session.revoked_at).to.equal(null);
    const next = await refresh(svc.url, rotated.body.refresh_token);
    expect(next.status).to.equal(200);
  });

  it('never gives grace to an older ancestor, even inside the window', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const first = await refresh(svc.url, tokens.refresh_token);
    const second = await refresh(svc.url, first.body.refresh_token);
    expect(second.status).to.equal(200);
    const sid = (await tokenRow(tokens.refresh_token)).session_id;

    // The grandparent was consumed moments ago, but its child is spent too.
    const reuse = await refresh(svc.url, tokens.refresh_token);
    expect(reuse.status).to.equal(400);
    const session = await svc.service.knex('sessions').where({ id: sid }).first();
    expect(session.revoked_reason).to.equal('refresh_token_reuse');
    expect((await refresh(svc.url, second.body.refresh_token)).status).to.equal(400);
  });

  it('lets exactly one of 50 concurrent refreshes of one token succeed, leaving one live branch', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const sid = (await tokenRow(tokens.refresh_token)).session_id;
    const replies = await Promise.all(Array.from({ length: 50 }, () => refresh(svc.url, tokens.refresh_token)));
    const ok = replies.filter((r) => r.status === 200);
    expect(ok).to.have.length(1);
    expect(replies.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).to.have.length(49);
    expect(await liveTokensInFamily(sid)).to.equal(1);
    // All losers were inside the grace window, so the winner's branch lives on.
    const session = await svc.service.knex('sessions').where({ id: sid }).first();
    expect(session.revoked_at).to.equal(null);
    expect((await refresh(svc.url, (ok[0]?.body as TokenPair).refresh_token)).status).to.equal(200);
  });

  it('binds a refresh token to its client', async () => {
    // Another public client that may refresh: only the binding can refuse it.
    await svc.service
      .knex('clients')
      .insert({
        client_id: 'other-app',
        name: 'other-app',
        secret_hash: null,
        grant_types: ['password', 'refresh_token'],
        scopes: ['openid'],
        audiences: ['whoami'],
      })
      .onConflict('client_id')
      .ignore();
    const { tokens } = await registerAndLogin(svc.url);
    const reply = await request(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'other-app' },
    });
    expect(reply.status).to.equal(400);
    expect(reply.body.error).to.equal('invalid_grant');
    // Asking for a scope says nothing about another client's family either: the binding is checked first.
    const widened = await request(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'other-app', scope: 'admin' },
    });
    expect(widened.body.error).to.equal('invalid_grant');
    // A client lacking the grant is stopped before the token is looked at.
    const noGrant = await request(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
    expect(noGrant.body.error).to.equal('unauthorized_client');
    expect((await refresh(svc.url, tokens.refresh_token)).status, 'the token was not consumed').to.equal(200);
  });

  it('may narrow the scope on refresh but never widen it', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const narrowed = await request<TokenPair>(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'web', scope: 'notes:read' },
    });
    expect(narrowed.status).to.equal(200);
    expect(narrowed.body.scope).to.equal('notes:read');
    const widened = await request(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token, client_id: 'web', scope: 'admin' },
    });
    expect(widened.status).to.equal(400);
    expect(widened.body.error).to.equal('invalid_scope');
  });

  it('refuses an expired refresh token and a session past its absolute lifetime', async () => {
    const idle = await registerAndLogin(svc.url);
    await svc.service
      .knex('refresh_tokens')
      .where({ token_hash: sha256Hex(idle.tokens.refresh_token) })
      .update({ expires_at: new Date(Date.now() - 1000) });
    expect((await refresh(svc.url, idle.tokens.refresh_token)).status).to.equal(400);

    const old = await registerAndLogin(svc.url);
    const sid = (await tokenRow(old.tokens.refresh_token)).session_id;
    await svc.service
      .knex('sessions')
      .where({ id: sid })
      .update({ expires_at: new Date(Date.now() - 1000) });
    expect((await refresh(svc.url, old.tokens.refresh_token)).status).to.equal(400);
  });

  it('gives a child no later expiry than the session absolute lifetime', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    const sid = (await tokenRow(tokens.refresh_token)).session_id;
    const soon = new Date(Date.now() + 60_000);
    await svc.service.knex('sessions').where({ id: sid }).update({ expires_at: soon });
    const rotated = await refresh(svc.url, tokens.refresh_token);
    const child = await tokenRow(rotated.body.refresh_token);
    expect(child.expires_at.getTime()).to.be.at.most(soon.getTime());
  });

  it('refuses to refresh for a user disabled after login', async () => {
    const { tokens, userId } = await registerAndLogin(svc.url);
    await svc.service.knex('users').where({ id: userId }).update({ disabled_at: new Date() });
    expect((await refresh(svc.url, tokens.refresh_token)).status).to.equal(400);
  });

  it('answers invalid_grant for an unknown refresh token', async () => {
    const reply = await refresh(svc.url, 'A'.repeat(43));
    expect(reply.status).to.equal(400);
    expect(reply.body.error).to.equal('invalid_grant');
  });

  describe('a confidential client that does not rotate (RFC 9700 §4.14.2)', () => {
    const KEEPER = { id: 'keeper', secret: 'keeper-secret-0123456789abcdefghijklmnop' };
    const keeperAuth = { authorization: basic(KEEPER.id, KEEPER.secret) };
    before(async () => {
      await upsertClient(svc.service.knex, {
        client_id: KEEPER.id,
        secret_hash: sha256Hex(KEEPER.secret),
        grant_types: ['password', 'refresh_token'],
        scopes: ['openid', 'notes:read'],
        audiences: ['notes'],
        rotate_refresh_tokens: false,
      });
    });
    const loginAsKeeper = async () => {
      const { user } = await registerAndLogin(svc.url);
      const reply = await request<TokenPair>(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'password', username: user.username, password: user.password },
        headers: keeperAuth,
      });
      expect(reply.status).to.equal(200);
      return reply.body;
    };
    const refreshAsKeeper = (token: string) =>
      request<TokenPair>(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'refresh_token', refresh_token: token },
        headers: keeperAuth,
      });

    it('keeps its refresh token: concurrent refreshes from several instances all succeed, none logs the user out', async () => {
      const tokens = await loginAsKeeper();
      const replies = await Promise.all(Array.from({ length: 10 }, () => refreshAsKeeper(tokens.refresh_token)));
      for (const reply of replies) {
        expect(reply.status).to.equal(200);
        // RFC 6749 §5.1: no new refresh token; the client keeps the one it has.
        expect(reply.body).not.to.have.property('refresh_token');
        expect(reply.body.access_token).to.be.a('string');
      }
      const row = await tokenRow(tokens.refresh_token);
      expect(row.consumed_at).to.equal(null);
      expect(await liveTokensInFamily(row.session_id)).to.equal(1);
      const audit = await svc.service.knex('audit_events').where({ type: 'token_refreshed', session_id: row.session_id });
      expect(audit).to.have.length(10);
    });

    it('still dies with its family: logout and RFC 7009 revocation end it', async () => {
      const tokens = await loginAsKeeper();
      expect(
        (await request(svc.url, 'POST', '/oauth/revoke', { form: { token: tokens.refresh_token }, headers: keeperAuth })).status,
      ).to.equal(200);
      const after = await refreshAsKeeper(tokens.refresh_token);
      expect(after.status).to.equal(400);
      expect(after.body).to.deep.include({ error: 'invalid_grant' });
    });

    it('is bound to its client like any refresh token', async () => {
      const tokens = await loginAsKeeper();
      const stolen = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'web' },
      });
      expect(stolen.status).to.equal(400);
      expect((await refreshAsKeeper(tokens.refresh_token)).status).to.equal(200);
    });

    it('is for confidential clients only: a public client always rotates', async () => {
      let failure: Error | undefined;
      await upsertClient(svc.service.knex, {
        client_id: 'public-keeper',
        secret_hash: null,
        grant_types: ['refresh_token'],
        scopes: [],
        audiences: [],
        rotate_refresh_tokens: false,
      }).catch((error: Error) => (failure = error));
      expect(failure?.message).to.equal('rotate_refresh_tokens: a public client always rotates its refresh tokens (RFC 9700 §4.14.2)');
    });
  });
});
