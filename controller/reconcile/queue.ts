// A work queue of keys, after controller-runtime's: duplicate keys collapse, one key never runs
// on two workers at once, failures requeue with per-key exponential backoff, and `addAfter` wakes
// a key at a later time (any length: long waits are chained, never a busy loop).
// Keys are values of any type; `idOf` says when two are the same key.
import { realTimers, setLongTimeout, type LongTimer, type TimerFns } from '../../machines/long-timer.js';

export interface ReconcileResult {
  /** Reconcile this key again after this many ms (e.g. a schedule window opening). */
  requeueAfter?: number;
}

export type Reconciler<K> = (key: K) => Promise<ReconcileResult | void>;

export interface QueueOptions<K> {
  /** The identity of a key (default: String(key)). */
  idOf?: (key: K) => string;
  workers?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (key: K, err: unknown, retryInMs: number) => void;
  /** Injectable timers and clock, for tests on a simulated clock. */
  timers?: TimerFns;
  now?: () => number;
}

export class WorkQueue<K> {
  private readonly queue: string[] = [];
  private readonly keys = new Map<string, K>();
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>(); // added again while processing
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: LongTimer }>();
  /** When each queued or running key was queued: how long the loop has owed it a pass. */
  private readonly pendingSince = new Map<string, number>();
  private readonly idleWaiters: Array<() => void> = [];
  private active = 0;
  private stopped = false;
  private readonly idOf: (key: K) => string;
  private readonly workers: number;
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly timerFns: TimerFns;
  private readonly now: () => number;

  constructor(
    private readonly reconcile: Reconciler<K>,
    private readonly opts: QueueOptions<K> = {},
  ) {
    this.idOf = opts.idOf ?? ((k) => String(k));
    this.workers = opts.workers ?? 4;
    this.baseDelay = opts.baseDelayMs ?? 200;
    this.maxDelay = opts.maxDelayMs ?? 60_000;
    this.timerFns = opts.timers ?? realTimers;
    this.now = opts.now ?? Date.now;
  }

  /** Enqueue now. Collapses with a queued copy; a key being processed runs once more after. */
  add(key: K): void {
    if (this.stopped) return;
    const id = this.idOf(key);
    this.keys.set(id, key);
    if (this.processing.has(id)) {
      this.dirty.add(id);
      return;
    }
    if (this.queued.has(id)) return;
    this.queued.add(id);
    this.pendingSince.set(id, this.now());
    this.queue.push(id);
    this.pump();
  }

  /** Enqueue after `ms`. An earlier pending wake-up for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.stopped) return;
    if (!(ms > 0)) return this.add(key);
    const id = this.idOf(key);
    const at = this.now() + ms;
    const existing = this.timers.get(id);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = setLongTimeout(() => {
      this.timers.delete(id);
      this.add(key);
    }, ms, this.timerFns);
    this.timers.set(id, { at, timer });
  }

  /** Forget a key's failure count (its input changed). */
  forget(key: K): void {
    this.failures.delete(this.idOf(key));
  }

  get length(): number {
    return this.queue.length;
  }

  /** When the key that has waited longest for its pass (queued or running) was queued; undefined when none waits. */
  oldestPendingSince(): number | undefined {
    let oldest: number | undefined;
    for (const t of this.pendingSince.values()) if (oldest === undefined || t < oldest) oldest = t;
    return oldest;
  }

  /** Resolves when nothing is queued or running (pending timers do not count). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const { timer } of this.timers.values()) timer.cancel();
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.pendingSince.clear();
  }

  private pump(): void {
    while (this.active < this.workers && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.queued.delete(id);
      this.processing.add(id);
      this.active++;
      void this.run(id);
    }
    if (this.active === 0 && this.queue.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async run(id: string): Promise<void> {
    const key = this.keys.get(id)!;
    try {
      const result = await this.reconcile(key);
      this.failures.delete(id);
      if (result && result.requeueAfter !== undefined) this.addAfter(key, result.requeueAfter);
    } catch (err) {
      const n = (this.failures.get(id) ?? 0) + 1;
      this.failures.set(id, n);
      const delay = Math.min(this.maxDelay, this.baseDelay * 2 ** (n - 1));
      this.opts.onError?.(key, err, delay);
      this.processing.delete(id);
      this.addAfter(key, delay);
    } finally {
      this.processing.delete(id);
      if (!this.queued.has(id)) this.pendingSince.delete(id);
      this.active--;
      if (this.dirty.delete(id)) this.add(key);
      else if (!this.queued.has(id) && !this.timers.has(id)) this.keys.delete(id);
      this.pump();
    }
  }
}
