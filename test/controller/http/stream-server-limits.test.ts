// The stream server's connection caps and timeouts, in this process with short limits. The same
// defences under a real file descriptor limit are in stream-server-starve.test.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STREAM_LIMITS, StreamServer, type StreamServerLimits } from '../../../controller/http/stream-server.js';
import { silentLogger } from '../../../machines/log.js';
import { waitUntil } from '../../helpers.js';
import { HostileClients, type Hostile } from './hostile-clients.js';

const MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nstream.m3u8\n';
const BIG = 32 * 1024 * 1024; // far more than loopback socket buffers hold

let dir: string;
let server: StreamServer | undefined;
let hostile: HostileClients | undefined;
const clients: Client[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pagecast-limits-'));
  await writeFile(join(dir, 'master.m3u8'), MASTER);
  await writeFile(join(dir, 'seg_big.ts'), Buffer.alloc(BIG, 0x47));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  hostile?.close();
  hostile = undefined;
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
  await server?.stop();
  server = undefined;
});

async function serve(limits: Partial<StreamServerLimits>, opts: { dripEveryMs?: number; readEveryMs?: number } = {}) {
  server = new StreamServer({ host: '127.0.0.1', port: 0, log: silentLogger(), limits });
  await server.start();
  const { token } = server.publish('limits', dir, 'hls');
  hostile = new HostileClients({
    port: server.port,
    dripEveryMs: opts.dripEveryMs ?? 50,
    readEveryMs: opts.readEveryMs ?? 1000,
    slowPath: `/s/${token}/seg_big.ts`,
    dripPath: `/s/${token}/master.m3u8`,
  });
  return { s: server, token, hostile };
}

/** A device at `from` fetching the master playlist; its status. */
async function deviceFetch(port: number, token: string, from: string): Promise<{ status: number; body: string }> {
  const c = new Client(`http://127.0.0.1:${port}`, { localAddress: from, connectTimeout: 5000, headersTimeout: 5000, bodyTimeout: 5000 });
  clients.push(c);
  const r = await c.request({ path: `/s/${token}/master.m3u8`, method: 'GET' });
  return { status: r.statusCode, body: await r.body.text() };
}

const settled = (hs: Hostile[]) => hs.every((h) => h.connected || h.closed);

describe('connection caps', () => {
  it('closes connections over the per-client cap at once, before reading; other clients are served', async () => {
    const { s, token, hostile } = await serve({ maxConnectionsPerClient: 3, maxConnections: 50 });
    const idle = hostile.open('idle', 5, '127.0.0.5');
    await waitUntil(() => settled(idle) && s.connectionStats().refused === 2 && idle.filter((h) => h.closed).length === 2, 5000, () => JSON.stringify(s.connectionStats()));
    expect(s.connectionStats()).toEqual({ open: 3, refused: 2 });
    // Closed without a byte of answer: nothing was read or parsed.
    expect(idle.filter((h) => h.closed).map((h) => h.answer)).toEqual(['', '']);
    expect(await deviceFetch(s.port, token, '127.0.0.6')).toEqual({ status: 200, body: MASTER });
    // A slot freed is a slot for that client again.
    idle.find((h) => !h.closed)!.socket.destroy();
    await waitUntil(() => s.connectionStats().open === 3, 5000, 'one idle socket gone, the device connection kept');
    expect(await deviceFetch(s.port, token, '127.0.0.5')).toEqual({ status: 200, body: MASTER });
  });

  it('closes connections over the total cap at once; the server serves again when one goes', async () => {
    const { s, token, hostile } = await serve({ maxConnectionsPerClient: 10, maxConnections: 4 });
    const idle = hostile.open('idle', 4, '127.0.0.7');
    await waitUntil(() => settled(idle) && s.connectionStats().open === 4, 5000, () => JSON.stringify(s.connectionStats()));
    const [late] = hostile.open('idle', 1, '127.0.0.8');
    await waitUntil(() => late!.closed, 5000, 'the connection over the total closed');
    expect(late!.answer).toBe('');
    expect(s.connectionStats()).toEqual({ open: 4, refused: 1 });
    idle[0]!.socket.destroy();
    await waitUntil(() => s.connectionStats().open === 3, 5000, 'a slot free');
    expect(await deviceFetch(s.port, token, '127.0.0.8')).toEqual({ status: 200, body: MASTER });
  });
});

describe('timeouts', () => {
  it('answers 408 and closes a socket that sends nothing, and one that drips its request head', async () => {
    const { s, hostile } = await serve({ headersTimeoutMs: 300, requestTimeoutMs: 300, idleTimeoutMs: 60_000 }, { dripEveryMs: 20 });
    const idle = hostile.open('idle', 3, '127.0.0.9');
    const drip = hostile.open('drip', 3, '127.0.0.10');
    await waitUntil(() => [...idle, ...drip].every((h) => h.closed), 10_000, () => `open ${JSON.stringify(s.connectionStats())}`);
    for (const h of [...idle, ...drip]) expect(h.answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(drip.every((h) => h.sent > 10)).toBe(true); // they were sending all along
    // The server lingers on its side (reading and dropping) until the client's FIN reaches it.
    await waitUntil(() => s.connectionStats().open === 0, 5000, () => `open ${JSON.stringify(s.connectionStats())}`);
  });

  it('destroys a socket idle for idleTimeoutMs, and a kept-alive one with no next request', async () => {
    const { s, token, hostile } = await serve({ headersTimeoutMs: 60_000, requestTimeoutMs: 60_000, idleTimeoutMs: 300, keepAliveTimeoutMs: 300 });
    const idle = hostile.open('idle', 2, '127.0.0.11');
    await waitUntil(() => idle.every((h) => h.closed), 10_000, 'idle sockets closed');
    expect(idle.map((h) => h.answer)).toEqual(['', '']);
    expect(await deviceFetch(s.port, token, '127.0.0.12')).toEqual({ status: 200, body: MASTER });
    await waitUntil(() => s.connectionStats().open === 0, 10_000, 'the kept-alive connection closed');
  });

  it('cuts off a reader that does not drain a write in idleTimeoutMs; a reader that does gets the whole segment', async () => {
    const { s, token, hostile } = await serve({ idleTimeoutMs: 500 }, { readEveryMs: 1000 });
    const [slow] = hostile.open('slow', 1, '127.0.0.13');
    await waitUntil(() => slow!.received > 0, 5000, 'the slow reader receiving');
    // Meanwhile a device that reads at full speed gets all of it, the timeout notwithstanding.
    const c = new Client(`http://127.0.0.1:${s.port}`, { localAddress: '127.0.0.14' });
    try {
      const r = await c.request({ path: `/s/${token}/seg_big.ts`, method: 'GET' });
      expect(r.statusCode).toBe(200);
      expect((await r.body.arrayBuffer()).byteLength).toBe(BIG);
    } finally {
      await c.close();
    }
    await waitUntil(() => s.connectionStats().open === 0, 10_000, () => `stats ${JSON.stringify(s.connectionStats())}, slow got ${slow!.received}`);
    // What it can still read is what the kernel had buffered: the response was cut short.
    slow!.socket.removeAllListeners('data');
    slow!.socket.on('data', (chunk: Buffer) => (slow!.received += chunk.length));
    slow!.socket.resume();
    await waitUntil(() => slow!.closed, 10_000, 'the slow reader sees the end');
    expect(slow!.received).toBeLessThan(BIG);
  });
});

describe('defaults', () => {
  it('suit real TVs: keep-alive outlives the 2 s between fetches, a Chromecast fits under the cap many times over', () => {
    const d = DEFAULT_STREAM_LIMITS;
    expect(d.headersTimeoutMs).toBeLessThanOrEqual(d.requestTimeoutMs);
    expect(d.keepAliveTimeoutMs).toBeGreaterThanOrEqual(5000);
    expect(d.idleTimeoutMs).toBeGreaterThanOrEqual(d.keepAliveTimeoutMs);
    expect(d.maxConnectionsPerClient).toBeGreaterThanOrEqual(16); // hls.js opens up to 6, a Chromecast 1 to 4
    expect(d.maxConnections).toBeGreaterThanOrEqual(4 * d.maxConnectionsPerClient);
    expect(d.maxConnections).toBeLessThanOrEqual(256); // well below a 1,024 descriptor limit
  });
});
