import { expect } from 'chai';
import { once } from 'node:events';
import { Denylist } from '../../gateway/revocations/denylist.ts';
import { RevocationFeedClient, type FeedClientOptions } from '../../gateway/revocations/feed-client.ts';
import { FakeAuthority, FEED_CLIENT, testLogger } from './helpers/fake-authority.ts';

describe('gateway: revocation feed client', () => {
  let authority: FakeAuthority;
  let denylist: Denylist;
  let feed: RevocationFeedClient | undefined;
  let clock: number;

  beforeEach(async () => {
    authority = await FakeAuthority.start();
    denylist = new Denylist();
    clock = Date.now();
  });
  afterEach(async () => {
    await feed?.close();
    feed = undefined;
    await authority.close();
  });

  function startFeed(overrides: Partial<FeedClientOptions> = {}): Promise<void> {
    feed = new RevocationFeedClient({
      clientId: FEED_CLIENT.id,
      clientSecret: FEED_CLIENT.secret,
      denylist,
      logger: testLogger(),
      idleTimeoutMs: 45_000,
      reconnectMinMs: 5,
      reconnectMaxMs: 50,
      now: () => clock,
      ...overrides,
    });
    return feed.start({ feedUrl: `${authority.url}/revocations`, streamUrl: `${authority.url}/revocations/stream` });
  }

  it('syncs fully through the paged catch-up before reporting synced, with Basic client auth', async () => {
    for (let i = 1; i <= 5; i += 1) authority.revoke('session', `s${i}`);
    await startFeed({ pageSize: 2 });
    expect(feed?.status().synced).to.be.ok;
    expect(authority.catchUpRequests.slice(0, 3)).to.deep.equal(['?after=0&limit=2', '?after=2&limit=2', '?after=4&limit=2']);
    for (let i = 1; i <= 5; i += 1) expect(denylist.hasApplied(i), `entry ${i}`).to.be.ok;
    expect(feed?.cursor).to.equal(5);
  });

  it('then follows the live stream from its cursor', async () => {
    authority.revoke('token', 'old');
    await startFeed();
    await feed?.whenLive();
    expect(authority.streamRequests[0]?.lastEventId).to.equal('1');
    expect(authority.streamRequests[0]?.authorization ?? '').to.match(/^Basic /);
    const entry = authority.revoke('session', 'live-session');
    const applied = await denylist.waitFor(entry.id);
    expect(applied.key).to.equal('live-session');
    expect(denylist.check({ sub: 'x', sid: 'live-session', jti: 'y', iat: 0 })).to.deep.equal({ kind: 'session', key: 'live-session' });
    expect(feed?.status().live).to.equal(true);
    expect(feed?.stalenessMs()).to.equal(0);
  });

  it('reconnects after the stream drops and misses nothing revoked meanwhile', async () => {
    await startFeed();
    await feed?.whenLive();
    authority.revoke('session', 'before-drop');
    await denylist.waitFor({ key: 'before-drop' });

    const down = once(feed as RevocationFeedClient, 'down');
    authority.dropStreams();
    await down;
    // Written while the gateway was disconnected and never pushed to it.
    const missed = authority.revokeSilently('user', 'mallory');
    await feed?.whenLive();
    expect((await denylist.waitFor(missed.id)).key).to.equal('mallory');
    expect((feed?.status().connects ?? 0) >= 2).to.be.ok;
    expect(authority.streamRequests.at(-1)?.lastEventId, 'resumed from the cursor after catch-up').to.equal(String(missed.id));
  });

  it('treats a silent stream as dead and reconnects', async () => {
    await startFeed({ idleTimeoutMs: 100 });
    await feed?.whenLive();
    const [reason] = (await once(feed as RevocationFeedClient, 'down')) as [string];
    expect(reason).to.match(/no data for 100 ms/);
    await feed?.whenLive();
    expect(authority.streamRequests.length >= 2).to.be.ok;
  });

  it('tracks staleness while the feed is down and clears it when live again', async () => {
    await startFeed();
    await feed?.whenLive();
    authority.feedAvailable = false;
    const down = once(feed as RevocationFeedClient, 'down');
    authority.dropStreams();
    await down;
    clock += 10_000;
    expect((feed?.stalenessMs() ?? 0) >= 10_000).to.be.ok;
    expect(feed?.status().live).to.equal(false);
    authority.feedAvailable = true;
    await feed?.whenLive();
    expect(feed?.stalenessMs()).to.equal(0);
  });

  it('keeps retrying with wrong credentials, never reporting synced', async () => {
    const started = startFeed({ clientSecret: 'wrong-secret-0123456789' });
    await once(feed as RevocationFeedClient, 'down');
    const status = feed?.status();
    expect(status?.synced).to.equal(false);
    expect(status?.lastError ?? '').to.match(/401/);
    expect(feed?.stalenessMs()).to.equal(Number.POSITIVE_INFINITY);
    await feed?.close();
    await started; // close() releases a pending start()
  });
});
