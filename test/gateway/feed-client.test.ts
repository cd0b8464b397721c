import assert from 'node:assert/strict';
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
    assert.ok(feed?.status().synced);
    assert.deepEqual(authority.catchUpRequests.slice(0, 3), ['?after=0&limit=2', '?after=2&limit=2', '?after=4&limit=2']);
    for (let i = 1; i <= 5; i += 1) assert.ok(denylist.hasApplied(i), `entry ${i}`);
    assert.equal(feed?.cursor, 5);
  });

  it('then follows the live stream from its cursor', async () => {
    authority.revoke('token', 'old');
    await startFeed();
    await feed?.whenLive();
    assert.equal(authority.streamRequests[0]?.lastEventId, '1');
    assert.match(authority.streamRequests[0]?.authorization ?? '', /^Basic /);
    const entry = authority.revoke('session', 'live-session');
    const applied = await denylist.waitFor(entry.id);
    assert.equal(applied.key, 'live-session');
    assert.deepEqual(denylist.check({ sub: 'x', sid: 'live-session', jti: 'y', iat: 0 }), { kind: 'session', key: 'live-session' });
    assert.equal(feed?.status().live, true);
    assert.equal(feed?.stalenessMs(), 0);
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
    assert.equal((await denylist.waitFor(missed.id)).key, 'mallory');
    assert.ok((feed?.status().connects ?? 0) >= 2);
    assert.equal(authority.streamRequests.at(-1)?.lastEventId, String(missed.id), 'resumed from the cursor after catch-up');
  });

  it('treats a silent stream as dead and reconnects', async () => {
    await startFeed({ idleTimeoutMs: 100 });
    await feed?.whenLive();
    const [reason] = (await once(feed as RevocationFeedClient, 'down')) as [string];
    assert.match(reason, /no data for 100 ms/);
    await feed?.whenLive();
    assert.ok(authority.streamRequests.length >= 2);
  });

  it('tracks staleness while the feed is down and clears it when live again', async () => {
    await startFeed();
    await feed?.whenLive();
    authority.feedAvailable = false;
    const down = once(feed as RevocationFeedClient, 'down');
    authority.dropStreams();
    await down;
    clock += 10_000;
    assert.ok((feed?.stalenessMs() ?? 0) >= 10_000);
    assert.equal(feed?.status().live, false);
    authority.feedAvailable = true;
    await feed?.whenLive();
    assert.equal(feed?.stalenessMs(), 0);
  });

  it('keeps retrying with wrong credentials, never reporting synced', async () => {
    const started = startFeed({ clientSecret: 'wrong-secret-0123456789' });
    await once(feed as RevocationFeedClient, 'down');
    const status = feed?.status();
    assert.equal(status?.synced, false);
    assert.match(status?.lastError ?? '', /401/);
    assert.equal(feed?.stalenessMs(), Number.POSITIVE_INFINITY);
    await feed?.close();
    await started; // close() releases a pending start()
  });
});
