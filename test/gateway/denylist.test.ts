import assert from 'node:assert/strict';
import { Denylist, revocationCovers } from '../../gateway/revocations/denylist.ts';
import { toRevocation, type Revocation } from '../../gateway/revocations/entry.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');

function revocation(partial: Partial<Revocation> & Pick<Revocation, 'id' | 'kind' | 'key'>): Revocation {
  return { notBeforeSec: Number.POSITIVE_INFINITY, expiresAtMs: T0 + 300_000, ...partial };
}

const token = (overrides: Partial<{ sub: string; sid: string; jti: string; iat: number }> = {}) => ({
  sub: 'alice',
  sid: 'session-1',
  jti: 'token-1',
  iat: T0 / 1000,
  ...overrides,
});

describe('gateway: denylist', () => {
  let now: number;
  let denylist: Denylist;
  beforeEach(() => {
    now = T0;
    denylist = new Denylist({ retainMs: 30_000, now: () => now });
  });

  it('matches sessions by sid, tokens by jti, users by sub and iat ≤ not_before', () => {
    denylist.apply(revocation({ id: 1, kind: 'session', key: 'session-1' }));
    denylist.apply(revocation({ id: 2, kind: 'token', key: 'token-9' }));
    denylist.apply(revocation({ id: 3, kind: 'user', key: 'bob', notBeforeSec: T0 / 1000 }));

    assert.deepEqual(denylist.check(token()), { kind: 'session', key: 'session-1' });
    assert.equal(denylist.check(token({ sid: 'session-2' })), undefined);
    assert.deepEqual(denylist.check(token({ sid: 'session-2', jti: 'token-9' })), { kind: 'token', key: 'token-9' });
    assert.deepEqual(denylist.check(token({ sub: 'bob', sid: 's', iat: T0 / 1000 })), { kind: 'user', key: 'bob' });
    // Issued after the user's not-before: a fresh login is not covered.
    assert.equal(denylist.check(token({ sub: 'bob', sid: 's', iat: T0 / 1000 + 1 })), undefined);
  });

  it('keeps an entry until expires_at plus the clock tolerance, then forgets it on prune', () => {
    denylist.apply(revocation({ id: 1, kind: 'session', key: 'session-1', expiresAtMs: T0 + 60_000 }));
    now = T0 + 60_000 + 29_000; // past expires_at but a token could still pass with clock tolerance
    assert.ok(denylist.check(token()));
    now = T0 + 60_000 + 30_000;
    assert.equal(denylist.check(token()), undefined);
    assert.equal(denylist.prune(), 1);
    assert.deepEqual(denylist.size, { sessions: 0, tokens: 0, users: 0 });
  });

  it('ignores an entry that has already expired on arrival', () => {
    now = T0 + 1_000_000;
    denylist.apply(revocation({ id: 1, kind: 'session', key: 'session-1' }));
    assert.equal(denylist.check(token()), undefined);
    assert.deepEqual(denylist.size, { sessions: 0, tokens: 0, users: 0 });
  });

  it('is idempotent: a replayed id is not new and emits nothing', () => {
    const seen: number[] = [];
    denylist.on('revoked', (r) => seen.push(r.id));
    assert.equal(denylist.apply(revocation({ id: 5, kind: 'token', key: 'x' })), true);
    assert.equal(denylist.apply(revocation({ id: 5, kind: 'token', key: 'x' })), false);
    assert.deepEqual(seen, [5]);
    assert.equal(denylist.highestId, 5);
    assert.ok(denylist.hasApplied(5));
  });

  it('merges user entries to the latest not-before and expiry', () => {
    denylist.apply(revocation({ id: 1, kind: 'user', key: 'bob', notBeforeSec: T0 / 1000 + 100, expiresAtMs: T0 + 400_000 }));
    denylist.apply(revocation({ id: 2, kind: 'user', key: 'bob', notBeforeSec: T0 / 1000 + 10, expiresAtMs: T0 + 310_000 }));
    assert.ok(denylist.check(token({ sub: 'bob', iat: T0 / 1000 + 100 })));
    now = T0 + 420_000;
    assert.ok(denylist.check(token({ sub: 'bob', iat: T0 / 1000 + 100 })), 'the longer expiry wins');
  });

  it('waitFor resolves for entries already applied and for ones that arrive later, and times out otherwise', async () => {
    denylist.apply(revocation({ id: 1, kind: 'session', key: 'a' }));
    assert.equal((await denylist.waitFor(1)).key, 'a');
    const pending = denylist.waitFor({ kind: 'session', key: 'b' });
    denylist.apply(revocation({ id: 2, kind: 'token', key: 'b' })); // right key, wrong kind
    denylist.apply(revocation({ id: 3, kind: 'session', key: 'b' }));
    assert.equal((await pending).id, 3);
    await assert.rejects(denylist.waitFor(99, 20), /no revocation matching 99/);
  });

  it('converts wire entries: not_before compared in whole seconds, null not_before covers every token', () => {
    const user = toRevocation({
      id: 1,
      kind: 'user',
      key: 'bob',
      not_before: '2030-01-01T00:00:00.900Z',
      expires_at: '2030-01-01T00:05:00Z',
    });
    assert.equal(user.notBeforeSec, T0 / 1000);
    assert.equal(user.expiresAtMs, T0 + 300_000);
    assert.ok(revocationCovers(user, token({ sub: 'bob', iat: T0 / 1000 })));
    const everything = toRevocation({ id: 2, kind: 'user', key: 'bob', not_before: null, expires_at: '2030-01-01T00:05:00Z' });
    assert.ok(revocationCovers(everything, token({ sub: 'bob', iat: T0 / 1000 + 10_000 })));
    assert.throws(() => toRevocation({ id: 3, kind: 'token', key: 'x', not_before: null, expires_at: 'soon' }), /not an instant/);
  });
});
