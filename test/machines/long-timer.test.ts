import { describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { longClock, MAX_TIMER_MS, setLongTimeout, type TimerFns } from '../../machines/long-timer.js';

/** Timers held in a list, fired by hand. */
function manual(): TimerFns & { pending: Array<{ fn: () => void; ms: number; cleared: boolean }>; fire(): void } {
  const pending: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  return {
    pending,
    setTimer: (fn, ms) => {
      const t = { fn, ms, cleared: false };
      pending.push(t);
      return t;
    },
    clearTimer: (h) => ((h as { cleared: boolean }).cleared = true),
    fire() {
      const t = pending.find((x) => !x.cleared)!;
      t.cleared = true;
      t.fn();
    },
  };
}

describe('long timers', () => {
  const DAYS_30 = 30 * 86_400_000;

  it('a wait past 24.8 days is chained out of waits that fit, and fires once at the end', () => {
    const t = manual();
    let fired = 0;
    setLongTimeout(() => fired++, DAYS_30, t);
    expect(t.pending.map((x) => x.ms)).toEqual([MAX_TIMER_MS]);
    t.fire();
    expect(fired).toBe(0);
    expect(t.pending.map((x) => x.ms)).toEqual([MAX_TIMER_MS, DAYS_30 - MAX_TIMER_MS]);
    t.fire();
    expect(fired).toBe(1);
  });

  it('cancel stops a chain midway; Infinity and NaN never fire', () => {
    const t = manual();
    let fired = 0;
    const timer = setLongTimeout(() => fired++, DAYS_30, t);
    t.fire();
    timer.cancel();
    expect(t.pending.every((x) => x.cleared)).toBe(true);
    setLongTimeout(() => fired++, Infinity, t);
    setLongTimeout(() => fired++, NaN, t);
    expect(t.pending).toHaveLength(2);
    expect(fired).toBe(0);
  });

  it('an XState after-delay of 30 days on longClock waits 30 days (a plain setTimeout would fire at once)', () => {
    const t = manual();
    const machine = createMachine({ initial: 'waiting', states: { waiting: { after: { [DAYS_30]: 'done' } }, done: {} } });
    const actor = createActor(machine, { clock: longClock(t) }).start();
    t.fire();
    expect(actor.getSnapshot().value).toBe('waiting');
    t.fire();
    expect(actor.getSnapshot().value).toBe('done');
    actor.stop();
  });
});
