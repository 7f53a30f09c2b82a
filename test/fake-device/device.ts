// A fake Cast device: the castv2 protocol side of a Chromecast running the Default Media
// Receiver, on loopback TLS, routed as CAST.md §8 describes. Playback itself is the strict HLS
// player's job (player-types.ts); tests may inject a stub player.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Server, type Payload } from 'castv2';
import type { TLSSocket } from 'node:tls';
import { castv2Ready, guardFrameSize } from '../../machines/cast/castv2-ready.js';
import { BACKDROP_APP, DEFAULT_MEDIA_RECEIVER, NS, isRecord, parseCastJson, type Json } from '../../machines/cast/messages.js';
import type { Player, PlayerLoad, PlayerStatus, StartPlayer } from './player-types.js';
import { MdnsResponder } from './mdns-responder.js';
import { startPlayer as strictPlayer } from './hls-player.js';
import type { SampleError, SampleFramesOptions, SampledFrame } from './frame-sampler.js';

export interface ReceivedMessage {
  at: number;
  clientId: string;
  sourceId: string;
  destinationId: string;
  namespace: string;
  /** Parsed JSON, or the raw string when it did not parse, or a Buffer for BINARY. */
  data: Json | string | Buffer;
}

/** A frame the device's player decoded (frame-sampler.ts), with the media session it belongs to. */
export type DeviceFrame = SampledFrame & { mediaSessionId: number };
export type DeviceSampleError = SampleError & { mediaSessionId: number };

export interface FakeCastDeviceOptions {
  name: string;
  /** 32 hex digits; random when absent. */
  id?: string;
  model?: string;
  /** 0 = any free port. */
  port?: number;
  host?: string;
  /** Highest H.264 level it plays, times ten. */
  maxLevel?: number;
  startPlayer?: StartPlayer;
  /** Answer mDNS on loopback (broadcast on 127.255.255.255:port), for discovery tests. */
  mdns?: { port: number; bindAddress?: string };
  log?: (line: string) => void;
  /** Reuse a key pair (tests making many devices); generated with openssl when absent. */
  tls?: { key: Buffer; cert: Buffer };
  /** Record what the screen shows: every decoded frame as a small grid of colours (see frames()). Costs a decode per segment. */
  sampleFrames?: SampleFramesOptions;
}

interface App {
  appId: string;
  displayName: string;
  sessionId: string;
  transportId: string;
  isIdleScreen: boolean;
  namespaces: string[];
  statusText: string;
}

interface MediaSession {
  mediaSessionId: number;
  media: Json;
  playerState: 'IDLE' | 'BUFFERING' | 'PLAYING' | 'PAUSED';
  idleReason?: string;
  detailedErrorCode?: number;
  /** Seconds, for media with no player (another sender's load). */
  currentTime: number;
  player?: Player;
  requester: { clientId: string; senderId: string; requestId: number; transportId: string };
}

const OTHER_APPS: Record<string, string> = { '233637DE': 'YouTube', CA5E8412: 'Netflix' };
const DMR_NAMESPACES = ['urn:x-cast:com.google.cast.cac', 'urn:x-cast:com.google.cast.debugoverlay', NS.media];
const execFileP = promisify(execFile);

/** A self-signed certificate made at runtime, like a device's own. */
export async function selfSignedCert(): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-cast-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=fake-cast']);
    return { key: await readFile(key), cert: await readFile(cert) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export class FakeCastDevice {
  readonly name: string;
  readonly id: string;
  readonly model: string;
  readonly host: string;
  readonly received: ReceivedMessage[] = [];
  /** When each TLS connection was accepted (Date.now()), in order. */
  readonly acceptedAt: number[] = [];
  private readonly opts: FakeCastDeviceOptions;
  private requestedPort: number;
  private actualPort = 0;
  private server?: Server;
  private tlsCreds?: { key: Buffer; cert: Buffer };
  private sockets = new Map<string, TLSSocket>();
  /** `clientId|senderId|endpointId` for every open virtual connection. */
  private vconns = new Set<string>();
  private app?: App;
  private media?: MediaSession;
  private nextMediaSessionId = 1;
  private standbyOn = false;
  private frozen = false;
  private failLoadCode?: number;
  private changeListeners = new Set<() => void>();
  private mdns?: MdnsResponder;
  private readonly startPlayerFn: StartPlayer;
  private stopped = false;
  private readonly sampled: DeviceFrame[] = [];
  private readonly sampleErrors: DeviceSampleError[] = [];
  /** Players stopped but maybe with a decoder still exiting: stop() waits for them. */
  private readonly closing = new Set<Promise<void>>();
  private announced: { port?: number; address?: string } = {};

  constructor(opts: FakeCastDeviceOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.id = opts.id ?? randomBytes(16).toString('hex');
    this.model = opts.model ?? 'Chromecast';
    this.host = opts.host ?? '127.0.0.1';
    this.requestedPort = opts.port ?? 0;
    // The strict HLS player unless a protocol-only test injects a stub.
    this.startPlayerFn = opts.startPlayer ?? strictPlayer;
  }

  get port(): number {
    return this.actualPort;
  }

  /** The UDP port its mDNS responder listens on (useful when started with mdns.port 0). */
  get mdnsPort(): number | undefined {
    return this.mdns?.port;
  }

  async start(): Promise<void> {
    await castv2Ready();
    this.tlsCreds ??= this.opts.tls ?? (await selfSignedCert());
    await this.listen(this.requestedPort);
    this.requestedPort = this.actualPort; // a reboot comes back on the same port
    if (this.opts.mdns) {
      this.mdns = new MdnsResponder({ port: this.opts.mdns.port, bindAddress: this.opts.mdns.bindAddress, service: this.mdnsRecord() });
      await this.mdns.start();
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopPlayer(this.media);
    this.media = undefined;
    await this.closeServer();
    await this.mdns?.stop();
    // No decoder of ours outlives the device.
    await Promise.allSettled([...this.closing]);
  }

  // ── records ───────────────────────────────────────────────────────────────────────────────

  /** The `data` of every LOAD received, in order. */
  loads(): Json[] {
    return this.messages('LOAD').map((m) => m.data as Json);
  }

  /**
   * Every frame the players decoded, in playback order, across media sessions (with
   * `sampleFrames` on; empty otherwise). A copy: later frames do not appear in it.
   */
  frames(): DeviceFrame[] {
    return [...this.sampled];
  }

  /** Segments the frame sampler could not decode: their frames are missing from frames(). */
  frameErrors(): DeviceSampleError[] {
    return [...this.sampleErrors];
  }

  messages(type: string, namespace?: string): ReceivedMessage[] {
    return this.received.filter((m) => isRecord(m.data) && m.data.type === type && (namespace === undefined || m.namespace === namespace));
  }

  count(type: string, namespace?: string): number {
    return this.messages(type, namespace).length;
  }

  /** Resolves once `pred()` is truthy, re-checked on every change and every 25 ms (player time). */
  waitFor<T>(pred: () => T | undefined | false | null, timeoutMs = 5_000, what = 'condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        let v: T | undefined | false | null;
        try {
          v = pred();
        } catch (err) {
          finish();
          reject(err as Error);
          return;
        }
        if (v) {
          finish();
          resolve(v);
        }
      };
      const finish = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.changeListeners.delete(check);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`fake device ${this.name}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const poll = setInterval(check, 25);
      this.changeListeners.add(check);
      check();
    });
  }

  status(): {
    app?: { appId: string; sessionId: string; isIdleScreen: boolean };
    media?: { mediaSessionId: number; playerState: string; idleReason?: string; currentTime: number; contentId?: string };
    player?: PlayerStatus;
    standby: boolean;
    connections: number;
  } {
    const m = this.media;
    return {
      app: this.app && { appId: this.app.appId, sessionId: this.app.sessionId, isIdleScreen: this.app.isIdleScreen },
      media: m && { mediaSessionId: m.mediaSessionId, playerState: m.playerState, idleReason: m.idleReason, currentTime: this.currentTime(m), contentId: contentIdOf(m.media) },
      player: m?.player?.status(),
      standby: this.standbyOn,
      connections: this.sockets.size,
    };
  }

  /** Moves the mDNS answer to another port/address ("the device got a new address"). */
  announce(change: { port?: number; address?: string }): void {
    this.announced = { ...this.announced, ...change };
    this.mdns?.update(this.mdnsRecord());
  }

  // ── test hooks: a person or a network ─────────────────────────────────────────────────────

  /** Stop from the TV remote / Home app: IDLE/CANCELLED, CLOSE from the app, no app left. */
  async remoteStop(): Promise<void> {
    const app = this.app;
    if (this.media && app) this.endMedia('CANCELLED');
    if (app) this.closeApp(app);
    this.app = undefined;
    this.broadcastReceiverStatus();
  }

  /** Another app (YouTube by default) takes the device. */
  async takeover(appId = '233637DE'): Promise<void> {
    this.stopMedia();
    if (this.app) this.closeApp(this.app);
    this.app = this.newApp(appId, OTHER_APPS[appId] ?? `App ${appId}`, false);
    this.broadcastReceiverStatus();
  }

  /** Another sender LOADs other media into the same DMR session. */
  async otherSenderLoad(url: string): Promise<void> {
    const app = this.app;
    if (!app || app.appId !== DEFAULT_MEDIA_RECEIVER) throw new Error('fake device: otherSenderLoad needs the DMR running');
    if (this.media) this.endMedia('INTERRUPTED');
    this.media = {
      mediaSessionId: this.nextMediaSessionId++,
      media: { contentId: url, contentType: 'video/mp4', streamType: 'BUFFERED', metadata: { metadataType: 0, title: 'Someone else' } },
      playerState: 'PLAYING',
      currentTime: 0,
      requester: { clientId: 'other-sender', senderId: 'sender-other', requestId: 1, transportId: app.transportId },
    };
    this.broadcastMediaStatus();
  }

  /** Playback fails now: IDLE/ERROR carrying `code`. */
  async playbackError(code = 315): Promise<void> {
    if (!this.media) return;
    this.stopPlayer(this.media);
    this.endMedia('ERROR', code);
  }

  async finish(): Promise<void> {
    if (!this.media) return;
    this.stopPlayer(this.media);
    this.endMedia('FINISHED');
  }

  /** The ambient screen covers everything: the DMR goes, the Backdrop shows with isIdleScreen. */
  async idleScreen(): Promise<void> {
    this.stopMedia();
    if (this.app) this.closeApp(this.app);
    this.app = this.newApp(BACKDROP_APP, 'Backdrop', true);
    this.broadcastReceiverStatus();
  }

  async standby(on: boolean): Promise<void> {
    this.standbyOn = on;
    this.broadcastReceiverStatus();
  }

  /** The network drops every connection at once. */
  async dropConnections(): Promise<void> {
    for (const s of this.sockets.values()) s.destroy();
  }

  /** Silent but connected: answers nothing, sends nothing. */
  async freeze(on: boolean): Promise<void> {
    this.frozen = on;
  }

  async failNextLoad(code = 104): Promise<void> {
    this.failLoadCode = code;
  }

  /** Power cycle: connections close, refused for `downMs`, back on the same port with empty state. */
  async reboot(opts: { downMs?: number } = {}): Promise<void> {
    await this.powerOff();
    await new Promise((r) => setTimeout(r, opts.downMs ?? 500));
    await this.powerOn();
  }

  /** Unplugged: connections close and are refused until powerOn(); its state is lost. */
  async powerOff(): Promise<void> {
    this.stopMedia();
    this.app = undefined;
    this.standbyOn = false;
    this.frozen = false;
    this.failLoadCode = undefined;
    await this.closeServer();
  }

  /** Plugged in again: back on the same port, with nothing running. */
  async powerOn(): Promise<void> {
    if (this.stopped || this.server) return;
    await this.listen(this.requestedPort);
  }

  /** PING every sender connected to receiver-0; their PONGs land in `received`. */
  async pingSenders(): Promise<void> {
    for (const key of this.vconns) {
      const [clientId, senderId, endpoint] = key.split('|') as [string, string, string];
      if (endpoint === 'receiver-0') this.send(clientId, 'receiver-0', senderId, NS.heartbeat, { type: 'PING' });
    }
  }

  /** Sends `payload` verbatim (e.g. broken JSON) from receiver-0 to every connected sender. */
  async sendRaw(namespace: string, payload: string): Promise<void> {
    for (const key of this.vconns) {
      const [clientId, senderId, endpoint] = key.split('|') as [string, string, string];
      if (endpoint !== 'receiver-0' || !this.server?.clients[clientId]) continue;
      try {
        this.server.send(clientId, 'receiver-0', senderId, namespace, payload);
      } catch {
        // client gone
      }
    }
  }

  // ── server ──────────────────────────────────────────────────────────────────────────────────

  private listen(port: number): Promise<void> {
    const server = new Server({ key: this.tlsCreds!.key, cert: this.tlsCreds!.cert });
    this.server = server;
    server.on('message', (clientId, src, dst, ns, data) => this.onMessage(clientId, src, dst, ns, data));
    server.on('error', (err) => this.log(`server error: ${err.message}`));
    return new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, this.host, () => {
        server.server.removeListener('error', reject);
        const addr = server.server.address();
        this.actualPort = typeof addr === 'object' && addr ? addr.port : port;
        resolve();
      });
      // The castv2 Server emits no connect/disconnect events (CAST.md §7.2).
      server.server.on('secureConnection', (socket: TLSSocket) => {
        const clientId = `${socket.remoteAddress}:${socket.remotePort}`;
        this.acceptedAt.push(Date.now());
        guardFrameSize(socket, (n) => this.log(`${clientId}: oversized frame (${n} bytes); closing`));
        socket.on('error', (err) => this.log(`${clientId}: socket error ${err.message}`));
        this.sockets.set(clientId, socket);
        this.changed();
        socket.once('close', () => {
          this.sockets.delete(clientId);
          for (const k of [...this.vconns]) if (k.startsWith(`${clientId}|`)) this.vconns.delete(k);
          this.changed();
        });
      });
    });
  }

  private closeServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise<void>((resolve) => {
      server.server.once('close', () => resolve());
      for (const s of this.sockets.values()) s.destroy();
      server.close();
      this.vconns.clear();
    });
  }

  private send(clientId: string, src: string, dst: string, ns: string, body: Json): void {
    if (this.frozen) return;
    const server = this.server;
    // The client may have vanished between the decision and the send (CAST.md §7.3).
    if (!server?.clients[clientId]) return;
    try {
      server.send(clientId, src, dst, ns, JSON.stringify(body));
    } catch (err) {
      this.log(`send to ${clientId} failed: ${(err as Error).message}`);
    }
  }

  private reply(clientId: string, msg: { src: string; dst: string; ns: string }, body: Json): void {
    this.send(clientId, msg.dst, msg.src, msg.ns, body);
  }

  /** From `endpoint` to `*`, requestId 0, to every client with a virtual connection to it. */
  private broadcast(endpoint: string, ns: string, body: Json): void {
    const sent = new Set<string>();
    for (const key of this.vconns) {
      const [clientId, , ep] = key.split('|') as [string, string, string];
      if (ep !== endpoint || sent.has(clientId)) continue;
      sent.add(clientId);
      this.send(clientId, endpoint, '*', ns, { ...body, requestId: 0 });
    }
  }

  private onMessage(clientId: string, src: string, dst: string, ns: string, data: Payload): void {
    const parsed = typeof data === 'string' ? (parseCastJson(data) ?? data) : data;
    this.received.push({ at: Date.now(), clientId, sourceId: src, destinationId: dst, namespace: ns, data: parsed });
    this.opts.log?.(`${clientId} ${src} → ${dst} ${ns.replace('urn:x-cast:com.google.cast.', '')} ${typeof data === 'string' ? data : `<binary ${data.length} bytes>`}`);
    try {
      if (this.frozen) return;
      // BINARY is deviceauth; open-source senders never ask, and we cannot answer genuinely.
      if (typeof parsed !== 'object' || Buffer.isBuffer(parsed)) {
        if (typeof parsed === 'string') this.log(`${clientId}: malformed JSON on ${ns} ignored`);
        return;
      }
      this.route(clientId, { src, dst, ns }, parsed);
    } finally {
      this.changed();
    }
  }

  private route(clientId: string, m: { src: string; dst: string; ns: string }, msg: Json): void {
    const requestId = typeof msg.requestId === 'number' ? msg.requestId : 0;
    if (m.ns === NS.connection) {
      const key = `${clientId}|${m.src}|${m.dst}`;
      if (msg.type === 'CONNECT') {
        this.vconns.add(key);
        if (msg.protocolVersion !== undefined || msg.protocolVersionList !== undefined) this.reply(clientId, m, { type: 'CONNECTED', protocolVersion: 1 });
      } else if (msg.type === 'CLOSE') this.vconns.delete(key);
      return;
    }
    if (m.ns === NS.heartbeat) {
      if (msg.type === 'PING') this.reply(clientId, m, { type: 'PONG' });
      return;
    }
    if (m.dst === 'receiver-0' && m.ns === NS.receiver) return this.onReceiver(clientId, m, msg, requestId);
    if (this.app && m.dst === this.app.transportId && m.ns === NS.media && this.app.appId === DEFAULT_MEDIA_RECEIVER) return this.onMedia(clientId, m, msg, requestId);
    if (requestId > 0) this.reply(clientId, m, { type: 'INVALID_REQUEST', requestId, reason: 'INVALID_COMMAND' });
  }

  private onReceiver(clientId: string, m: { src: string; dst: string; ns: string }, msg: Json, requestId: number): void {
    switch (msg.type) {
      case 'GET_STATUS':
        return this.reply(clientId, m, this.receiverStatus(requestId));
      case 'LAUNCH': {
        const appId = msg.appId;
        if (appId !== DEFAULT_MEDIA_RECEIVER && !(typeof appId === 'string' && appId in OTHER_APPS)) {
          return this.reply(clientId, m, { type: 'LAUNCH_ERROR', requestId, reason: 'NOT_FOUND' });
        }
        this.stopMedia();
        if (this.app) this.closeApp(this.app);
        this.app = appId === DEFAULT_MEDIA_RECEIVER ? this.newApp(appId, 'Default Media Receiver', false) : this.newApp(appId, OTHER_APPS[appId]!, false);
        // Both the echoed reply and the broadcast, as senders expect either (CAST.md §2.3).
        this.reply(clientId, m, this.receiverStatus(requestId));
        this.broadcastReceiverStatus();
        return;
      }
      case 'STOP': {
        if (msg.sessionId !== undefined && msg.sessionId !== this.app?.sessionId) {
          return this.reply(clientId, m, { type: 'INVALID_REQUEST', requestId, reason: 'INVALID_SESSION_ID' });
        }
        if (this.media) this.endMedia('CANCELLED');
        if (this.app) this.closeApp(this.app);
        this.app = undefined;
        this.reply(clientId, m, this.receiverStatus(requestId));
        this.broadcastReceiverStatus();
        return;
      }
      default:
        return this.reply(clientId, m, { type: 'INVALID_REQUEST', requestId, reason: 'INVALID_COMMAND' });
    }
  }

  private onMedia(clientId: string, m: { src: string; dst: string; ns: string }, msg: Json, requestId: number): void {
    const media = this.media;
    const sessionMatches = media !== undefined && msg.mediaSessionId === media.mediaSessionId;
    switch (msg.type) {
      case 'LOAD':
        return this.onLoad(clientId, m, msg, requestId);
      case 'GET_STATUS':
        return this.reply(clientId, m, { type: 'MEDIA_STATUS', requestId, status: media ? [this.mediaEntry(media, true)] : [] });
      case 'PLAY':
      case 'PAUSE':
      case 'STOP': {
        if (!media || !sessionMatches) return this.reply(clientId, m, { type: 'INVALID_REQUEST', requestId, reason: 'INVALID_MEDIA_SESSION_ID' });
        if (msg.type === 'STOP') {
          this.stopPlayer(media);
          media.playerState = 'IDLE';
          media.idleReason = 'CANCELLED';
        } else if (media.playerState !== 'IDLE') media.playerState = msg.type === 'PAUSE' ? 'PAUSED' : 'PLAYING';
        this.reply(clientId, m, { type: 'MEDIA_STATUS', requestId, status: [this.mediaEntry(media, false)] });
        this.broadcastMediaStatus();
        if (msg.type === 'STOP') this.media = undefined;
        return;
      }
      default:
        return this.reply(clientId, m, { type: 'INVALID_REQUEST', requestId, reason: 'INVALID_COMMAND' });
    }
  }

  private onLoad(clientId: string, m: { src: string; dst: string; ns: string }, msg: Json, requestId: number): void {
    const media = isRecord(msg.media) ? msg.media : undefined;
    const url = media ? (typeof media.contentUrl === 'string' ? media.contentUrl : typeof media.contentId === 'string' ? media.contentId : undefined) : undefined;
    if (!media || !url) return this.reply(clientId, m, { type: 'INVALID_REQUEST', requestId, reason: 'INVALID_PARAMS' });
    if (this.failLoadCode !== undefined) {
      const code = this.failLoadCode;
      this.failLoadCode = undefined;
      return this.reply(clientId, m, { type: 'LOAD_FAILED', requestId, detailedErrorCode: code });
    }
    if (this.media) this.endMedia('INTERRUPTED');
    const session: MediaSession = {
      mediaSessionId: this.nextMediaSessionId++,
      media,
      playerState: 'BUFFERING',
      currentTime: 0,
      requester: { clientId, senderId: m.src, requestId, transportId: m.dst },
    };
    this.media = session;
    this.reply(clientId, m, { type: 'MEDIA_STATUS', requestId, status: [this.mediaEntry(session, true)] });
    const load: PlayerLoad = {
      url,
      contentType: str(media.contentType),
      streamType: str(media.streamType),
      hlsSegmentFormat: str(media.hlsSegmentFormat),
      hlsVideoSegmentFormat: str(media.hlsVideoSegmentFormat),
    };
    // Started after the reply so the sender sees BUFFERING before any PLAYING broadcast.
    const sample = this.opts.sampleFrames;
    session.player = this.startPlayerFn(
      load,
      {
        maxLevel: this.opts.maxLevel ?? 41,
        origin: 'https://www.gstatic.com',
        log: (l) => this.log(`player: ${l}`),
        ...(sample ? { sampleFrames: { ...sample, onFrames: (f) => this.onFrames(session, f), onError: (e) => this.sampleErrors.push({ ...e, mediaSessionId: session.mediaSessionId }) } } : {}),
      },
      (s) => this.onPlayerStatus(session, s),
    );
  }

  private onFrames(session: MediaSession, frames: SampledFrame[]): void {
    for (const f of frames) this.sampled.push({ ...f, mediaSessionId: session.mediaSessionId });
    this.changed();
  }

  private onPlayerStatus(session: MediaSession, s: PlayerStatus): void {
    if (this.media !== session) return; // a replaced or stopped session says nothing
    const state = s.playerState;
    const idleReason = state === 'IDLE' ? (s.idleReason ?? 'ERROR') : undefined;
    if (state === session.playerState && idleReason === session.idleReason) return this.changed();
    if (state === 'IDLE' && idleReason === 'ERROR' && s.beforeFirstFrame) {
      const r = session.requester;
      this.send(r.clientId, r.transportId, r.senderId, NS.media, { type: 'LOAD_FAILED', requestId: r.requestId, detailedErrorCode: s.detailedErrorCode, ...(s.message ? { reason: s.message } : {}) });
    }
    if (state === 'IDLE') {
      this.stopPlayer(session); // it ended itself; this keeps its closing decoders in view
      this.endMedia(idleReason!, s.detailedErrorCode);
      return;
    }
    session.playerState = state;
    this.broadcastMediaStatus();
    this.changed();
  }

  // ── state helpers ───────────────────────────────────────────────────────────────────────────

  private newApp(appId: string, displayName: string, isIdleScreen: boolean): App {
    const sessionId = randomUUID();
    return {
      appId,
      displayName,
      sessionId,
      // Current firmware uses the sessionId as transportId (CAST.md §1.3).
      transportId: sessionId,
      isIdleScreen,
      namespaces: appId === DEFAULT_MEDIA_RECEIVER ? DMR_NAMESPACES : [],
      statusText: isIdleScreen ? '' : displayName,
    };
  }

  /** CLOSE from the app's transport to every sender connected to it; forget those connections. */
  private closeApp(app: App): void {
    for (const key of [...this.vconns]) {
      const [clientId, senderId, ep] = key.split('|') as [string, string, string];
      if (ep !== app.transportId) continue;
      this.send(clientId, app.transportId, senderId, NS.connection, { type: 'CLOSE' });
      this.vconns.delete(key);
    }
  }

  private stopMedia(): void {
    this.stopPlayer(this.media);
    this.media = undefined;
  }

  /** Stops a session's player and remembers its decoders until they have exited. */
  private stopPlayer(m: MediaSession | undefined): void {
    const player = m?.player;
    if (!m || !player) return;
    m.player = undefined;
    player.stop();
    const closed = player.closed?.();
    if (!closed) return;
    const tracked: Promise<void> = closed.catch(() => undefined).finally(() => this.closing.delete(tracked));
    this.closing.add(tracked);
  }

  /** Media ends with `reason`: one IDLE broadcast, then no media session. */
  private endMedia(reason: string, detailedErrorCode?: number): void {
    const m = this.media;
    if (!m) return;
    this.stopPlayer(m);
    m.playerState = 'IDLE';
    m.idleReason = reason;
    m.detailedErrorCode = detailedErrorCode;
    this.broadcastMediaStatus();
    this.media = undefined;
    this.changed();
  }

  private currentTime(m: MediaSession): number {
    return m.player ? m.player.status().currentTime : m.currentTime;
  }

  private mediaEntry(m: MediaSession, withMedia: boolean): Json {
    return {
      mediaSessionId: m.mediaSessionId,
      playbackRate: 1,
      playerState: m.playerState,
      currentTime: this.currentTime(m),
      supportedMediaCommands: 12303,
      volume: { level: 1, muted: false },
      activeTrackIds: [],
      currentItemId: m.mediaSessionId,
      ...(m.playerState === 'IDLE' && m.idleReason ? { idleReason: m.idleReason } : {}),
      // Not a documented MEDIA_STATUS field: the fake carries the error code here so a test can see it.
      ...(m.detailedErrorCode !== undefined ? { detailedErrorCode: m.detailedErrorCode } : {}),
      ...(withMedia ? { media: m.media } : {}),
    };
  }

  private broadcastMediaStatus(): void {
    const m = this.media;
    const app = this.app;
    if (!m || !app) return;
    this.broadcast(app.transportId, NS.media, { type: 'MEDIA_STATUS', status: [this.mediaEntry(m, true)] });
  }

  private receiverStatus(requestId: number): Json {
    const app = this.app;
    return {
      type: 'RECEIVER_STATUS',
      requestId,
      status: {
        applications: app
          ? [{
              appId: app.appId,
              appType: 'WEB',
              displayName: app.displayName,
              iconUrl: '',
              isIdleScreen: app.isIdleScreen,
              launchedFromCloud: false,
              namespaces: app.namespaces.map((name) => ({ name })),
              sessionId: app.sessionId,
              statusText: app.statusText,
              transportId: app.transportId,
              universalAppId: app.appId,
            }]
          : [],
        isActiveInput: !this.standbyOn,
        isStandBy: this.standbyOn,
        userEq: {},
        volume: { controlType: 'attenuation', level: 1, muted: false, stepInterval: 0.05 },
      },
    };
  }

  private broadcastReceiverStatus(): void {
    const { requestId: _unused, ...body } = this.receiverStatus(0);
    this.broadcast('receiver-0', NS.receiver, body);
    this.mdns?.update(this.mdnsRecord());
    this.changed();
  }

  private mdnsRecord(): { name: string; id: string; model: string; port: number; address: string; runningApp: string } {
    return {
      name: this.name,
      id: this.id,
      model: this.model,
      port: this.announced.port ?? this.actualPort,
      address: this.announced.address ?? this.host,
      runningApp: this.app && !this.app.isIdleScreen ? this.app.displayName : '',
    };
  }

  private changed(): void {
    for (const l of [...this.changeListeners]) l();
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function contentIdOf(media: Json): string | undefined {
  return str(media.contentUrl) ?? str(media.contentId);
}
