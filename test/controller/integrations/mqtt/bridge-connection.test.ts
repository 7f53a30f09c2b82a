// The bridge's connection to a real broker: the last will when the connection drops, offline on a
// clean stop, a broker that is down, restarted, silent or wants a password, and casting that
// never waits for any of it.
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../../../controller/controller.js';
import { MqttBridge, type MqttBridgeOptions } from '../../../../controller/integrations/mqtt/bridge.js';
import { standInComponents, type StandIns } from '../../../stand-ins/components.js';
import { captureLog, tempDirs, waitUntil } from '../../../helpers.js';
import { freePort, Mosquitto, Observer, retained } from './mosquitto.js';

const spec = (name: string, device: string) => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: ${name} }
spec:
  device: ${device}
  url: https://ha.example/${name}
`;

const CONFIG = 'homeassistant/device/pagecast_kitchen/config';
const AVAILABILITY = 'pagecast/test-node/availability';

describe('the MQTT bridge’s connection', () => {
  const dirs = tempDirs();
  const brokers: Mosquitto[] = [];
  const observers: Observer[] = [];
  let c: StandIns;
  let ctl: Controller | undefined;
  let bridge: MqttBridge | undefined;
  let clients: MqttClient[];
  let logged: ReturnType<typeof captureLog>;

  beforeEach(() => {
    clients = [];
    logged = captureLog();
  });

  afterEach(async () => {
    await bridge?.stop();
    bridge = undefined;
    for (const o of observers.splice(0)) await o.close();
    await ctl?.stop();
    ctl = undefined;
    for (const b of brokers.splice(0)) await b.close();
    dirs.removeAll();
  });

  const controller = () => {
    const specs = dirs.make('pc-mqttc-specs-');
    writeFileSync(join(specs, 'kitchen.yaml'), spec('kitchen', 'Kitchen TV'));
    c = standInComponents(dirs.make('pc-mqttc-streams-'));
    ctl = new Controller({ specsDir: specs, stateDir: dirs.make('pc-mqttc-state-'), components: c, log: logged.log, resyncMs: 60_000 });
    return ctl;
  };
  const startBridge = (control: Controller, url: string, more: Partial<MqttBridgeOptions> = {}) => {
    bridge = new MqttBridge({
      control,
      url,
      log: logged.log,
      node: 'test-node',
      backoff: { initialMs: 50, maxMs: 400 },
      connect: (u: string, o: IClientOptions) => {
        const client = mqttConnect(u, o);
        clients.push(client);
        return client;
      },
      ...more,
    });
    bridge.start();
    return bridge;
  };
  const broker = async (users?: Record<string, string>) => {
    const b = await Mosquitto.start(users);
    brokers.push(b);
    return b;
  };
  const observe = async (url: string, opts?: IClientOptions) => {
    const o = await Observer.connect(url, ['homeassistant/#', 'pagecast/#'], opts);
    observers.push(o);
    return o;
  };
  const availability = (o: Observer) => o.on(AVAILABILITY).map((m) => m.payload);

  it('the broker publishes the last will when the connection drops; back online on reconnect', async () => {
    const b = await broker();
    const ctl = controller();
    await ctl.start();
    const ha = await observe(b.url);
    startBridge(ctl, b.url);
    await waitUntil(() => availability(ha).at(-1) === 'online' && ha.json(CONFIG), 5000, 'online');
    const configs = ha.on(CONFIG).length;
    // The controller's socket dies without a DISCONNECT, as in a crash or a cut cable.
    clients[0]!.stream.destroy();
    await waitUntil(() => availability(ha).includes('offline'), 5000, 'the last will');
    await waitUntil(() => availability(ha).at(-1) === 'online' && ha.on(CONFIG).length > configs, 5000, 'online again, and everything published again');
    expect(availability(ha)).toEqual(['online', 'offline', 'online']);
    expect((await retained(b.url, AVAILABILITY)).get(AVAILABILITY)).toBe('online');
    // Nothing of the dead connection holds up a clean stop on the new one.
    const t0 = Date.now();
    await bridge!.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await retained(b.url, AVAILABILITY)).get(AVAILABILITY)).toBe('offline');
  });

  it('a clean stop says offline, retained', async () => {
    const b = await broker();
    const ctl = controller();
    await ctl.start();
    startBridge(ctl, b.url);
    const ha = await observe(b.url);
    await waitUntil(() => availability(ha).at(-1) === 'online', 5000, 'online');
    await bridge!.stop();
    await waitUntil(() => availability(ha).at(-1) === 'offline', 5000, 'offline');
    expect((await retained(b.url, AVAILABILITY)).get(AVAILABILITY)).toBe('offline');
    expect(clients[0]!.connected).toBe(false);
  });

  it('a broker that is down at start delays nothing; when it comes up, discovery appears; after its restart, all again', async () => {
    const b = new Mosquitto(await freePort());
    brokers.push(b);
    const ctl = controller();
    // The worst case: the bridge follows the controller before it starts, and cannot connect.
    startBridge(ctl, b.url);
    const t0 = Date.now();
    await ctl.start();
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing', 5000, 'kitchen playing');
    expect(Date.now() - t0).toBeLessThan(1000);
    await waitUntil(() => logged.lines().some((l) => l.msg === 'MQTT broker unreachable'), 5000, 'the unreachable warning');
    await b.start();
    await waitUntil(async () => (await retained(b.url, '#')).has(CONFIG), 5000, 'discovery after the broker came up');
    expect(logged.lines().some((l) => l.msg === 'MQTT broker reachable again')).toBe(true);
    // No persistence: a restarted broker has lost every retained message; the bridge sends them again.
    await b.stop();
    await b.start();
    await waitUntil(async () => {
      const kept = await retained(b.url, '#');
      return kept.has(CONFIG) && kept.get(AVAILABILITY) === 'online' && kept.has('pagecast/kitchen/state');
    }, 5000, 'discovery after the broker restarted');
  });

  it('a broker that accepts and never answers delays neither casting nor the stop', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const ctl = controller();
      startBridge(ctl, `mqtt://127.0.0.1:${(silent.address() as { port: number }).port}`, { connectTimeoutMs: 60_000 });
      const t0 = Date.now();
      await ctl.start();
      await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing', 5000, 'kitchen playing');
      expect(Date.now() - t0).toBeLessThan(1000);
      // State changes queue up while the broker says nothing.
      await ctl.suspend('kitchen');
      await ctl.resume('kitchen');
      await waitUntil(() => sockets.size > 0, 5000, 'the bridge connecting');
      const t1 = Date.now();
      await bridge!.stop();
      expect(Date.now() - t1).toBeLessThan(1000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('logs in with the credentials file’s user; a wrong password is a warning that never shows it', async () => {
    const b = await broker({ pagecast: 'right-horse-battery' });
    const ctl = controller();
    await ctl.start();
    startBridge(ctl, b.url, { credentials: { username: 'pagecast', password: 'wrong-staple' } });
    await waitUntil(() => logged.lines().some((l) => l.msg === 'MQTT broker unreachable' && /Not authorized/i.test(String(l.err))), 5000, 'refused login');
    await bridge!.stop();
    startBridge(ctl, b.url, { credentials: { username: 'pagecast', password: 'right-horse-battery' } });
    const ha = await observe(b.url, { username: 'pagecast', password: 'right-horse-battery' });
    await waitUntil(async () => (await retained(b.url.replace('mqtt://', 'mqtt://pagecast:right-horse-battery@'), '#')).has(CONFIG), 5000, 'discovery');
    await waitUntil(() => availability(ha).at(-1) === 'online', 2000, () => JSON.stringify(ha.messages));
    const text = JSON.stringify(logged.lines());
    expect(text).not.toMatch(/right-horse-battery|wrong-staple/);
  });
});
