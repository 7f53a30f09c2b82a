// What Home Assistant is told about each spec, as pure functions of its (redacted) status: one
// device per spec in one device-based discovery message, and one retained state message that
// every entity reads with a template. Topics and payloads only; the bridge sends them.
// Format: https://www.home-assistant.io/integrations/mqtt/#device-discovery-payload
import type { Phase, SpecStatus } from '../../status/types.js';

/** Every phase, for the phase sensor's `options` (an enum sensor lists its states). */
export const PHASES = [
  'Pending',
  'Scheduled',
  'Preempted',
  'Suspended',
  'Starting',
  'Playing',
  'Recovering',
  'Waiting',
  'Parked',
  'Failed',
  'Stopped',
] as const satisfies readonly Phase[];
// A phase added to the status model and not here fails to compile rather than to show in HA.
const everyPhaseListed: [Exclude<Phase, (typeof PHASES)[number]>] extends [never] ? true : never = true;
void everyPhaseListed;

export interface Topics {
  /** Home Assistant's discovery prefix (its default: homeassistant). */
  discoveryPrefix: string;
  /** Where pagecast's own state and command topics live (default: pagecast). */
  base: string;
  /** This controller's availability: online while connected, offline by its last will. */
  availability: string;
}

/** The three commands Home Assistant can send, by the entity that sends them. */
export const COMMAND_ENTITIES = ['enabled', 'cast_again', 'page'] as const;
export type CommandEntity = (typeof COMMAND_ENTITIES)[number];

export const ONLINE = 'online';
export const OFFLINE = 'offline';
export const PRESS = 'PRESS';

export function discoveryTopic(t: Topics, spec: string): string {
  return `${t.discoveryPrefix}/device/pagecast_${spec}/config`;
}

export function stateTopic(t: Topics, spec: string): string {
  return `${t.base}/${spec}/state`;
}

export function commandTopic(t: Topics, spec: string, entity: CommandEntity): string {
  return `${t.base}/${spec}/${entity}/set`;
}

/** What every spec's state topic matches (the bridge reads its own retained states back). */
export function stateFilter(t: Topics): string {
  return `${t.base}/+/state`;
}

/** What every command topic matches. */
export function commandFilter(t: Topics): string {
  return `${t.base}/+/+/set`;
}

/**
 * The retained state every entity of a spec reads. `node` names the controller that published it,
 * so that one controller clears only its own leftovers when several share a broker.
 */
export interface SpecState {
  phase: Phase;
  playing: boolean;
  enabled: boolean;
  /** The page on screen (0-based, as in `pagecast status`), for a spec with pages; else null. */
  page: string | null;
  /** How many pages the spec has; absent for a single-URL spec. */
  pages?: number;
  lastDrift: { reason: string; message?: string; at: string } | null;
  node: string;
}

/** A spec's page count: from its rotation while its stream runs, else from its `[N pages]` URL. */
export function pageCount(s: SpecStatus): number | undefined {
  if (s.page) return s.page.count;
  const m = /^\[(\d+) pages\]$/.exec(s.url);
  return m ? Number(m[1]) : undefined;
}

/** The state message's payload. Built from the status only: its URLs and messages are redacted. */
export function specState(s: SpecStatus, node: string): SpecState {
  const pages = pageCount(s);
  return {
    phase: s.phase,
    playing: s.phase === 'Playing',
    enabled: !s.suspended,
    page: s.page?.index === undefined ? null : String(s.page.index),
    ...(pages === undefined ? {} : { pages }),
    lastDrift: s.lastDrift ? { reason: s.lastDrift.reason, ...(s.lastDrift.message ? { message: s.lastDrift.message } : {}), at: s.lastDrift.at } : null,
    node,
  };
}

/** HA entity ids take lowercase letters, digits and underscores; spec names also have dashes. */
function entityId(domain: string, spec: string, key: string): string {
  return `${domain}.pagecast_${spec.replace(/-/g, '_')}_${key}`;
}

function component(platform: string, spec: string, key: string, config: Record<string, unknown>): Record<string, unknown> {
  return { platform, unique_id: `pagecast_${spec}_${key}`, default_entity_id: entityId(platform, spec, key), ...config };
}

/**
 * The device discovery payload for a spec: one device, its entities as components, the state
 * topic and the controller's availability shared by all of them. The page select is there only
 * for a spec with pages; its options are the page indices as strings ("0", "1", …).
 */
export function deviceConfig(t: Topics, s: SpecStatus): Record<string, unknown> {
  const spec = s.name;
  const pages = pageCount(s);
  const components: Record<string, unknown> = {
    phase: component('sensor', spec, 'phase', {
      name: 'Phase',
      device_class: 'enum',
      options: [...PHASES],
      value_template: '{{ value_json.phase }}',
      icon: 'mdi:cast',
    }),
    playing: component('binary_sensor', spec, 'playing', {
      name: 'Playing',
      value_template: "{{ 'ON' if value_json.playing else 'OFF' }}",
      icon: 'mdi:cast-connected',
    }),
    enabled: component('switch', spec, 'enabled', {
      name: 'Enabled',
      command_topic: commandTopic(t, spec, 'enabled'),
      value_template: "{{ 'ON' if value_json.enabled else 'OFF' }}",
      icon: 'mdi:television-play',
    }),
    cast_again: component('button', spec, 'cast_again', {
      name: 'Cast again',
      command_topic: commandTopic(t, spec, 'cast_again'),
      payload_press: PRESS,
      icon: 'mdi:cast-audio-variant',
    }),
    last_drift: component('sensor', spec, 'last_drift', {
      name: 'Last drift',
      device_class: 'timestamp',
      entity_category: 'diagnostic',
      // "None" is Home Assistant's word for unknown: no drift yet.
      value_template: "{{ value_json.lastDrift.at if value_json.lastDrift else 'None' }}",
      json_attributes_topic: stateTopic(t, spec),
      json_attributes_template: '{{ (value_json.lastDrift or {}) | tojson }}',
      icon: 'mdi:alert-circle-outline',
    }),
  };
  if (pages !== undefined) components.page = pageComponent(t, spec, pages);
  return {
    device: { identifiers: [`pagecast_${spec}`], name: spec, manufacturer: 'pagecast', model: 'Cast spec' },
    origin: { name: 'pagecast' },
    availability_topic: t.availability,
    payload_available: ONLINE,
    payload_not_available: OFFLINE,
    state_topic: stateTopic(t, spec),
    components,
  };
}

function pageComponent(t: Topics, spec: string, pages: number): Record<string, unknown> {
  return component('select', spec, 'page', {
    name: 'Page',
    command_topic: commandTopic(t, spec, 'page'),
    options: Array.from({ length: pages }, (_, i) => String(i)),
    value_template: "{{ value_json.page if value_json.page is not none else 'None' }}",
    icon: 'mdi:book-open-page-variant',
  });
}

/**
 * The update that removes one component from a device (a spec that no longer has pages): Home
 * Assistant wants the component named with only its platform, before the config without it.
 */
export function withoutComponent(config: Record<string, unknown>, key: string, platform: string): Record<string, unknown> {
  return { ...config, components: { ...(config.components as Record<string, unknown>), [key]: { platform } } };
}
