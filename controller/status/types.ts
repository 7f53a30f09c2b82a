// The status model and the controller's control surface, shared by the reconciler, the HTTP API
// and the CLI.
import { z } from 'zod';
import type { EncoderFigures, StreamFetchStats } from '../../machines/components.js';

export type Phase =
  | 'Pending'
  | 'Scheduled'
  | 'Preempted'
  | 'Suspended'
  | 'Starting'
  | 'Playing'
  | 'Recovering'
  | 'Waiting'
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

export interface SpecStatus {
  name: string;
  source: SpecSource;
  device: string; // as written (names and addresses are not secret)
  url: string; // redacted
  priority: number;
  phase: Phase;
  conditions: Condition[];
  restarts: number;
  lastDrift?: { reason: string; message?: string; at: string };
  nextScheduleChange?: string;
  stream?: StreamStatus;
  /** When the device's address last fetched the stream (server-side proof of life). */
  deviceLastFetch?: { playlist?: string; segment?: string };
  suspended: boolean;
  /** The spec file's current error, while the last good version keeps running. */
  error?: string;
  generation: string; // hash of the spec version in use
}

/**
 * An ephemeral cast as the API takes it and the state directory keeps it. Only the shape is
 * checked here: the controller validates the fields with the spec schema when it builds the spec,
 * so errors carry the spec's own messages. Unknown fields are kept.
 */
export const EphemeralCastRequestSchema = z.looseObject({
  device: z.unknown(), // a device name or { host, port }: the spec schema's DeviceRef
  url: z.string(),
  quality: z.unknown().optional(),
  duration: z.string().optional(), // e.g. "10m"; absent = until deleted
  priority: z.number().optional(),
  mode: z.unknown().optional(),
  name: z.string().optional(),
});
export type EphemeralCastRequest = z.infer<typeof EphemeralCastRequestSchema>;

export interface HealthReport {
  ok: boolean;
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
  health(): HealthReport;
  /** True once the first scan and reconcile are done (readiness, as against liveness). */
  ready(): boolean;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
}
