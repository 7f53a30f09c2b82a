// The few X11 requests pagecast needs, spoken over the display's Unix socket: find a client's
// top-level windows (by _NET_WM_PID), clear a window's background, move and raise it, and make the
// display's backdrop. Our Xvfb has no access control, so no authorisation is sent. No Xlib binding
// and no xdotool: a handful of requests.
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
  /** Requests in order: a request with a reply must not read another's. */
  private queue: Promise<unknown> = Promise.resolve();
  private idBase = 0;
  private idMask = 0;
  private ids = 0;
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
      x.idBase = rest.readUInt32LE(4);
      x.idMask = rest.readUInt32LE(8);
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

  private request(parts: Buffer[], hasReply: boolean): Promise<Buffer | undefined> {
    const next = this.queue.then(() => this.send(parts, hasReply));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async send(parts: Buffer[], hasReply: boolean): Promise<Buffer | undefined> {
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

  /**
   * Moves a window and, with `raise`, puts it on top of its siblings, in one request: a window
   * moved on screen beneath another would not show, and one raised first would show where it was.
   */
  async configure(window: number, c: { x?: number; y?: number; width?: number; height?: number; raise?: boolean }): Promise<void> {
    const fields: Array<[number, number | undefined]> = [
      [0x1, c.x],
      [0x2, c.y],
      [0x4, c.width],
      [0x8, c.height],
      [0x40, c.raise ? 0 /* Above */ : undefined],
    ];
    const given = fields.filter(([, v]) => v !== undefined) as Array<[number, number]>;
    const mask = Buffer.alloc(4);
    mask.writeUInt16LE(given.reduce((m, [bit]) => m | bit, 0), 0);
    await this.request([header(12), u32(window), mask, u32(...given.map(([, v]) => v))], false);
  }

  /**
   * A top-level InputOutput window with background None, mapped: what is on screen beneath it
   * stays as it was until something paints over it (nothing does).
   */
  async createBackdrop(g: WindowGeometry): Promise<number> {
    const id = this.idBase | (++this.ids & this.idMask);
    const geometry = Buffer.alloc(12);
    geometry.writeInt16LE(g.x, 0);
    geometry.writeInt16LE(g.y, 2);
    geometry.writeUInt16LE(g.width, 4);
    geometry.writeUInt16LE(g.height, 6);
    geometry.writeUInt16LE(0, 8); // border width
    geometry.writeUInt16LE(1, 10); // InputOutput
    // depth and visual copied from the root; value mask: background-pixmap = None
    await this.request([header(1, 0), u32(id, this.root), geometry, u32(0, 0x1, 0)], false);
    await this.request([header(8), u32(id)], false); // MapWindow
    return id;
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
