// The opened-cookie cache of CookieSessions: keyed by the sealed value's tail for speed, it must
// still answer only for the very value it opened. And renewals: a cookie whose session was renewed
// in this process still reads as what the browser holds, so the response sends the renewal.
import crypto from 'node:crypto';
import { expect } from 'chai';
import { createLogger } from '../../common/logger.ts';
import { CookieSessions, type Session } from '../../gateway/sessions/cookie-sessions.ts';
import type { TokenClient } from '../../gateway/sessions/token-client.ts';

const accessToken = (sub: string) =>
  `e30.${Buffer.from(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url')}.c2ln`;

describe('gateway: cookie sessions, opened-cookie cache', () => {
  const sessions = new CookieSessions({
    keys: [crypto.randomBytes(32)],
    cookieName: 'session',
    secure: false,
    maxAgeMs: 3_600_000,
    refreshMarginMs: 60_000,
    client: {} as TokenClient,
    logger: createLogger({ name: 'test', level: 'silent' }),
  });
  const valueOf = (setCookie: string) => setCookie.slice('session='.length, setCookie.indexOf(';'));

  it('reads a cookie again from the cache, and never a different value that ends the same way', () => {
    const alice = valueOf(
      sessions.setCookie(sessions.create({ accessToken: accessToken('alice'), refreshToken: 'rt-a', idToken: undefined }, 'alice')),
    );
    expect(sessions.read(`session=${alice}`)?.name).to.equal('alice');
    expect(sessions.read(`other=1; session=${alice}`)?.name, 'cached').to.equal('alice');

    // Same tail (the GCM tag), one character changed before it: not alice's session, and it does not open.
    const at = alice.length - 30;
    const forged = `${alice.slice(0, at)}${alice[at] === 'A' ? 'B' : 'A'}${alice.slice(at + 1)}`;
    expect(forged.slice(-22)).to.equal(alice.slice(-22));
    expect(sessions.read(`session=${forged}`)).to.equal(undefined);
    expect(sessions.read(`session=${alice}`)?.name, 'the cached entry is intact').to.equal('alice');
  });

  it('keeps two sessions apart', () => {
    const bob = valueOf(
      sessions.setCookie(sessions.create({ accessToken: accessToken('bob'), refreshToken: 'rt-b', idToken: undefined }, 'bob')),
    );
    const carol = valueOf(
      sessions.setCookie(sessions.create({ accessToken: accessToken('carol'), refreshToken: 'rt-c', idToken: undefined }, 'carol')),
    );
    for (let i = 0; i < 2; i += 1) {
      expect(sessions.read(`session=${bob}`)?.name).to.equal('bob');
      expect(sessions.read(`session=${carol}`)?.name).to.equal('carol');
    }
  });

  it('reads a renewed session as the browser holds it, so every later response still sends the renewal', async () => {
    let issued = 0;
    const client = {
      refresh: async (refreshToken: string) => {
        issued += 1;
        return { accessToken: accessToken(`dave-${issued}`), refreshToken: undefined, idToken: undefined, used: refreshToken };
      },
    } as unknown as TokenClient;
    const renewing = new CookieSessions({
      keys: [crypto.randomBytes(32)],
      cookieName: 'session',
      secure: false,
      maxAgeMs: 3_600_000,
      refreshMarginMs: 60_000,
      client,
      logger: createLogger({ name: 'test', level: 'silent' }),
    });
    const original = renewing.create({ accessToken: accessToken('dave-0'), refreshToken: 'rt-d', idToken: undefined }, 'dave');
    const cookie = `session=${valueOf(renewing.setCookie(original))}`;
    const renewed = await renewing.refresh(original);
    expect(renewed.refreshToken, 'a client that does not rotate keeps its refresh token').to.equal('rt-d');
    for (let i = 0; i < 2; i += 1) {
      const presented = renewing.read(cookie) as Session;
      expect(presented.accessToken, 'what the cookie holds').to.equal(original.accessToken);
      expect(renewing.renewalFor(presented)?.accessToken, 'the renewal the response must send').to.equal(renewed.accessToken);
      expect(renewing.latest(presented).accessToken).to.equal(renewed.accessToken);
    }
    const updated = `session=${valueOf(renewing.setCookie(renewed))}`;
    const fresh = renewing.read(updated) as Session;
    expect(renewing.renewalFor(fresh), 'a browser holding the renewal needs nothing more').to.equal(undefined);
    expect(issued).to.equal(1);
  });
});
