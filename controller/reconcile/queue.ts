// A work queue of keys, after controller-runtime's: duplicate keys collapse, one key never runs
// on two workers at once, failures requeue with per-key exponential backoff, `addAfter` wakes a
// key at a later time, and a TerminalError stops retries until the key is added afresh.

export class TerminalError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'TerminalError';
  }
}

export interface ReconcileResult {
  /** Reconcile this key again after this many ms (e.g. a schedule window opening). */
  requeueAfter?: number;
}

export type Reconciler<K> = (key: K) => Promise<ReconcileResult | void>;

export interface QueueOptions {
  workers?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (key: unknown, err: unknown, retryInMs: number | undefined) => void;
  /** Injectable timers, for tests on a simulated clock. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class WorkQueue<K> {
  private readonly queue: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirty = new Set<K>(); // added again while processing
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, { at: number; handle: unknown }>();
  private readonly idleWaiters: Array<() => void> = [];
  private active = 0;
  private stopped = false;
  private readonly workers: number;
  private readonly baseDelay: number;
  private readonly maxDelay: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (h: unknown) => void;

  constructor(
    private readonly reconcile: Reconciler<K>,
    private readonly opts: QueueOptions = {},
  ) {
    this.workers = opts.workers ?? 4;
    this.baseDelay = opts.baseDelayMs ?? 200;
    this.maxDelay = opts.maxDelayMs ?? 60_000;
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  /** Enqueue now. Collapses with a queued copy; a key being processed runs once more after. */
  add(key: K): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Enqueue after `ms`. An earlier pending wake-up for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clearTimer(existing.handle);
    const handle = this.setTimer(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, handle });
  }

  /** Forget a key's failure count (its input changed). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Resolves when nothing is queued or running (pending timers do not count). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const { handle } of this.timers.values()) this.clearTimer(handle);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    while (this.active < this.workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
    if (this.active === 0 && this.queue.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async run(key: K): Promise<void> {
    try {
      const result = await this.reconcile(key);
      this.failures.delete(key);
      if (result && result.requeueAfter !== undefined) this.addAfter(key, result.requeueAfter);
    } catch (err) {
      if (err instanceof TerminalError) {
        this.failures.delete(key);
        this.opts.onError?.(key, err, undefined);
      } else {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const delay = Math.min(this.maxDelay, this.baseDelay * 2 ** (n - 1));
        this.opts.onError?.(key, err, delay);
        this.processing.delete(key);
        this.addAfter(key, delay);
      }
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
