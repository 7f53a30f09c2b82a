// The few X11 requests a browser renewal needs, spoken over the display's Unix socket: find a
// client's top-level window (by _NET_WM_PID), clear its background and move it. Our Xvfb has no
// access control, so no authorisation is sent. No Xlib binding and no xdotool: five requests.
import { connect, type Socket } from 'node:net';
import { PagecastError } from '../errors.js';

export interface WindowGeometry {
  x: number;
  y: number;
  width: number;
  height: number;
}

const u32 = (...values: number[]): Buffer => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, 4 * i));
  return b;
};
const header = (opcode: number, data = 0) => Buffer.from([opcode, data, 0, 0]);

/** The Unix socket of a local display name (`:7` or `:7.0`). */
export function displaySocket(display: string): string {
  const n = /^:(\d+)(\.\d+)?$/.exec(display)?.[1];
  if (n === undefined) throw new PagecastError('CONFIG', `not a local X display: ${display}`);
  return `/tmp/.X11-unix/X${n}`;
}

/** One connection; requests go one at a time, each awaiting its reply when it has one. */
export class X11Connection {
  private buf = Buffer.alloc(0);
  private wake?: () => void;
  private failure?: Error;
  private seq = 0;
  private constructor(
    private readonly sock: Socket,
    public root = 0,
  ) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    sock.on('error', (err) => ((this.failure = err), this.wake?.()));
    sock.on('close', () => ((this.failure ??= new Error('X connection closed')), this.wake?.()));
  }

  static async open(display: string): Promise<X11Connection> {
    const sock = connect(displaySocket(display));
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const x = new X11Connection(sock);
    try {
      const setup = Buffer.alloc(12);
      setup.write('l', 0); // little-endian
      setup.writeUInt16LE(11, 2); // protocol 11.0, no authorisation
      sock.write(setup);
      const head = await x.read(8);
      const rest = await x.read(head.readUInt16LE(6) * 4);
      if (head[0] !== 1) throw new Error(`X server refused the connection: ${rest.toString('latin1', 0, head[1])}`);
      const vendorLength = rest.readUInt16LE(16);
      const formats = rest[21]!;
      x.root = rest.readUInt32LE(32 + Math.ceil(vendorLength / 4) * 4 + formats * 8); // the first screen's root
      return x;
    } catch (err) {
      x.close();
      throw err;
    }
  }

  private async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.wake = r));
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  private async request(parts: Buffer[], hasReply: boolean): Promise<Buffer | undefined> {
    const body = Buffer.concat(parts);
    body.writeUInt16LE(body.length / 4, 2);
    this.seq = (this.seq + 1) & 0xffff;
    this.sock.write(body);
    if (!hasReply) return undefined;
    for (;;) {
      const r = await this.read(32);
      if (r[0] === 0) throw new Error(`X error ${r[1]} on request ${body[0]}`);
      if (r[0] !== 1) continue; // an event (we select none, but the server may send some)
      const extra = await this.read(r.readUInt32LE(4) * 4);
      if (r.readUInt16LE(2) === this.seq) return Buffer.concat([r, extra]);
    }
  }

  async atom(name: string): Promise<number> {
    const bytes = Buffer.from(name, 'latin1');
    const len = Buffer.alloc(4);
    len.writeUInt16LE(bytes.length, 0);
    const r = await this.request([header(16, 1), len, bytes, Buffer.alloc((4 - (bytes.length % 4)) % 4)], true);
    return r!.readUInt32LE(8);
  }

  async children(window: number): Promise<number[]> {
    const r = (await this.request([header(15), u32(window)], true))!;
    return Array.from({ length: r.readUInt16LE(16) }, (_, i) => r.readUInt32LE(32 + 4 * i));
  }

  /** The first 32-bit value of a property, or undefined when the window has none. */
  async cardinal(window: number, property: number): Promise<number | undefined> {
    const r = (await this.request([header(20), u32(window, property, 0, 0, 1)], true))!;
    return r[1] === 32 && r.readUInt32LE(16) >= 1 ? r.readUInt32LE(32) : undefined;
  }

  async geometry(window: number): Promise<WindowGeometry> {
    const r = (await this.request([header(14), u32(window)], true))!;
    return { x: r.readInt16LE(12), y: r.readInt16LE(14), width: r.readUInt16LE(16), height: r.readUInt16LE(18) };
  }

  /**
   * Background None: the server leaves an exposed part of the window as it was on screen until the
   * client paints it, instead of filling it with the window's background colour first.
   */
  async clearBackground(window: number): Promise<void> {
    await this.request([header(2), u32(window, 0x1 /* CWBackPixmap */, 0 /* None */)], false);
  }

  async move(window: number, x: number, y: number): Promise<void> {
    const mask = Buffer.alloc(4);
    mask.writeUInt16LE(0x1 | 0x2, 0); // x, y
    await this.request([header(12), u32(window), mask, u32(x, y)], false);
  }

  /** A round trip: every request before it has been handled. */
  async sync(): Promise<void> {
    await this.request([header(43)], true); // GetInputFocus
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Top-level windows of a process (by _NET_WM_PID), with their geometry. */
export async function windowsOf(x: X11Connection, pid: number): Promise<Array<{ id: number } & WindowGeometry>> {
  const pidAtom = await x.atom('_NET_WM_PID');
  const out: Array<{ id: number } & WindowGeometry> = [];
  for (const id of await x.children(x.root)) {
    try {
      if ((await x.cardinal(id, pidAtom)) === pid) out.push({ id, ...(await x.geometry(id)) });
    } catch {
      // destroyed meanwhile (BadWindow)
    }
  }
  return out;
}
