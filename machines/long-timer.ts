// Timers that are safe at any length. Node's setTimeout overflows above 2^31-1 ms (24.8 days) and
// then fires after 1 ms, so a long wait is chained out of waits that fit.
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface TimerFns {
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const realTimers: TimerFns = {
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface LongTimer {
  cancel(): void;
}

/** Calls `fn` once after `ms` (any finite length; Infinity never fires). */
export function setLongTimeout(fn: () => void, ms: number, timers: TimerFns = realTimers): LongTimer {
  let handle: unknown;
  let cancelled = false;
  const arm = (left: number) => {
    if (left === Infinity || Number.isNaN(left)) return;
    const step = Math.min(Math.max(0, left), MAX_TIMER_MS);
    handle = timers.setTimer(() => {
      if (cancelled) return;
      if (left > MAX_TIMER_MS) arm(left - MAX_TIMER_MS);
      else fn();
    }, step);
  };
  arm(ms);
  return {
    cancel() {
      cancelled = true;
      if (handle !== undefined) timers.clearTimer(handle);
    },
  };
}

/** An XState clock whose `after` delays are safe at any length (pass it to createActor). */
export function longClock(timers: TimerFns = realTimers): { setTimeout(fn: (...args: unknown[]) => void, ms: number): LongTimer; clearTimeout(id: unknown): void } {
  return {
    setTimeout: (fn, ms) => setLongTimeout(() => fn(), ms, timers),
    clearTimeout: (id) => (id as LongTimer | undefined)?.cancel(),
  };
}
