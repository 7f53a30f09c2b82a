import { describe, expect, it } from 'vitest';
import { reconcile, type ReconcileWorld } from '../../../controller/reconcile/reconcile.js';
import type { Action, DesiredSpec, ObservedSpec } from '../../../controller/reconcile/plan.js';
import { deviceKeyOf, generationOf } from '../../../specs/identity.js';
import { CastSpecSchema, type CastSpec } from '../../../specs/schema.js';

const mk = (name: string, spec: Record<string, unknown> = {}): CastSpec =>
  CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name }, spec: { device: 'TV', url: 'https://a.example/', ...spec } });
const NOW = new Date('2026-11-25T12:00:00Z'); // a Wednesday, 13:00 in Berlin

/** A world of specs and actors held in maps, recording what reconcile() executes. */
function world(specs: CastSpec[], opts: { actors?: Record<string, CastSpec>; expiries?: Record<string, number> } = {}) {
  const executed: Action[] = [];
  const running = new Map(Object.entries(opts.actors ?? {}));
  const w: ReconcileWorld = {
    now: () => NOW,
    desiredOn: (device) =>
      new Map(
        specs
          .filter((s) => deviceKeyOf(s.spec.device) === device)
          .map((s): [string, DesiredSpec] => [s.metadata.name, { name: s.metadata.name, spec: s, generation: generationOf(s), suspended: false }]),
      ),
    observeOn: (device, desired) => {
      const o = new Map<string, ObservedSpec>();
      for (const [name, spec] of running) {
        if (!desired.has(name) && deviceKeyOf(spec.spec.device) !== device) continue;
        o.set(name, { name, generation: generationOf(spec), assignment: { role: 'play' }, holdsDevice: true, failed: false });
      }
      return o;
    },
    running,
    execute: (actions) => executed.push(...actions),
    expiryOn: (desired) => Math.min(...[...desired.keys()].map((n) => opts.expiries?.[n] ?? Infinity)),
  };
  return { w, executed };
}

describe('reconcile(key)', () => {
  it('plans one device: its specs and nothing else', () => {
    const { w, executed } = world([mk('a'), mk('b', { device: 'Other TV' })]);
    expect(reconcile({ kind: 'device', device: deviceKeyOf('TV') }, w)).toEqual({});
    expect(executed.map((a) => `${a.type}:${a.name}`)).toEqual(['start:a']);
  });

  it('stops a spec that ran on this device and is desired nowhere', () => {
    const { w, executed } = world([], { actors: { gone: mk('gone') } });
    reconcile({ kind: 'device', device: deviceKeyOf('TV') }, w);
    expect(executed.map((a) => `${a.type}:${a.name}`)).toEqual(['stop:gone']);
  });

  it('asks to come back when a schedule window changes, or a cast expires, whichever is first', () => {
    const sched = mk('a', { schedule: { timezone: 'Europe/Berlin', windows: [{ start: '07:00', end: '18:00' }] } });
    const { w } = world([sched]);
    // 18:00 Berlin is 17:00 UTC: five hours on, plus a few ms to land past the boundary.
    expect(reconcile({ kind: 'device', device: deviceKeyOf('TV') }, w)).toEqual({ requeueAfter: 5 * 3_600_000 + 5 });
    const { w: w2 } = world([sched], { expiries: { a: NOW.getTime() + 60_000 } });
    expect(reconcile({ kind: 'device', device: deviceKeyOf('TV') }, w2)).toEqual({ requeueAfter: 60_005 });
  });
});
