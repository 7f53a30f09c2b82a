import { describe, expect, it } from 'vitest';
import { between, covered, merge, pooledSlopePerHour, seededRandom, weighted } from '../../bench/soak/stats.js';
import { Model } from '../../bench/soak/model.js';

describe('soak arithmetic', () => {
  it('draws the same schedule from the same seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 20 }, () => between(a, 15_000, 30_000));
    expect(Array.from({ length: 20 }, () => between(b, 15_000, 30_000))).toEqual(xs);
    expect(xs.every((x) => x >= 15_000 && x <= 30_000)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(10);
  });

  it('weights its draws', () => {
    const r = seededRandom(1);
    const n = { a: 0, b: 0 };
    for (let i = 0; i < 4000; i++) n[weighted(r, [{ item: 'a' as const, weight: 3 }, { item: 'b' as const, weight: 1 }])]++;
    expect(n.a / n.b).toBeGreaterThan(2.5);
    expect(n.a / n.b).toBeLessThan(3.5);
  });

  it('fits one slope across lifetimes that each start afresh', () => {
    // Two lifetimes, each growing 1 MB per minute from its own level: 60 MB/h, whatever the levels.
    const seg = (t0: number, y0: number) => Array.from({ length: 30 }, (_, i) => [t0 + i * 60, y0 + i] as const);
    expect(pooledSlopePerHour([seg(0, 100), seg(5000, 40)])).toBeCloseTo(60, 6);
    // Flat lifetimes at different levels: no slope, though one fit over all would see one.
    const flat = (t0: number, y: number) => Array.from({ length: 30 }, (_, i) => [t0 + i * 60, y] as const);
    expect(pooledSlopePerHour([flat(0, 100), flat(5000, 200)])).toBe(0);
    expect(pooledSlopePerHour([[[0, 1]]])).toBe(0);
  });

  it('merges intervals and measures what they cover', () => {
    const m = merge([{ start: 10, end: 20 }, { start: 0, end: 5 }, { start: 15, end: 30 }]);
    expect(m).toEqual([{ start: 0, end: 5 }, { start: 10, end: 30 }]);
    expect(covered(m, 3, 12)).toBe(4);
  });
});

describe('soak model', () => {
  it('knows what should play on each TV', () => {
    const m = new Model();
    expect([0, 1, 2].map((d) => m.winner(d))).toEqual(['kitchen', 'hall', 'lobby']);
    // kitchen and lobby share a stream: two streams for three TVs.
    expect(m.streamsNeeded(3)).toBe(2);
    m.suspended.add('lobby');
    expect(m.winner(2)).toBe('lobby-fallback');
    expect(m.expectedPhases(2)).toEqual(new Map([['lobby', 'Suspended'], ['lobby-fallback', 'Playing']]));
    expect(m.streamsNeeded(3)).toBe(3);
    m.ephemeral.set(2, 'soak-cast-1');
    expect(m.winner(2)).toBe('soak-cast-1');
    expect(m.expectedPhases(2).get('lobby-fallback')).toBe('NotPlaying');
  });
});
