// The reconcile loop's liveness: what the watchdog (systemd's WATCHDOG=1) and /healthz go by. A
// key that has waited for its pass beyond the limit means the loop is stuck, whatever else turns.
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../controller/reconcile/queue.js';
import { RECONCILE_STUCK_MS, loopLiveness } from '../../../controller/service/liveness.js';
import { waitUntil } from '../../helpers.js';

describe('loopLiveness', () => {
  it.each([
    ['nothing pending', undefined, 1_000_000, true],
    ['a key queued just now', 1_000_000, 1_000_000, true],
    ['a key pending exactly the limit', 1_000_000, 1_000_000 + RECONCILE_STUCK_MS, true],
    ['a key pending beyond the limit', 1_000_000, 1_000_001 + RECONCILE_STUCK_MS, false],
  ] as const)('%s → alive: %s', (_why, since, now, ok) => {
    expect(loopLiveness({ now, oldestPendingSince: since }).ok).toBe(ok);
  });

  it('says how long and what the limit is', () => {
    expect(loopLiveness({ now: 95_000, oldestPendingSince: 0, stuckMs: 30_000 })).toEqual({
      ok: false,
      reason: 'a reconcile has been pending for 95 s (limit 30 s): the reconcile loop is stuck',
    });
  });
});

describe('the work queue’s oldest pending key', () => {
  it('counts a key from when it is queued until its pass ends; a pass that never ends makes the loop stuck', async () => {
    let now = 1_000;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const done: string[] = [];
    const q = new WorkQueue<string>(
      async (k) => {
        if (k === 'wedged') await gate;
        done.push(k);
      },
      { workers: 2, now: () => now },
    );
    const alive = () => loopLiveness({ now, oldestPendingSince: q.oldestPendingSince() }).ok;
    expect(q.oldestPendingSince()).toBeUndefined();

    q.add('quick');
    await q.idle();
    expect(done).toEqual(['quick']);
    expect(q.oldestPendingSince()).toBeUndefined();

    q.add('wedged');
    now += 5_000;
    q.add('other'); // passes on the second worker meanwhile
    await waitUntil(() => done.includes('other'), 5_000, 'the other key’s pass');
    expect(q.oldestPendingSince()).toBe(1_000);
    expect(alive()).toBe(true);
    // Added again while it runs: still one pending key, still from when it was first queued.
    q.add('wedged');
    now = 1_000 + RECONCILE_STUCK_MS + 1;
    expect(alive()).toBe(false);

    release();
    await q.idle();
    expect(done.filter((k) => k === 'wedged')).toHaveLength(2);
    expect(q.oldestPendingSince()).toBeUndefined();
    expect(alive()).toBe(true);
  });

  it('a failed pass waiting out its backoff is not pending; stop forgets every key', async () => {
    let now = 0;
    const q = new WorkQueue<string>(
      async () => {
        throw new Error('boom');
      },
      { baseDelayMs: 60_000, now: () => now, onError: () => {} },
    );
    q.add('failing');
    await q.idle();
    now = 10 * RECONCILE_STUCK_MS;
    expect(q.oldestPendingSince()).toBeUndefined();
    q.stop();
  });
});
