import { describe, expect, it } from 'vitest';
import { fenceDeadline, isFenced, keepaliveInterval } from '../../../controller/coordination/fencing.js';

describe('the fencing clock', () => {
  const ttl = 6000;

  it('fences ⅔ TTL after the last answered keepalive was sent', () => {
    expect(fenceDeadline(10_000, ttl)).toBe(14_000);
    expect(isFenced(13_999, 10_000, ttl)).toBe(false);
    expect(isFenced(14_000, 10_000, ttl)).toBe(true);
    expect(isFenced(60_000, 10_000, ttl)).toBe(true);
  });

  it('is fenced before any keepalive was answered', () => {
    expect(isFenced(0, undefined, ttl)).toBe(true);
  });

  it('leaves a third of the TTL before the lease can expire and another instance claim', () => {
    const sent = 5000;
    // etcd renews on receipt, which is after the send: the lease lives until sent + TTL at least.
    expect(sent + ttl - fenceDeadline(sent, ttl)).toBe(ttl / 3);
  });

  it('sends keepalives often enough that three can fail before the fence', () => {
    const every = keepaliveInterval(ttl);
    expect(every).toBe(1000);
    expect(Math.floor((fenceDeadline(0, ttl) - 1) / every)).toBeGreaterThanOrEqual(3);
  });
});
