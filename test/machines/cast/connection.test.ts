// The Cast sender against the fake device over loopback TLS, with a stub player.
import { createServer, type Server as NetServer } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Client } from 'castv2';
import { createLogger, silentLogger, type Logger } from '../../../machines/log.js';
import { PagecastError } from '../../../machines/errors.js';
import { otherAppOf, type CastDrift, type CastRequestError } from '../../../machines/components.js';
import { connectCast, type CastTimings } from '../../../machines/cast/connection.js';
import { castv2Ready } from '../../../machines/cast/castv2-ready.js';
import { NS } from '../../../machines/cast/messages.js';
import { FakeCastDevice } from '../../fake-device/device.js';
import { castFixture } from './fixture.js';
import { stubPlayer, type StubPlayerOptions } from './stub-player.js';

const FAST: Partial<CastTimings> = { heartbeatMs: 100, deadAfterMs: 400, requestTimeoutMs: 400, connectTimeoutMs: 1_000, statusPollMs: 80, stallPolls: 3 };
const URL = 'http://127.0.0.1:9/s/tok/master.m3u8';

const { tls: certs, cleanups } = castFixture();

async function device(player: StubPlayerOptions = {}): Promise<FakeCastDevice> {
  const d = new FakeCastDevice({ name: 'Fake TV', startPlayer: stubPlayer(player), tls: certs() });
  await d.start();
  cleanups.push(() => d.stop());
  return d;
}

async function connect(d: FakeCastDevice, extra: { log?: Logger; owned?: Set<string>; timings?: Partial<CastTimings> } = {}) {
  const conn = await connectCast({ device: { host: '127.0.0.1', port: d.port }, log: extra.log ?? silentLogger(), timings: { ...FAST, ...extra.timings }, ownedSessions: extra.owned });
  cleanups.push(() => conn.close());
  const drifts: CastDrift[] = [];
  conn.onDrift((x) => drifts.push(x));
  return { conn, drifts };
}

async function playing(d: FakeCastDevice, extra: Parameters<typeof connect>[1] = {}) {
  const c = await connect(d, extra);
  await c.conn.launch({ takeover: false });
  await c.conn.load({ url: URL, mode: 'hls', title: 'pagecast: kitchen' });
  await d.waitFor(() => d.status().media?.playerState === 'PLAYING', 2_000, 'PLAYING');
  return c;
}

function until<T>(get: () => T | undefined, timeoutMs = 2_000, what = 'condition'): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const v = get();
      if (v !== undefined) return resolve(v);
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

const driftOf = <T extends CastDrift['type']>(drifts: CastDrift[], type: T) => () => drifts.find((x): x is Extract<CastDrift, { type: T }> => x.type === type);

function captureLog(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const dest = new Writable({ write(chunk, _enc, cb) { chunks.push(String(chunk)); cb(); } });
  return { log: createLogger({ level: 'debug', destination: dest }), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('cast sender on the wire', () => {
  it('connects, launches the DMR and LOADs a live stream with exact fields', async () => {
    const d = await device();
    const { conn } = await playing(d);
    const launch = d.messages('LAUNCH', NS.receiver);
    expect(launch).toHaveLength(1);
    expect(launch[0]!.data).toMatchObject({ appId: 'CC1AD845' });
    const app = d.status().app!;
    expect(d.received.some((m) => m.namespace === NS.connection && m.destinationId === app.sessionId && (m.data as { type: string }).type === 'CONNECT')).toBe(true);
    const [load] = d.loads();
    expect(load).toEqual({
      type: 'LOAD',
      requestId: expect.any(Number),
      sessionId: app.sessionId,
      autoplay: true,
      media: {
        contentId: URL,
        contentUrl: URL,
        contentType: 'application/x-mpegURL',
        streamType: 'LIVE',
        hlsSegmentFormat: 'ts',
        hlsVideoSegmentFormat: 'mpeg2_ts',
        metadata: { metadataType: 0, title: 'pagecast: kitchen' },
      },
    });
    expect(load).not.toHaveProperty('currentTime');
    // requestIds: one counter per connection, from 1, only increasing.
    const ids = d.received.map((m) => (m.data as { requestId?: number }).requestId).filter((x): x is number => typeof x === 'number');
    expect(ids[0]).toBe(1);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    await until(() => (conn.media()?.playerState === 'PLAYING' ? true : undefined), 2_000, 'media PLAYING');
    expect(conn.media()).toMatchObject({ contentId: URL, mediaSessionId: expect.any(Number) });
    expect(conn.receiver()).toMatchObject({ appId: 'CC1AD845', isStandBy: false, isActiveInput: true, isIdleScreen: false });
  });

  it('sends both fmp4 hints in fmp4 mode', async () => {
    const d = await device();
    const { conn } = await connect(d);
    await conn.launch({ takeover: false });
    await conn.load({ url: URL, mode: 'fmp4', title: 't' });
    expect(d.loads()[0]!.media).toMatchObject({ hlsSegmentFormat: 'fmp4', hlsVideoSegmentFormat: 'fmp4', streamType: 'LIVE' });
  });

  it('pings, and answers the device PINGs with PONG', async () => {
    const d = await device();
    await connect(d);
    await d.waitFor(() => d.count('PING', NS.heartbeat) >= 2, 2_000, 'sender PINGs');
    await d.pingSenders();
    await d.waitFor(() => d.count('PONG', NS.heartbeat) >= 1, 2_000, 'PONG');
  });

  it('declares the link dead after deadAfterMs of silence (freeze)', async () => {
    const d = await device();
    const { drifts } = await playing(d);
    const t0 = Date.now();
    await d.freeze(true);
    const lost = await until(driftOf(drifts, 'CONNECTION_LOST'), 3_000, 'CONNECTION_LOST');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(FAST.deadAfterMs! - 120); // frames in flight count as life
    expect(lost.message).toMatch(/no frame/);
  });

  it.each([
    ['remoteStop', (d: FakeCastDevice) => d.remoteStop(), { type: 'IDLE', idleReason: 'CANCELLED' }],
    ['finish', (d: FakeCastDevice) => d.finish(), { type: 'IDLE', idleReason: 'FINISHED' }],
    ['playbackError', (d: FakeCastDevice) => d.playbackError(315), { type: 'IDLE', idleReason: 'ERROR', detailedErrorCode: 315 }],
    ['otherSenderLoad', (d: FakeCastDevice) => d.otherSenderLoad('http://127.0.0.1:9/other.mp4'), { type: 'IDLE', idleReason: 'INTERRUPTED' }],
    ['takeover', (d: FakeCastDevice) => d.takeover(), { type: 'OTHER_APP', appId: '233637DE', displayName: 'YouTube' }],
    ['idleScreen', (d: FakeCastDevice) => d.idleScreen(), { type: 'IDLE_SCREEN' }],
    ['standby', (d: FakeCastDevice) => d.standby(true), { type: 'STANDBY', standby: true }],
    ['dropConnections', (d: FakeCastDevice) => d.dropConnections(), { type: 'CONNECTION_LOST' }],
    ['reboot', (d: FakeCastDevice) => d.reboot({ downMs: 100 }), { type: 'CONNECTION_LOST' }],
  ] as const)('%s ⇒ the right drift', async (_name, hook, expected) => {
    const d = await device();
    const { drifts } = await playing(d);
    await hook(d);
    const first = await until(() => drifts[0], 2_000, `drift after ${_name}`);
    expect(first).toMatchObject(expected);
  });

  it('remoteStop then reports the app gone; standby off reports wake-up', async () => {
    const d = await device();
    const { drifts } = await playing(d);
    await d.remoteStop();
    await until(driftOf(drifts, 'APP_GONE'), 2_000, 'APP_GONE');
    await d.standby(true);
    await d.standby(false);
    await until(() => (drifts.some((x) => x.type === 'STANDBY' && !x.standby) ? true : undefined), 2_000, 'STANDBY false');
  });

  it('reports STALLED when PLAYING but currentTime does not advance', async () => {
    const d = await device({ frozenTime: true });
    const { drifts } = await playing(d);
    const stalled = await until(driftOf(drifts, 'STALLED'), 3_000, 'STALLED');
    expect(stalled.message).toMatch(/currentTime/);
    expect(d.count('GET_STATUS', NS.media)).toBeGreaterThanOrEqual(3);
  });

  it('does not report STALLED while currentTime advances', async () => {
    const d = await device();
    const { drifts } = await playing(d);
    const polls = d.count('GET_STATUS', NS.media);
    await d.waitFor(() => d.count('GET_STATUS', NS.media) >= polls + 5, 3_000, 'five more polls');
    expect(drifts).toEqual([]);
  });

  it('turns a player failure before the first frame into LOAD_FAILED', async () => {
    const d = await device({ failWith: 311 });
    const { conn, drifts } = await connect(d);
    await conn.launch({ takeover: false });
    await conn.load({ url: URL, mode: 'hls', title: 't' });
    const f = await until(driftOf(drifts, 'LOAD_FAILED'), 2_000, 'LOAD_FAILED');
    expect(f.detailedErrorCode).toBe(311);
    expect(drifts.filter((x) => x.type === 'IDLE')).toEqual([]); // one ending, one drift
  });

  it('rejects load() with the device error when LOAD fails', async () => {
    const d = await device();
    const { conn } = await connect(d);
    await conn.launch({ takeover: false });
    await d.failNextLoad(104);
    const err = (await conn.load({ url: URL, mode: 'hls', title: 't' }).catch((e: unknown) => e)) as CastRequestError;
    expect(err).toBeInstanceOf(PagecastError);
    expect(err.code).toBe('CAST_REQUEST_FAILED');
    expect(err.replyType).toBe('LOAD_FAILED');
    expect(err.detailedErrorCode).toBe(104);
  });

  it('rejoins our session after a reconnect without a second LOAD', async () => {
    const d = await device();
    const owned = new Set<string>();
    const first = await playing(d, { owned });
    first.conn.close();
    first.conn.close(); // idempotent
    const { conn, drifts } = await connect(d, { owned });
    expect(await conn.launch({ takeover: false, expectUrl: URL })).toEqual({ joined: true });
    expect(d.loads()).toHaveLength(1);
    expect(d.count('LAUNCH', NS.receiver)).toBe(1);
    expect(conn.media()).toMatchObject({ playerState: 'PLAYING', contentId: URL });
    // and it keeps watching the joined session
    await d.finish();
    expect(await until(() => drifts[0])).toMatchObject({ type: 'IDLE', idleReason: 'FINISHED' });
  });

  it('leaves another app alone when takeover is false, and launches over it when true', async () => {
    const d = await device();
    await d.takeover('233637DE');
    const { conn } = await connect(d);
    expect(conn.otherApp()).toEqual({ appId: '233637DE', displayName: 'YouTube' });
    const err = await conn.launch({ takeover: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PagecastError);
    expect(otherAppOf(err)).toEqual({ appId: '233637DE', displayName: 'YouTube' });
    expect(d.count('LAUNCH')).toBe(0);
    expect(await conn.launch({ takeover: true })).toEqual({ joined: false });
    expect(d.count('LAUNCH')).toBe(1);
    expect(d.status().app?.appId).toBe('CC1AD845');
    expect(conn.otherApp()).toBeUndefined();
  });

  it('launches over the ambient screen without asking', async () => {
    const d = await device();
    await d.idleScreen();
    const { conn } = await connect(d);
    expect(conn.otherApp()).toBeUndefined();
    expect(await conn.launch({ takeover: false })).toEqual({ joined: false });
    expect(d.count('LAUNCH')).toBe(1);
  });

  it('survives malformed JSON from the device and logs its source', async () => {
    const d = await device();
    const cap = captureLog();
    const { conn, drifts } = await playing(d, { log: cap.log });
    await d.sendRaw(NS.receiver, '{"type":"RECEIVER_STATUS", nope');
    await d.sendRaw(NS.receiver, '[1,2,3]');
    await d.sendRaw(NS.receiver, '{"type":"RECEIVER_STATUS","status":"not an object"}');
    const warned = await until(() => cap.lines().find((l) => l.msg === 'ignored malformed JSON frame from cast device'), 2_000, 'warning');
    expect(warned).toMatchObject({ source: `cast device 127.0.0.1:${d.port}`, namespace: NS.receiver, from: 'receiver-0' });
    // still alive and answering
    await d.finish();
    expect(await until(() => drifts[0])).toMatchObject({ type: 'IDLE', idleReason: 'FINISHED' });
    expect(drifts.some((x) => x.type === 'CONNECTION_LOST')).toBe(false);
    expect(conn.media()?.playerState).toBe('IDLE');
  });

  it('stop() sends media STOP and receiver STOP, then closes; twice is harmless', async () => {
    const d = await device();
    const { conn, drifts } = await playing(d);
    const sessionId = d.status().app!.sessionId;
    const mediaSessionId = d.status().media!.mediaSessionId;
    const stopping = conn.stop();
    expect(conn.stop()).toBe(stopping); // a second caller waits for the same stop
    await stopping;
    await conn.stop();
    conn.close();
    expect(d.messages('STOP', NS.media).map((m) => m.data)).toEqual([{ type: 'STOP', mediaSessionId, requestId: expect.any(Number) }]);
    expect(d.messages('STOP', NS.receiver).map((m) => m.data)).toEqual([{ type: 'STOP', sessionId, requestId: expect.any(Number) }]);
    expect(d.status().app).toBeUndefined();
    await d.waitFor(() => d.status().connections === 0, 2_000, 'socket closed');
    expect(drifts).toEqual([]); // our own teardown is not drift
  });

  it('closes the connection when the connect step that opened it is aborted', async () => {
    const d = await device();
    const ac = new AbortController();
    const conn = await connectCast({ device: { host: '127.0.0.1', port: d.port }, log: silentLogger(), timings: FAST, signal: ac.signal });
    cleanups.push(() => conn.close());
    expect(d.status().connections).toBe(1);
    ac.abort();
    await d.waitFor(() => d.status().connections === 0, 2_000, 'socket closed');
  });

  it('times out a request the device never answers', async () => {
    const d = await device();
    const { conn } = await connect(d, { timings: { deadAfterMs: 10_000 } });
    await d.freeze(true);
    const t0 = Date.now();
    const err = (await conn.launch({ takeover: false }).catch((e: unknown) => e)) as PagecastError;
    expect(err.code).toBe('CAST_TIMEOUT');
    expect(err.timedOut).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(FAST.requestTimeoutMs! - 20);
  });

  it('fails to connect with a clear error: refused, and no TLS handshake (timeout)', async () => {
    const refused = await connectCast({ device: { host: '127.0.0.1', port: 1 }, log: silentLogger(), timings: FAST }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'CONNECT_FAILED', source: 'cast device 127.0.0.1:1' });
    const sockets: import('node:net').Socket[] = [];
    const silent: NetServer = createServer((s) => sockets.push(s)); // accepts TCP, never speaks TLS
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }));
    const port = (silent.address() as { port: number }).port;
    const t0 = Date.now();
    const timedOut = (await connectCast({ device: { host: '127.0.0.1', port }, log: silentLogger(), timings: { ...FAST, connectTimeoutMs: 300 } }).catch((e: unknown) => e)) as PagecastError;
    expect(timedOut).toMatchObject({ code: 'CONNECT_FAILED', timedOut: true });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('fake device robustness', () => {
  it('survives bad JSON and garbage frames from a raw client and keeps serving', async () => {
    const d = await device();
    await castv2Ready();
    const raw = new Client();
    await new Promise<void>((resolve, reject) => {
      raw.on('error', reject);
      raw.connect({ host: '127.0.0.1', port: d.port }, () => resolve());
    });
    raw.send('sender-0', 'receiver-0', NS.connection, '{"type":"CONNECT"}');
    raw.send('sender-0', 'receiver-0', NS.receiver, '{"type":"GET_STATUS", oops');
    raw.send('sender-0', 'receiver-0', NS.receiver, '"just a string"');
    raw.send('sender-0', 'receiver-0', NS.receiver, '{"type":"LAUNCH","appId":42,"requestId":"x"}');
    raw.send('sender-0', 'receiver-0', NS.media, '{"type":"LOAD","requestId":5}');
    await d.waitFor(() => d.received.length >= 5, 2_000, 'raw frames recorded');
    // A frame that is not a CastMessage at all: castv2 would throw out of a socket callback.
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    raw.socket!.write(Buffer.from([0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    await closed;
    // A proper sender still gets full service.
    const { conn } = await connect(d);
    await conn.launch({ takeover: false });
    await conn.load({ url: URL, mode: 'hls', title: 't' });
    await d.waitFor(() => d.status().media?.playerState === 'PLAYING', 2_000, 'PLAYING');
  });

  it('reboot refuses connections while down and comes back empty on the same port', async () => {
    const d = await device();
    await playing(d);
    const port = d.port;
    const rebooting = d.reboot({ downMs: 300 });
    await d.waitFor(() => d.status().connections === 0, 2_000, 'connections closed');
    const refused = await connectCast({ device: { host: '127.0.0.1', port }, log: silentLogger(), timings: FAST }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'CONNECT_FAILED' });
    await rebooting;
    expect(d.port).toBe(port);
    const { conn } = await connect(d);
    expect(conn.receiver().appId).toBeUndefined();
    expect(d.status().app).toBeUndefined();
  });
});

