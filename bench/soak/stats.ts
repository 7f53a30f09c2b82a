// Pure arithmetic for the soak: a seeded random source, the pooled least-squares slope of samples
// taken over several controller lifetimes, and interval bookkeeping for the play ratio.
import { mergeIntervals, type Interval } from '../../specs/schedule.js';

/** mulberry32: a small seeded generator; the same seed draws the same fault schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number in [min, max]. */
export function between(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** One draw from `items` by weight. */
export function weighted<T>(rand: () => number, items: ReadonlyArray<{ item: T; weight: number }>): T {
  const total = items.reduce((s, i) => s + i.weight, 0);
  let x = rand() * total;
  for (const i of items) {
    x -= i.weight;
    if (x < 0) return i.item;
  }
  return items[items.length - 1]!.item;
}

export type Sample = readonly [tSeconds: number, value: number];

/**
 * The least-squares slope shared by several runs of samples, each with its own level (a restarted
 * controller starts its memory afresh): Σ(t−t̄ₛ)(y−ȳₛ) / Σ(t−t̄ₛ)², summed over the segments.
 * Per hour when t is in seconds. 0 when there is too little to fit.
 */
export function pooledSlopePerHour(segments: ReadonlyArray<ReadonlyArray<Sample>>): number {
  let num = 0;
  let den = 0;
  for (const seg of segments) {
    if (seg.length < 3) continue;
    const tm = seg.reduce((s, [t]) => s + t, 0) / seg.length;
    const ym = seg.reduce((s, [, y]) => s + y, 0) / seg.length;
    for (const [t, y] of seg) {
      num += (t - tm) * (y - ym);
      den += (t - tm) ** 2;
    }
  }
  return den > 0 ? (num / den) * 3600 : 0;
}

export type { Interval };

/** Merges overlapping intervals (ms), sorted; empty ones dropped. */
export function merge(intervals: ReadonlyArray<Interval>): Interval[] {
  return mergeIntervals(intervals.filter((i) => i.end > i.start));
}

/** How much of [from, to) the (merged) intervals cover, in ms. */
export function covered(intervals: ReadonlyArray<Interval>, from: number, to: number): number {
  let ms = 0;
  for (const i of intervals) ms += Math.max(0, Math.min(i.end, to) - Math.max(i.start, from));
  return ms;
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!;
}
