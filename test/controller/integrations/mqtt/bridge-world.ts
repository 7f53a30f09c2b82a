// The MQTT bridge tests' setting: a real broker (mosquitto, started here), the controller with
// stand-in components and two specs (one with pages, its URLs holding secrets), a client that
// sees what Home Assistant would, and the bridge between them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { Controller } from '../../../../controller/controller.js';
import { MqttBridge } from '../../../../controller/integrations/mqtt/bridge.js';
import { standInComponents, type StandIns } from '../../../stand-ins/components.js';
import { captureLog, tempDirs, waitUntil } from '../../../helpers.js';
import { Mosquitto, Observer } from './mosquitto.js';

export const single = (name: string, device: string) => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: ${name} }
spec:
  device: ${device}
  url: https://ha.example/${name}?token=SECRET0
  policy:
    backoff: { initial: 50ms, max: 200ms }
`;

export const board = (name: string, device: string) => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: ${name} }
spec:
  device: ${device}
  pages:
    - url: https://grafana.example/d/power?auth=SECRET1
    - url: https://u:SECRET2@cam.example/door
    - url: https://ha.example/k#token=SECRET3
  policy:
    backoff: { initial: 50ms, max: 200ms }
`;

export const CONFIG = (spec: string) => `homeassistant/device/pagecast_${spec}/config`;
export const STATE = (spec: string) => `pagecast/${spec}/state`;
export const AVAILABILITY = 'pagecast/test-node/availability';

export interface BridgeWorld {
  broker: Mosquitto;
  specs: string;
  c: StandIns;
  ctl: Controller;
  bridge: MqttBridge;
  ha: Observer;
  logged: ReturnType<typeof captureLog>;
  /** A new bridge on the same controller and broker (after `bridge.stop()`). */
  restartBridge(): void;
}

/** Sets the world up before each test (kitchen: one URL; board: three pages) and down after. */
export function bridgeWorld(): BridgeWorld {
  const dirs = tempDirs();
  const w = {} as BridgeWorld;
  const newBridge = () => new MqttBridge({ control: w.ctl, url: w.broker.url, log: w.logged.log, node: 'test-node', backoff: { initialMs: 50, maxMs: 400 } });
  w.restartBridge = () => {
    w.bridge = newBridge();
    w.bridge.start();
  };
  beforeEach(async () => {
    w.broker = await Mosquitto.start();
    w.specs = dirs.make('pc-mqtt-specs-');
    w.c = standInComponents(dirs.make('pc-mqtt-streams-'));
    writeFileSync(join(w.specs, 'kitchen.yaml'), single('kitchen', 'Kitchen TV'));
    writeFileSync(join(w.specs, 'board.yaml'), board('board', 'Hall TV'));
    w.logged = captureLog();
    w.ctl = new Controller({ specsDir: w.specs, stateDir: dirs.make('pc-mqtt-state-'), components: w.c, log: w.logged.log, resyncMs: 60_000 });
    await w.ctl.start();
    await waitUntil(() => w.ctl.get('kitchen')?.phase === 'Playing' && w.ctl.get('board')?.page?.index === 0, 5000, 'both specs playing');
    w.ha = await Observer.connect(w.broker.url, ['homeassistant/#', 'pagecast/#']);
    w.restartBridge();
    await waitUntil(() => w.ha.json(CONFIG('kitchen')) && w.ha.json(CONFIG('board')) && w.ha.json(STATE('board')), 5000, 'discovery');
  });
  afterEach(async () => {
    await w.bridge?.stop();
    await w.ha?.close();
    await w.ctl?.stop();
    await w.broker?.close();
    dirs.removeAll();
  });
  return w;
}
