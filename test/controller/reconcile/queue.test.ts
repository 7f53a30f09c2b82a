import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../controller/reconcile/queue.js';
import { MAX_TIMER_MS } from '../../../machines/long-timer.js';
import { waitUntil } from '../../helpers.js';

describe('WorkQueue', () => {
  it('collapses duplicate keys and never runs one key on two workers at once', async () => {
    const runs: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue<string>(async (k) => {
      runs.push(k);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (runs.length === 1) await gate;
      inFlight--;
    }, { workers: 4 });
    q.add('a');
    q.add('a'); // while a runs: marked dirty, runs once more after
    q.add('a');
    release();
    await q.idle();
    expect(runs.filter((k) => k === 'a')).toHaveLength(2);
    expect(maxInFlight).toBe(1); // never a twice at once, though three workers were idle
  });

  it('collapses a key queued several times while the workers are busy', async () => {
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue<string>(async (k) => {
      runs.push(k);
      if (k === 'busy') await gate;
    }, { workers: 1 });
    q.add('busy');
    for (let i = 0; i < 5; i++) q.add('b');
    expect(q.length).toBe(1);
    release();
    await q.idle();
    expect(runs).toEqual(['busy', 'b']);
  });

  it('retries failures with per-key exponential backoff', async () => {
    const timers: Array<{ fn: () => void; ms: number }> = [];
    const delays: Array<{ key: string; retry: number }> = [];
    const attempts = new Map<string, number>();
    const q = new WorkQueue<{ kind: 'device'; device: string }>(
      async (k) => {
        const n = (attempts.get(k.device) ?? 0) + 1;
        attempts.set(k.device, n);
        if (k.device === 'bad' && n <= 3) throw new Error('boom');
      },
      {
        idOf: (k) => k.device,
        baseDelayMs: 100,
        maxDelayMs: 250,
        onError: (k, _e, retry) => delays.push({ key: k.device, retry }),
        timers: { setTimer: (fn, ms) => timers.push({ fn, ms }), clearTimer: () => undefined },
      },
    );
    q.add({ kind: 'device', device: 'bad' });
    q.add({ kind: 'device', device: 'good' });
    for (let i = 0; i < 3; i++) {
      await waitUntil(() => timers.length === i + 1, 1000);
      timers[i]!.fn();
    }
    await q.idle();
    expect(timers.map((t) => t.ms)).toEqual([100, 200, 250]);
    expect(delays).toEqual([100, 200, 250].map((retry) => ({ key: 'bad', retry })));
    expect(attempts).toEqual(new Map([['bad', 4], ['good', 1]])); // one key's failures never hold up another
  });

  it('a requeueAfter longer than a timer can hold is chained, never a busy loop', async () => {
    const timers: Array<{ fn: () => void; ms: number }> = [];
    let runs = 0;
    const thirtyDays = 30 * 86_400_000;
    const q = new WorkQueue<string>(async () => (++runs === 1 ? { requeueAfter: thirtyDays } : undefined), {
      timers: { setTimer: (fn, ms) => timers.push({ fn, ms }), clearTimer: () => undefined },
    });
    q.add('k');
    await q.idle();
    expect(timers.map((t) => t.ms)).toEqual([MAX_TIMER_MS]);
    timers[0]!.fn(); // 24.8 days on: not yet
    await q.idle();
    expect(runs).toBe(1);
    expect(timers.map((t) => t.ms)).toEqual([MAX_TIMER_MS, thirtyDays - MAX_TIMER_MS]);
    timers[1]!.fn();
    await q.idle();
    expect(runs).toBe(2);
  });

  it('requeueAfter wakes the key later; the earlier of two wake-ups wins', async () => {
    const timers: Array<{ fn: () => void; ms: number; cleared?: boolean }> = [];
    let n = 0;
    const q = new WorkQueue<string>(async () => (++n === 1 ? { requeueAfter: 5000 } : undefined), {
      timers: {
        setTimer: (fn, ms) => {
          const t = { fn, ms };
          timers.push(t);
          return t;
        },
        clearTimer: (h) => ((h as { cleared?: boolean }).cleared = true),
      },
    });
    q.add('k');
    await q.idle();
    expect(timers).toHaveLength(1);
    q.addAfter('k', 9000); // later than the pending one: ignored
    expect(timers).toHaveLength(1);
    q.addAfter('k', 1000); // earlier: replaces it
    expect(timers[0]!.cleared).toBe(true);
    timers[1]!.fn();
    await q.idle();
    expect(n).toBe(2);
  });
});
