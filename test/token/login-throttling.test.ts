import { expect } from 'chai';
import { canonicalIdentifier } from '../../db/identifiers.ts';
import { useTestTokenService } from '../support/token-service.ts';
import { newUser, request } from '../support/http.ts';

describe('token service: login throttling', () => {
  const svc = useTestTokenService({ env: { LOGIN_THROTTLE_ACCOUNT_FREE: '3', LOGIN_THROTTLE_IP_FREE: '8' } });
  afterEach(() => svc.service.knex('login_throttles').del());

  const attempt = (username: string, password: string) => request(svc.url, 'POST', '/auth/login', { json: { username, password } });
  const unlock = () => svc.service.knex('login_throttles').update({ locked_until: new Date(Date.now() - 1000) });

  const register = async (user: ReturnType<typeof newUser>): Promise<string> => {
    const reply = await request<{ id: string }>(svc.url, 'POST', '/auth/register', { json: user });
    expect(reply.status, reply.text).to.equal(201);
    return reply.body.id;
  };

  it('answers 429 with Retry-After once an account has used its free failures, growing the delay', async () => {
    const user = newUser('throttled');
    const id = await register(user);
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
    expect(
      await svc.service
        .knex('login_throttles')
        .where({ key: `account:${id}` })
        .first(),
      'counted by account id',
    ).to.exist;
    expect((await attempt(user.username, user.password)).status, 'after the delay').to.equal(200);
    expect(
      await svc.service
        .knex('login_throttles')
        .where({ key: `account:${id}` })
        .first(),
      'a success clears it',
    ).to.equal(undefined);
  });

  it('throttles an unknown account exactly like a real one', async () => {
    const real = newUser('real');
    await request(svc.url, 'POST', '/auth/register', { json: real });
    const replies = { real: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < 5; i += 1) {
      replies.real.push((await attempt(real.username, 'Wrong-password-1')).status);
      replies.unknown.push((await attempt('no-such-account', 'Wrong-password-1')).status);
    }
    expect(replies.unknown).to.deep.equal(replies.real);
    expect(replies.real).to.deep.equal([400, 400, 400, 400, 429]);
  });

  // Changed with issue 9: a noisy address used to get 429 even for another
  // account's correct password, locking out everyone behind a NAT or proxy.
  it("slows a noisy address's failures, and still accepts another account's correct password from it", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) statuses.push((await attempt(`spray${i}`, 'Wrong-password-1')).status);
    expect(statuses.slice(0, 8), 'within the free failures').to.deep.equal(Array(8).fill(400));
    expect(statuses.slice(8), 'past them, failures are told to wait').to.deep.equal([429, 429]);
    const other = newUser('victim');
    await register(other);
    expect((await attempt(other.username, other.password)).status, "another account's correct password").to.equal(200);
    const further = await attempt('spray-more', 'Wrong-password-1');
    expect(further.status, "the address's further failures are still throttled").to.equal(429);
    expect(Number(further.headers.get('retry-after'))).to.be.at.least(1);
    expect((await attempt(other.email, other.password)).status).to.equal(200);
  });

  it('counts per account case-insensitively', async () => {
    const other = newUser('cased');
    await register(other);
    for (let i = 0; i < 4; i += 1) await attempt(i % 2 ? other.username.toUpperCase() : other.username, 'Wrong-password-1');
    expect((await attempt(other.username, other.password)).status).to.equal(429);
  });

  it('forgets old failures after the window', async () => {
    const user = newUser('patient');
    const id = await register(user);
    for (let i = 0; i < 3; i += 1) await attempt(user.username, 'Wrong-password-1');
    await svc.service.knex('login_throttles').update({ last_failure_at: new Date(Date.now() - 16 * 60_000) });
    expect((await attempt(user.username, 'Wrong-password-1')).status).to.equal(400);
    const row = await svc.service
      .knex('login_throttles')
      .where({ key: `account:${id}` })
      .first();
    expect(row.failures).to.equal(1);
    expect((await attempt(user.username, user.password)).status).to.equal(200);
  });

  it('counts the username and the e-mail address of one account together', async () => {
    const user = newUser('both');
    await register(user);
    for (const login of [user.username, user.email.toUpperCase(), user.email, user.username.toUpperCase()]) {
      expect((await attempt(login, 'Wrong-password-1')).status).to.equal(400);
    }
    expect((await attempt(user.email, user.password)).status).to.equal(429);
    expect(await svc.service.knex('login_throttles').where('key', 'like', 'account:%').count('* as n')).to.deep.equal([{ n: 1 }]);
  });

  describe('spellings of a locked name (one canonical form: NFKC, then lower case)', () => {
    // "official…" offers an "ffi" ligature, a dotted and a dotless i, a Kelvin sign for k.
    const user = newUser('officialk');
    const base36 = user.username.slice('officialk'.length);
    const fullwidth = (text: string) => text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
    const sameAccount: Record<string, string> = {
      'upper case': user.username.toUpperCase(),
      fullwidth: fullwidth(user.username),
      'ffi ligature': `o\uFB03cialk${base36}`,
      'Kelvin sign': `official\u212A${base36}`,
      'fullwidth e-mail': fullwidth(user.email),
    };
    // JavaScript folds "İ" to "i̇" and leaves "ı" alone: other names, never this account.
    const otherNames: Record<string, string> = {
      'dotted capital İ': `offİcialk${base36}`,
      'dotless ı': `offıcialk${base36}`,
      'İ in the e-mail': user.email.replace('i', 'İ'),
    };

    before(async () => {
      await register(user);
      for (const [how, spelling] of Object.entries(sameAccount)) {
        const reply = await attempt(spelling, user.password);
        expect(reply.status, `${how} finds the account`).to.equal(200);
      }
    });

    it("shares the account's counter: once locked, no spelling gets a fresh one, and none gets a 200", async () => {
      for (let i = 0; i < 4; i += 1) await attempt(user.username, 'Wrong-password-1');
      for (const [how, spelling] of Object.entries(sameAccount)) {
        const reply = await attempt(spelling, user.password);
        expect(reply.status, how).to.equal(429);
      }
      for (const [how, spelling] of Object.entries(otherNames)) {
        const reply = await attempt(spelling, user.password);
        expect(reply.status, `${how} is not the account`).to.equal(400);
        expect(reply.body.error).to.equal('invalid_grant');
      }
      const keys = await svc.service.knex('login_throttles').whereNot('key', 'like', 'ip:%').pluck('key');
      expect(keys.filter((key: string) => key.startsWith('account:'))).to.have.length(1);
      expect(keys.filter((key: string) => key.startsWith('login:')).sort()).to.deep.equal(
        Object.values(otherNames)
          .map((spelling) => `login:${canonicalIdentifier(spelling)}`)
          .sort(),
      );
    });
  });

  it('applies to the OAuth password grant too', async () => {
    for (let i = 0; i < 5; i += 1) {
      await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'password', username: 'grant-user', password: 'x', client_id: 'web' },
      });
    }
    const reply = await request(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'password', username: 'grant-user', password: 'x', client_id: 'web' },
    });
    expect(reply.status).to.equal(429);
    expect(reply.body).to.have.keys('error', 'error_description');
  });
});
