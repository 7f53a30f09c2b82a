// The drift and warning limiter on a simulated clock: bursts pass, floods collapse into the
// latest event of their kind, and every held-back event is counted.
import { describe, expect, it } from 'vitest';
import { BurstLimiter, type LimiterClock } from '../../../machines/cast/burst-limit.js';

function fakeClock(): LimiterClock & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout(h) {
      timers = timers.filter((t) => t.id !== h);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
    pending: () => timers.length,
  };
}

function setup(burst = 3, refillMs = 100) {
  const clock = fakeClock();
  const delivered: Array<{ kind: string; v: number }> = [];
  const suppressed: Array<[string, number]> = [];
  const limiter = new BurstLimiter<{ kind: string; v: number }>({ burst, refillMs, clock, deliver: (e) => delivered.push(e), onSuppressed: (k, n) => suppressed.push([k, n]) });
  return { clock, delivered, suppressed, limiter };
}

describe('BurstLimiter', () => {
  it('passes a burst, collapses the rest into the latest, and counts what it held back', () => {
    const { clock, delivered, suppressed, limiter } = setup(3, 100);
    for (let v = 1; v <= 1000; v++) limiter.offer('STANDBY', { kind: 'STANDBY', v });
    expect(delivered.map((e) => e.v)).toEqual([1, 2, 3]);
    clock.advance(100);
    expect(delivered.map((e) => e.v)).toEqual([1, 2, 3, 1000]);
    expect(suppressed).toEqual([['STANDBY', 996]]);
    clock.advance(10_000);
    expect(delivered).toHaveLength(4);
    expect(clock.pending()).toBe(0);
  });

  it('delivers the latest held-back state, and drops it when it repeats the last delivered one', () => {
    const { clock, delivered, suppressed, limiter } = setup(2, 100);
    for (const v of [1, 0, 1, 0, 1]) limiter.offer('STANDBY', { kind: 'STANDBY', v });
    expect(delivered.map((e) => e.v)).toEqual([1, 0]);
    clock.advance(100);
    expect(delivered.map((e) => e.v)).toEqual([1, 0, 1]); // the latest wins
    expect(suppressed).toEqual([['STANDBY', 2]]);
    // 0 then 1 again: the device ends where we already are, so nothing new is passed on.
    limiter.offer('STANDBY', { kind: 'STANDBY', v: 0 });
    limiter.offer('STANDBY', { kind: 'STANDBY', v: 1 });
    clock.advance(1_000);
    expect(delivered.map((e) => e.v)).toEqual([1, 0, 1]);
    expect(suppressed).toEqual([['STANDBY', 2], ['STANDBY', 2]]);
  });

  it('keeps kinds apart: a flood of one does not hold back another', () => {
    const { delivered, limiter } = setup(1, 1_000);
    limiter.offer('STANDBY', { kind: 'STANDBY', v: 1 });
    limiter.offer('STANDBY', { kind: 'STANDBY', v: 2 });
    limiter.offer('IDLE', { kind: 'IDLE', v: 3 });
    expect(delivered.map((e) => e.v)).toEqual([1, 3]);
  });

  it('refills at the given rate: one event per refillMs once the burst is spent', () => {
    const { clock, delivered, limiter } = setup(2, 100);
    for (let t = 0; t < 1_000; t += 10) {
      limiter.offer('X', { kind: 'X', v: t });
      clock.advance(10);
    }
    // 2 at once, then about one per 100 ms over one second.
    expect(delivered.length).toBeGreaterThanOrEqual(11);
    expect(delivered.length).toBeLessThanOrEqual(13);
  });

  it('close() drops what is held back and clears its timers', () => {
    const { clock, delivered, limiter } = setup(1, 100);
    limiter.offer('X', { kind: 'X', v: 1 });
    limiter.offer('X', { kind: 'X', v: 2 });
    limiter.close();
    expect(clock.pending()).toBe(0);
    clock.advance(1_000);
    limiter.offer('X', { kind: 'X', v: 3 });
    expect(delivered.map((e) => e.v)).toEqual([1]);
  });
});
