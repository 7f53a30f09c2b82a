// The reconcile contract: read this file first.
//
// Sources say what is wanted (spec files, ephemeral casts, suspends: controller/sources/); spec
// actors hold what is (machines/spec-machine.ts). A reconcile is keyed by DEVICE, because the
// only decision that couples specs — which one gets a device — is made per device: one device's
// specs are planned together and nothing else is, so the queue's dedup and backoff act per device
// and 1,000 screens never wait on one whole-world pass.
//
//   reconcile(key) = observe → plan (pure) → execute
//
//   1. observe:  the desired specs that name this device, and what their actors hold now (plus
//                actors of specs that left, so they are stopped);
//   2. plan:     plan(desired, observed, now) → actions (./plan.ts: pure, tested as tables);
//   3. execute:  actions → events to the spec actors (./spec-actors.ts).
//
// It returns `requeueAfter` when a schedule window opens or closes, or an ephemeral cast expires,
// before anything else would bring this device back. Level-triggered: any change to a source
// enqueues the devices it touches, and a periodic resync enqueues them all.
import type { CastSpec } from '../../specs/schema.js';
import { plan, type Action, type DesiredSpec, type ObservedSpec } from './plan.js';
import type { ReconcileResult } from './queue.js';

/** What a reconcile pass is about: the specs that name one device (see deviceKeyOf). */
export interface ReconcileKey {
  kind: 'device';
  device: string;
}

export const deviceKey = (device: string): ReconcileKey => ({ kind: 'device', device });
export const keyId = (key: ReconcileKey): string => `${key.kind}:${key.device}`;

/** What reconcile() reads and changes. The controller provides it. */
export interface ReconcileWorld {
  now(): Date;
  /** Desired specs on this device (sources drop expired casts first). */
  desiredOn(device: string, now: Date): Map<string, DesiredSpec>;
  /** The actors of these specs, and of specs that ran on this device and are desired nowhere now. */
  observeOn(device: string, desired: ReadonlyMap<string, DesiredSpec>): Map<string, ObservedSpec>;
  /** The spec version each actor runs (for what a change costs). */
  readonly running: ReadonlyMap<string, CastSpec>;
  execute(actions: Action[]): void;
  /** The earliest time something on this device expires (an ephemeral cast), ms since epoch. */
  expiryOn(desired: ReadonlyMap<string, DesiredSpec>): number | undefined;
}

export function reconcile(key: ReconcileKey, world: ReconcileWorld): ReconcileResult {
  const now = world.now();
  // 1. observe
  const desired = world.desiredOn(key.device, now);
  const observed = world.observeOn(key.device, desired);
  // 2. plan
  const p = plan(desired, observed, now, world.running);
  // 3. execute
  world.execute(p.actions);
  const wakes = [p.wakeAt?.getTime(), world.expiryOn(desired)].filter((t): t is number => t !== undefined && Number.isFinite(t));
  if (wakes.length === 0) return {};
  // A few ms past the boundary, so the next pass sees the window changed.
  return { requeueAfter: Math.max(0, Math.min(...wakes) - now.getTime()) + 5 };
}
