// Password hashing never queues without bound (issue 9): attempts count
// against the throttles as they are admitted, before hashing, and past a bound
// on pending hashes, per address and overall, the answer is 429/503 at once.
import { expect } from 'chai';
import { MAX_CONCURRENT_HASHES, PasswordHasher } from '../../services/token/helpers/passwords.ts';
import { newUser, request, type Reply } from '../support/http.ts';
import { useTestTokenService } from '../support/token-service.ts';

describe('token service: bounded password hashing', () => {
  const svc = useTestTokenService({
    env: {
      // X-Forwarded-For gives each request the address a test wants.
      TRUST_PROXY: 'true',
      PASSWORD_HASH_PENDING_MAX: '8',
      PASSWORD_HASH_PENDING_PER_ADDRESS: '3',
      LOGIN_THROTTLE_ACCOUNT_FREE: '3',
      LOGIN_THROTTLE_IP_FREE: '3',
    },
  });
  afterEach(() => svc.service.knex('login_throttles').del());

  const from = (address: string) => ({ 'x-forwarded-for': address });
  const login = (username: string, password: string, address: string) =>
    request(svc.url, 'POST', '/auth/login', { json: { username, password }, headers: from(address) });
  const register = (user: ReturnType<typeof newUser>, address: string) =>
    request<{ id: string }>(svc.url, 'POST', '/auth/register', { json: user, headers: from(address) });
  const hashed = async <T>(run: () => Promise<T>): Promise<{ result: T; hashes: number }> => {
    const before = svc.service.passwords.computed;
    const result = await run();
    return { result, hashes: svc.service.passwords.computed - before };
  };
  const statusCounts = (replies: Reply[]) =>
    replies.reduce<Record<number, number>>((counts, reply) => ({ ...counts, [reply.status]: (counts[reply.status] ?? 0) + 1 }), {});

  it('counts concurrent failures against the account as they are admitted: only the free ones (and the one that locks) are hashed', async () => {
    const user = newUser('storm');
    expect((await register(user, '198.51.100.1')).status).to.equal(201);
    // Twenty addresses at once, so that only the account counter can stop them.
    const { result: replies, hashes } = await hashed(() =>
      Promise.all(Array.from({ length: 20 }, (_, i) => login(user.username, 'Wrong-password-1', `203.0.113.${i + 1}`))),
    );
    expect(hashes, 'scrypt runs').to.equal(4);
    expect(replies.filter((r) => r.status === 400)).to.have.length(4);
    for (const reply of replies.filter((r) => r.status !== 400)) {
      expect([429, 503]).to.include(reply.status);
      expect(Number(reply.headers.get('retry-after'))).to.be.at.least(1);
    }
  });

  it('hashes at most a few of 20 concurrent failures from one address; the rest get 429 with Retry-After at once', async () => {
    const user = newUser('burst');
    expect((await register(user, '198.51.100.2')).status).to.equal(201);
    const { result: replies, hashes } = await hashed(() =>
      Promise.all(Array.from({ length: 20 }, () => login(user.username, 'Wrong-password-1', '203.0.113.200'))),
    );
    expect(hashes).to.be.within(1, 4);
    const counts = statusCounts(replies);
    expect(counts[400]).to.equal(hashes);
    expect(counts[429]).to.equal(20 - hashes);
  });

  it('refuses an address holding its share of pending hashes with 429 and Retry-After, without hashing', async () => {
    const address = '203.0.113.77';
    const held = [1, 2, 3].map(() => svc.service.passwords.admit(`ip:${address}`));
    try {
      const { result: reply, hashes } = await hashed(() => login('anyone', 'Wrong-password-1', address));
      expect(reply.status).to.equal(429);
      expect(reply.headers.get('retry-after')).to.equal('1');
      expect(reply.body.message).to.match(/in progress/);
      expect(hashes).to.equal(0);
      const registration = await register(newUser('queued'), address);
      expect(registration.status, 'registration shares the bound').to.equal(429);
      expect((await login('anyone', 'Wrong-password-1', '203.0.113.78')).status, 'another address').to.equal(400);
    } finally {
      for (const slot of held) slot.release();
    }
    expect((await login('anyone', 'Wrong-password-1', address)).status, 'once a hash is done').to.equal(400);
  });

  it('answers 503 with Retry-After once the process holds its bound of pending hashes', async () => {
    const held = Array.from({ length: 8 }, (_, i) => svc.service.passwords.admit(`ip:192.0.2.${i}`));
    try {
      const user = newUser('full');
      const reply = await login(user.username, user.password, '203.0.113.90');
      expect(reply.status).to.equal(503);
      expect(reply.headers.get('retry-after')).to.equal('1');
      const token = await request(svc.url, 'POST', '/oauth/token', {
        form: { grant_type: 'password', username: user.username, password: user.password, client_id: 'web' },
        headers: from('203.0.113.91'),
      });
      expect(token.status).to.equal(503);
      expect(token.body).to.have.keys('error', 'error_description');
      expect(svc.service.passwords.pending).to.equal(8);
    } finally {
      for (const slot of held) slot.release();
    }
    expect(svc.service.passwords.pending).to.equal(0);
  });

  it('serves the waiting source served least recently first: a burst from one address does not wait in front of another', async () => {
    const hasher = new PasswordHasher(14, { pendingMax: 10, pendingPerSource: 10 });
    const encoded = await hasher.withSlot('setup', (slot) => hasher.hash('Correct-Horse-9', slot));
    const finished: string[] = [];
    const check = (source: string, label: string) =>
      hasher.withSlot(source, (slot) => hasher.verify('Wrong-password-1', encoded, slot)).then(() => finished.push(label));
    const burst = [1, 2, 3, 4, 5].map((i) => check('ip:burst', `burst ${i}`));
    const other = check('ip:other', 'other');
    await Promise.all([...burst, other]);
    // First in first out would finish it last; in turn, it runs as soon as a running hash is done.
    expect(finished.indexOf('other')).to.be.at.most(MAX_CONCURRENT_HASHES);
    expect(finished.indexOf('other'), 'not last').to.be.below(5);
  });

  describe('registration, throttled like login', () => {
    it('counts what created nothing per address, refuses the address past its free attempts, and lets others through', async () => {
      const taken = newUser('taken');
      expect((await register(taken, '198.51.100.3')).status).to.equal(201);
      const prober = '203.0.113.150';
      const probes: number[] = [];
      for (let i = 0; i < 4; i += 1) probes.push((await register({ ...newUser('probe'), username: taken.username }, prober)).status);
      expect(probes).to.deep.equal([409, 409, 409, 409]);
      const locked = await register(newUser('fresh'), prober);
      expect(locked.status, 'even a new name, so the answer tells nothing').to.equal(429);
      expect(Number(locked.headers.get('retry-after'))).to.be.at.least(1);
      expect((await register(newUser('neighbour'), '203.0.113.151')).status).to.equal(201);
    });

    it('takes back the count of every account created, so many sign-ups behind one address are fine', async () => {
      for (let i = 0; i < 6; i += 1) expect((await register(newUser('office'), '203.0.113.160')).status).to.equal(201);
      expect((await register({ ...newUser('office'), email: 'not-an-email' }, '203.0.113.160')).status).to.equal(400);
    });
  });
});
