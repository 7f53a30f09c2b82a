// The stream server cannot be starved: in a process limited to 256 file descriptors, 300 hostile
// sockets (idle, dripping a request head a byte a second, reading a large segment a chunk every
// few seconds) are open, and a device still fetches its playlist and a segment; then the timeouts
// close every hostile socket. Without the caps the hostile sockets alone exhaust the descriptors.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_STREAM_LIMITS, type StreamServerLimits } from '../../../controller/http/stream-server.js';
import { waitUntil } from '../../helpers.js';
import { HostileClients } from './hostile-clients.js';

const here = dirname(fileURLToPath(import.meta.url));
const FD_LIMIT = 256;
const MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nstream.m3u8\n';
const SEGMENT = Buffer.alloc(188 * 1000, 0x47);
const BIG = 16 * 1024 * 1024; // more than a paused loopback connection buffers

interface Stats {
  open: number;
  refused: number;
  fds: number;
}

/** The stream server in a child process under `ulimit -n`, asked for its counts over stdin. */
class ChildServer {
  private readonly replies: Array<(s: Stats) => void> = [];
  readonly output: string[] = [];
  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    readonly port: number,
    readonly token: string,
  ) {}

  static async start(dir: string, limits: Partial<StreamServerLimits>): Promise<ChildServer> {
    const child = spawn(
      'bash',
      ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath, '--import', join(here, 'fixtures/register-ts.mjs'), join(here, 'fixtures/stream-server-child.ts')],
      { env: { ...process.env, STREAM_CHILD_CONFIG: JSON.stringify({ dir, limits }) }, stdio: 'pipe' },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`stream server child exited (${code}): ${stderr}`)));
    });
    const { port, token } = JSON.parse(first) as { port: number; token: string };
    const server = new ChildServer(child, port, token);
    lines.on('line', (line) => {
      server.output.push(line);
      server.replies.shift()?.(JSON.parse(line) as Stats);
    });
    return server;
  }

  stats(): Promise<Stats> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.stdin.write('stats\n');
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end(); // the child stops its server and exits
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(kill);
  }
}

describe(`the stream server under ulimit -n ${FD_LIMIT}`, () => {
  let dir: string;
  let server: ChildServer | undefined;
  let hostile: HostileClients | undefined;
  let device: Client | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pagecast-starve-'));
    await writeFile(join(dir, 'master.m3u8'), MASTER);
    await writeFile(join(dir, 'seg_0.ts'), SEGMENT);
    await writeFile(join(dir, 'seg_big.ts'), Buffer.alloc(BIG, 0x47));
  });
  afterEach(async () => {
    hostile?.close();
    await device?.destroy();
    await server?.stop();
    hostile = server = device = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a device while 300 hostile sockets are open, then closes them all by its timeouts', { timeout: 60_000 }, async () => {
    // The default caps; timeouts short enough for a test, long enough to outlast the device's fetch.
    const limits = { headersTimeoutMs: 6000, requestTimeoutMs: 6000, idleTimeoutMs: 5000, keepAliveTimeoutMs: 1000 };
    server = await ChildServer.start(dir, limits);
    const s = server;
    hostile = new HostileClients({ port: s.port, dripEveryMs: 1000, readEveryMs: 5000, slowPath: `/s/${s.token}/seg_big.ts`, dripPath: `/s/${s.token}/master.m3u8` });
    // Each from its own address, as hosts on a LAN would be; the device from another.
    const idle = hostile.open('idle', 150, '127.0.0.21');
    const drip = hostile.open('drip', 130, '127.0.0.22');
    const slow = hostile.open('slow', 20, '127.0.0.23');
    const cap = DEFAULT_STREAM_LIMITS.maxConnectionsPerClient;
    const held = cap + cap + slow.length; // what the server keeps of them
    const refused = 300 - held; // closed at once, unread
    let last: Stats | undefined;
    await waitUntil(
      async () => {
        last = await s.stats();
        return last.refused === refused && last.open === held && slow.every((h) => h.received > 0);
      },
      20_000,
      () => `the hostile sockets in place: ${JSON.stringify(last)}, slow readers receiving ${slow.filter((h) => h.received > 0).length}`,
      { intervalMs: 50 },
    );

    device = new Client(`http://127.0.0.1:${s.port}`, { localAddress: '127.0.0.2', connectTimeout: 5000, headersTimeout: 5000, bodyTimeout: 5000 });
    const playlist = await device.request({ path: `/s/${s.token}/master.m3u8`, method: 'GET' });
    expect(playlist.statusCode).toBe(200);
    expect(await playlist.body.text()).toBe(MASTER);
    const segment = await device.request({ path: `/s/${s.token}/seg_0.ts`, method: 'GET' });
    expect(segment.statusCode).toBe(200);
    expect(Buffer.from(await segment.body.arrayBuffer()).equals(SEGMENT)).toBe(true);
    await device.close();
    device = undefined;

    // The hostile connections were there all along (nothing reopens them) and the descriptors held.
    const during = await s.stats();
    expect(during.open).toBeGreaterThanOrEqual(held);
    expect(during.fds).toBeLessThan(FD_LIMIT);

    // Then the timeouts close every one: drippers by the header timeout although they keep
    // sending, idle sockets by the idle timeout, slow readers once a write does not drain.
    await waitUntil(
      async () => {
        last = await s.stats();
        return last.open === 0 && [...idle, ...drip].every((h) => h.closed);
      },
      30_000,
      () => `every hostile socket closed: ${JSON.stringify(last)}, client side open: idle ${idle.filter((h) => !h.closed).length}, drip ${drip.filter((h) => !h.closed).length}`,
      { intervalMs: 100 },
    );
    expect(drip.filter((h) => h.answer !== '').every((h) => h.answer.startsWith('HTTP/1.1 408'))).toBe(true);
    expect(slow.every((h) => h.received < BIG)).toBe(true);
  });
});
