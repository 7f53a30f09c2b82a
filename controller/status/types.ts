// The status model and the controller's control surface, shared by the reconciler, the HTTP API
// and the CLI.
import { z } from 'zod';
import type { EncoderFigures, StreamFetchStats } from '../../machines/components.js';
import { parseDuration } from '../../specs/duration.js';
import { CastSpecBody, DeviceRef, Metadata, Quality, StreamMode } from '../../specs/schema.js';

export type Phase =
  | 'Pending'
  | 'Scheduled'
  | 'Preempted'
  | 'Suspended'
  | 'Starting'
  | 'Playing'
  | 'Recovering'
  | 'Waiting'
  /** The device has been away for policy.parkAfter: its stream is parked until it is back. */
  | 'Parked'
  | 'Failed'
  | 'Stopped';

export const CONDITION_TYPES = [
  'Valid',
  'DisplayReady',
  'BrowserReady',
  'EncoderRunning',
  'StreamServable',
  'DeviceFound',
  'DeviceConnected',
  'MediaPlaying',
  'DeviceConflict',
  'HardwareAcceleration',
  'EncoderDegraded',
  /** A spec with pages: False while a page failed to load (the others keep rotating). */
  'PagesReady',
  /** Several instances on etcd: True while an instance holds the spec (Owned here, OwnedElsewhere); False: Unowned, Fenced. */
  'Coordination',
] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface Condition {
  type: ConditionType | string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string; // ISO
}

export interface SpecSource {
  /** The spec file and position, or 'ephemeral' for casts made through the API. */
  file?: string;
  line?: number;
  column?: number;
  ephemeral?: boolean;
  expiresAt?: string;
}

export interface StreamStatus {
  id: string; // short stable id of the render input (not the secret path token)
  sharedWith: string[]; // other specs casting the same stream
  encoder?: string; // e.g. libx264 after a hardware fallback
  fallbackReason?: string;
  figures?: EncoderFigures;
  fetches: StreamFetchStats[];
}

/** Why and since when a spec is parked (its device away for longer than policy.parkAfter). */
export interface ParkedStatus {
  reason: 'Unreachable' | 'Standby' | 'OtherApp';
  message: string;
  /** When the stream was parked for this spec, ISO. */
  since: string;
  /** When the device went away, ISO. */
  awaySince: string;
  /** False while another spec whose device is present keeps the shared stream running. */
  streamStopped: boolean;
}

/** A page of a rotation that could not be loaded: skipped, and tried again on its next turn. */
export interface FailedPage {
  /** 0-based, into the spec's pages. */
  index: number;
  url: string; // redacted
  error: string; // redacted
}

/** Where a spec's rotation (`spec.pages`) stands. Indices are 0-based, as in the spec file's list. */
export interface PageStatus {
  /** The page on screen; absent before the first page shows. */
  index?: number;
  /** Pages in the spec (in the rotation or not). */
  count: number;
  /** The URL of the page on screen, redacted. */
  url?: string;
  /** When the page on screen came on screen, ISO. */
  since?: string;
  /** When the next switch is due, ISO; absent when no other page is to show. */
  nextSwitchAt?: string;
  /** The pages their schedules put in the rotation now. */
  inRotation: number[];
  failed: FailedPage[];
}

export interface SpecStatus {
  name: string;
  source: SpecSource;
  device: string; // as written (names and addresses are not secret)
  url: string; // redacted; "[N pages]" for a spec with pages
  priority: number;
  phase: Phase;
  conditions: Condition[];
  restarts: number;
  lastDrift?: { reason: string; message?: string; at: string };
  /** Present while the spec is parked. */
  parked?: ParkedStatus;
  nextScheduleChange?: string;
  stream?: StreamStatus;
  /** A spec with pages, while its stream runs: the page on screen and the pages that failed. */
  page?: PageStatus;
  /** When the device's address last fetched the stream (server-side proof of life). */
  deviceLastFetch?: { playlist?: string; segment?: string };
  suspended: boolean;
  /** The spec file's current error, while the last good version keeps running. */
  error?: string;
  generation: string; // hash of the spec version in use
  /** Several instances on etcd: the instance that owns the spec (absent on a single box). */
  owner?: string;
}

/** An ephemeral cast lasts at most a year; one meant to stay has no duration. */
export const MAX_CAST_MS = 365 * 86_400_000;

/**
 * `base` (the type the API declares) checked further with a piece of the spec schema, but kept as
 * written: no default filled in, no preset expanded, so what is stored and shown is what was sent.
 */
function checkedBy<T>(base: z.ZodType<T>, piece: z.ZodType): z.ZodType<T> {
  return base.superRefine((value, ctx) => {
    const r = piece.safeParse(value);
    if (!r.success) for (const issue of r.error.issues) ctx.issues.push({ ...issue, input: value } as z.core.$ZodRawIssue);
  });
}

function isWebUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

const DURATION = 'expected a duration like 30s, 10m or 1h';

/**
 * An ephemeral cast as the API takes it and the state directory keeps it. Strict: an unknown field
 * is an error (a typo such as `durration` is never ignored, nor stored). Each field is checked with
 * the spec schema's own piece; the controller still builds and validates the whole spec.
 */
export const EphemeralCastRequestSchema = z.strictObject({
  device: checkedBy(z.unknown(), DeviceRef), // a device name, {host, port} or {id}
  // A web page only: a file: URL would let an API client cast any file this user can read.
  url: z.string({ error: 'expected an http or https URL' }).refine(isWebUrl, { message: 'expected an http or https URL (file: URLs only in spec files)' }),
  quality: checkedBy(z.unknown(), Quality).optional(),
  duration: z
    .string({ error: DURATION })
    .superRefine((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms <= 0) ctx.addIssue({ code: 'custom', message: DURATION });
      else if (ms > MAX_CAST_MS) ctx.addIssue({ code: 'custom', message: 'expected at most 365d (leave it out for a cast that lasts until it is ended)' });
    })
    .optional(), // absent = until deleted
  priority: checkedBy(z.number(), CastSpecBody.shape.priority).optional(),
  mode: checkedBy(z.unknown(), StreamMode).optional(),
  name: checkedBy(z.string(), Metadata.shape.name).optional(),
});
export type EphemeralCastRequest = z.infer<typeof EphemeralCastRequestSchema>;

/** `POST /api/v1/specs/NAME/page`: the page to bring to the front, 0-based. */
export const ShowPageRequestSchema = z.strictObject({
  index: z.number({ error: 'expected a page index, a whole number from 0' }).int({ error: 'expected a page index, a whole number from 0' }),
});
export type ShowPageRequest = z.infer<typeof ShowPageRequestSchema>;

/**
 * What a jump to a page came to: the rotation as it stands after it, or why not. `unknown`: no
 * such spec; `no-pages`: a single-URL spec; `not-playing`: its stream is not running (or its
 * browser not yet ready); `range`: no such page; `not-ready`: the page failed or is still loading.
 */
export type ShowPageOutcome =
  | { ok: true; page: PageStatus }
  | { ok: false; reason: 'unknown' | 'no-pages' | 'not-playing' | 'range' | 'not-ready'; message: string };

/** What an action on a running spec (re-cast, reload, restart) answers: done, or why not. */
export type ActionOutcome = { ok: true; message: string } | { ok: false; reason: 'unknown' | 'not-playing'; message: string };

/** A Cast device as the console shows it: what mDNS says of it, and the specs that name it. */
export interface DeviceView {
  /** The friendly name mDNS gives, else the device as a spec writes it. */
  name: string;
  model?: string;
  /** host:port, as mDNS or the connection knows it. */
  address?: string;
  id?: string;
  /** It answered mDNS at the last look. */
  discovered: boolean;
  /** What it runs: the app our connection sees, else mDNS's `rs` ('' when idle, undefined when unknown). */
  app?: string;
  /** The specs that name this device, and whether each is the one casting to it now. */
  specs: Array<{ name: string; phase: Phase; casting: boolean }>;
}

export interface DevicesView {
  devices: DeviceView[];
  /** When mDNS was last asked, ISO. */
  at: string;
  /** Why mDNS could not be asked, if it could not (the devices the specs name are still listed). */
  error?: string;
}

/** A spec's file as the console shows it: secrets redacted, line for line as on disk. */
export interface SpecSourceView {
  /** The file, relative to the specs directory; absent for an ephemeral cast (shown as YAML). */
  file?: string;
  text: string;
  /** 1-based line of the spec's document in `text`. */
  line?: number;
  /** The file's current errors for this spec, each on its line (1-based). */
  errors: Array<{ line?: number; column?: number; message: string }>;
}

/** A drift as it happened (the lastDrift of every change, oldest first). */
export interface DriftRecord {
  reason: string;
  message?: string;
  at: string;
}

/** One line of a spec's recent log, redacted. */
export interface LogLine {
  time: string;
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  msg: string;
  component?: string;
  /** The other fields, as compact JSON (no time, level, msg, spec, component). */
  fields?: string;
}

/** Where a spec's stream is written, for the console's thumbnail and preview (never the LAN URL). */
export interface StreamFiles {
  streamId: string;
  dir: string;
  mode: 'hls' | 'fmp4';
  width: number;
  height: number;
  /** The master playlist's name in `dir`. */
  entry: string;
}

/** One interval of confirmed play from the proof-of-play file (ms since the epoch). */
export interface PlaySpan {
  spec: string;
  device: string;
  start: number;
  end: number;
  /** Why it ended; undefined while it lasts. */
  reason?: string;
}

export interface HealthReport {
  ok: boolean;
  /** Why not ok, when the controller runs but its reconcile loop is stuck. */
  reason?: string;
  specs: number;
  playing: number;
  failed: number;
  startedAt: string;
}

/** What the HTTP API and the CLI may ask of a running controller. */
export interface ControlPlane {
  list(): SpecStatus[];
  get(name: string): SpecStatus | undefined;
  /** false when no such spec */
  suspend(name: string): Promise<boolean>;
  resume(name: string): Promise<boolean>;
  /** Validates with the spec schema; throws PagecastError('SPEC_INVALID') with field-path messages. */
  createCast(req: EphemeralCastRequest): Promise<{ name: string; expiresAt?: string }>;
  /** false when no such ephemeral cast */
  deleteCast(name: string): Promise<boolean>;
  /** Brings page `index` (0-based) of a spec with pages to the front and restarts its turn. */
  showPage(name: string, index: number): Promise<ShowPageOutcome>;
  /** Gives the device a new LOAD of the stream now (what a stop from the remote gets anyway). */
  recast(name: string): Promise<ActionOutcome>;
  /** Loads the spec's page (every page of a rotation, each once it is off screen) again now. */
  reloadPage(name: string): Promise<ActionOutcome>;
  /** Stops the spec's display, browser and encoder and starts them again; the TV keeps its URL. */
  restartStream(name: string): Promise<ActionOutcome>;
  /**
   * Called with the names of specs whose status may read differently now (coalesced: at most once
   * per turn of the event loop). Returns the unsubscribe.
   */
  subscribe(listener: (names: string[]) => void): () => void;
  health(): HealthReport;
  // ── what the console shows beside status ──
  /** Cast devices: what mDNS sees (asked at most every few seconds) and which spec holds which. */
  devices(): Promise<DevicesView>;
  /** The spec's file (or an ephemeral cast as YAML), redacted, with its errors on their lines. */
  specSource(name: string): Promise<SpecSourceView | undefined>;
  /** The spec's drifts since the controller started, oldest first (a bounded number). */
  driftHistory(name: string): DriftRecord[];
  /** The spec's recent log lines, its stream's included, oldest first. */
  logLines(name: string): LogLine[];
  /** The files of the stream the spec holds now; undefined when it holds none. */
  streamFiles(name: string): StreamFiles | undefined;
  /** Intervals of confirmed play from the proof-of-play file overlapping [since, now]. */
  playSpans(since: number): Promise<PlaySpan[]>;
  /** True once the first scan and reconcile are done (readiness, as against liveness). */
  ready(): boolean;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
}
