import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planClaims, type ClaimInput } from '../../../controller/coordination/claims.js';
import { rankInstances } from '../../../controller/coordination/rendezvous.js';

const specs = Array.from({ length: 12 }, (_, i) => `screen-${i}`);
const base = (over: Partial<ClaimInput> = {}): ClaimInput => ({
  self: 'a',
  candidates: specs,
  owners: new Map(),
  held: new Set(),
  live: ['a', 'b', 'c'],
  capacity: 100,
  freeSince: new Map(),
  now: 1000,
  staggerMs: 250,
  ...over,
});
const rankOf = (spec: string, self = 'a', live = ['a', 'b', 'c']) => rankInstances(spec, live).indexOf(self);

describe('planClaims', () => {
  it('claims at once the free specs it ranks first for, and waits rank × stagger for the others', () => {
    const plan = planClaims(base());
    const first = specs.filter((s) => rankOf(s) === 0);
    expect([...plan.claim].sort()).toEqual([...first].sort());
    // The next due: a spec where we rank second, 250 ms after it became free.
    expect(plan.recheckAt).toBe(1250);
  });

  it('claims a spec it ranks second for once the first-ranked had its stagger to take it', () => {
    const second = specs.filter((s) => rankOf(s) === 1);
    const freeSince = new Map(specs.map((s) => [s, 700]));
    const plan = planClaims(base({ freeSince, now: 950 }));
    for (const s of second) expect(plan.claim).toContain(s);
    expect(plan.claim.filter((s) => rankOf(s) === 2)).toEqual([]);
    expect(plan.recheckAt).toBe(1200);
  });

  it('tries the specs it ranks first for before the ones it is a fallback for', () => {
    const freeSince = new Map(specs.map((s) => [s, 0]));
    const plan = planClaims(base({ freeSince, now: 10_000, capacity: 3 }));
    expect(plan.claim).toHaveLength(3);
    const ranks = plan.claim.map((s) => rankOf(s));
    expect(ranks).toEqual([...ranks].sort());
    expect(ranks[0]).toBe(0);
  });

  it('never claims past its capacity, counting what it keeps', () => {
    const held = new Set(['screen-0', 'screen-1']);
    const owners = new Map([...held].map((s) => [s, 'a']));
    const plan = planClaims(base({ held, owners, capacity: 3, freeSince: new Map(specs.map((s) => [s, 0])), now: 10_000 }));
    expect(plan.claim).toHaveLength(1);
    expect(planClaims(base({ held, owners, capacity: 2, now: 10_000 })).claim).toEqual([]);
  });

  it('keeps what it holds, claims nothing owned, and leaves unreadable keys alone', () => {
    const owners = new Map<string, string | undefined>(specs.map((s, i) => [s, i % 2 ? 'b' : undefined]));
    const plan = planClaims(base({ owners, freeSince: new Map(specs.map((s) => [s, 0])), now: 10_000 }));
    expect(plan).toEqual({ claim: [], release: [] });
  });

  it('releases what it holds but no longer matches, and that frees room', () => {
    const held = new Set(['gone', 'screen-0']);
    const owners = new Map([...held].map((s) => [s, 'a']));
    const plan = planClaims(base({ held, owners, capacity: 2, freeSince: new Map(specs.map((s) => [s, 0])), now: 10_000 }));
    expect(plan.release).toEqual(['gone']);
    expect(plan.claim).toHaveLength(1);
  });

  it('alone in the site, claims everything at once', () => {
    const plan = planClaims(base({ live: ['a'] }));
    expect(plan.claim).toHaveLength(12);
    expect(plan.recheckAt).toBeUndefined();
  });

  it('counts itself live even before its registration is read back', () => {
    const plan = planClaims(base({ live: [] }));
    expect(plan.claim).toHaveLength(12);
  });

  it('never claims an owned spec nor more than the room, nor a spec that is not a candidate', () => {
    fc.assert(
      fc.property(
        fc.subarray(specs),
        fc.subarray(specs),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 2000 }),
        (candidates, taken, capacity, now) => {
          const owners = new Map(taken.map((s) => [s, 'b']));
          const plan = planClaims(base({ candidates, owners, capacity, now, freeSince: new Map(specs.map((s) => [s, 0])) }));
          expect(plan.claim.length).toBeLessThanOrEqual(capacity);
          for (const s of plan.claim) {
            expect(owners.has(s)).toBe(false);
            expect(candidates).toContain(s);
          }
        },
      ),
    );
  });
});
