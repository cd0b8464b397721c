import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { AppliedIds, ExpiringKeys } from '../../gateway/revocations/expiring-keys.ts';

describe('gateway: compact denylist storage', () => {
  it('ExpiringKeys behaves like a Map of key → latest expiry, for UUIDs and any other key', () => {
    const uuids = Array.from({ length: 40 }, () => randomUUID());
    const key = fc.oneof(
      fc.constantFrom(...uuids),
      fc.constantFrom(...uuids).map((u) => u.toUpperCase()), // not canonical: kept apart from the lower-case one
      fc.string({ maxLength: 40 }),
    );
    const op = fc.oneof(
      fc.record({ type: fc.constant('set' as const), key, until: fc.integer({ min: 1_000, max: 1_100 }) }),
      fc.record({ type: fc.constant('prune' as const), now: fc.integer({ min: 1_000, max: 1_100 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const table = new ExpiringKeys();
        const model = new Map<string, number>();
        for (const step of ops) {
          if (step.type === 'set') {
            table.set(step.key, step.until);
            model.set(step.key, Math.max(step.until, model.get(step.key) ?? 0));
          } else {
            let expected = 0;
            for (const [k, until] of model) if (until <= step.now && model.delete(k)) expected += 1;
            expect(table.prune(step.now)).to.equal(expected);
          }
          expect(table.size).to.equal(model.size);
        }
        for (const k of [...uuids, ...uuids.map((u) => u.toUpperCase()), ...model.keys()]) expect(table.get(k), k).to.equal(model.get(k));
      }),
      { numRuns: 200 },
    );
  });

  it('ExpiringKeys grows to a million UUIDs and shrinks back after pruning', () => {
    const table = new ExpiringKeys();
    const keys = Array.from({ length: 200_000 }, () => randomUUID());
    keys.forEach((k, i) => table.set(k, 2_000_000_000 + (i % 2)));
    expect(table.size).to.equal(keys.length);
    expect(keys.every((k, i) => table.get(k) === 2_000_000_000 + (i % 2))).to.be.ok;
    expect(table.get(randomUUID())).to.equal(undefined);
    expect(table.prune(2_000_000_000)).to.equal(keys.length / 2);
    expect(keys.every((k, i) => table.get(k) === (i % 2 ? 2_000_000_001 : undefined))).to.be.ok;
    expect(table.prune(2_000_000_001)).to.equal(keys.length / 2);
    expect(table.size).to.equal(0);
    table.set(keys[0]!, 2_100_000_000);
    expect(table.get(keys[0]!)).to.equal(2_100_000_000);
  });

  it('AppliedIds is an exact set of ids, whatever the order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 400 }), (ids) => {
        const set = new AppliedIds();
        const model = new Set<number>();
        for (const id of ids) {
          expect(set.add(id)).to.equal(!model.has(id));
          model.add(id);
        }
        for (let id = 0; id <= 201; id += 1) expect(set.has(id)).to.equal(model.has(id));
      }),
      { numRuns: 300 },
    );
    const inOrder = new AppliedIds();
    for (let id = 1; id <= 100_000; id += 1) inOrder.add(id);
    expect(inOrder.intervals).to.equal(1);
  });
});
