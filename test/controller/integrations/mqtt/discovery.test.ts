// The discovery payload and the state message, as pure functions of a spec's status.
import { describe, expect, it } from 'vitest';
import { deviceConfig, pageCount, PHASES, specState, withoutComponent, type Topics } from '../../../../controller/integrations/mqtt/discovery.js';
import type { SpecStatus } from '../../../../controller/status/types.js';

const topics: Topics = { discoveryPrefix: 'homeassistant', base: 'pagecast', availability: 'pagecast/den/availability' };

const status = (over: Partial<SpecStatus> = {}): SpecStatus => ({
  name: 'kitchen-tv',
  source: { file: '/specs/kitchen.yaml', line: 1, column: 1 },
  device: 'Kitchen TV',
  url: 'https://ha.example/lovelace/kitchen?[redacted]',
  priority: 0,
  phase: 'Playing',
  conditions: [],
  restarts: 0,
  suspended: false,
  generation: 'abc',
  ...over,
});

describe('deviceConfig', () => {
  it('is one device with its entities, the shared state topic and the controller’s availability', () => {
    expect(deviceConfig(topics, status())).toEqual({
      device: { identifiers: ['pagecast_kitchen-tv'], name: 'kitchen-tv', manufacturer: 'pagecast', model: 'Cast spec' },
      origin: { name: 'pagecast' },
      availability_topic: 'pagecast/den/availability',
      payload_available: 'online',
      payload_not_available: 'offline',
      state_topic: 'pagecast/kitchen-tv/state',
      components: {
        phase: {
          platform: 'sensor',
          unique_id: 'pagecast_kitchen-tv_phase',
          default_entity_id: 'sensor.pagecast_kitchen_tv_phase',
          name: 'Phase',
          device_class: 'enum',
          options: ['Pending', 'Scheduled', 'Preempted', 'Suspended', 'Starting', 'Playing', 'Recovering', 'Waiting', 'Parked', 'Failed', 'Stopped'],
          value_template: '{{ value_json.phase }}',
          icon: 'mdi:cast',
        },
        playing: {
          platform: 'binary_sensor',
          unique_id: 'pagecast_kitchen-tv_playing',
          default_entity_id: 'binary_sensor.pagecast_kitchen_tv_playing',
          name: 'Playing',
          value_template: "{{ 'ON' if value_json.playing else 'OFF' }}",
          icon: 'mdi:cast-connected',
        },
        enabled: {
          platform: 'switch',
          unique_id: 'pagecast_kitchen-tv_enabled',
          default_entity_id: 'switch.pagecast_kitchen_tv_enabled',
          name: 'Enabled',
          command_topic: 'pagecast/kitchen-tv/enabled/set',
          value_template: "{{ 'ON' if value_json.enabled else 'OFF' }}",
          icon: 'mdi:television-play',
        },
        cast_again: {
          platform: 'button',
          unique_id: 'pagecast_kitchen-tv_cast_again',
          default_entity_id: 'button.pagecast_kitchen_tv_cast_again',
          name: 'Cast again',
          command_topic: 'pagecast/kitchen-tv/cast_again/set',
          payload_press: 'PRESS',
          icon: 'mdi:cast-audio-variant',
        },
        last_drift: {
          platform: 'sensor',
          unique_id: 'pagecast_kitchen-tv_last_drift',
          default_entity_id: 'sensor.pagecast_kitchen_tv_last_drift',
          name: 'Last drift',
          device_class: 'timestamp',
          entity_category: 'diagnostic',
          value_template: "{{ value_json.lastDrift.at if value_json.lastDrift else 'None' }}",
          json_attributes_topic: 'pagecast/kitchen-tv/state',
          json_attributes_template: '{{ (value_json.lastDrift or {}) | tojson }}',
          icon: 'mdi:alert-circle-outline',
        },
      },
    });
  });

  it('has a page select only for a spec with pages, one option per page, even before its stream runs', () => {
    expect((deviceConfig(topics, status()).components as Record<string, unknown>).page).toBeUndefined();
    const page = (deviceConfig(topics, status({ url: '[3 pages]' })).components as Record<string, Record<string, unknown>>).page!;
    expect(page).toMatchObject({ platform: 'select', command_topic: 'pagecast/kitchen-tv/page/set', options: ['0', '1', '2'], unique_id: 'pagecast_kitchen-tv_page' });
    // While the stream runs, the rotation's count is the one that holds.
    expect(pageCount(status({ url: '[3 pages]', page: { count: 4, inRotation: [0], failed: [] } }))).toBe(4);
  });

  it('removes one component by naming it with its platform alone', () => {
    const config = deviceConfig(topics, status());
    expect((withoutComponent(config, 'page', 'select').components as Record<string, unknown>).page).toEqual({ platform: 'select' });
    expect((config.components as Record<string, unknown>).page).toBeUndefined();
  });

  it('lists every phase for the enum sensor', () => {
    expect(new Set(PHASES).size).toBe(11);
  });
});

describe('specState', () => {
  it('says what the entities show, from the redacted status, and which controller said it', () => {
    expect(specState(status(), 'den')).toEqual({ phase: 'Playing', playing: true, enabled: true, page: null, lastDrift: null, node: 'den' });
    expect(
      specState(
        status({
          phase: 'Suspended',
          suspended: true,
          url: '[2 pages]',
          page: { index: 1, count: 2, inRotation: [0, 1], failed: [] },
          lastDrift: { reason: 'DeviceIdle', message: 'device went idle', at: '2026-01-01T10:00:00.000Z' },
        }),
        'den',
      ),
    ).toEqual({ phase: 'Suspended', playing: false, enabled: false, page: '1', pages: 2, lastDrift: { reason: 'DeviceIdle', message: 'device went idle', at: '2026-01-01T10:00:00.000Z' }, node: 'den' });
  });
});
