// Sockets that try to starve a server, all to 127.0.0.1 (from chosen loopback source addresses):
// idle ones that never send a byte, header drippers that send one byte a tick and never finish,
// and slow readers that ask for a large file and take one chunk of it a tick.
import { connect, type Socket } from 'node:net';

export type HostileKind = 'idle' | 'drip' | 'slow';

export interface Hostile {
  kind: HostileKind;
  socket: Socket;
  connected: boolean;
  closed: boolean;
  /** Response bytes received (slow readers). */
  received: number;
  /** The first bytes of what the server answered, if anything. */
  answer: string;
  /** Request bytes sent (drippers). */
  sent: number;
}

export interface HostileOptions {
  port: number;
  /** One byte a drip tick. */
  dripEveryMs: number;
  /** One chunk a read tick. */
  readEveryMs: number;
  /** What a slow reader asks for. */
  slowPath: string;
  /** What a dripper's request line names. */
  dripPath: string;
}

export class HostileClients {
  readonly all: Hostile[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: HostileOptions) {
    this.timers.push(setInterval(() => this.drip(), opts.dripEveryMs));
    this.timers.push(setInterval(() => this.read(), opts.readEveryMs));
  }

  open(kind: HostileKind, count: number, localAddress: string): Hostile[] {
    const made: Hostile[] = [];
    for (let i = 0; i < count; i++) {
      const socket = connect({ host: '127.0.0.1', port: this.opts.port, localAddress });
      const h: Hostile = { kind, socket, connected: false, closed: false, received: 0, answer: '', sent: 0 };
      socket.on('connect', () => {
        h.connected = true;
        if (kind === 'slow') socket.write(`GET ${this.opts.slowPath} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      });
      socket.on('data', (chunk: Buffer) => {
        if (h.answer.length < 64) h.answer += chunk.subarray(0, 64).toString('latin1');
        h.received += chunk.length;
        if (kind === 'slow') socket.pause(); // the next read tick takes one more chunk
      });
      socket.on('error', () => undefined); // resets are what these sockets are for
      socket.on('close', () => (h.closed = true));
      made.push(h);
      this.all.push(h);
    }
    return made;
  }

  of(kind: HostileKind): Hostile[] {
    return this.all.filter((h) => h.kind === kind);
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    for (const h of this.all) h.socket.destroy();
  }

  private drip(): void {
    // A request head that never ends: one header line growing a byte a tick.
    const head = `GET ${this.opts.dripPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: `;
    for (const h of this.all) {
      if (h.kind !== 'drip' || !h.connected || h.closed) continue;
      h.socket.write(head[h.sent] ?? 'a');
      h.sent++;
    }
  }

  private read(): void {
    for (const h of this.all) if (h.kind === 'slow' && !h.closed) h.socket.resume();
  }
}
