// mDNS discovery and the cast driver's resolve/forget, on loopback only (broadcast to
// 127.255.255.255 on a private port; nothing reaches the LAN or the real 5353 group).
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { addRecords, devicesFrom, discover, emptyRecords, findById, findByName, createDiscovery, type DiscoveryOptions } from '../../../machines/cast/discovery.js';
import { silentLogger } from '../../../machines/log.js';
import { PagecastError } from '../../../machines/errors.js';
import { createCastDriver } from '../../../machines/cast/driver.js';
import { FakeCastDevice } from '../../fake-device/device.js';
import { castFixture } from './fixture.js';
import { stubPlayer } from './stub-player.js';

const { tls: certs, cleanups } = castFixture();

const ctx = () => ({ signal: new AbortController().signal, log: silentLogger(), report: () => undefined });

/** A free UDP port for this test's mDNS traffic: the first responder picks it. */
async function devices(specs: Array<{ name: string; model?: string; id?: string }>): Promise<{ list: FakeCastDevice[]; opts: DiscoveryOptions }> {
  const list: FakeCastDevice[] = [];
  let mdnsPort = 0;
  for (const s of specs) {
    const d = new FakeCastDevice({ ...s, tls: certs(), startPlayer: stubPlayer(), mdns: { port: mdnsPort } });
    await d.start();
    cleanups.push(() => d.stop());
    mdnsPort = d.mdnsPort!;
    list.push(d);
  }
  return { list, opts: { port: mdnsPort, address: '127.255.255.255', interface: '127.0.0.1', timeoutMs: 800, requeryMs: 200 } };
}

describe('mDNS discovery on loopback', () => {
  it('lists every device with name, model, id and address', async () => {
    const { list, opts } = await devices([{ name: 'Fake TV', model: 'Chromecast' }, { name: 'Küche Display', model: 'Google TV Streamer' }]);
    const found = await discover(opts);
    expect(found).toEqual([
      expect.objectContaining({ name: 'Fake TV', model: 'Chromecast', id: list[0]!.id, host: '127.0.0.1', port: list[0]!.port, busy: false }),
      expect.objectContaining({ name: 'Küche Display', model: 'Google TV Streamer', id: list[1]!.id, host: '127.0.0.1', port: list[1]!.port }),
    ]);
  });

  it('finds one device by name or id as soon as it answers', async () => {
    const { list, opts } = await devices([{ name: 'Fake TV' }, { name: 'Other TV' }]);
    const t0 = Date.now();
    const byName = await findByName('fake tv', { ...opts, timeoutMs: 5_000 });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(byName).toMatchObject({ name: 'Fake TV', port: list[0]!.port });
    expect(await findById(list[1]!.id.toUpperCase(), opts)).toMatchObject({ name: 'Other TV', port: list[1]!.port });
    expect(await findByName('Nobody', { ...opts, timeoutMs: 300 })).toBeUndefined();
  });

  it('reports a running app from TXT rs/st', async () => {
    const { list, opts } = await devices([{ name: 'Fake TV' }]);
    await list[0]!.takeover('233637DE');
    expect(await findByName('Fake TV', opts)).toMatchObject({ runningApp: 'YouTube', busy: true });
  });

  it('responders and the browser survive garbage packets', async () => {
    const { opts } = await devices([{ name: 'Fake TV' }]);
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.setBroadcast(true);
    await new Promise<void>((r, j) => s.send(Buffer.from('not dns at all'), opts.port!, '127.255.255.255', (e) => (e ? j(e) : r())));
    s.close();
    expect(await findByName('Fake TV', opts)).toBeDefined();
  });
});

describe('record parsing', () => {
  it('needs PTR, SRV, TXT id+fn and A; ignores malformed and subtype records', () => {
    const r = emptyRecords();
    addRecords(r, [
      { name: '_googlecast._tcp.local', type: 'PTR', data: 'A._googlecast._tcp.local' },
      { name: '_googlecast._tcp.local', type: 'PTR', data: 'B._googlecast._tcp.local' },
      { name: '_googlecast._tcp.local', type: 'PTR', data: 'X._sub._googlecast._tcp.local' },
      { name: 'A._googlecast._tcp.local', type: 'SRV', data: { target: 'a.local', port: 8009 } },
      { name: 'A._googlecast._tcp.local', type: 'TXT', data: [Buffer.from('id=ABCD'), Buffer.from('fn=Wohnzimmer TV'), Buffer.from('md=Chromecast'), Buffer.from('st=0'), Buffer.from('junk')] },
      { name: 'a.local', type: 'A', data: '127.0.0.1' },
      { name: 'B._googlecast._tcp.local', type: 'SRV', data: 'nonsense' },
      { name: 'B._googlecast._tcp.local', type: 'TXT', data: ['id=1234', 'fn=B'] },
    ] as never);
    expect(devicesFrom(r)).toEqual([{ id: 'abcd', name: 'Wohnzimmer TV', model: 'Chromecast', host: '127.0.0.1', port: 8009, runningApp: undefined, busy: false, instance: 'a._googlecast._tcp.local' }]);
  });
});

describe('cast driver resolve', () => {
  it('resolves {host, port} without mDNS, names via mDNS, and finds a moved device again after forget', async () => {
    const { list, opts } = await devices([{ name: 'Fake TV', id: 'a'.repeat(32) }]);
    const driver = createCastDriver({ discovery: createDiscovery(opts), timings: { connectTimeoutMs: 1_000, requestTimeoutMs: 500 } });
    expect(await driver.resolve({ host: '127.0.0.1', port: 1234 }, ctx())).toEqual({ host: '127.0.0.1', port: 1234 });
    const first = await driver.resolve('Fake TV', ctx());
    expect(first).toMatchObject({ host: '127.0.0.1', port: list[0]!.port, id: 'a'.repeat(32), name: 'Fake TV' });
    expect(await driver.resolve({ id: 'A'.repeat(32) }, ctx())).toEqual(first); // cached by id

    // The device comes back elsewhere: same id and name, new port; the old one is gone.
    const moved = new FakeCastDevice({ name: 'Fake TV', id: 'a'.repeat(32), tls: certs(), startPlayer: stubPlayer(), mdns: { port: opts.port! } });
    await list[0]!.stop();
    await moved.start();
    cleanups.push(() => moved.stop());
    expect(moved.port).not.toBe(first.port);
    const stale = await driver.resolve('Fake TV', ctx());
    expect(stale.port).toBe(first.port); // still cached
    await expect(driver.connect(stale, ctx())).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
    driver.forget('Fake TV');
    const fresh = await driver.resolve('Fake TV', ctx());
    expect(fresh.port).toBe(moved.port);
    const conn = await driver.connect(fresh, ctx());
    cleanups.push(() => conn.close());
    expect(conn.receiver().appId).toBeUndefined();
  });

  it('hands every resolved address to onResolved before resolve() returns it (the stream server prepares its route)', async () => {
    const { list, opts } = await devices([{ name: 'Fake TV' }]);
    const seen: string[] = [];
    let release!: () => void;
    const routeReady = new Promise<void>((r) => (release = r));
    const driver = createCastDriver({
      discovery: createDiscovery(opts),
      onResolved: async (d) => {
        seen.push(`${d.host}:${d.port}`);
        if (d.port === 1234) await routeReady;
      },
    });
    let resolved = false;
    const byAddress = driver.resolve({ host: '127.0.0.1', port: 1234 }, ctx()).then((d) => ((resolved = true), d));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['127.0.0.1:1234']);
    expect(resolved).toBe(false); // waits for the hook
    release();
    expect(await byAddress).toEqual({ host: '127.0.0.1', port: 1234 });
    await driver.resolve('Fake TV', ctx());
    await driver.resolve('Fake TV', ctx()); // cached, still handed over
    expect(seen).toEqual(['127.0.0.1:1234', `127.0.0.1:${list[0]!.port}`, `127.0.0.1:${list[0]!.port}`]);
  });

  it('says clearly when a named device is not found', async () => {
    const { opts } = await devices([{ name: 'Fake TV' }]);
    const driver = createCastDriver({ discovery: createDiscovery({ ...opts, timeoutMs: 300 }) });
    const err = await driver.resolve('Kitchen TV', ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PagecastError);
    expect(err).toMatchObject({ code: 'DEVICE_NOT_FOUND', message: 'no Cast device named "Kitchen TV" answered mDNS' });
  });

  it('keeps our session ids per device across connections (rejoin without LOAD)', async () => {
    const { list, opts } = await devices([{ name: 'Fake TV' }]);
    const driver = createCastDriver({ discovery: createDiscovery(opts), timings: { requestTimeoutMs: 500 } });
    const dev = await driver.resolve('Fake TV', ctx());
    const a = await driver.connect(dev, ctx());
    await a.launch({ takeover: false });
    await a.load({ url: 'http://127.0.0.1:9/x.m3u8', mode: 'hls', title: 't' });
    await list[0]!.waitFor(() => list[0]!.status().media?.playerState === 'PLAYING');
    a.close();
    const b = await driver.connect(dev, ctx());
    cleanups.push(() => b.close());
    expect(await b.launch({ takeover: false, expectUrl: 'http://127.0.0.1:9/x.m3u8' })).toEqual({ joined: true });
    expect(list[0]!.loads()).toHaveLength(1);
  });
});

