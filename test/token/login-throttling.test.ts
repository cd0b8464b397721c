import { expect } from 'chai';
import { startTestTokenService, type TestTokenService } from '../support/token-service.ts';
import { newUser, request } from '../support/http.ts';

describe('token service: login throttling', () => {
  let svc: TestTokenService;
  let base: string;
  before(async () => {
    svc = await startTestTokenService({ env: { LOGIN_THROTTLE_ACCOUNT_FREE: '3', LOGIN_THROTTLE_IP_FREE: '8' } });
    base = svc.url;
  });
  after(() => svc?.stop());
  afterEach(() => svc.service.knex('login_throttles').del());

  const attempt = (username: string, password: string) => request(base, 'POST', '/auth/login', { json: { username, password } });
  const unlock = () => svc.service.knex('login_throttles').update({ locked_until: new Date(Date.now() - 1000) });

  it('answers 429 with Retry-After once an account has used its free failures, growing the delay', async () => {
    const user = newUser('throttled');
    await request(base, 'POST', '/auth/register', { json: user });
    for (let i = 0; i < 4; i += 1) expect((await attempt(user.username, 'Wrong-password-1')).status).to.equal(400);
    const limited = await attempt(user.username, user.password);
    expect(limited.status, 'even the right password waits').to.equal(429);
    expect(limited.body).to.deep.equal({ error: 'too_many_requests', message: 'too many failed attempts; try again later' });
    const first = Number(limited.headers.get('retry-after'));
    expect(first).to.be.within(1, 2);

    await unlock();
    expect((await attempt(user.username, 'Wrong-password-1')).status).to.equal(400);
    const longer = await attempt(user.username, user.password);
    expect(longer.status).to.equal(429);
    expect(Number(longer.headers.get('retry-after'))).to.be.greaterThan(first);

    await unlock();
    expect((await attempt(user.username, user.password)).status, 'after the delay').to.equal(200);
    expect(await svc.service.knex('login_throttles').where({ key: `account:${user.username.toLowerCase()}` }).first()).to.equal(undefined);
  });

  it('throttles an unknown account exactly like a real one', async () => {
    const real = newUser('real');
    await request(base, 'POST', '/auth/register', { json: real });
    const replies = { real: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < 5; i += 1) {
      replies.real.push((await attempt(real.username, 'Wrong-password-1')).status);
      replies.unknown.push((await attempt('no-such-account', 'Wrong-password-1')).status);
    }
    expect(replies.unknown).to.deep.equal(replies.real);
    expect(replies.real).to.deep.equal([400, 400, 400, 400, 429]);
  });

  it('throttles a client address across accounts, and counts per account case-insensitively', async () => {
    for (let i = 0; i < 9; i += 1) await attempt(`spray${i}`, 'Wrong-password-1');
    const other = newUser('victim');
    await request(base, 'POST', '/auth/register', { json: other });
    expect((await attempt(other.username, other.password)).status).to.equal(429);
    await svc.service.knex('login_throttles').del();
    for (let i = 0; i < 4; i += 1) await attempt(i % 2 ? other.username.toUpperCase() : other.username, 'Wrong-password-1');
    expect((await attempt(other.username, other.password)).status).to.equal(429);
  });

  it('forgets old failures after the window', async () => {
    const user = newUser('patient');
    await request(base, 'POST', '/auth/register', { json: user });
    for (let i = 0; i < 3; i += 1) await attempt(user.username, 'Wrong-password-1');
    await svc.service.knex('login_throttles').update({ last_failure_at: new Date(Date.now() - 16 * 60_000) });
    expect((await attempt(user.username, 'Wrong-password-1')).status).to.equal(400);
    const row = await svc.service.knex('login_throttles').where({ key: `account:${user.username.toLowerCase()}` }).first();
    expect(row.failures).to.equal(1);
    expect((await attempt(user.username, user.password)).status).to.equal(200);
  });

  it('applies to the OAuth password grant too', async () => {
    for (let i = 0; i < 5; i += 1) {
      await request(base, 'POST', '/oauth/token', { form: { grant_type: 'password', username: 'grant-user', password: 'x', client_id: 'web' } });
    }
    const reply = await request(base, 'POST', '/oauth/token', { form: { grant_type: 'password', username: 'grant-user', password: 'x', client_id: 'web' } });
    expect(reply.status).to.equal(429);
    expect(reply.body).to.have.keys('error', 'error_description');
  });
});
