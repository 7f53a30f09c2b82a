// A device cannot exhaust the controller's memory or logs (issue 9 point 8): a hostile castv2
// peer on loopback floods PINGs without reading, and toggles standby tens of thousands of times.
import { describe, expect, it } from 'vitest';
import type { CastDrift } from '../../../machines/components.js';
import { connectCast, type CastLimits, type CastTimings } from '../../../machines/cast/connection.js';
import { NS } from '../../../machines/cast/messages.js';
import { waitUntil, captureLog } from '../../helpers.js';
import { castFixture } from './fixture.js';
import { HostilePeer, castFrame, receiverStatusFrame } from './hostile-peer.js';

// Long liveness timers: only the behaviour under test may end these connections.
const TIMINGS: Partial<CastTimings> = { heartbeatMs: 1_000, deadAfterMs: 20_000, requestTimeoutMs: 2_000, connectTimeoutMs: 2_000, statusPollMs: 5_000 };
const MiB = 1024 * 1024;

const { tls, cleanups } = castFixture();


async function hostileSetup(limits: Partial<CastLimits> = {}) {
  const peer = new HostilePeer(tls());
  await peer.start();
  cleanups.push(() => peer.stop());
  const cap = captureLog();
  const accepted = peer.nextConnection();
  const conn = await connectCast({ device: { host: '127.0.0.1', port: peer.port }, log: cap.log, timings: TIMINGS, limits });
  cleanups.push(() => conn.close());
  const drifts: CastDrift[] = [];
  conn.onDrift((d) => drifts.push(d));
  return { peer, conn, drifts, lines: cap.lines, device: await accepted };
}

describe('a hostile device', () => {
  it('that floods PINGs and never reads loses its connection before the outgoing buffer passes the cap', async () => {
    const { conn, drifts, device, lines } = await hostileSetup({ maxOutboundBytes: MiB });
    device.stopReading();
    const ping = castFrame({ namespace: NS.heartbeat, data: '{"type":"PING"}' });
    const batch = Buffer.concat(Array.from({ length: 4096 }, () => ping));
    let sent = 0;
    // Without a cap this goes on to 256 MiB while the sender's buffer of PONGs grows.
    while (!drifts.some((d) => d.type === 'CONNECTION_LOST') && sent < 256 * MiB) {
      if (!(await device.write(batch))) break;
      sent += batch.length;
    }
    const lost = await waitUntil(() => drifts.find((d) => d.type === 'CONNECTION_LOST'), 5_000, 'CONNECTION_LOST');
    expect(lost).toMatchObject({ type: 'CONNECTION_LOST', message: expect.stringMatching(/not reading .* more than 1048576 bytes/) });
    expect(conn.outbound().peak).toBeLessThanOrEqual(MiB);
    expect(conn.outbound().peak).toBeGreaterThan(MiB / 2); // it really was the buffer that filled
    // A peer that does not read learns of the close only when it writes: whether the sender's close
    // reached it as a reset before its last write returned is a race (lost more often on Node 24).
    await waitUntil(async () => device.closed || !(await device.write(ping)), 2_000, 'the device socket closed');
    expect(lines().filter((l) => l.msg === 'cast device not reading; closing the connection')).toHaveLength(1);
  });

  it.each([
    [50_000, false],
    [50_001, true],
  ])('that toggles standby %i times yields a bounded number of drift events and log lines, ending in the right state', async (toggles, finalStandby) => {
    const drift = { burst: 10, refillMs: 100 };
    const { conn, drifts, device, lines } = await hostileSetup({ drift });
    const frames = Array.from({ length: toggles }, (_, i) => receiverStatusFrame({ applications: [], isStandBy: i % 2 === 0, isActiveInput: true }));
    const t0 = Date.now();
    await device.write(Buffer.concat(frames));
    const suppressed = () => lines().reduce((n, l) => n + (typeof l.suppressed === 'number' && l.drift === 'STANDBY' ? l.suppressed : 0), 0);
    // Every toggle is accounted for: passed on, or counted in a "suppressed" line.
    await waitUntil(() => drifts.length + suppressed() === toggles, 10_000, () => `${drifts.length} drifts + ${suppressed()} suppressed = ${toggles}`);
    const elapsed = Date.now() - t0;
    const bound = drift.burst + Math.ceil(elapsed / drift.refillMs) + 1;
    expect(drifts.length).toBeLessThanOrEqual(bound);
    expect(drifts.every((d) => d.type === 'STANDBY')).toBe(true);
    expect(drifts.at(-1)).toEqual({ type: 'STANDBY', standby: finalStandby });
    expect(conn.receiver().isStandBy).toBe(finalStandby);
    const driftLines = lines().filter((l) => l.msg === 'cast drift');
    const suppressedLines = lines().filter((l) => typeof l.msg === 'string' && /^\d+ similar events suppressed$/.test(l.msg));
    expect(driftLines).toHaveLength(drifts.length);
    expect(suppressedLines.length).toBeGreaterThanOrEqual(1);
    expect(suppressedLines.length).toBeLessThanOrEqual(bound);
    expect(drifts.some((d) => d.type === 'CONNECTION_LOST')).toBe(false);
  });

  it('that sends malformed JSON in a flood gets a bounded number of warnings', async () => {
    const { drifts, device, lines } = await hostileSetup({ logs: { burst: 5, refillMs: 100 } });
    const bad = castFrame({ namespace: NS.receiver, data: '{"type":"RECEIVER_STATUS", nope' });
    const n = 20_000;
    const t0 = Date.now();
    await device.write(Buffer.concat(Array.from({ length: n }, () => bad)));
    const warned = () => lines().filter((l) => l.msg === 'ignored malformed JSON frame from cast device').length;
    const suppressed = () => lines().reduce((s, l) => s + (l.warning === 'malformed JSON' && typeof l.suppressed === 'number' ? l.suppressed : 0), 0);
    await waitUntil(() => warned() + suppressed() === n, 10_000, () => `${warned()} warnings + ${suppressed()} suppressed = ${n}`);
    expect(warned()).toBeLessThanOrEqual(5 + Math.ceil((Date.now() - t0) / 100) + 1);
    expect(drifts).toEqual([]);
  });

  it.each([
    ['a zero length', Buffer.from([0, 0, 0, 0])],
    ['a length above 64 KiB', Buffer.from([0, 1, 0, 1])],
    ['a length above 1 GiB', Buffer.from([0x7f, 0xff, 0xff, 0xff])],
  ])('that sends a frame with %s is dropped at once with a clear message', async (_what, header) => {
    const { drifts, device } = await hostileSetup();
    await device.write(Buffer.concat([header, Buffer.alloc(16)]));
    const lost = await waitUntil(() => drifts.find((d) => d.type === 'CONNECTION_LOST'), 2_000, 'CONNECTION_LOST');
    expect(lost.type === 'CONNECTION_LOST' && lost.message).toMatch(/sent a frame of \d+ bytes \(allowed: 1 to 65536\)/);
  });
});
