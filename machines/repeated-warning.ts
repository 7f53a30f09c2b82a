// A warning that repeats while one condition lasts (a device unreachable, a page that will not
// load): logged when it starts, at each backoff step up to the cap, and when it ends, not on
// every attempt. A night of retries against a TV that is off is three lines, not three thousand.
import type { Logger } from './log.js';

export class RepeatedWarning {
  private attempts = 0;
  private lastWaitMs = -1;
  private since?: number;

  constructor(
    private readonly log: Logger,
    private readonly msg: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while the condition lasts (a failure seen, no recovery yet). */
  get active(): boolean {
    return this.attempts > 0;
  }

  /**
   * One more failed attempt; `retryInMs` is the wait before the next one. Logged at the first
   * failure and whenever the wait changes; once it stops growing (the cap), the warning says it
   * goes quiet until the condition ends or changes.
   */
  failed(retryInMs: number, fields: Record<string, unknown> = {}): void {
    this.attempts++;
    this.since ??= this.now();
    if (retryInMs === this.lastWaitMs) return;
    const atCap = this.attempts > 1 && retryInMs < this.lastWaitMs * 2 && retryInMs >= this.lastWaitMs;
    this.lastWaitMs = retryInMs;
    this.log.warn({ ...fields, attempt: this.attempts, retryInMs }, atCap ? `${this.msg} (retrying every ${Math.round(retryInMs / 1000)} s; quiet until it changes)` : this.msg);
  }

  /** The condition ended: logged once, with how long it lasted, if it had started. */
  recovered(what: string, fields: Record<string, unknown> = {}): void {
    if (this.attempts === 0) return;
    this.log.info({ ...fields, attempts: this.attempts, forMs: this.now() - (this.since ?? this.now()) }, what);
    this.attempts = 0;
    this.lastWaitMs = -1;
    this.since = undefined;
  }
}
