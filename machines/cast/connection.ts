// One castv2 TLS connection to a device and our Default Media Receiver session on it
// (CAST.md §3–4). Every inbound payload is parsed here, so a bad frame cannot crash the process.
import { Client, type Payload } from 'castv2';
import type { Logger } from '../log.js';
import { PagecastError } from '../errors.js';
import {
  deviceBusyError,
  type CastConnection,
  type CastDrift,
  type CastFailure,
  type CastLoad,
  type CastRequestError,
  type MediaState,
  type OtherApp,
  type ResolvedDevice,
} from '../components.js';
import { BurstLimiter, type BurstLimit, type LimiterClock } from './burst-limit.js';
import { MAX_FRAME_BYTES, castv2Ready, guardFrameSize } from './castv2-ready.js';
import {
  DEFAULT_MEDIA_RECEIVER,
  ERROR_REPLY_TYPES,
  NS,
  isRecord,
  liveLoadRequest,
  mergeMediaEntry,
  mergeReceiverStatus,
  parseCastJson,
  type Json,
  type MediaEntry,
  type ReceiverState,
} from './messages.js';

export interface CastTimings {
  heartbeatMs: number;
  deadAfterMs: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Media GET_STATUS cadence while PLAYING, to see whether currentTime advances. */
  statusPollMs: number;
  /** This many polls in a row without currentTime advancing ⇒ STALLED. */
  stallPolls: number;
}

export const DEFAULT_CAST_TIMINGS: CastTimings = {
  heartbeatMs: 5_000,
  deadAfterMs: 15_000,
  requestTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
  statusPollMs: 5_000,
  stallPolls: 3,
};

/** What one device may cost us, however it behaves. */
export interface CastLimits {
  /**
   * Bytes waiting to be sent to the device. A device that stops reading (and keeps sending PINGs
   * that we answer) would otherwise grow this without bound; past it the link counts as lost.
   */
  maxOutboundBytes: number;
  /** Drift events of one kind passed on back to back; beyond, one per `refillMs`, the latest winning. */
  drift: BurstLimit;
  /** The same for repeated warnings about one device's frames (malformed JSON, unhandled messages). */
  logs: BurstLimit;
}

export const DEFAULT_CAST_LIMITS: CastLimits = {
  maxOutboundBytes: 1024 * 1024,
  drift: { burst: 10, refillMs: 1_000 },
  logs: { burst: 10, refillMs: 1_000 },
};

export interface CastConnectOptions {
  device: ResolvedDevice;
  log: Logger;
  timings?: Partial<CastTimings>;
  limits?: Partial<CastLimits>;
  /** For the drift and log limiters (tests); real time by default. */
  clock?: LimiterClock;
  /**
   * Session ids we launched on this device. Owned by the caller (the driver keeps one set per
   * device) so that after a reconnect we recognise our own session and join it.
   */
  ownedSessions?: Set<string>;
  signal?: AbortSignal;
}

function castError(code: 'CAST_REQUEST_FAILED' | 'CAST_TIMEOUT' | 'CONNECT_FAILED' | 'ABORTED', message: string, source: string, extra: CastFailure & { cause?: unknown; timedOut?: boolean } = {}): CastRequestError {
  const { cause, timedOut, ...fields } = extra;
  return Object.assign(new PagecastError(code, message, { source, cause, timedOut }), fields);
}

const SENDER = 'sender-0';
const RECEIVER = 'receiver-0';
/** A CastMessage frame beyond its strings: length prefix, field tags, enums, length varints. */
const FRAME_OVERHEAD_BYTES = 32;

/** Opens the TLS connection, the virtual connection to receiver-0 and reads the receiver status. */
export async function connectCast(opts: CastConnectOptions): Promise<CastV2Connection> {
  await castv2Ready();
  const conn = new CastV2Connection(opts);
  await conn.open();
  return conn;
}

interface Pending {
  resolve(msg: Json): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  what: string;
}

export class CastV2Connection implements CastConnection {
  readonly device: ResolvedDevice;
  private readonly log: Logger;
  private readonly t: CastTimings;
  private readonly limits: CastLimits;
  private readonly drifts: BurstLimiter<CastDrift>;
  private readonly warnings: BurstLimiter<{ fields: Record<string, unknown>; msg: string }>;
  private outboundPeak = 0;
  private readonly owned: Set<string>;
  private readonly source: string;
  private readonly signal?: AbortSignal;
  private client?: Client;
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly driftListeners = new Set<(d: CastDrift) => void>();
  private readonly receiverWaiters = new Set<() => void>();
  private timers: NodeJS.Timeout[] = [];
  private lastInbound = 0;
  private connected = false;
  private closed = false;
  private lostReason?: string;
  private stopping?: Promise<void>;

  private recv: ReceiverState = { applications: [], isStandBy: false, isActiveInput: true };
  private standby = false;
  private session?: { sessionId: string; transportId: string; ended: boolean };
  private mediaEntry?: MediaEntry;
  /** Our media session (after LOAD or join); drift is only about it. */
  private ours?: { mediaSessionId: number; contentId: string; ended: boolean };
  private stall = { lastTime: -1, flatPolls: 0, reported: false };

  constructor(opts: CastConnectOptions) {
    this.device = opts.device;
    this.log = opts.log;
    this.t = { ...DEFAULT_CAST_TIMINGS, ...opts.timings };
    this.limits = { ...DEFAULT_CAST_LIMITS, ...opts.limits };
    this.owned = opts.ownedSessions ?? new Set();
    this.source = `cast device ${opts.device.host}:${opts.device.port}`;
    this.signal = opts.signal;
    this.drifts = new BurstLimiter<CastDrift>({
      ...this.limits.drift,
      clock: opts.clock,
      deliver: (d) => this.deliver(d),
      onSuppressed: (kind, count) => this.log.warn({ source: this.source, drift: kind, suppressed: count }, `${count} similar events suppressed`),
    });
    this.warnings = new BurstLimiter({
      ...this.limits.logs,
      clock: opts.clock,
      same: () => false,
      deliver: (w) => this.log.warn(w.fields, w.msg),
      onSuppressed: (kind, count) => this.log.warn({ source: this.source, warning: kind, suppressed: count }, `${count} similar events suppressed`),
    });
  }

  /** Bytes now waiting to be sent to the device, the most seen on this connection, and the cap. */
  outbound(): { bytes: number; peak: number; cap: number } {
    return { bytes: this.client?.socket?.writableLength ?? 0, peak: this.outboundPeak, cap: this.limits.maxOutboundBytes };
  }

  // ── lifecycle ───────────────────────────────────────────────────────────────────────────

  async open(): Promise<void> {
    // One Client per attempt: a reused Client keeps stale connect callbacks (CAST.md §7.4).
    const client = new Client();
    this.client = client;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        clearTimeout(timer);
        this.signal?.removeEventListener('abort', onAbort);
        client.socket?.destroy();
        this.closed = true;
        reject(err);
      };
      const timer = setTimeout(() => fail(castError('CONNECT_FAILED', `connect to ${this.source} timed out after ${this.t.connectTimeoutMs} ms`, this.source, { timedOut: true })), this.t.connectTimeoutMs);
      const onAbort = () => fail(castError('ABORTED', `connect to ${this.source} aborted`, this.source));
      if (this.signal?.aborted) return onAbort();
      this.signal?.addEventListener('abort', onAbort, { once: true });
      client.on('error', (err) => {
        if (!this.connected) fail(castError('CONNECT_FAILED', `connect to ${this.source} failed: ${err.message}`, this.source, { cause: err }));
        else {
          // castv2 reports a frame that does not decode as "Unsupported protocol version: -1"
          // (castv2-ready.ts) and closes the socket itself.
          this.lostReason ??= /protocol version/i.test(err.message) ? `${this.source} sent a frame that does not decode as a CastMessage; closing the connection` : `connection to ${this.source} failed: ${err.message}`;
          this.warn('socket error', { err: err.message }, 'cast socket error');
        }
      });
      client.on('close', () => {
        if (!this.connected) fail(castError('CONNECT_FAILED', `connect to ${this.source}: connection closed`, this.source));
        else this.onSocketClosed();
      });
      client.on('message', (src, dst, ns, data) => this.onFrame(src, dst, ns, data));
      client.connect({ host: this.device.host, port: this.device.port });
      if (client.socket) {
        guardFrameSize(client.socket, (n) => {
          this.lostReason ??= `${this.source} sent a frame of ${n} bytes (allowed: 1 to ${MAX_FRAME_BYTES}); closing the connection`;
          this.log.warn({ source: this.source, bytes: n }, n === 0 ? 'empty cast frame; closing' : 'oversized cast frame; closing');
        });
      }
      client.on('connect', () => {
        clearTimeout(timer);
        this.signal?.removeEventListener('abort', onAbort);
        this.connected = true;
        this.lastInbound = Date.now();
        client.socket?.setKeepAlive(true, 10_000);
        // From here on an abort closes the socket: during the first status request, and after
        // open() resolved, when a connect step is stopped before its result was taken.
        this.signal?.addEventListener('abort', () => this.close(), { once: true });
        resolve();
      });
    });
    try {
      this.send(RECEIVER, NS.connection, { type: 'CONNECT' });
      this.startHeartbeat();
      await this.getReceiverStatus();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.drifts.close();
    this.warnings.close();
    // Leave whatever plays playing: only the virtual connections and the socket go.
    if (this.session && !this.session.ended) this.trySend(this.session.transportId, NS.connection, { type: 'CLOSE' });
    this.trySend(RECEIVER, NS.connection, { type: 'CLOSE' });
    this.failPending(castError('ABORTED', `connection to ${this.source} closed`, this.source));
    const c = this.client;
    if (c?.socket) {
      try {
        c.close();
      } catch {
        // castv2's close() is not idempotent; the socket is gone either way.
      }
    }
  }

  stop(): Promise<void> {
    if (this.closed) return this.stopping ?? Promise.resolve();
    // What the device says about our own teardown is not drift.
    this.stopping ??= this.stopGracefully();
    return this.stopping;
  }

  private async stopGracefully(): Promise<void> {
    const s = this.session;
    if (s && !s.ended && this.ours && !this.ours.ended) {
      await this.request(s.transportId, NS.media, { type: 'STOP', mediaSessionId: this.ours.mediaSessionId }, 'media STOP').catch((err: Error) => this.log.debug({ err: err.message }, 'media STOP failed'));
    }
    if (s) {
      // Our session is over either way; do not rejoin it later.
      this.owned.delete(s.sessionId);
      if (!s.ended) await this.request(RECEIVER, NS.receiver, { type: 'STOP', sessionId: s.sessionId }, 'receiver STOP').catch((err: Error) => this.log.debug({ err: err.message }, 'receiver STOP failed'));
    }
    this.close();
  }

  onDrift(listener: (d: CastDrift) => void): () => void {
    this.driftListeners.add(listener);
    return () => this.driftListeners.delete(listener);
  }

  receiver(): { appId?: string; sessionId?: string; isIdleScreen: boolean; isStandBy: boolean; isActiveInput: boolean } {
    const app = this.recv.applications.find((a) => a.sessionId === this.session?.sessionId) ?? this.recv.applications[0];
    return { appId: app?.appId, sessionId: app?.sessionId, isIdleScreen: app?.isIdleScreen ?? false, isStandBy: this.recv.isStandBy, isActiveInput: this.recv.isActiveInput };
  }

  media(): MediaState | undefined {
    const m = this.mediaEntry;
    return m && { playerState: m.playerState, currentTime: m.currentTime, mediaSessionId: m.mediaSessionId, contentId: m.contentId };
  }

  otherApp(): OtherApp | undefined {
    const app = this.recv.applications.find((a) => !a.isIdleScreen && a.appId !== DEFAULT_MEDIA_RECEIVER);
    return app && { appId: app.appId, displayName: app.displayName };
  }

  // ── launch / load ───────────────────────────────────────────────────────────────────────

  /**
   * Joins our own DMR session if it still runs (no LOAD needed when it plays `expectUrl`),
   * otherwise launches the DMR. With another app on the device and `takeover: false` it sends
   * no LAUNCH and rejects with deviceBusyError() (see otherAppOf()).
   */
  async launch(opts: { takeover: boolean; expectUrl?: string }): Promise<{ joined: boolean }> {
    await this.getReceiverStatus();
    const apps = this.recv.applications;
    const dmr = apps.find((a) => a.appId === DEFAULT_MEDIA_RECEIVER && a.sessionId && a.transportId);
    if (dmr?.sessionId && dmr.transportId) {
      const ownedHere = this.owned.has(dmr.sessionId);
      this.adoptSession(dmr.sessionId, dmr.transportId);
      const entry = await this.getMediaStatus();
      const active = entry && (entry.playerState === 'PLAYING' || entry.playerState === 'BUFFERING' || entry.playerState === 'PAUSED');
      if (active && entry.contentId !== undefined && entry.contentId === opts.expectUrl && entry.mediaSessionId !== undefined) {
        this.owned.add(dmr.sessionId);
        this.ours = { mediaSessionId: entry.mediaSessionId, contentId: entry.contentId, ended: false };
        this.resetStall();
        this.log.info({ sessionId: dmr.sessionId }, 'joined our cast session, still playing');
        return { joined: true };
      }
      // Our session, or a DMR session with nothing playing: reuse it, the caller LOADs.
      if (ownedHere || !active) {
        this.owned.add(dmr.sessionId);
        return { joined: false };
      }
      // Someone else's media in the DMR: a person's cast, treated like another app.
      this.session = undefined;
      if (!opts.takeover) throw deviceBusyError({ appId: dmr.appId, displayName: dmr.displayName }, this.source);
    } else {
      const other = this.otherApp();
      if (other && !opts.takeover) throw deviceBusyError(other, this.source);
    }
    return this.launchDmr();
  }

  async load(media: CastLoad): Promise<void> {
    const s = this.session;
    if (!s || s.ended) throw castError('CAST_REQUEST_FAILED', `no Default Media Receiver session on ${this.source} to LOAD into`, this.source);
    // Statuses of the media being replaced are not drift.
    this.ours = undefined;
    const requestId = this.nextRequestId++;
    const reply = await this.requestWithId(requestId, s.transportId, NS.media, liveLoadRequest(media, requestId, s.sessionId), 'LOAD');
    const entry = this.mediaEntry;
    const fromReply = Array.isArray(reply.status) ? reply.status.find(isRecord) : undefined;
    const mediaSessionId = typeof fromReply?.mediaSessionId === 'number' ? fromReply.mediaSessionId : entry?.mediaSessionId;
    if (mediaSessionId === undefined) throw castError('CAST_REQUEST_FAILED', `LOAD reply from ${this.source} has no mediaSessionId`, this.source, { replyType: String(reply.type) });
    this.ours = { mediaSessionId, contentId: media.url, ended: false };
    this.resetStall();
  }

  private async launchDmr(): Promise<{ joined: boolean }> {
    const before = new Set(this.recv.applications.map((a) => a.sessionId));
    const launched = () => this.recv.applications.find((a) => a.appId === DEFAULT_MEDIA_RECEIVER && a.sessionId && a.transportId && !before.has(a.sessionId));
    // Devices answer a LAUNCH with an echoed RECEIVER_STATUS, a requestId-0 broadcast, or both
    // (CAST.md §2.3): whichever shows our app first settles it.
    const viaBroadcast = this.waitForReceiver(launched, this.t.requestTimeoutMs);
    const viaReply = this.request(RECEIVER, NS.receiver, { type: 'LAUNCH', appId: DEFAULT_MEDIA_RECEIVER }, 'LAUNCH');
    viaBroadcast.catch(() => undefined);
    await Promise.race([viaReply.then(() => undefined), viaBroadcast]);
    const app = launched() ?? this.recv.applications.find((a) => a.appId === DEFAULT_MEDIA_RECEIVER && a.sessionId && a.transportId);
    if (!app?.sessionId || !app.transportId) throw castError('CAST_REQUEST_FAILED', `LAUNCH on ${this.source} did not start the Default Media Receiver`, this.source, { replyType: 'LAUNCH' });
    viaReply.catch(() => undefined);
    this.owned.add(app.sessionId);
    this.adoptSession(app.sessionId, app.transportId);
    return { joined: false };
  }

  private adoptSession(sessionId: string, transportId: string): void {
    this.session = { sessionId, transportId, ended: false };
    this.mediaEntry = undefined;
    this.ours = undefined;
    this.send(transportId, NS.connection, { type: 'CONNECT' });
  }

  private async getReceiverStatus(): Promise<void> {
    await this.request(RECEIVER, NS.receiver, { type: 'GET_STATUS' }, 'receiver GET_STATUS');
  }

  private async getMediaStatus(): Promise<MediaEntry | undefined> {
    const s = this.session;
    if (!s) return undefined;
    const reply = await this.request(s.transportId, NS.media, { type: 'GET_STATUS' }, 'media GET_STATUS');
    return Array.isArray(reply.status) && reply.status.some(isRecord) ? this.mediaEntry : undefined;
  }

  // ── requests ────────────────────────────────────────────────────────────────────────────

  private request(dest: string, ns: string, body: Json, what: string): Promise<Json> {
    return this.requestWithId(this.nextRequestId++, dest, ns, body, what);
  }

  private requestWithId(requestId: number, dest: string, ns: string, body: Json, what: string): Promise<Json> {
    if (this.closed) return Promise.reject(castError('ABORTED', `${what}: connection to ${this.source} is closed`, this.source));
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(castError('CAST_TIMEOUT', `${what} to ${this.source}: no reply within ${this.t.requestTimeoutMs} ms`, this.source, { timedOut: true }));
      }, this.t.requestTimeoutMs);
      this.pending.set(requestId, { resolve, reject, timer, what });
      try {
        this.send(dest, ns, { ...body, requestId });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(castError('CAST_REQUEST_FAILED', `${what} to ${this.source} could not be sent: ${(err as Error).message}`, this.source, { cause: err }));
      }
    });
  }

  private send(dest: string, ns: string, body: Json): void {
    const c = this.client;
    const socket = c?.socket;
    if (!c || !socket || socket.destroyed) throw new Error('socket closed');
    const json = JSON.stringify(body);
    // Checked before writing, so the buffer never holds more than the cap.
    const frame = FRAME_OVERHEAD_BYTES + Buffer.byteLength(SENDER) + Buffer.byteLength(dest) + Buffer.byteLength(ns) + Buffer.byteLength(json);
    if (socket.writableLength + frame > this.limits.maxOutboundBytes) {
      this.lostReason ??= `${this.source} is not reading what we send: more than ${this.limits.maxOutboundBytes} bytes were waiting; closing the connection`;
      this.log.warn({ source: this.source, waiting: socket.writableLength, cap: this.limits.maxOutboundBytes }, 'cast device not reading; closing the connection');
      socket.destroy();
      throw new Error('socket closed: outgoing buffer full');
    }
    c.send(SENDER, dest, ns, json);
    if (socket.writableLength > this.outboundPeak) this.outboundPeak = socket.writableLength;
  }

  /** A warning about what the device sent, rate-limited per kind so a flood cannot flood the log. */
  private warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    this.warnings.offer(kind, { fields: { source: this.source, ...fields }, msg });
  }

  private trySend(dest: string, ns: string, body: Json): void {
    try {
      this.send(dest, ns, body);
    } catch {
      // best effort on a dying socket
    }
  }

  private failPending(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }

  private waitForReceiver<T>(pred: () => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const v = pred();
        if (v === undefined) return;
        done();
        resolve(v);
      };
      const done = () => {
        clearTimeout(timer);
        this.receiverWaiters.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(castError('CAST_TIMEOUT', `no matching receiver status from ${this.source} within ${timeoutMs} ms`, this.source, { timedOut: true }));
      }, timeoutMs);
      this.receiverWaiters.add(check);
      check();
    });
  }

  // ── inbound ─────────────────────────────────────────────────────────────────────────────

  private onFrame(src: string, dst: string, ns: string, data: Payload): void {
    // Frames already read when we dropped the link (a full outgoing buffer) are not handled.
    if (this.closed || this.client?.socket?.destroyed) return;
    this.lastInbound = Date.now();
    if (typeof data !== 'string') return; // BINARY is deviceauth; we never ask for it
    const msg = parseCastJson(data);
    if (!msg) {
      this.warn('malformed JSON', { namespace: ns, from: src, bytes: data.length }, 'ignored malformed JSON frame from cast device');
      return;
    }
    try {
      this.onMessage(src, dst, ns, msg);
    } catch (err) {
      // A message of an unexpected shape must not take the controller down.
      this.warn('unhandled message', { namespace: ns, from: src, type: msg.type, err: (err as Error).message }, 'could not handle cast message');
    }
  }

  private onMessage(src: string, dst: string, ns: string, msg: Json): void {
    if (ns === NS.heartbeat) {
      if (msg.type === 'PING') this.trySend(src, NS.heartbeat, { type: 'PONG' });
      return;
    }
    if (ns === NS.connection) {
      if (msg.type === 'CLOSE' && this.session && src === this.session.transportId) this.onAppClosed();
      return;
    }
    // Status first, so a request settled by this reply sees the updated state.
    if (msg.type === 'RECEIVER_STATUS') this.onReceiverStatus(msg.status);
    if (msg.type === 'MEDIA_STATUS' && this.session && src === this.session.transportId) this.onMediaStatus(msg.status);
    const requestId = typeof msg.requestId === 'number' ? msg.requestId : 0;
    const p = requestId > 0 ? this.pending.get(requestId) : undefined;
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(requestId);
      if (ERROR_REPLY_TYPES.has(String(msg.type))) {
        const reason = typeof msg.reason === 'string' ? msg.reason : undefined;
        const detailedErrorCode = typeof msg.detailedErrorCode === 'number' ? msg.detailedErrorCode : undefined;
        p.reject(castError('CAST_REQUEST_FAILED', `${p.what} refused by ${this.source}: ${String(msg.type)}${reason ? ` ${reason}` : ''}${detailedErrorCode !== undefined ? ` (detailedErrorCode ${detailedErrorCode})` : ''}`, this.source, { replyType: String(msg.type), reason, detailedErrorCode }));
      } else p.resolve(msg);
      return;
    }
    if (msg.type === 'LOAD_FAILED' && ns === NS.media && this.ours && !this.ours.ended) {
      // An unsolicited LOAD_FAILED: the player gave up before the first frame.
      this.ours.ended = true;
      this.emit({ type: 'LOAD_FAILED', detailedErrorCode: typeof msg.detailedErrorCode === 'number' ? msg.detailedErrorCode : undefined, message: typeof msg.reason === 'string' ? msg.reason : undefined });
    }
  }

  private onReceiverStatus(status: unknown): void {
    this.recv = mergeReceiverStatus(this.recv, status);
    const standby = this.recv.isStandBy || !this.recv.isActiveInput;
    if (standby !== this.standby) {
      this.standby = standby;
      this.emit({ type: 'STANDBY', standby });
    }
    const s = this.session;
    if (s && !s.ended) {
      const apps = this.recv.applications;
      const mine = apps.find((a) => a.sessionId === s.sessionId);
      if (!mine) {
        this.endSession();
        const other = apps.find((a) => !a.isIdleScreen);
        if (other) this.emit({ type: 'OTHER_APP', appId: other.appId, displayName: other.displayName });
        else if (apps.some((a) => a.isIdleScreen)) this.emit({ type: 'IDLE_SCREEN' });
        else this.emit({ type: 'APP_GONE' });
      } else if (mine.isIdleScreen) {
        // Our session is listed but the ambient screen covers it (a paused DMR, CAST.md §10).
        this.endSession();
        this.emit({ type: 'IDLE_SCREEN' });
      }
    }
    for (const w of [...this.receiverWaiters]) w();
  }

  private onAppClosed(): void {
    // CLOSE alone does not say why; the receiver status does (gone, other app, ambient).
    this.getReceiverStatus().catch(() => {
      if (this.session && !this.session.ended) {
        this.endSession();
        this.emit({ type: 'APP_GONE' });
      }
    });
  }

  private endSession(): void {
    if (!this.session) return;
    this.session.ended = true;
    this.owned.delete(this.session.sessionId);
  }

  private onMediaStatus(status: unknown): void {
    if (!Array.isArray(status)) return;
    const entries = status.filter(isRecord);
    const ours = this.ours;
    if (entries.length === 0) {
      // No media session at all any more: ours ended without saying why.
      if (ours && !ours.ended && this.mediaEntry?.playerState !== 'IDLE') {
        ours.ended = true;
        this.mediaEntry = { ...this.mediaEntry, playerState: 'IDLE' };
        this.emit({ type: 'IDLE', idleReason: 'UNKNOWN' });
      }
      return;
    }
    for (const e of entries) {
      this.mediaEntry = mergeMediaEntry(this.mediaEntry, e);
      const m = this.mediaEntry;
      if (!ours || ours.ended) continue;
      if (m.mediaSessionId !== ours.mediaSessionId) {
        // Another sender's LOAD replaced ours without telling us INTERRUPTED first.
        ours.ended = true;
        this.emit({ type: 'IDLE', idleReason: 'INTERRUPTED' });
        continue;
      }
      if (m.playerState === 'IDLE') {
        ours.ended = true;
        const reason = m.idleReason === 'CANCELLED' || m.idleReason === 'INTERRUPTED' || m.idleReason === 'FINISHED' || m.idleReason === 'ERROR' ? m.idleReason : 'UNKNOWN';
        this.emit(m.detailedErrorCode !== undefined ? { type: 'IDLE', idleReason: reason, detailedErrorCode: m.detailedErrorCode } : { type: 'IDLE', idleReason: reason });
      }
    }
  }

  // ── liveness ────────────────────────────────────────────────────────────────────────────

  private startHeartbeat(): void {
    this.timers.push(
      setInterval(() => this.trySend(RECEIVER, NS.heartbeat, { type: 'PING' }), this.t.heartbeatMs),
      // Checked more often than it pings, so silence is caught close to deadAfterMs.
      setInterval(() => {
        const silent = Date.now() - this.lastInbound;
        if (silent > this.t.deadAfterMs) {
          this.lostReason = `no frame from ${this.source} for ${silent} ms`;
          this.client?.socket?.destroy();
        }
      }, Math.max(10, Math.min(this.t.heartbeatMs, Math.floor(this.t.deadAfterMs / 4)))),
      setInterval(() => this.pollMedia(), this.t.statusPollMs),
    );
    for (const t of this.timers) t.unref();
  }

  private pollMedia(): void {
    const ours = this.ours;
    if (!ours || ours.ended || this.mediaEntry?.playerState !== 'PLAYING') return this.resetStall();
    this.getMediaStatus()
      .then(() => {
        const m = this.mediaEntry;
        if (!this.ours || this.ours.ended || m?.playerState !== 'PLAYING') return;
        const t = m.currentTime ?? 0;
        if (t > this.stall.lastTime) {
          this.stall = { lastTime: t, flatPolls: 0, reported: false };
          return;
        }
        this.stall.flatPolls++;
        if (this.stall.flatPolls >= this.t.stallPolls && !this.stall.reported) {
          this.stall.reported = true;
          this.emit({ type: 'STALLED', message: `PLAYING but currentTime stuck at ${t}s over ${this.stall.flatPolls} status polls` });
        }
      })
      .catch((err: Error) => this.log.debug({ err: err.message }, 'media status poll failed'));
  }

  private resetStall(): void {
    this.stall = { lastTime: -1, flatPolls: 0, reported: false };
  }

  private onSocketClosed(): void {
    const byUs = this.closed;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // Held-back drift is about a link that is gone: the next connection reads the state afresh.
    this.drifts.close();
    this.warnings.close();
    this.failPending(castError('CAST_REQUEST_FAILED', `connection to ${this.source} lost`, this.source));
    // Once per connection, so never rate-limited.
    if (!byUs) this.deliver({ type: 'CONNECTION_LOST', message: this.lostReason ?? `${this.source} closed the connection` });
  }

  private emit(d: CastDrift): void {
    if (this.stopping) return;
    this.drifts.offer(d.type, d);
  }

  private deliver(d: CastDrift): void {
    if (this.stopping) return;
    this.log.info({ source: this.source, drift: d }, 'cast drift');
    for (const l of [...this.driftListeners]) {
      try {
        l(d);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'drift listener threw');
      }
    }
  }
}
