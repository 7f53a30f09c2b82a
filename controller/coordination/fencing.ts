// The fencing clock. etcd refreshes a lease when a keepalive reaches it, so a keepalive SENT at t
// and answered proves the lease lives until at least t + TTL: nobody else can take our keys before
// then. We stop acting as owner at t + ⅔ TTL, leaving ⅓ TTL to stop pipelines before a takeover.
// Counting from the send (not the answer) keeps it true when the answer sat in a socket buffer
// while the process was paused.

export const FENCE_FRACTION = 2 / 3;

/** When an instance whose last answered keepalive was sent at `sentAt` must consider itself fenced. */
export function fenceDeadline(sentAt: number, ttlMs: number): number {
  return sentAt + ttlMs * FENCE_FRACTION;
}

/** Fenced: no keepalive answered yet, or the last one was sent ⅔ TTL or more before `now`. */
export function isFenced(now: number, sentAt: number | undefined, ttlMs: number): boolean {
  return sentAt === undefined || now >= fenceDeadline(sentAt, ttlMs);
}

/**
 * How often to send keepalives: six per TTL, so that the three that fit before the fence deadline
 * can each fail (a dead member, a leader election) before we fence. The official Go client's TTL/3
 * would leave one chance.
 */
export function keepaliveInterval(ttlMs: number): number {
  return ttlMs / 6;
}
