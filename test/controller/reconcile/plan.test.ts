import { describe, expect, it } from 'vitest';
import { plan, type DesiredSpec, type ObservedSpec } from '../../../controller/reconcile/plan.js';
import { generationOf, diffSpecs } from '../../../specs/identity.js';
import { CastSpecSchema, type CastSpec } from '../../../specs/schema.js';

const mk = (name: string, spec: Record<string, unknown> = {}): CastSpec =>
  CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name }, spec: { device: 'TV', url: 'https://a.example/', ...spec } });
const desired = (...specs: Array<[CastSpec, Partial<DesiredSpec>?]>) =>
  new Map(specs.map(([s, extra]) => [s.metadata.name, { name: s.metadata.name, spec: s, generation: generationOf(s), suspended: false, ...extra }]));
const observed = (...o: Array<Partial<ObservedSpec> & { name: string; spec: CastSpec }>) =>
  new Map(o.map(({ spec, ...x }) => [x.name, { generation: generationOf(spec), assignment: { role: 'play' as const }, holdsDevice: false, failed: false, ...x }]));
const NOW = new Date('2026-11-25T12:00:00Z'); // a Wednesday

describe('plan()', () => {
  it('starts new specs and stops removed ones, stops first', () => {
    const a = mk('a');
    const p = plan(desired([a]), observed({ name: 'gone', spec: mk('gone', { device: 'Other' }) }), NOW);
    expect(p.actions.map((x) => `${x.type}:${x.name}`)).toEqual(['stop:gone', 'start:a']);
  });

  it.each([
    ['higher priority wins; the other is preempted by it', [['low', 0], ['high', 10]], {}, { high: 'play', low: 'preempted' }],
    ['equal priority: the holder keeps the device, the other is in conflict', [['b', 5], ['a', 5]], { b: true }, { b: 'play', a: 'conflict' }],
    ['equal priority, nobody holds it: the first by name', [['b', 5], ['a', 5]], {}, { a: 'play', b: 'conflict' }],
    ['three specs: top one plays, equal second conflicts only with equal top', [['x', 1], ['y', 3], ['z', 1]], {}, { y: 'play', x: 'preempted', z: 'preempted' }],
  ] as const)('%s', (_t, specs, holders, roles) => {
    const ds = specs.map(([n, prio]) => mk(n, { priority: prio }));
    const obs = ds.filter((s) => (holders as Record<string, boolean>)[s.metadata.name]).map((s) => ({ name: s.metadata.name, spec: s, holdsDevice: true }));
    const p = plan(desired(...ds.map((s) => [s] as [CastSpec])), observed(...obs), NOW);
    for (const [n, role] of Object.entries(roles)) expect(p.assignments.get(n)?.role, n).toBe(role);
  });

  it('arbitrates per device: specs on different devices never preempt each other', () => {
    const p = plan(desired([mk('a', { device: 'TV 1', priority: 9 })], [mk('b', { device: 'TV 2' })]), new Map(), NOW);
    expect([p.assignments.get('a')!.role, p.assignments.get('b')!.role]).toEqual(['play', 'play']);
  });

  it('a failed spec does not keep the device from a lower one', () => {
    const hi = mk('hi', { priority: 10 });
    const lo = mk('lo');
    const p = plan(desired([hi], [lo]), observed({ name: 'hi', spec: hi, failed: true }, { name: 'lo', spec: lo }), NOW);
    expect(p.assignments.get('lo')!.role).toBe('play');
  });

  it('suspended and out-of-schedule specs do not contend, and the next schedule change is the wake-up', () => {
    const sched = mk('sched', { priority: 10, schedule: { timezone: 'UTC', windows: [{ start: '13:00', end: '14:00' }] } });
    const susp = mk('susp', { priority: 20 });
    const base = mk('base');
    const p = plan(desired([sched], [susp, { suspended: true }], [base]), new Map(), NOW);
    expect(p.assignments.get('sched')).toMatchObject({ role: 'scheduled', nextChange: '2026-11-25T13:00:00.000Z' });
    expect(p.assignments.get('susp')!.role).toBe('suspended');
    expect(p.assignments.get('base')!.role).toBe('play');
    expect(p.wakeAt?.toISOString()).toBe('2026-11-25T13:00:00.000Z');
    const later = plan(desired([sched], [base]), new Map(), new Date('2026-11-25T13:30:00Z'));
    expect(later.assignments.get('base')).toMatchObject({ role: 'preempted', by: 'sched' });
  });

  it('a pages spec whose every page is outside its window is scheduled; one page without a window keeps it playing', () => {
    const pages = (extra: Array<Record<string, unknown>> = []) =>
      mk('rot', { url: undefined, priority: 10, schedule: { timezone: 'Europe/Berlin' }, pages: [{ url: 'https://a.example/', schedule: { windows: [{ start: '14:00', end: '15:00' }] } }, ...extra] });
    const base = mk('base');
    // NOW is 13:00 in Berlin: the page's window opens at 14:00 (13:00Z).
    const p = plan(desired([pages()], [base]), new Map(), NOW);
    expect(p.assignments.get('rot')).toMatchObject({ role: 'scheduled', nextChange: '2026-11-25T13:00:00.000Z' });
    expect(p.assignments.get('base')!.role).toBe('play');
    expect(p.wakeAt?.toISOString()).toBe('2026-11-25T13:00:00.000Z');
    const inWindow = plan(desired([pages()], [base]), new Map(), new Date('2026-11-25T13:30:00Z'));
    expect(inWindow.assignments.get('rot')).toMatchObject({ role: 'play', nextChange: '2026-11-25T14:00:00.000Z' });
    expect(inWindow.assignments.get('base')).toMatchObject({ role: 'preempted', by: 'rot' });
    const withDefault = plan(desired([pages([{ url: 'https://b.example/' }])], [base]), new Map(), NOW);
    expect(withDefault.assignments.get('rot')).toEqual({ role: 'play', nextChange: undefined });
    expect(withDefault.wakeAt).toBeUndefined();
  });

  it('an unchanged world plans nothing; a changed assignment only re-assigns', () => {
    const a = mk('a');
    const b = mk('b', { priority: 5 });
    expect(plan(desired([a]), observed({ name: 'a', spec: a }), NOW).actions).toEqual([]);
    const p = plan(desired([a], [b]), observed({ name: 'a', spec: a, holdsDevice: true }, { name: 'b', spec: b, assignment: { role: 'play' } }), NOW);
    expect(p.actions).toEqual([{ type: 'assign', name: 'a', assignment: { role: 'preempted', by: 'b', nextChange: undefined } }]);
  });

  it.each([
    ['url', { url: 'https://b.example/' }, { stream: true, cast: false, live: false }],
    ['quality', { quality: '1080p' }, { stream: true, cast: false, live: false }],
    ['browser zoom', { browser: { zoom: 2 } }, { stream: true, cast: false, live: false }],
    ['device', { device: 'Other TV' }, { stream: false, cast: true, live: false }],
    ['title', { title: 'Hello' }, { stream: false, cast: true, live: false }],
    ['priority', { priority: 3 }, { stream: false, cast: false, live: true }],
    ['policy', { policy: { onDeviceIdle: 'teardown' } }, { stream: false, cast: false, live: true }],
  ] as const)('a changed %s restarts only what must change', (_f, change, expected) => {
    const before = mk('a');
    const after = mk('a', change as Record<string, unknown>);
    expect(diffSpecs(before, after)).toEqual(expected);
    const p = plan(desired([after]), observed({ name: 'a', spec: before }), NOW, new Map([['a', before]]));
    expect(p.actions[0]).toMatchObject({ type: 'update', changes: expected });
  });
});
