import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rankInstances, rendezvousWeight } from '../../../controller/coordination/rendezvous.js';

const names = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}-${i}`);

describe('rendezvous hashing', () => {
  it('is deterministic and a safe integer', () => {
    const w = rendezvousWeight('kitchen', 'box-a');
    expect(rendezvousWeight('kitchen', 'box-a')).toBe(w);
    expect(Number.isSafeInteger(w)).toBe(true);
    expect(rendezvousWeight('kitchen', 'box-b')).not.toBe(w);
    // The separator keeps the two fields apart.
    expect(rendezvousWeight('bc', 'a')).not.toBe(rendezvousWeight('c', 'ab'));
  });

  it('ranks every instance once, in the same order whatever order they are given in', () => {
    fc.assert(
      fc.property(fc.string(), fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 8 }), (spec, ids) => {
        const ranked = rankInstances(spec, ids);
        expect([...ranked].sort()).toEqual([...ids].sort());
        expect(rankInstances(spec, [...ids].reverse())).toEqual(ranked);
      }),
    );
  });

  it('moves only the specs of an instance that leaves, and spreads them over the rest', () => {
    const specs = names(300, 'screen');
    const ids = ['a', 'b', 'c'];
    const first = (s: string, from: string[]) => rankInstances(s, from)[0]!;
    const before = new Map(specs.map((s) => [s, first(s, ids)]));
    const after = new Map(specs.map((s) => [s, first(s, ['a', 'c'])]));
    for (const s of specs) if (before.get(s) !== 'b') expect(after.get(s)).toBe(before.get(s));
    const moved = specs.filter((s) => before.get(s) === 'b');
    const toA = moved.filter((s) => after.get(s) === 'a').length;
    expect(toA / moved.length).toBeGreaterThan(0.3);
    expect(toA / moved.length).toBeLessThan(0.7);
  });

  it('spreads specs about evenly', () => {
    const count = new Map<string, number>();
    for (const s of names(600, 'screen')) {
      const top = rankInstances(s, ['a', 'b', 'c'])[0]!;
      count.set(top, (count.get(top) ?? 0) + 1);
    }
    for (const id of ['a', 'b', 'c']) {
      expect(count.get(id)).toBeGreaterThan(160);
      expect(count.get(id)).toBeLessThan(240);
    }
  });
});
