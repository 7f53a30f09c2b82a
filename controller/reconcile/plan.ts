// The pure heart of the reconciler: plan(desired, observed, now) → actions.
// It decides, in order: which specs are active now (suspend, schedule), who gets each device
// (priority, then whoever already holds it), and what each existing actor must change.
import type { CastSpec } from '../../specs/schema.js';
import { deviceKeyOf, diffSpecs, type SpecChanges } from '../../specs/identity.js';
import { specActive, specNextChange } from '../../specs/rotation.js';
import type { Assignment } from '../../machines/spec-machine.js';

export interface DesiredSpec {
  name: string;
  spec: CastSpec; // url resolved
  generation: string; // hash of the spec version
  suspended: boolean; // spec.suspend or suspended through the API
  ephemeral?: boolean;
}

export interface ObservedSpec {
  name: string;
  generation: string;
  assignment: Assignment;
  /** Playing, or on its way to playing, on its device. */
  holdsDevice: boolean;
  failed: boolean;
}

export type Action =
  | { type: 'start'; name: string; desired: DesiredSpec; assignment: Assignment }
  | { type: 'update'; name: string; desired: DesiredSpec; assignment: Assignment; changes: SpecChanges }
  | { type: 'assign'; name: string; assignment: Assignment }
  | { type: 'stop'; name: string };

export interface Plan {
  actions: Action[];
  assignments: Map<string, Assignment>;
  /** Earliest schedule change among all specs: reconcile again then. */
  wakeAt?: Date;
}

export function plan(
  desired: ReadonlyMap<string, DesiredSpec>,
  observed: ReadonlyMap<string, ObservedSpec>,
  now: Date,
  previous?: ReadonlyMap<string, CastSpec>,
): Plan {
  const assignments = new Map<string, Assignment>();
  const contenders = new Map<string, DesiredSpec[]>();
  let wakeAt: Date | undefined;

  // 1. Active now?
  for (const d of desired.values()) {
    // The spec's schedule, and for a pages spec whose every page has windows, some page in its window.
    const next = specNextChange(d.spec.spec, now);
    if (next && (!wakeAt || next < wakeAt)) wakeAt = next;
    const nextIso = next?.toISOString();
    if (d.suspended) {
      assignments.set(d.name, { role: 'suspended', nextChange: nextIso });
    } else if (!specActive(d.spec.spec, now)) {
      assignments.set(d.name, { role: 'scheduled', nextChange: nextIso });
    } else {
      const key = deviceKeyOf(d.spec.spec.device);
      const list = contenders.get(key);
      if (list) list.push(d);
      else contenders.set(key, [d]);
      assignments.set(d.name, { role: 'play', nextChange: nextIso });
    }
  }

  // 2. One spec per device: highest priority; at equal priority the holder keeps it.
  for (const list of contenders.values()) {
    if (list.length === 1) continue;
    const eligible = list.filter((d) => !observed.get(d.name)?.failed);
    if (eligible.length === 0) continue;
    const top = Math.max(...eligible.map((d) => d.spec.spec.priority));
    const atTop = eligible.filter((d) => d.spec.spec.priority === top).sort((a, b) => a.name.localeCompare(b.name));
    const holder = atTop.find((d) => observed.get(d.name)?.holdsDevice);
    const winner = holder ?? atTop[0]!;
    for (const d of eligible) {
      if (d === winner) continue;
      const a = assignments.get(d.name)!;
      a.role = d.spec.spec.priority === top ? 'conflict' : 'preempted';
      a.by = winner.name;
    }
  }

  // 3. What each actor must do.
  const actions: Action[] = [];
  for (const d of desired.values()) {
    const assignment = assignments.get(d.name)!;
    const o = observed.get(d.name);
    if (!o) {
      actions.push({ type: 'start', name: d.name, desired: d, assignment });
    } else if (o.generation !== d.generation) {
      const before = previous?.get(d.name);
      const changes = before ? diffSpecs(before, d.spec) : { stream: true, cast: true, live: false };
      actions.push({ type: 'update', name: d.name, desired: d, assignment, changes });
    } else if (!sameAssignment(o.assignment, assignment)) {
      actions.push({ type: 'assign', name: d.name, assignment });
    }
  }
  for (const name of observed.keys()) {
    if (!desired.has(name)) actions.push({ type: 'stop', name });
  }
  // Stops first, so a device or a stream is free before its next user starts.
  actions.sort((a, b) => (a.type === 'stop' ? 0 : 1) - (b.type === 'stop' ? 0 : 1));
  return { actions, assignments, wakeAt };
}

function sameAssignment(a: Assignment, b: Assignment): boolean {
  return a.role === b.role && a.by === b.by && a.nextChange === b.nextChange;
}
