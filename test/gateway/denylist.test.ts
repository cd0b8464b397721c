import { expect } from 'chai';
import { Denylist, revocationCovers } from '../../gateway/revocations/denylist.ts';
import { toRevocation, type Revocation } from '../../gateway/revocations/entry.ts';
import { rejectionOf } from '../support/rejection.ts';

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

    expect(denylist.check(token())).to.deep.equal({ kind: 'session', key: 'session-1' });
    expect(denylist.check(token({ sid: 'session-2' }))).to.equal(undefined);
    expect(denylist.check(token({ sid: 'session-2', jti: 'token-9' }))).to.deep.equal({ kind: 'token', key: 'token-9' });
    expect(denylist.check(token({ sub: 'bob', sid: 's', iat: T0 / 1000 }))).to.deep.equal({ kind: 'user', key: 'bob' });
    // Issued after the user's not-before: a fresh login is not covered.
    expect(denylist.check(token({ sub: 'bob', sid: 's', iat: T0 / 1000 + 1 }))).to.equal(undefined);
  });

  it('keeps an entry until expires_at plus the clock tolerance, then forgets it on prune', () => {
    denylist.apply(revocation({ id: 1, kind: 'session', key: 'session-1', expiresAtMs: T0 + 60_000 }));
    now = T0 + 60_000 + 29_000; // past expires_at but a token could still pass with clock tolerance
    expect(denylist.check(token())).to.be.ok;
    now = T0 + 60_000 + 30_000;
    expect(denylist.check(token())).to.equal(undefined);
    expect(denylist.prune()).to.equal(1);
    expect(denylist.size).to.deep.equal({ sessions: 0, tokens: 0, users: 0 });
  });

  it('ignores an entry that has already expired on arrival', () => {
    now = T0 + 1_000_000;
    denylist.apply(revocation({ id: 1, kind: 'session', key: 'session-1' }));
    expect(denylist.check(token())).to.equal(undefined);
    expect(denylist.size).to.deep.equal({ sessions: 0, tokens: 0, users: 0 });
  });

  it('is idempotent: a replayed id is not new and emits nothing', () => {
    const seen: number[] = [];
    denylist.on('revoked', (r) => seen.push(r.id));
    expect(denylist.apply(revocation({ id: 5, kind: 'token', key: 'x' }))).to.equal(true);
    expect(denylist.apply(revocation({ id: 5, kind: 'token', key: 'x' }))).to.equal(false);
    expect(seen).to.deep.equal([5]);
    expect(denylist.highestId).to.equal(5);
    expect(denylist.hasApplied(5)).to.be.ok;
  });

  it('merges user entries to the latest not-before and expiry', () => {
    denylist.apply(revocation({ id: 1, kind: 'user', key: 'bob', notBeforeSec: T0 / 1000 + 100, expiresAtMs: T0 + 400_000 }));
    denylist.apply(revocation({ id: 2, kind: 'user', key: 'bob', notBeforeSec: T0 / 1000 + 10, expiresAtMs: T0 + 310_000 }));
    expect(denylist.check(token({ sub: 'bob', iat: T0 / 1000 + 100 }))).to.be.ok;
    now = T0 + 420_000;
    expect(denylist.check(token({ sub: 'bob', iat: T0 / 1000 + 100 })), 'the longer expiry wins').to.be.ok;
  });

  it('waitFor resolves for entries already applied and for ones that arrive later, and times out otherwise', async () => {
    denylist.apply(revocation({ id: 1, kind: 'session', key: 'a' }));
    expect((await denylist.waitFor(1)).key).to.equal('a');
    const pending = denylist.waitFor({ kind: 'session', key: 'b' });
    denylist.apply(revocation({ id: 2, kind: 'token', key: 'b' })); // right key, wrong kind
    denylist.apply(revocation({ id: 3, kind: 'session', key: 'b' }));
    expect((await pending).id).to.equal(3);
    expect(await rejectionOf(denylist.waitFor(99, 20)))
      .to.have.property('message')
      .that.matches(/no revocation matching 99/);
  });

  it('converts wire entries: not_before compared in whole seconds, null not_before covers every token', () => {
    const user = toRevocation({
      id: 1,
      kind: 'user',
      key: 'bob',
      not_before: '2030-01-01T00:00:00.900Z',
      expires_at: '2030-01-01T00:05:00Z',
    });
    expect(user.notBeforeSec).to.equal(T0 / 1000);
    expect(user.expiresAtMs).to.equal(T0 + 300_000);
    expect(revocationCovers(user, token({ sub: 'bob', iat: T0 / 1000 }))).to.be.ok;
    const everything = toRevocation({ id: 2, kind: 'user', key: 'bob', not_before: null, expires_at: '2030-01-01T00:05:00Z' });
    expect(revocationCovers(everything, token({ sub: 'bob', iat: T0 / 1000 + 10_000 }))).to.be.ok;
    expect(() => toRevocation({ id: 3, kind: 'token', key: 'x', not_before: null, expires_at: 'soon' })).to.throw(/not an instant/);
  });
});
