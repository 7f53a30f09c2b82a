// The spec machine on its own: stand-in components, a stream-lease fake that records what happens
// and a simulated clock. It routes the reconciler's assignment, holds a lease while it plays and
// stops in order: the device first, then the stream.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { specMachine, type Assignment, type HeldLease, type StreamLeases, type StreamNotice } from '../../machines/spec-machine.js';
import type { castMachine } from '../../machines/cast-machine.js';
import { CastSpecSchema, type CastSpec } from '../../specs/schema.js';
import { diffSpecs, generationOf } from '../../specs/identity.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents, type StandIns } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';

/** The stream registry as the spec actor sees it. Each release notes how many device STOPs came before it. */
class RecordingLeases implements StreamLeases {
  readonly events: string[] = [];
  readonly streams = new Map<string, { servable: boolean; notify: (n: StreamNotice) => void }>();
  /** Whether the next acquired stream is servable at once. */
  servableAtOnce = true;
  private n = 0;
  constructor(private readonly c: StandIns) {}
  acquire(_spec: CastSpec, holder: string, onNotice: (n: StreamNotice) => void): HeldLease {
    const streamId = `stream${++this.n}`;
    const s = { servable: this.servableAtOnce, notify: onNotice };
    this.streams.set(streamId, s);
    this.events.push(`acquire ${streamId} for ${holder}`);
    return { streamId, servable: () => s.servable, url: (host) => `http://127.0.0.1:8181/s/${streamId}/master.m3u8#for=${host}` };
  }
  release(lease: HeldLease, holder: string): void {
    this.events.push(`release ${lease.streamId} for ${holder} after ${this.c.castDriver.stops.length} device stops`);
    this.streams.delete(lease.streamId);
  }
  park(lease: HeldLease, holder: string, parked: boolean): void {
    this.events.push(`${parked ? 'park' : 'unpark'} ${lease.streamId} for ${holder}`);
  }
  /** The stream says something, as the registry does: asynchronously. */
  notice(streamId: string, n: StreamNotice): void {
    const s = this.streams.get(streamId)!;
    if (n.type === 'servable') s.servable = true;
    queueMicrotask(() => s.notify(n));
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function specOf(body: Record<string, unknown> = {}): CastSpec {
  return CastSpecSchema.parse({
    apiVersion: 'pagecast/v1',
    kind: 'CastSpec',
    metadata: { name: 'kitchen' },
    spec: { device: 'Kitchen TV', url: 'https://ha.example/kitchen', ...body },
  });
}

function start(assignment: Assignment, spec = specOf()) {
  const dir = mkdtempSync(join(tmpdir(), 'pc-spm-'));
  dirs.push(dir);
  const c = standInComponents(dir);
  const leases = new RecordingLeases(c);
  const clock = new SimulatedClock();
  const actor = createActor(specMachine, {
    clock,
    input: { name: 'kitchen', spec, generation: generationOf(spec), assignment, components: c, leases, log: silentLogger(), now: () => clock.now() },
  });
  actor.start();
  const cast = () => actor.getSnapshot().children.cast as ActorRefFrom<typeof castMachine> | undefined;
  const castAt = (v: Parameters<SnapshotFrom<typeof castMachine>['matches']>[0]) => cast()?.getSnapshot().matches(v) ?? false;
  /** Sends the UPDATE the reconciler would send for this new version of the spec. */
  const update = (next: CastSpec, a: Assignment = { role: 'play' }) =>
    actor.send({ type: 'UPDATE', spec: next, generation: generationOf(next), assignment: a, changes: diffSpecs(actor.getSnapshot().context.spec, next) });
  return { c, leases, clock, actor, cast, castAt, update, value: () => actor.getSnapshot().value };
}

describe('spec machine', () => {
  it('routes its assignment: scheduled, suspended and preempted hold nothing; play casts', async () => {
    const { c, leases, actor, castAt, value } = start({ role: 'scheduled', nextChange: '2025-03-03T07:00:00.000Z' });
    expect(value()).toBe('scheduled');
    actor.send({ type: 'ASSIGN', assignment: { role: 'suspended' } });
    expect(value()).toBe('suspended');
    actor.send({ type: 'ASSIGN', assignment: { role: 'preempted', by: 'doorbell' } });
    expect(value()).toBe('preempted');
    expect(actor.getSnapshot().context.assignment).toEqual({ role: 'preempted', by: 'doorbell' });
    actor.send({ type: 'ASSIGN', assignment: { role: 'conflict', by: 'lobby' } });
    expect(value()).toBe('preempted');
    expect(leases.events).toEqual([]);
    expect(c.castDriver.resolves).toBe(0);

    actor.send({ type: 'ASSIGN', assignment: { role: 'play' } });
    expect(actor.getSnapshot().matches('active')).toBe(true);
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    expect(c.castDriver.allLoads).toEqual([{ device: 'kitchen-tv', url: 'http://127.0.0.1:8181/s/stream1/master.m3u8#for=kitchen-tv', mode: 'hls', title: 'kitchen' }]);

    // Preempted while playing: the device stops first, then the stream is let go.
    actor.send({ type: 'ASSIGN', assignment: { role: 'preempted', by: 'doorbell' } });
    await waitUntil(() => value() === 'preempted', 2000, 'preempted');
    expect(c.castDriver.stops).toEqual(['kitchen-tv']);
    expect(leases.events).toEqual(['acquire stream1 for kitchen', 'release stream1 for kitchen after 1 device stops']);
    expect(actor.getSnapshot().context.lease).toBeUndefined();
  });

  it('STOP stops the device first, then releases the lease, and ends', async () => {
    const { c, leases, actor, castAt } = start({ role: 'play' });
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    actor.send({ type: 'STOP' });
    expect(leases.events).toEqual(['acquire stream1 for kitchen']); // nothing released before the device stopped
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'done');
    expect(c.castDriver.stops).toEqual(['kitchen-tv']);
    expect(leases.events).toEqual(['acquire stream1 for kitchen', 'release stream1 for kitchen after 1 device stops']);
  });

  it('STOP while not playing ends at once, holding nothing', () => {
    const { leases, actor } = start({ role: 'suspended' });
    actor.send({ type: 'STOP' });
    expect(actor.getSnapshot().status).toBe('done');
    expect(leases.events).toEqual([]);
  });

  it('a stream change keeps the old lease until the device plays the new stream', async () => {
    const { c, leases, actor, cast, castAt, update } = start({ role: 'play' });
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    leases.servableAtOnce = false;
    update(specOf({ url: 'https://ha.example/other' }));
    await waitUntil(() => castAt({ connected: 'awaitingStream' }), 2000, 'awaiting the new stream');
    expect(leases.events).toEqual(['acquire stream1 for kitchen', 'acquire stream2 for kitchen']);
    expect(actor.getSnapshot().context).toMatchObject({ lease: { streamId: 'stream2' }, oldLease: { streamId: 'stream1' } });

    // What the old stream says is not the cast's business any more.
    leases.notice('stream1', { type: 'componentExited', component: 'encoder', info: { reason: 'killed' } });
    leases.notice('stream1', { type: 'servable' });
    await new Promise((r) => setImmediate(r));
    expect(castAt({ connected: 'awaitingStream' })).toBe(true);
    expect(cast()!.getSnapshot().context.lastDrift).toBeUndefined();

    leases.notice('stream2', { type: 'servable' });
    await waitUntil(() => castAt({ connected: 'playing' }) && leases.events.length === 3, 2000, 'playing the new stream');
    expect(leases.events[2]).toBe('release stream1 for kitchen after 0 device stops');
    expect(conn.loads.map((l) => l.url)).toEqual([
      'http://127.0.0.1:8181/s/stream1/master.m3u8#for=kitchen-tv',
      'http://127.0.0.1:8181/s/stream2/master.m3u8#for=kitchen-tv',
    ]);
    expect(c.castDriver.connectionTo('kitchen-tv')).toBe(conn); // same connection, no device STOP
    expect(c.castDriver.stops).toEqual([]);

    // The current stream's encoder exit reaches the cast.
    leases.notice('stream2', { type: 'componentExited', component: 'encoder', info: { reason: 'killed', message: 'ffmpeg was killed' } });
    await waitUntil(() => cast()!.getSnapshot().context.lastDrift, 2000, 'encoder exit recorded');
    expect(cast()!.getSnapshot().context.lastDrift).toMatchObject({ reason: 'EncoderExited', message: 'ffmpeg was killed' });
  });

  it('a device change re-casts on the same lease; a differently spelled name is the same device', async () => {
    const { c, leases, castAt, update } = start({ role: 'play' });
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    update(specOf({ device: 'Living Room TV' }));
    await waitUntil(() => c.castDriver.connectionTo('living-room-tv')?.loads.length === 1 && castAt({ connected: 'playing' }), 2000, 'playing on the new device');
    expect(c.castDriver.stops).toEqual(['kitchen-tv']);
    expect(leases.events).toEqual(['acquire stream1 for kitchen']); // no new stream, nothing released
    expect(c.castDriver.allLoads.map((l) => l.url)).toEqual([
      'http://127.0.0.1:8181/s/stream1/master.m3u8#for=kitchen-tv',
      'http://127.0.0.1:8181/s/stream1/master.m3u8#for=living-room-tv',
    ]);

    // Same device by its key, new title: a new LOAD on the same connection, no re-cast.
    const conn = c.castDriver.connectionTo('living-room-tv')!;
    update(specOf({ device: 'living room tv', title: 'Kitchen board' }));
    await waitUntil(() => conn.loads.length === 2 && castAt({ connected: 'playing' }), 2000, 'reloaded');
    expect(conn.loads[1]!.title).toBe('Kitchen board');
    expect(c.castDriver.stops).toEqual(['kitchen-tv']);
    expect(leases.events).toEqual(['acquire stream1 for kitchen']);
  });

  it('a cast that ended frees the stream; the next update casts again on a new lease', async () => {
    const spec = specOf({ policy: { onDeviceIdle: 'teardown' } });
    const { c, leases, actor, castAt, update } = start({ role: 'play' }, spec);
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    c.castDriver.connectionTo('kitchen-tv')!.drift({ type: 'APP_GONE' });
    await waitUntil(() => castAt('ended') && leases.events.length === 2, 2000, 'ended');
    expect(leases.events[1]).toBe('release stream1 for kitchen after 1 device stops');
    expect(actor.getSnapshot().context).toMatchObject({ castEnded: true, lease: undefined });

    update(specOf({ policy: { onDeviceIdle: 'teardown' }, priority: 1 }));
    await waitUntil(() => castAt({ connected: 'playing' }) && c.castDriver.allLoads.length === 2, 2000, 'cast again');
    expect(leases.events).toEqual([
      'acquire stream1 for kitchen',
      'release stream1 for kitchen after 1 device stops',
      'acquire stream2 for kitchen',
    ]);
  });

  /** Moves the simulated clock a second at a time, letting each step's retries run. */
  async function advance(clock: SimulatedClock, ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= 1000) {
      clock.increment(Math.min(1000, left));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
  }

  it('a device away for parkAfter parks its lease; back, the lease is unparked before the device plays', async () => {
    const { c, leases, clock, castAt } = start({ role: 'play' }, specOf({ policy: { parkAfter: '30s', backoff: { initial: '1s', max: '4s' } } }));
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    c.castDriver.unreachable.add('kitchen-tv');
    c.castDriver.connectionTo('kitchen-tv')!.drift({ type: 'CONNECTION_LOST', message: 'gone' });
    await advance(clock, 29_000);
    expect(leases.events).toEqual(['acquire stream1 for kitchen']);
    await advance(clock, 1000);
    await waitUntil(() => leases.events.length === 2, 2000, 'parked');
    expect(leases.events[1]).toBe('park stream1 for kitchen');

    c.castDriver.unreachable.delete('kitchen-tv');
    leases.streams.get('stream1')!.servable = false; // as a parked stream is
    await advance(clock, 4000);
    await waitUntil(() => leases.events.length === 3 && castAt({ connected: 'awaitingStream' }), 2000, 'unparked while the stream is not yet servable');
    expect(leases.events[2]).toBe('unpark stream1 for kitchen');
    leases.notice('stream1', { type: 'servable' });
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing again');
  });

  it('a stream change while parked: the new stream is parked too; the TV sleeps on', async () => {
    const { c, leases, clock, actor, castAt, update } = start({ role: 'play' }, specOf({ policy: { parkAfter: '30s' } }));
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    c.castDriver.connectionTo('kitchen-tv')!.drift({ type: 'STANDBY', standby: true });
    await advance(clock, 30_000);
    await waitUntil(() => leases.events.length === 2, 2000, 'parked');
    update(specOf({ url: 'https://ha.example/other', policy: { parkAfter: '30s' } }));
    expect(leases.events.slice(2)).toEqual(['acquire stream2 for kitchen', 'park stream2 for kitchen']);
    expect(actor.getSnapshot().context).toMatchObject({ parked: true, lease: { streamId: 'stream2' }, oldLease: { streamId: 'stream1' } });
    expect(castAt({ connected: 'standby' })).toBe(true);
    // Awake: the new stream resumes and is LOADed; then the old one (parked all along) is let go.
    leases.streams.get('stream2')!.servable = false;
    c.castDriver.connectionTo('kitchen-tv')!.drift({ type: 'STANDBY', standby: false });
    await waitUntil(() => leases.events.length === 5, 2000, 'unparked');
    expect(leases.events[4]).toBe('unpark stream2 for kitchen');
    leases.notice('stream2', { type: 'servable' });
    await advance(clock, 2000);
    await waitUntil(() => castAt({ connected: 'playing' }) && leases.events.length === 6, 2000, 'playing the new stream');
    expect(leases.events[5]).toBe('release stream1 for kitchen after 0 device stops');
    expect(c.castDriver.allLoads.at(-1)?.url).toMatch(/stream2/);
  });

  it('a re-cast to another device starts with the kept lease unparked; a stop releases a parked lease', async () => {
    const { c, leases, clock, actor, castAt, update } = start({ role: 'play' }, specOf({ policy: { parkAfter: '30s' } }));
    await waitUntil(() => castAt({ connected: 'playing' }), 2000, 'playing');
    c.castDriver.connectionTo('kitchen-tv')!.drift({ type: 'STANDBY', standby: true });
    await advance(clock, 30_000);
    await waitUntil(() => leases.events.length === 2, 2000, 'parked');
    update(specOf({ device: 'Living Room TV', policy: { parkAfter: '30s' } }));
    await waitUntil(() => castAt({ connected: 'playing' }) && c.castDriver.connectionTo('living-room-tv'), 2000, 'playing on the other device');
    expect(leases.events.slice(2)).toEqual(['unpark stream1 for kitchen']);
    expect(actor.getSnapshot().context.parked).toBe(false);

    c.castDriver.connectionTo('living-room-tv')!.drift({ type: 'STANDBY', standby: true });
    await advance(clock, 30_000);
    await waitUntil(() => leases.events.length === 4, 2000, 'parked again');
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'done');
    expect(leases.events.slice(3)).toEqual(['park stream1 for kitchen', 'release stream1 for kitchen after 2 device stops']);
  });
});
