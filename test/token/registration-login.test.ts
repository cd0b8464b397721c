import { expect } from 'chai';
import { newUser, request, type TokenPair } from '../support/http.ts';
import { useTestTokenService } from '../support/token-service.ts';

describe('token service: registration and login', () => {
  const svc = useTestTokenService();

  describe('POST /auth/register', () => {
    it('creates a user and never returns or stores the password in plain form', async () => {
      const user = newUser();
      const reply = await request(svc.url, 'POST', '/auth/register', { json: user });
      expect(reply.status).to.equal(201);
      expect(reply.body).to.include({ username: user.username, email: user.email });
      expect(reply.body.id).to.match(/^[0-9a-f-]{36}$/);
      expect(reply.text).not.to.include('password');
      const row = await svc.service.knex('users').where({ id: reply.body.id }).first();
      expect(row.password_hash).to.match(/^scrypt\$/);
      expect(row.password_hash).not.to.include(user.password);
    });

    it('accepts form-encoded bodies too', async () => {
      const user = newUser();
      const reply = await request(svc.url, 'POST', '/auth/register', { form: user });
      expect(reply.status).to.equal(201);
    });

    it('answers 409 with one sentence for a taken username or e-mail, in any spelling, without hashing', async () => {
      const user = newUser();
      expect((await request(svc.url, 'POST', '/auth/register', { json: user })).status).to.equal(201);
      const fullwidth = (text: string) => text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
      const hashesBefore = svc.service.passwords.computed;
      for (const taken of [
        { username: user.username.toUpperCase() },
        { username: fullwidth(user.username) },
        { email: user.email.toUpperCase() },
        { email: fullwidth(user.email) },
      ]) {
        const reply = await request(svc.url, 'POST', '/auth/register', { json: { ...newUser(), ...taken } });
        expect(reply.status, JSON.stringify(taken)).to.equal(409);
        expect(reply.body).to.deep.equal({ error: 'conflict', message: 'username or email is already registered' });
      }
      expect(svc.service.passwords.computed - hashesBefore, 'scrypt runs for the duplicates').to.equal(0);
      expect((await request(svc.url, 'POST', '/auth/register', { json: newUser() })).status).to.equal(201);
      expect(svc.service.passwords.computed - hashesBefore, 'a new user costs one').to.equal(1);
    });

    const invalid: Array<[string, (u: ReturnType<typeof newUser>) => Record<string, unknown>, string]> = [
      ['a missing username', (u) => ({ email: u.email, password: u.password }), 'username'],
      ['a missing password', (u) => ({ username: u.username, email: u.email }), 'password'],
      ['a malformed username', (u) => ({ ...u, username: 'no spaces allowed' }), 'username'],
      ['a too-short username', (u) => ({ ...u, username: 'ab' }), 'username'],
      ['an extra-long username', (u) => ({ ...u, username: 'a'.repeat(33) }), 'username'],
      ['a malformed e-mail', (u) => ({ ...u, email: 'not-an-email' }), 'email'],
      ['a short password', (u) => ({ ...u, password: 'Short-1' }), 'password'],
      ['a common password', (u) => ({ ...u, password: 'password123' }), 'password'],
      ['a password containing the username', (u) => ({ ...u, password: `${u.username}-Secret!` }), 'password'],
      ['an extra-long password', (u) => ({ ...u, password: 'x'.repeat(300) }), 'password'],
      ['a non-string field', (u) => ({ ...u, username: 12345 }), 'username'],
      ['an array field', (u) => ({ ...u, email: [u.email] }), 'email'],
    ];
    for (const [name, body, field] of invalid) {
      it(`answers 400 naming the field for ${name}`, async () => {
        const reply = await request(svc.url, 'POST', '/auth/register', { json: body(newUser()) });
        expect(reply.status).to.equal(400);
        expect(reply.body.error).to.equal('invalid_request');
        expect(reply.body.message)
          .to.be.a('string')
          .and.match(new RegExp(`^${field}`));
      });
    }
  });

  describe('POST /auth/login', () => {
    const user = newUser('login');
    before(async () => {
      expect((await request(svc.url, 'POST', '/auth/register', { json: user })).status).to.equal(201);
    });

    it('returns a token pair with no-store caching, by username or by e-mail', async () => {
      for (const body of [
        { username: user.username, password: user.password },
        { email: user.email, password: user.password },
      ]) {
        const reply = await request<TokenPair>(svc.url, 'POST', '/auth/login', { json: body });
        expect(reply.status).to.equal(200);
        expect(reply.headers.get('cache-control')).to.equal('no-store');
        expect(reply.body.token_type).to.equal('Bearer');
        expect(reply.body.expires_in).to.equal(300);
        expect(reply.body.access_token.split('.')).to.have.length(3);
        expect(reply.body.refresh_token).to.match(/^[A-Za-z0-9_-]{43,}$/);
        expect(reply.body.scope).to.equal('openid profile notes:read notes:write');
      }
    });

    it('gives the same answer for an unknown user and for a wrong password', async () => {
      const unknown = await request(svc.url, 'POST', '/auth/login', { json: { username: 'nobody-here', password: user.password } });
      const wrong = await request(svc.url, 'POST', '/auth/login', { json: { username: user.username, password: 'Wrong-password-42' } });
      expect(unknown.status).to.equal(400);
      expect(wrong.status).to.equal(400);
      expect(unknown.body).to.deep.equal(wrong.body);
      expect(unknown.body).to.deep.equal({ error: 'invalid_grant', message: 'invalid username or password' });
    });

    it('refuses a disabled user with the same answer', async () => {
      const disabled = newUser('disabled');
      const created = await request<{ id: string }>(svc.url, 'POST', '/auth/register', { json: disabled });
      await svc.service.knex('users').where({ id: created.body.id }).update({ disabled_at: new Date() });
      const reply = await request(svc.url, 'POST', '/auth/login', { json: { username: disabled.username, password: disabled.password } });
      expect(reply.status).to.equal(400);
      expect(reply.body.error).to.equal('invalid_grant');
    });

    it('records login successes and failures in the audit log', async () => {
      const audited = newUser('audited');
      const created = await request<{ id: string }>(svc.url, 'POST', '/auth/register', { json: audited });
      await request(svc.url, 'POST', '/auth/login', { json: { username: audited.username, password: 'Wrong-password-42' } });
      await request(svc.url, 'POST', '/auth/login', { json: { username: audited.username, password: audited.password } });
      const events = await svc.service.knex('audit_events').where({ user_id: created.body.id }).orderBy('id').pluck('type');
      expect(events).to.deep.equal(['user_registered', 'login_failed', 'login_succeeded']);
    });

    it('supports the password grant on /oauth/token for the web client', async () => {
      const reply = await request<TokenPair>(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'password', username: user.username, password: user.password, client_id: 'web', scope: 'notes:read' },
      });
      expect(reply.status).to.equal(200);
      expect(reply.body.scope).to.equal('notes:read');
      expect(reply.headers.get('cache-control')).to.equal('no-store');
    });

    it('refuses a scope the client may not ask for', async () => {
      const reply = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'password', username: user.username, password: user.password, client_id: 'web', scope: 'admin' },
      });
      expect(reply.status).to.equal(400);
      expect(reply.body.error).to.equal('invalid_scope');
    });
  });
});
