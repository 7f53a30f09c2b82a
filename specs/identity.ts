// Spec identity: which specs share a stream, which name the same device, and what a change to a
// spec costs. What a change costs is read from the schema's own `.meta({ applies })`, so a new
// field says it once, where it is declared.
import { stableHash, stableJson } from './hash.js';
import { CastSpecBody, PAGE_OVERRIDES, type BrowserOptions, type CastSpec, type DeviceRef, type HwAccel, type Page, type Resolution, type ScheduleWindow, type StreamMode } from './schema.js';

/** One page of a rotation, as the browser renders it. */
export interface PageInput {
  url: string; // resolved (urlFrom already read)
  for: number; // ms it shows per turn; 0 for the single page of a url spec: no rotation
  browser: BrowserOptions; // the spec's browser with this page's overrides applied (storageState absolute once resolved)
  windows?: ScheduleWindow[]; // the page's schedule windows, in StreamInput.timezone; absent: not scheduled
}

/** What a stream renders. Specs whose StreamInput is identical share one stream. */
export interface StreamInput {
  url: string; // resolved (urlFrom already read); a pages spec: the first page's url
  quality: Resolution;
  mode: StreamMode;
  hwAccel: HwAccel;
  browser: BrowserOptions; // the spec's own browser options; storageState already made absolute
  pages?: PageInput[]; // present only for a pages spec, in the spec's order
  timezone?: string; // present only for a pages spec: the zone of the pages' windows
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
  const base = { quality: s.quality, mode: s.mode, hwAccel: s.hwAccel, browser: s.browser };
  if (!s.pages) return { url: s.url ?? '', ...base };
  const pages = s.pages.map((p) => pageInputOf(p, s.browser));
  return { url: pages[0]!.url, ...base, pages, timezone: s.schedule?.timezone ?? 'UTC' };
}

function pageInputOf(page: Page, browser: BrowserOptions): PageInput {
  const merged: BrowserOptions = { ...browser };
  // An override replaces the spec's value whole (headers and css included): absent keeps it.
  for (const k of PAGE_OVERRIDES) {
    const v = page.browser?.[k];
    if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  }
  const input: PageInput = { url: page.url ?? '', for: page.for, browser: merged };
  if (page.schedule) input.windows = page.schedule.windows;
  return input;
}

/** The pages a stream shows: a pages spec's, or its one url as a single page with `for: 0` (no rotation). */
export function pagesOf(input: StreamInput): PageInput[] {
  return input.pages ?? [{ url: input.url, for: 0, browser: input.browser }];
}

/**
 * What one page's render depends on (its url and browser options), not when or how long it
 * shows: a page whose key is unchanged need not be loaded again.
 */
export function pageRenderKey(page: PageInput): string {
  return stableHash({ url: page.url, browser: page.browser });
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
  // A pages spec's rotation is in the zone of spec.schedule, a live field: the stream key says it.
  if (!stream && streamKeyOf(before) !== streamKeyOf(after)) stream = true;
  const live = !stream && !cast && generationOf(before) !== generationOf(after);
  return { stream, cast, live };
}
