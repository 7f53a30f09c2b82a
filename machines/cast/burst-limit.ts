// A per-kind token bucket that collapses floods instead of queueing them: a device that toggles
// standby 50,000 times must not become 50,000 drift events and log lines. What is held back is
// not lost when it matters: the latest event of each kind is delivered once the bucket refills,
// so the consumer always ends on the device's final state.

export interface LimiterClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: LimiterClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BurstLimit {
  /** Events of one kind delivered back to back before collapsing starts. */
  burst: number;
  /** One more event of that kind is allowed per this many ms. */
  refillMs: number;
}

export interface BurstLimiterOptions<T> extends BurstLimit {
  deliver(event: T): void;
  /** Once per refill while a kind is being collapsed: how many of its events were not delivered. */
  onSuppressed(kind: string, count: number): void;
  /** Whether `a` says nothing new after `b` (default: same JSON); a held-back repeat of the last delivery is dropped. */
  same?(a: T, b: T): boolean;
  clock?: LimiterClock;
}

interface Bucket<T> {
  tokens: number;
  at: number;
  last?: T;
  pending?: T;
  suppressed: number;
  timer?: unknown;
}

export class BurstLimiter<T> {
  private readonly buckets = new Map<string, Bucket<T>>();
  private readonly clock: LimiterClock;
  private closed = false;

  constructor(private readonly opts: BurstLimiterOptions<T>) {
    this.clock = opts.clock ?? realClock;
  }

  offer(kind: string, event: T): void {
    if (this.closed) return;
    let b = this.buckets.get(kind);
    if (!b) this.buckets.set(kind, (b = { tokens: this.opts.burst, at: this.clock.now(), suppressed: 0 }));
    this.refill(b);
    if (b.pending === undefined && b.tokens >= 1) {
      b.tokens -= 1;
      this.send(b, event);
      return;
    }
    // Collapsing: keep only the latest, deliver it when a token is back.
    b.pending = event;
    b.suppressed++;
    if (b.timer === undefined) this.arm(kind, b);
  }

  /** Drops what is held back and stops the timers (the connection is gone). */
  close(): void {
    this.closed = true;
    for (const b of this.buckets.values()) if (b.timer !== undefined) this.clock.clearTimeout(b.timer);
    this.buckets.clear();
  }

  private arm(kind: string, b: Bucket<T>): void {
    const wait = Math.max(1, Math.ceil((1 - b.tokens) * this.opts.refillMs));
    b.timer = this.clock.setTimeout(() => this.flush(kind, b), wait);
  }

  private flush(kind: string, b: Bucket<T>): void {
    b.timer = undefined;
    if (this.closed || b.pending === undefined) return;
    this.refill(b);
    if (b.tokens < 1) return this.arm(kind, b);
    const event = b.pending;
    const count = b.suppressed;
    b.pending = undefined;
    b.suppressed = 0;
    const same = this.opts.same ?? ((x: T, y: T) => JSON.stringify(x) === JSON.stringify(y));
    const news = b.last === undefined || !same(event, b.last);
    if (news) {
      b.tokens -= 1;
      this.send(b, event);
    }
    const dropped = news ? count - 1 : count;
    if (dropped > 0) this.opts.onSuppressed(kind, dropped);
  }

  private refill(b: Bucket<T>): void {
    const now = this.clock.now();
    b.tokens = Math.min(this.opts.burst, b.tokens + (now - b.at) / this.opts.refillMs);
    b.at = now;
  }

  private send(b: Bucket<T>, event: T): void {
    b.last = event;
    this.opts.deliver(event);
  }
}
