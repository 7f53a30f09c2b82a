// Property tests (fast-check) on castv2 frame handling, from a hostile TLS peer on loopback:
// whatever the device sends — arbitrary bytes, arbitrary length prefixes, arbitrary payloads in
// valid frames, floods it never reads the answers to — the sender neither crashes nor grows
// without bound, and each connection ends in normal handling or a clean CONNECTION_LOST.
// Bounded to a few seconds: a fixed number of runs, each on a fresh connection.
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import type { CastDrift } from '../../../machines/components.js';
import { connectCast, type CastLimits, type CastTimings } from '../../../machines/cast/connection.js';
import { MAX_FRAME_BYTES } from '../../../machines/cast/castv2-ready.js';
import { NS } from '../../../machines/cast/messages.js';
import { waitUntil } from '../../helpers.js';
import { castFixture } from './fixture.js';
import { DMR_SESSION, HostilePeer, castFrame, receiverStatusFrame } from './hostile-peer.js';

const { tls } = castFixture();
let peer: HostilePeer;
beforeAll(async () => {
  peer = new HostilePeer(tls());
  await peer.start();
});
afterAll(() => peer.stop());

// Anything thrown out of a socket callback lands here (and would take a real controller down).
const crashes: unknown[] = [];
const onCrash = (err: unknown) => crashes.push(err);
beforeAll(() => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
});
afterAll(() => {
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});
afterEach(() => {
  expect(crashes.splice(0).map(String)).toEqual([]);
});

/** Liveness timers long enough that only what the device sent can end a connection. */
const PATIENT: Partial<CastTimings> = { heartbeatMs: 1_000, deadAfterMs: 30_000, requestTimeoutMs: 2_000, connectTimeoutMs: 2_000, statusPollMs: 30_000 };
const RUN = { endOnFailure: true } as const;

type Outcome = { handled: true } | { lost: string };

let probes = 0;

/**
 * Opens a connection, lets the device write `payload` and then a probe (a receiver status naming
 * a fresh app id), and waits for the sender to either see the probe or report CONNECTION_LOST.
 */
async function exchange(
  payload: Buffer[],
  opts: { timings?: Partial<CastTimings>; limits?: Partial<CastLimits>; deafDevice?: boolean; waitMs?: number; playing?: boolean } = {},
): Promise<{ outcome: Outcome; drifts: CastDrift[]; peak: number; cap: number; closed: boolean }> {
  const accepted = peer.nextConnection();
  const conn = await connectCast({ device: { host: '127.0.0.1', port: peer.port }, log: silentLogger(), timings: { ...PATIENT, ...opts.timings }, limits: opts.limits });
  const device = await accepted;
  const drifts: CastDrift[] = [];
  conn.onDrift((d) => drifts.push(d));
  try {
    if (opts.playing) {
      // Our session and media exist, so media statuses, CLOSE and LOAD_FAILED reach their handlers.
      await conn.launch({ takeover: true });
      await conn.load({ url: 'http://127.0.0.1:9/s/master.m3u8', mode: 'hls', title: 't' });
    }
    if (opts.deafDevice) device.stopReading();
    const probe = `PROBE${++probes}`;
    // Replies to requests the payload provoked (a CLOSE makes the sender ask for the status) list the probe too.
    device.apps = [{ appId: probe, sessionId: probe, transportId: probe, displayName: 'probe' }];
    for (const chunk of [...payload, receiverStatusFrame({ applications: device.apps })]) {
      if (!(await device.write(chunk))) break;
    }
    const lost = () => drifts.find((d): d is Extract<CastDrift, { type: 'CONNECTION_LOST' }> => d.type === 'CONNECTION_LOST');
    const outcome = await waitUntil<Outcome>(
      () => {
        const l = lost();
        if (l) return { lost: l.message };
        return conn.receiver().appId === probe ? { handled: true } : undefined;
      },
      opts.waitMs ?? 2_000,
      'the probe to be handled or the connection lost',
    );
    const { peak, cap } = conn.outbound();
    return { outcome, drifts, peak, cap, closed: 'lost' in outcome && conn.outbound().bytes === 0 };
  } finally {
    conn.close();
    device.socket.destroy();
    // Checked in every run, so the failing input is the one reported.
    expect(crashes.splice(0).map(String)).toEqual([]);
  }
}

// ── arbitraries ──────────────────────────────────────────────────────────────────────────────

const junk = fc.anything({ maxDepth: 2 });
const or = <T>(a: fc.Arbitrary<T>) => fc.oneof(a, junk);
const requestIdArb = or(fc.integer({ min: -2, max: 12 }));
const appArb = or(fc.record({ appId: or(fc.constantFrom('CC1AD845', 'E8C28D3C', '233637DE')), sessionId: or(fc.constantFrom(DMR_SESSION, 'other')), transportId: or(fc.constant(DMR_SESSION)), displayName: or(fc.string()), isIdleScreen: or(fc.boolean()) }, { requiredKeys: [] }));
const receiverStatusArb = fc.record({ applications: or(fc.array(appArb, { maxLength: 3 })), isStandBy: or(fc.boolean()), isActiveInput: or(fc.boolean()), volume: junk }, { requiredKeys: [] });
const mediaEntryArb = or(
  fc.record(
    {
      mediaSessionId: or(fc.integer({ min: 0, max: 3 })),
      playerState: or(fc.constantFrom('IDLE', 'PLAYING', 'BUFFERING', 'PAUSED', 'LOADING')),
      currentTime: or(fc.double()),
      idleReason: or(fc.constantFrom('CANCELLED', 'INTERRUPTED', 'FINISHED', 'ERROR')),
      media: or(fc.record({ contentId: or(fc.string()), contentUrl: or(fc.string()) }, { requiredKeys: [] })),
      extendedStatus: or(fc.record({ detailedErrorCode: or(fc.integer()) }, { requiredKeys: [] })),
      detailedErrorCode: or(fc.integer()),
    },
    { requiredKeys: [] },
  ),
);
const json = (o: unknown) => JSON.stringify(o) ?? 'null';
/**
 * Frames a confused or hostile device might send: each message type the sender handles, on its
 * namespace, with right and wrong shapes; any type anywhere; and payloads that are not JSON objects.
 */
const validFrameArb = fc
  .oneof(
    fc.record({ namespace: fc.constant(NS.receiver), sourceId: fc.constant('receiver-0'), data: fc.record({ type: fc.constant('RECEIVER_STATUS'), requestId: requestIdArb, status: or(receiverStatusArb) }).map(json) }),
    fc.record({ namespace: fc.constant(NS.media), sourceId: fc.constantFrom(DMR_SESSION, 'other'), data: fc.record({ type: fc.constant('MEDIA_STATUS'), requestId: requestIdArb, status: or(fc.array(mediaEntryArb, { maxLength: 3 })) }).map(json) }),
    fc.record({
      namespace: fc.constantFrom(NS.media, NS.receiver),
      sourceId: fc.constantFrom(DMR_SESSION, 'receiver-0'),
      data: fc.record({ type: fc.constantFrom('LOAD_FAILED', 'LAUNCH_ERROR', 'INVALID_REQUEST', 'LOAD_CANCELLED'), requestId: requestIdArb, reason: or(fc.string()), detailedErrorCode: or(fc.integer()) }, { requiredKeys: ['type'] }).map(json),
    }),
    fc.record({ namespace: fc.constantFrom(NS.heartbeat, NS.connection), sourceId: fc.oneof(fc.constantFrom('receiver-0', DMR_SESSION), fc.string({ maxLength: 40 })), data: fc.record({ type: or(fc.constantFrom('PING', 'PONG', 'CLOSE', 'CONNECT')), reasonCode: junk }, { requiredKeys: ['type'] }).map(json) }),
    fc.record({
      namespace: fc.oneof(fc.constantFrom(...Object.values(NS)), fc.string({ maxLength: 40 })),
      sourceId: fc.oneof(fc.constantFrom('receiver-0', DMR_SESSION, '*'), fc.string({ maxLength: 40 })),
      destinationId: fc.oneof(fc.constantFrom('sender-0', '*'), fc.string({ maxLength: 40 })),
      data: fc.oneof(fc.record({ type: junk, requestId: requestIdArb, status: junk }, { requiredKeys: [] }).map(json), fc.json({ maxDepth: 3 }), fc.string({ maxLength: 200 })),
    }),
  )
  .map((f) => castFrame(f));
const bytesArb = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
/** A correct length prefix around arbitrary bytes: reaches the protobuf decoder. */
const framedBytesArb = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(b.length);
  return Buffer.concat([head, b]);
});

describe('castv2 frames from a hostile device (properties)', () => {
  it('arbitrary bytes, mixed with valid frames: no crash, and the probe is handled or the link is cleanly lost', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(bytesArb, framedBytesArb, validFrameArb), { minLength: 1, maxLength: 5 }), async (chunks) => {
        // A half-announced frame is legitimately waited for: heartbeat silence ends that wait.
        const r = await exchange(chunks, { timings: { heartbeatMs: 40, deadAfterMs: 150 } });
        expect(r.peak).toBeLessThanOrEqual(r.cap);
        if ('lost' in r.outcome) {
          expect(r.outcome.lost).toMatch(/\S/);
          expect(r.closed).toBe(true);
        }
      }),
      { ...RUN, numRuns: 20 },
    );
  });

  it('arbitrary length prefixes: an empty or oversized frame drops the link at once, any other is read whole', async () => {
    const prefixArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64 }), fc.integer({ min: MAX_FRAME_BYTES - 4, max: MAX_FRAME_BYTES + 8 }), fc.integer({ min: 0, max: 0xffff_ffff }));
    await fc.assert(
      fc.asyncProperty(prefixArb, fc.uint8Array({ minLength: 1, maxLength: 32 }), async (length, pattern) => {
        const head = Buffer.alloc(4);
        head.writeUInt32BE(length);
        // The body the header announces, when it is within bounds (so nothing is left half-read).
        const bodyLength = length <= MAX_FRAME_BYTES ? length : 16;
        const body = Buffer.alloc(bodyLength);
        for (let i = 0; i < bodyLength; i++) body[i] = pattern[i % pattern.length]!;
        // No heartbeat deadline in reach: a framer stuck on the prefix fails the 2 s wait.
        const r = await exchange([head, body]);
        if (length === 0 || length > MAX_FRAME_BYTES) expect(r.outcome).toEqual({ lost: expect.stringMatching(/sent a frame of \d+ bytes/) });
        else if ('lost' in r.outcome) expect(r.outcome.lost).toMatch(/does not decode as a CastMessage|sent a frame/);
      }),
      { ...RUN, numRuns: 25 },
    );
  });

  it('arbitrary JSON payloads in valid frames are handled: the link stays up and the next status is read', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(validFrameArb, { minLength: 1, maxLength: 20 }), fc.boolean(), async (frames, playing) => {
        const r = await exchange(frames, { playing });
        expect(r.outcome).toEqual({ handled: true });
        expect(r.drifts.filter((d) => d.type === 'CONNECTION_LOST')).toEqual([]);
        expect(r.peak).toBeLessThanOrEqual(r.cap);
      }),
      { ...RUN, numRuns: 30 },
    );
  });

  it('PINGs with arbitrary source ids from a device that never reads: the outgoing buffer never passes the cap', async () => {
    const cap = 256 * 1024;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 1, max: 300 }), async (idLength, count) => {
        const ping = castFrame({ namespace: NS.heartbeat, sourceId: 'x'.repeat(idLength), data: '{"type":"PING"}' });
        const r = await exchange([Buffer.concat(Array.from({ length: count }, () => ping))], { deafDevice: true, limits: { maxOutboundBytes: cap }, waitMs: 5_000 });
        expect(r.peak).toBeLessThanOrEqual(cap);
        if ('lost' in r.outcome) expect(r.outcome.lost).toMatch(/not reading/);
      }),
      { ...RUN, numRuns: 15 },
    );
  });
});
