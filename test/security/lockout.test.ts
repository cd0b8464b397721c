// Targeted lockout and shared addresses (issue 9): an attacker must not be
// able to lock an owner out of their own account, and one noisy address must
// not block the users behind it. Device cookies follow OWASP's "Slow down
// online guessing attacks with device cookies".
import crypto from 'node:crypto';
import { expect } from 'chai';
import { deviceCookieName } from '../../services/token/helpers/device-cookie.ts';
import { newUser, request, type Reply } from '../support/http.ts';
import { startTestTokenService, type TestTokenService } from '../support/token-service.ts';

describe('security: targeted lockout and shared addresses', () => {
  let svc: TestTokenService;
  let base: string;
  before(async () => {
    svc = await startTestTokenService({
      env: {
        TRUST_PROXY: 'true',
        LOGIN_THROTTLE_ACCOUNT_FREE: '3',
        LOGIN_THROTTLE_IP_FREE: '5',
        LOGIN_THROTTLE_DEVICE_FREE: '2',
        PASSWORD_HASH_PENDING_PER_ADDRESS: '2',
      },
    });
    base = svc.url;
  });
  after(() => svc?.stop());

  const OWNER_HOME = '198.51.100.10';
  const ATTACKER = '203.0.113.66';
  /** The device cookie a response sets, as a browser would send it back. */
  const cookieOf = (reply: Reply): string => {
    const header = reply.headers.get('set-cookie') ?? '';
    const pair = /^(__Host-device|device)=([^;]+)/.exec(header);
    if (!pair) throw new Error(`no device cookie in ${header}`);
    return `${pair[1]}=${pair[2]}`;
  };
  const login = (username: string, password: string, address: string, cookie?: string) =>
    request(base, 'POST', '/auth/login', {
      json: { username, password },
      headers: { 'x-forwarded-for': address, ...(cookie ? { cookie } : {}) },
    });
  /** An account its owner has signed in to once, from home: the owner's device cookie. */
  const ownedAccount = async (prefix: string) => {
    const user = newUser(prefix);
    const registered = await request<{ id: string }>(base, 'POST', '/auth/register', {
      json: user,
      headers: { 'x-forwarded-for': OWNER_HOME },
    });
    expect(registered.status).to.equal(201);
    const first = await login(user.username, user.password, OWNER_HOME);
    expect(first.status).to.equal(200);
    return { user, id: registered.body.id, cookie: cookieOf(first) };
  };
  const lockOut = async (username: string) => {
    for (let i = 0; i < 4; i += 1) await login(username, `Wrong-password-${i}`, `${ATTACKER.slice(0, -2)}${10 + i}`);
  };

  it('sets an HttpOnly, SameSite=Lax, Secure __Host- cookie holding a random token, stored only as a hash', async () => {
    const user = newUser('cookie');
    await request(base, 'POST', '/auth/register', { json: user });
    const reply = await login(user.username, user.password, OWNER_HOME);
    const header = reply.headers.get('set-cookie') as string;
    // The test issuer is not a loopback http:// URL, so the cookie is Secure.
    expect(header).to.match(/^__Host-device=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=7776000; HttpOnly; SameSite=Lax; Secure$/);
    const token = cookieOf(reply).split('=')[1] as string;
    const rows = await svc.service.knex('login_devices').select('token_hash');
    expect(rows.map((r: { token_hash: string }) => r.token_hash)).to.include(crypto.createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(rows)).not.to.include(token);
  });

  it('drops Secure and the __Host- prefix only for a plain-HTTP loopback issuer (local development)', () => {
    const settings = (ISSUER: string) => ({ ISSUER, LOGIN_DEVICE_TTL: 60_000 });
    expect(deviceCookieName(settings('http://localhost:4000'))).to.equal('device');
    expect(deviceCookieName(settings('http://127.0.0.1:8080'))).to.equal('device');
    expect(deviceCookieName(settings('http://auth.example.com'))).to.equal('__Host-device');
    expect(deviceCookieName(settings('https://localhost'))).to.equal('__Host-device');
  });

  it('lets the owner in with a correct password from a known device while strangers have locked the account', async () => {
    const { user, cookie } = await ownedAccount('owner');
    await lockOut(user.username);
    const stranger = await login(user.username, user.password, '192.0.2.50');
    expect(stranger.status, 'the right password without the device cookie waits').to.equal(429);
    expect(stranger.headers.get('set-cookie'), 'no cookie for a refused attempt').to.equal(null);
    const owner = await login(user.username, user.password, '192.0.2.51', cookie);
    expect(owner.status, 'the owner, from a device that signed in before').to.equal(200);
    expect(cookieOf(owner), 'the same device cookie, renewed').to.equal(cookie);
    expect((await login(user.username, user.password, '192.0.2.52')).status, 'strangers are still locked out').to.equal(429);
  });

  it('gives a device its own small allowance of failures, then forgets it', async () => {
    const { user, id, cookie } = await ownedAccount('thief');
    await lockOut(user.username);
    // Someone holding the cookie but not the password: two tries, then the cookie vouches no more.
    expect((await login(user.username, 'Wrong-password-a', ATTACKER, cookie)).status).to.equal(400);
    expect((await login(user.username, 'Wrong-password-b', ATTACKER, cookie)).status).to.equal(400);
    expect(await svc.service.knex('login_devices').where({ user_id: id }).count('* as n')).to.deep.equal([{ n: 0 }]);
    expect((await login(user.username, user.password, ATTACKER, cookie)).status, 'the lock applies again').to.equal(429);
  });

  it('vouches only for the account it was issued for', async () => {
    const mine = await ownedAccount('mine');
    const theirs = await ownedAccount('theirs');
    await lockOut(theirs.user.username);
    expect((await login(theirs.user.username, theirs.user.password, OWNER_HOME, mine.cookie)).status).to.equal(429);
    expect((await login(theirs.user.username, theirs.user.password, OWNER_HOME, 'device=forged')).status).to.equal(429);
    expect((await login(mine.user.username, mine.user.password, OWNER_HOME, mine.cookie)).status).to.equal(200);
  });

  it('is honoured by the OAuth password grant too', async () => {
    const { user, cookie } = await ownedAccount('grant');
    await lockOut(user.username);
    const token = (withCookie: boolean) =>
      request(base, 'POST', '/oauth/token', {
        form: { grant_type: 'password', username: user.username, password: user.password, client_id: 'web' },
        headers: { 'x-forwarded-for': OWNER_HOME, ...(withCookie ? { cookie } : {}) },
      });
    expect((await token(false)).status).to.equal(429);
    const reply = await token(true);
    expect(reply.status).to.equal(200);
    expect(cookieOf(reply)).to.equal(cookie);
  });

  it("never refuses another account's correct password from a noisy address, and keeps slowing the noise", async () => {
    const neighbour = await ownedAccount('neighbour');
    const noisy = '203.0.113.99';
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1) statuses.push((await login(`sprayed${i}`, 'Wrong-password-1', noisy)).status);
    expect(statuses).to.deep.equal([400, 400, 400, 400, 400, 429, 429]);
    expect((await login(neighbour.user.username, neighbour.user.password, noisy)).status, 'a neighbour without a device cookie').to.equal(
      200,
    );
    expect((await login(neighbour.user.username, neighbour.user.password, noisy, neighbour.cookie)).status).to.equal(200);
    const further = await login('sprayed-again', 'Wrong-password-1', noisy);
    expect(further.status).to.equal(429);
    expect(Number(further.headers.get('retry-after'))).to.be.at.least(1);
  });

  it("keeps known devices out of a noisy address's share of pending hashes", async () => {
    const neighbour = await ownedAccount('behindnat');
    const noisy = '203.0.113.120';
    // The noisy address holds both of its places in the hashing queue.
    const held = [svc.service.passwords.admit(`ip:${noisy}`), svc.service.passwords.admit(`ip:${noisy}`)];
    try {
      expect((await login(neighbour.user.username, neighbour.user.password, noisy)).status, 'an unknown device competes').to.equal(429);
      expect(
        (await login(neighbour.user.username, neighbour.user.password, noisy, neighbour.cookie)).status,
        'a known one does not',
      ).to.equal(200);
    } finally {
      for (const slot of held) slot.release();
    }
  });
});
