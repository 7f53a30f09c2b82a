// The MQTT bridge against a real broker and the controller with stand-in components: discovery,
// state on change, Home Assistant's birth message, specs that change or go away.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../../helpers.js';
import { AVAILABILITY, bridgeWorld, CONFIG, single, STATE } from './bridge-world.js';
import { retained } from './mosquitto.js';

describe('the MQTT bridge', () => {
  const w = bridgeWorld();

  it('publishes one device per spec, retained, with the controller online, and no secret anywhere', async () => {
    const kept = await retained(w.broker.url, '#');
    expect([...kept.keys()].sort()).toEqual([CONFIG('board'), CONFIG('kitchen'), 'pagecast/board/state', 'pagecast/kitchen/state', AVAILABILITY]);
    expect(kept.get(AVAILABILITY)).toBe('online');
    const kitchen = JSON.parse(kept.get(CONFIG('kitchen'))!) as Record<string, any>;
    expect(kitchen).toMatchObject({
      device: { identifiers: ['pagecast_kitchen'], name: 'kitchen' },
      origin: { name: 'pagecast' },
      availability_topic: AVAILABILITY,
      state_topic: 'pagecast/kitchen/state',
    });
    expect(Object.keys(kitchen.components).sort()).toEqual(['cast_again', 'enabled', 'last_drift', 'phase', 'playing']);
    expect(kitchen.components.enabled).toMatchObject({ platform: 'switch', command_topic: 'pagecast/kitchen/enabled/set' });
    expect(kitchen.components.cast_again).toMatchObject({ platform: 'button', command_topic: 'pagecast/kitchen/cast_again/set', payload_press: 'PRESS' });
    const boardConfig = JSON.parse(kept.get(CONFIG('board'))!) as Record<string, any>;
    expect(boardConfig.components.page).toMatchObject({ platform: 'select', command_topic: 'pagecast/board/page/set', options: ['0', '1', '2'] });
    expect(JSON.parse(kept.get(STATE('kitchen'))!)).toEqual({ phase: 'Playing', playing: true, enabled: true, page: null, lastDrift: null, node: 'test-node' });
    expect(JSON.parse(kept.get(STATE('board'))!)).toMatchObject({ phase: 'Playing', page: '0', pages: 3 });
    const everything = w.ha.messages.map((m) => m.payload).join('\n');
    expect(everything).not.toMatch(/SECRET|ha\.example|grafana\.example/);
  });

  it('publishes a phase change within a second, retained', async () => {
    const before = Date.now();
    await w.ctl.suspend('kitchen');
    const seen = await waitUntil(() => w.ha.messages.find((m) => m.topic === STATE('kitchen') && m.at >= before && JSON.parse(m.payload).phase === 'Suspended'), 2000, 'the Suspended state');
    expect(seen.at - before).toBeLessThan(1000);
    expect(JSON.parse(seen.payload)).toMatchObject({ playing: false, enabled: false });
    expect(JSON.parse((await retained(w.broker.url, STATE('kitchen'))).get(STATE('kitchen'))!)).toMatchObject({ phase: 'Suspended' });
  });

  it('a deleted spec’s device is removed: empty retained payloads, nothing left at the broker', async () => {
    rmSync(join(w.specs, 'kitchen.yaml'));
    await waitUntil(() => w.ha.last(CONFIG('kitchen'))?.payload === '' && w.ha.last(STATE('kitchen'))?.payload === '', 5000, 'kitchen removed');
    const kept = await retained(w.broker.url, '#');
    expect([...kept.keys()].sort()).toEqual([CONFIG('board'), 'pagecast/board/state', AVAILABILITY]);
  });

  it('sends discovery again when Home Assistant says it is back (its birth message)', async () => {
    const before = w.ha.on(CONFIG('kitchen')).length;
    await w.ha.publish('homeassistant/status', 'online');
    await waitUntil(() => w.ha.on(CONFIG('kitchen')).length > before && w.ha.on(STATE('kitchen')).length > 1, 5000, 'discovery again');
  });

  it('a spec that stops having pages loses its page select: removed by platform, then left out', async () => {
    const before = w.ha.on(CONFIG('board')).length;
    writeFileSync(join(w.specs, 'board.yaml'), single('board', 'Hall TV'));
    await waitUntil(() => w.ha.on(CONFIG('board')).length >= before + 2 && !JSON.parse(w.ha.last(CONFIG('board'))!.payload).components.page, 5000, 'board without pages');
    const [removal, after] = w.ha.on(CONFIG('board')).slice(-2).map((m) => JSON.parse(m.payload).components);
    expect(removal.page).toEqual({ platform: 'select' });
    expect(Object.keys(after).sort()).toEqual(['cast_again', 'enabled', 'last_drift', 'phase', 'playing']);
  });

  it('a spec deleted while the bridge was away is cleared when it comes back; another controller’s are not', async () => {
    await w.bridge.stop();
    // Another controller's spec on the same broker, retained.
    await w.ha.client.publishAsync(STATE('attic'), JSON.stringify({ phase: 'Playing', node: 'other-node' }), { qos: 1, retain: true });
    rmSync(join(w.specs, 'kitchen.yaml'));
    await waitUntil(() => !w.ctl.get('kitchen'), 5000, 'kitchen gone from the controller');
    w.restartBridge();
    await waitUntil(async () => !(await retained(w.broker.url, CONFIG('kitchen'))).has(CONFIG('kitchen')), 5000, 'kitchen cleared');
    const kept = await retained(w.broker.url, '#');
    expect(kept.has(STATE('kitchen'))).toBe(false);
    expect(kept.has(STATE('attic'))).toBe(true);
    expect(kept.get(AVAILABILITY)).toBe('online');
  });
});
