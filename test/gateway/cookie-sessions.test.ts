// The opened-cookie cache of CookieSessions: keyed by the sealed value's tail for speed, it must
// still answer only for the very value it opened. And renewals: a cookie whose session was renewed
// in this process still reads as what the browser holds, so the response sends the renewal.
import { expect } from 'chai';
import type { Logger } from '../../common/logger.ts';
import { CookieSessions, type Session } from '../../gateway/sessions/cookie-sessions.ts';
import { testCookieSessionOptions, testCookieSessions, unsignedAccessToken } from './helpers/cookie-sessions.ts';
import { SessionEnded, type TokenClient } from '../../gateway/sessions/token-client.ts';

const accessToken = unsignedAccessToken;

describe('gateway: cookie sessions, opened-cookie cache', () => {
  const sessions = testCookieSessions();
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
    const renewing = testCookieSessions(client);
    const original = renewing.create({ accessToken: accessToken('dave-0', 30), refreshToken: 'rt-d', idToken: undefined }, 'dave');
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

describe('gateway: cookie sessions, renewals', () => {
  /** A token client whose refreshes the test settles by hand. */
  function manualClient() {
    const calls: { resolve: (tokens: { accessToken: string }) => void; reject: (error: Error) => void }[] = [];
    const client = {
      refresh: () =>
        new Promise((resolve, reject) => {
          calls.push({ resolve, reject });
        }),
    } as unknown as TokenClient;
    return { client, calls };
  }
  const sessionsWith = testCookieSessions;
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  /** A session whose 30-second access token is due for renewal, and the refreshes its token client was asked for. */
  function dueSession(name: string, now?: () => number) {
    const { client, calls } = manualClient();
    const sessions = sessionsWith(client, now);
    const original = sessions.create({ accessToken: accessToken(name, 30), refreshToken: `rt-${name}`, idToken: undefined }, name);
    return { sessions, calls, original };
  }

  it('never sends an older renewal over a fresher cookie (one renewed by another gateway)', async () => {
    const { sessions, calls, original } = dueSession('erin');
    const renewing = sessions.refresh(original);
    calls[0]?.resolve({ accessToken: accessToken('erin-here', 600) });
    await renewing;
    const fresherElsewhere = { ...original, accessToken: accessToken('erin-elsewhere', 900), accessExpires: original.accessExpires + 870 };
    expect(sessions.renewalFor(fresherElsewhere), 'the browser holds a later renewal').to.equal(undefined);
    expect(sessions.latest(fresherElsewhere).accessToken).to.equal(fresherElsewhere.accessToken);
    expect(sessions.renewalFor(original)?.accessExpires).to.be.greaterThan(original.accessExpires);
  });

  it('keeps a good renewal when a later refresh fails for a while, and drops it when the session ends', async () => {
    const { sessions, calls, original } = dueSession('finn');
    const first = sessions.refresh(original);
    calls[0]?.resolve({ accessToken: accessToken('finn-1', 600) });
    const renewed = await first;

    const outage = sessions.refresh(renewed);
    calls[1]?.reject(new Error('the token endpoint answered 503'));
    await outage.catch(() => undefined);
    expect(sessions.renewalFor(original)?.accessToken, 'still there after a failure that may pass').to.equal(renewed.accessToken);

    const ended = sessions.refresh(renewed);
    calls[2]?.reject(new SessionEnded('invalid_grant'));
    await ended.catch(() => undefined);
    expect(sessions.renewalFor(original), 'gone once the token service says the session ended').to.equal(undefined);
  });

  it('stores no renewal that finishes after a logout forgot the session', async () => {
    const { sessions, calls, original } = dueSession('gus');
    const inFlight = sessions.refresh(original);
    sessions.forget(original);
    calls[0]?.resolve({ accessToken: accessToken('gus-1', 600) });
    await inFlight;
    await settle();
    expect(sessions.renewalFor(original), 'no cookie brings the session back').to.equal(undefined);
    // The logout revoked it: a copy of the cookie presented later is refused here, without asking.
    let refused: unknown;
    await sessions.refresh(original).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(SessionEnded);
    expect(calls).to.have.length(1);
  });

  it('asks the token service once about a session it refused: a dead cookie presented again costs no call', async () => {
    const { sessions, calls, original } = dueSession('ida');
    const first = sessions.refresh(original);
    calls[0]?.reject(new SessionEnded('invalid_grant'));
    await first.catch(() => undefined);
    for (let i = 0; i < 3; i += 1) {
      let refused: unknown;
      await sessions.refresh(original).catch((error: unknown) => (refused = error));
      expect(refused).to.be.instanceOf(SessionEnded);
    }
    expect(calls).to.have.length(1);
  });

  it('says once, as a warning, when the refresh margin is as long as the access tokens live (every request would renew)', async () => {
    const { client, calls } = manualClient();
    const warnings: string[] = [];
    const logger = { warn: (_fields: unknown, message: string) => warnings.push(message) } as unknown as Logger;
    const sessions = new CookieSessions({ ...testCookieSessionOptions(client), refreshMarginMs: 120_000, logger });
    const original = sessions.create({ accessToken: accessToken('jo', 30), refreshToken: 'rt-j', idToken: undefined }, 'jo');
    for (const lifetime of [600, 60, 60]) {
      const renewing = sessions.refresh(original);
      calls[calls.length - 1]?.resolve({ accessToken: accessToken('jo', lifetime) });
      await renewing;
    }
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include('SESSION_REFRESH_MARGIN');
  });

  it('never renews a session past its own end, so a WebSocket cannot outlive it', async () => {
    let now = Date.now();
    const { sessions, calls, original } = dueSession('hana', () => now);
    now = original.expiresAt;
    let refused: unknown;
    await sessions.refresh(original).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(SessionEnded);
    expect(calls, 'the token service is not asked').to.have.length(0);
  });
});
