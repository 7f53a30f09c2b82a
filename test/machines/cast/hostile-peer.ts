// A small TLS castv2 peer for hostile-device tests: it answers just enough for connectCast() to
// open (receiver GET_STATUS), then lets the test write anything (valid frames, floods, raw
// bytes) and stop reading. The fake device is a well-behaved Cast device; this is not.
import { createRequire } from 'node:module';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { NS } from '../../../machines/cast/messages.js';

interface CastMessageCodec {
  serialize(o: object): Uint8Array;
  parse(b: Buffer): { sourceId: string; destinationId: string; namespace: string; payloadUtf8?: string };
}
const CastMessage = (createRequire(import.meta.url)('castv2/lib/proto') as { CastMessage: CastMessageCodec }).CastMessage;

/** The session (and transport) id of the one app this peer pretends to run. */
export const DMR_SESSION = 'hostile-session';

export interface FrameFields {
  sourceId?: string;
  destinationId?: string;
  namespace: string;
  /** payload_utf8, sent as is (need not be JSON). */
  data: string;
}

/** One length-prefixed CastMessage (castv2Ready() must have resolved). */
export function castFrame(f: FrameFields): Buffer {
  const body = Buffer.from(
    CastMessage.serialize({ protocolVersion: 0, sourceId: f.sourceId ?? 'receiver-0', destinationId: f.destinationId ?? 'sender-0', namespace: f.namespace, payloadType: 0, payloadUtf8: f.data }),
  );
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

export function receiverStatusFrame(status: Record<string, unknown>, requestId = 0): Buffer {
  return castFrame({ namespace: NS.receiver, destinationId: '*', data: JSON.stringify({ type: 'RECEIVER_STATUS', requestId, status }) });
}

export class PeerConnection {
  /** Payloads (JSON text) the sender sent, while this peer reads. */
  readonly received: Array<{ namespace: string; data: string }> = [];
  private pending = Buffer.alloc(0);
  private reading = true;
  private app = false;
  private media = false;
  /** When set, what every later receiver status reply lists (a test's probe). */
  apps?: object[];

  constructor(readonly socket: TLSSocket) {
    socket.on('error', () => undefined); // a peer the sender drops sees ECONNRESET/EPIPE
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Stops reading for good: what the sender writes piles up on its side. */
  stopReading(): void {
    this.reading = false;
    this.socket.pause();
  }

  /** Writes, waiting for drain when the socket says so; resolves false once the socket is gone. */
  write(bytes: Buffer): Promise<boolean> {
    if (this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const ok = this.socket.write(bytes);
      if (ok) return resolve(true);
      const done = (v: boolean) => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(v);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  private onData(chunk: Buffer): void {
    if (!this.reading) return;
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const n = this.pending.readUInt32BE(0);
      if (this.pending.length < 4 + n) return;
      const msg = CastMessage.parse(this.pending.subarray(4, 4 + n));
      this.pending = this.pending.subarray(4 + n);
      this.onMessage(msg.namespace, msg.payloadUtf8 ?? '');
    }
  }

  private onMessage(namespace: string, data: string): void {
    this.received.push({ namespace, data });
    let msg: { type?: unknown; requestId?: unknown };
    try {
      msg = JSON.parse(data) as typeof msg;
    } catch {
      return;
    }
    const requestId = typeof msg.requestId === 'number' ? msg.requestId : 0;
    // Just enough of a Default Media Receiver for connectCast(), launch() and load().
    if (namespace === NS.receiver && (msg.type === 'GET_STATUS' || msg.type === 'LAUNCH')) {
      if (msg.type === 'LAUNCH') this.app = true;
      const applications = this.apps ?? (this.app ? [{ appId: 'CC1AD845', displayName: 'Default Media Receiver', sessionId: DMR_SESSION, transportId: DMR_SESSION }] : []);
      this.socket.write(receiverStatusFrame({ applications, isStandBy: false, isActiveInput: true, volume: { level: 1, muted: false } }, requestId));
    }
    if (namespace === NS.media && (msg.type === 'GET_STATUS' || msg.type === 'LOAD')) {
      if (msg.type === 'LOAD') this.media = true;
      const status = this.media ? [{ mediaSessionId: 1, playerState: 'PLAYING', currentTime: 1, media: { contentId: 'http://127.0.0.1:9/s/master.m3u8' } }] : [];
      this.socket.write(castFrame({ namespace: NS.media, sourceId: DMR_SESSION, destinationId: '*', data: JSON.stringify({ type: 'MEDIA_STATUS', requestId, status }) }));
    }
  }
}

export class HostilePeer {
  private server?: Server;
  private readonly conns: PeerConnection[] = [];
  private readonly waiters: Array<(c: PeerConnection) => void> = [];
  private taken = 0;

  constructor(private readonly tls: { key: Buffer; cert: Buffer }) {}

  get port(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    this.server = createServer({ key: this.tls.key, cert: this.tls.cert }, (socket) => {
      const c = new PeerConnection(socket);
      this.conns.push(c);
      const w = this.waiters.shift();
      if (w) w(c);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
  }

  /** The next sender connection (or the oldest one not yet taken). */
  nextConnection(): Promise<PeerConnection> {
    const taken = this.taken++;
    const c = this.conns[taken];
    if (c) return Promise.resolve(c);
    return new Promise((r) => this.waiters.push(r));
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
