// Spec identity: which specs share a stream, which name the same device, and what a change to a
// spec costs. What a change costs is read from the schema's own `.meta({ applies })`, so a new
// field says it once, where it is declared.
import { stableHash, stableJson } from './hash.js';
import { CastSpecBody, type BrowserOptions, type CastSpec, type DeviceRef, type HwAccel, type Resolution, type StreamMode } from './schema.js';

/** What a stream renders. Specs whose StreamInput is identical share one stream. */
export interface StreamInput {
  url: string; // resolved (urlFrom already read)
  quality: Resolution;
  mode: StreamMode;
  hwAccel: HwAccel;
  browser: BrowserOptions; // storageState already made absolute
}

export type Applies = 'live' | 'cast' | 'stream';
type BodyField = keyof CastSpec['spec'];

/** Each spec field's cost, from the schema: `live`, `cast` (re-LOAD) or `stream` (re-render). */
export const FIELD_COSTS: ReadonlyMap<BodyField, Applies> = new Map(
  Object.entries(CastSpecBody.shape).map(([field, schema]) => {
    const applies = (schema.meta() as { applies?: Applies } | undefined)?.applies;
    if (!applies) throw new Error(`schema field spec.${field} has no applies metadata`);
    return [field as BodyField, applies];
  }),
);

export function streamInputOf(spec: CastSpec): StreamInput {
  const s = spec.spec;
  return { url: s.url ?? '', quality: s.quality, mode: s.mode, hwAccel: s.hwAccel, browser: s.browser };
}

/** Specs with identical render input share one stream: this key says which. */
export function streamKeyOf(spec: CastSpec): string {
  return stableHash(streamInputOf(spec));
}

/** A device reference as a comparable key: names case-insensitively, addresses as host:port. */
export function deviceKeyOf(device: DeviceRef): string {
  if (typeof device === 'string') return `name:${device.trim().toLowerCase()}`;
  if ('id' in device) return `id:${device.id.toLowerCase()}`;
  return `host:${device.host.toLowerCase()}:${device.port}`;
}

export function describeDevice(device: DeviceRef): string {
  if (typeof device === 'string') return device;
  if ('id' in device) return `id ${device.id}`;
  return `${device.host}:${device.port}`;
}

/** A short hash of the whole spec version. */
export function generationOf(spec: CastSpec): string {
  return stableHash(spec, 12);
}

export interface SpecChanges {
  stream: boolean; // render input changed: new stream, same device connection
  cast: boolean; // device or title changed: new cast, same stream
  live: boolean; // anything else (policy, priority, schedule, labels): no restart
}

function fieldKey(field: BodyField, value: unknown): string {
  return field === 'device' ? deviceKeyOf(value as DeviceRef) : stableJson(value);
}

/** What changing `before` into `after` costs, field by field from the schema's metadata. */
export function diffSpecs(before: CastSpec, after: CastSpec): SpecChanges {
  let stream = false;
  let cast = false;
  for (const [field, applies] of FIELD_COSTS) {
    if (applies === 'live' || fieldKey(field, before.spec[field]) === fieldKey(field, after.spec[field])) continue;
    if (applies === 'stream') stream = true;
    else cast = true;
  }
  const live = !stream && !cast && generationOf(before) !== generationOf(after);
  return { stream, cast, live };
}
