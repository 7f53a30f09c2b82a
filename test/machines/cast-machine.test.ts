// The cast machine on a simulated clock: retries are visible `after` states, so time is moved by
// hand and no real timer decides anything.
import { afterEach, describe, expect, it } from 'vitest';
import { assign, createActor, setup as setupMachine, SimulatedClock, type ActorRefFrom } from 'xstate';
import { castMachine, type CastMachineInput, type CastNotice, type StreamLease } from '../../machines/cast-machine.js';
import { CastSpecSchema } from '../../specs/schema.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents } from '../stand-ins/components.js';
import { waitUntil, tempDirs, captureLog } from '../helpers.js';
import type { Logger } from '../../machines/log.js';

const temps = tempDirs();
const tempDir = temps.make;
afterEach(() => temps.removeAll());

/** The cast's parent, as the spec actor is: it records what the cast tells it. */
function parentOf(input: CastMachineInput) {
  return setupMachine({
    types: { context: {} as { notices: CastNotice['state'][] }, events: {} as CastNotice },
    actors: { cast: castMachine },
  }).createMachine({
    context: { notices: [] },
    invoke: { id: 'cast', src: 'cast', input },
    on: { CAST_CHANGED: { actions: assign({ notices: ({ context, event }) => [...context.notices, event.state] }) } },
  });
}

function setup(policy: Record<string, unknown> = {}, opts: { log?: Logger; servable?: () => boolean } = {}) {
  const spec = CastSpecSchema.parse({
    apiVersion: 'pagecast/v1',
    kind: 'CastSpec',
    metadata: { name: 'kitchen' },
    spec: { device: { host: 'tv.local', port: 8009 }, url: 'https://ha.example/', policy: { backoff: { initial: '2s', max: '30s' }, ...policy } },
  });
  const c = standInComponents(tempDir('pc-cm-'));
  const clock = new SimulatedClock();
  const lease: StreamLease = { streamId: 's1', servable: opts.servable ?? (() => true), url: (h) => `http://127.0.0.1:8181/s/t/master.m3u8?for=${h}` };
  const parent = createActor(parentOf({ name: 'kitchen', spec, lease, components: c, log: opts.log ?? silentLogger(), now: () => clock.now() }), { clock });
  const cast = () => parent.getSnapshot().children.cast as ActorRefFrom<typeof castMachine>;
  const actor = { start: () => parent.start(), stop: () => parent.stop(), send: (e: Parameters<ReturnType<typeof cast>['send']>[0]) => cast().send(e), getSnapshot: () => cast().getSnapshot() };
  const at = (v: unknown) => actor.getSnapshot().matches(v as never);
  const notices = () => parent.getSnapshot().context.notices;
  return { spec, c, clock, actor, at, notices, conn: () => c.castDriver.connectionTo('tv.local') };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('cast machine (simulated clock)', () => {
  it('retries an unreachable device with doubling backoff, as visible retrying states', async () => {
    const { c, clock, actor, at } = setup();
    c.castDriver.unreachable.add('tv.local');
    actor.start();
    const connects = () => c.castDriver.forgets; // one forget per failed connect
    await waitUntil(() => at('retrying') && connects() === 1, 2000, 'first failure');
    for (const delay of [2000, 4000, 8000]) {
      const before = connects();
      clock.increment(delay - 1);
      await new Promise((r) => setImmediate(r));
      expect(at('retrying')).toBe(true);
      clock.increment(1);
      await waitUntil(() => at('retrying') && connects() === before + 1, 2000, `retry after ${delay} ms`);
    }
    c.castDriver.unreachable.delete('tv.local');
    clock.increment(16_000);
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing once reachable');
    actor.stop();
  });

  it('repairs IDLE with a new LOAD after the backoff, then fails when the restart budget is spent', async () => {
    const { clock, actor, at, conn, notices } = setup({ maxRestarts: { count: 2, window: '10m' } });
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing');
    const c1 = conn()!;
    clock.increment(60_000);
    c1.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    expect(at({ connected: 'recovering' })).toBe(true);
    expect(actor.getSnapshot().context.lastDrift).toEqual({ reason: 'IdleCancelled', message: 'device went IDLE (CANCELLED)', at: new Date(60_000).toISOString() });
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'playing' }) && c1.loads.length === 2, 2000, 'reloaded');
    expect(actor.getSnapshot().context.lastDrift?.reason).toBe('IdleCancelled');
    c1.drift({ type: 'IDLE', idleReason: 'ERROR', detailedErrorCode: 315 });
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'playing' }) && c1.loads.length === 3, 2000, 'reloaded again');
    c1.drift({ type: 'IDLE_SCREEN' });
    expect(at('failed')).toBe(true);
    expect(actor.getSnapshot().context.restartCount).toBe(2);
    await waitUntil(() => c1.closed, 2000, 'the connection closed on leaving connected');
    expect(c1.stops).toBe(0); // failed leaves the device alone
    await waitUntil(() => notices().at(-1) === 'ended', 2000, 'the parent told');
    expect(notices()).toEqual(['playing', 'playing', 'playing', 'ended']);
    actor.stop();
  });

  it('a restart budget window forgets old restarts', async () => {
    const { clock, actor, at, conn } = setup({ maxRestarts: { count: 1, window: '1m' } });
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    conn()!.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'playing' }));
    clock.increment(61_000);
    conn()!.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    expect(at({ connected: 'recovering' })).toBe(true);
    actor.stop();
  });

  it('tears down on device IDLE when onDeviceIdle is teardown', async () => {
    const { actor, at, conn, notices } = setup({ onDeviceIdle: 'teardown' });
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    const c1 = conn()!;
    c1.drift({ type: 'APP_GONE' });
    await waitUntil(() => at('ended'), 2000, 'ended');
    expect(c1.stops).toBe(1); // the graceful stop had the socket: leaving `connected` did not close it first
    expect(c1.closed).toBe(true);
    expect(notices()).toEqual(['playing', 'ended']);
    actor.stop();
  });

  it('STOP stops the device gracefully on the open connection, then ends', async () => {
    const { c, actor, at, conn } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    const c1 = conn()!;
    actor.send({ type: 'STOP' });
    expect(at('stopping')).toBe(true);
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
    expect(c1.stops).toBe(1);
    expect(c1.closed).toBe(true);
    expect(c.castDriver.devices.get('tv.local')).toMatchObject({ playingUrl: undefined, ours: false });
  });

  it('closes the connection when the actor is stopped outright, leaving the device playing', async () => {
    const { c, actor, at, conn } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    const c1 = conn()!;
    actor.stop();
    expect(c1.closed).toBe(true);
    expect(c1.stops).toBe(0);
    expect(c.castDriver.devices.get('tv.local')?.playingUrl).toBeDefined();
  });

  it('a device busy with another app at launch is waited for, not retried as a failure', async () => {
    const { c, clock, actor, at, conn } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    const c1 = conn()!;
    // While the connection is down a person starts YouTube: launch finds it on reconnecting.
    Object.assign(c.castDriver.deviceState(c1.device), { otherApp: '233637DE', playingUrl: undefined, ours: false });
    c1.drift({ type: 'CONNECTION_LOST', message: 'gone' });
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'waitingDevice' }), 2000, 'waiting for the device');
    const c2 = conn()!;
    expect(c2).not.toBe(c1);
    expect(actor.getSnapshot().context).toMatchObject({ busyWith: '233637DE', lastError: undefined, attempt: 1 });
    expect(c.castDriver.allLoads).toHaveLength(1);
    c2.app = { isIdleScreen: true, isStandBy: false, isActiveInput: true }; // the person stopped YouTube
    clock.increment(5000);
    await waitUntil(() => at({ connected: 'playing' }) && c2.loads.length === 1, 2000, 'cast again once free');
    actor.stop();
  });

  it('waits while another app plays (onOtherApp: wait), polling the device, and comes back when it is free', async () => {
    const { clock, actor, at, conn } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    const c1 = conn()!;
    c1.drift({ type: 'OTHER_APP', appId: '233637DE', displayName: 'YouTube' });
    expect(at({ connected: 'waitingDevice' })).toBe(true);
    clock.increment(5000);
    clock.increment(5000);
    expect(at({ connected: 'waitingDevice' })).toBe(true);
    expect(c1.launches).toBe(1);
    c1.app = { isIdleScreen: true, isStandBy: false, isActiveInput: true }; // the person stopped YouTube
    clock.increment(5000);
    await waitUntil(() => at({ connected: 'playing' }) && c1.loads.length === 2, 2000, 'back');
    actor.stop();
  });

  it('takes the device back at once with onOtherApp: takeover', async () => {
    const { clock, actor, at, conn } = setup({ onOtherApp: 'takeover' });
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    conn()!.drift({ type: 'OTHER_APP', appId: '233637DE' });
    expect(at({ connected: 'recovering' })).toBe(true);
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'playing' }) && conn()!.loads.length === 2, 2000, 'took over');
    actor.stop();
  });

  it('a policy change while recovering applies to the next decision', async () => {
    const { spec, clock, actor, at, conn } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    conn()!.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    expect(at({ connected: 'recovering' })).toBe(true);
    const changed = { ...spec, spec: { ...spec.spec, policy: { ...spec.spec.policy, onDeviceIdle: 'teardown' as const } } };
    actor.send({ type: 'SPEC_UPDATED', spec: changed, reload: false });
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'playing' }));
    conn()!.drift({ type: 'IDLE', idleReason: 'CANCELLED' });
    await waitUntil(() => at('ended'), 2000, 'teardown under the new policy');
    actor.stop();
  });

  it('a device that says PLAYING but has fetched nothing for three target durations is stalled (server-side proof of life)', async () => {
    const { c, clock, actor, at } = setup();
    let last = new Date(clock.now()).toISOString();
    c.publisher.fetches = () => [{ client: 'tv.local', lastPlaylistAt: last, lastSegmentAt: last, bytes: 1 }];
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    clock.increment(5000); // fetching stopped 5 s ago: not yet
    await tick();
    expect(at({ connected: 'playing' })).toBe(true);
    clock.increment(2000); // exactly 7 s: not yet either
    await tick();
    expect(at({ connected: 'playing' })).toBe(true);
    clock.increment(1000); // 8 s: stalled
    await waitUntil(() => at({ connected: 'recovering' }), 2000, 'stall detected');
    expect(actor.getSnapshot().context.lastDrift).toEqual({ reason: 'Stalled', message: 'the device says PLAYING but has fetched nothing for 8 s', at: new Date(clock.now()).toISOString() });
    last = new Date(clock.now()).toISOString();
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'playing' }), 2000, 're-LOADed');
    actor.stop();
  });

  it('a device that keeps fetching is not stalled, however long it plays; one that stops is', async () => {
    const { c, clock, actor, at } = setup();
    let last = new Date(clock.now()).toISOString();
    c.publisher.fetches = () => [{ client: '::ffff:tv.local', lastPlaylistAt: last, bytes: 1 }];
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    for (let i = 0; i < 20; i++) {
      clock.increment(3000);
      last = new Date(clock.now()).toISOString(); // a playlist fetch every 3 s
      await tick();
      expect(at({ connected: 'playing' })).toBe(true);
    }
    const stoppedAt = clock.now();
    clock.increment(7000);
    await tick();
    expect(at({ connected: 'playing' })).toBe(true);
    clock.increment(1000);
    await waitUntil(() => at({ connected: 'recovering' }), 2000, 'stall detected');
    expect(actor.getSnapshot().context.lastDrift?.at).toBe(new Date(stoppedAt + 8000).toISOString());
    actor.stop();
  });

  it('a lost connection is re-dialled after the backoff and re-joined without a LOAD', async () => {
    const { c, clock, actor, at, conn } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }));
    const c1 = conn()!;
    c1.drift({ type: 'CONNECTION_LOST', message: 'no heartbeat for 15 s' });
    expect(at('retrying')).toBe(true);
    clock.increment(2000);
    await waitUntil(() => at({ connected: 'playing' }) && conn() && conn() !== c1, 2000, 're-joined');
    expect(conn()!.loads).toHaveLength(0);
    expect(c.castDriver.allLoads).toHaveLength(1);
    actor.stop();
  });
});

describe('cast machine: a device away for policy.parkAfter parks the stream (simulated clock)', () => {
  const PARK_AFTER = 120_000;
  /** Moves the clock in steps, letting each step's retries run, as real time would. */
  async function advance(clock: SimulatedClock, ms: number, step = 1000): Promise<void> {
    for (let left = ms; left > 0; left -= step) {
      clock.increment(Math.min(step, left));
      await tick();
      await tick();
    }
  }

  it('unreachable: parks after parkAfter, probes at most 30 s apart while parked, resumes the moment the device answers', async () => {
    const { log, lines } = captureLog();
    const { c, clock, actor, at, conn, notices } = setup({ backoff: { initial: '2s', max: '5m' } }, { log });
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing');
    c.castDriver.unreachable.add('tv.local');
    const lostAt = clock.now();
    conn()!.drift({ type: 'CONNECTION_LOST', message: 'no heartbeat for 3 s' });
    expect(at('retrying')).toBe(true);
    expect(actor.getSnapshot().context.away).toEqual({ reason: 'Unreachable', since: lostAt, app: undefined });

    await advance(clock, PARK_AFTER - 1000);
    expect(notices()).toEqual(['playing']);
    await advance(clock, 1000);
    await waitUntil(() => notices().at(-1) === 'parked', 2000, 'parked');
    expect(actor.getSnapshot().context).toMatchObject({ parkedAt: lostAt + PARK_AFTER, away: { reason: 'Unreachable', since: lostAt } });

    // Parked: the next probes come at most 30 s apart though backoff.max is 5 m.
    await advance(clock, 300_000);
    const probesBefore = c.castDriver.connects;
    await advance(clock, 300_000);
    expect(c.castDriver.connects - probesBefore).toBeGreaterThanOrEqual(10);
    expect(c.castDriver.connects - probesBefore).toBeLessThanOrEqual(11);

    // Back: resumed as soon as the launch shows the device answers, before the stream is needed.
    c.castDriver.unreachable.delete('tv.local');
    await advance(clock, 30_000);
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing again');
    expect(notices()).toEqual(['playing', 'parked', 'resumed', 'playing']);
    expect(actor.getSnapshot().context.away).toBeUndefined();
    expect(actor.getSnapshot().context.parkedAt).toBeUndefined();

    // The retries were a repeated warning: its start, each backoff step up to the cap, its end.
    const warns = lines().filter((l) => l.msg && String(l.msg).startsWith('device unreachable, retrying'));
    const steps = warns.map((l) => l.retryInMs);
    expect(steps).toEqual([2000, 4000, 8000, 16000, 32000, 64000, 30000]); // the last: capped once parked
    expect(new Set(steps).size).toBe(steps.length); // never the same step twice: not on every attempt
    expect(lines().filter((l) => l.msg === 'device reachable again')).toHaveLength(1);
    expect(lines().filter((l) => /parking the stream/.test(String(l.msg)))).toHaveLength(1);
    actor.stop();
  });

  it('standby: drift while the TV sleeps is not repaired; parks after parkAfter; standby off resumes at once', async () => {
    const { clock, actor, at, conn, notices } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing');
    const c1 = conn()!;
    c1.drift({ type: 'STANDBY', standby: true });
    expect(at({ connected: 'standby' })).toBe(true);
    await advance(clock, 60_000);
    c1.drift({ type: 'STALLED', message: 'the device says PLAYING but has fetched nothing for 8 s' });
    c1.drift({ type: 'IDLE', idleReason: 'ERROR', detailedErrorCode: 315 });
    expect(at({ connected: 'standby' })).toBe(true);
    expect(actor.getSnapshot().context.restartCount).toBe(0);
    await advance(clock, 60_000);
    await waitUntil(() => notices().at(-1) === 'parked', 2000, 'parked');
    expect(actor.getSnapshot().context.away?.reason).toBe('Standby');

    c1.drift({ type: 'STANDBY', standby: false });
    expect(notices()).toEqual(['playing', 'parked', 'resumed']); // before the backoff, before the launch
    await advance(clock, 2000);
    await waitUntil(() => at({ connected: 'playing' }) && c1.loads.length === 2, 2000, 'playing again');
    actor.stop();
  });

  it('another app: parks after parkAfter with its name; resumes when the app is gone and the launch succeeds', async () => {
    const { clock, actor, at, conn, notices } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing');
    const c1 = conn()!;
    c1.drift({ type: 'OTHER_APP', appId: '233637DE', displayName: 'YouTube' });
    expect(at({ connected: 'waitingDevice' })).toBe(true);
    await advance(clock, PARK_AFTER);
    await waitUntil(() => notices().at(-1) === 'parked', 2000, 'parked');
    expect(actor.getSnapshot().context.away).toMatchObject({ reason: 'OtherApp', app: '233637DE' });
    expect(c1.launches).toBe(1);
    c1.app = { isIdleScreen: true, isStandBy: false, isActiveInput: true }; // YouTube closed
    await advance(clock, 1000); // noticed at the next look at the receiver status, a second later
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing again');
    expect(notices()).toEqual(['playing', 'parked', 'resumed', 'playing']);
    actor.stop();
  });

  it('absences shorter than parkAfter park nothing, and each is measured afresh', async () => {
    const { clock, actor, at, conn, notices } = setup();
    actor.start();
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing');
    const c1 = conn()!;
    for (let i = 0; i < 3; i++) {
      c1.drift({ type: 'STANDBY', standby: true });
      await advance(clock, 100_000);
      c1.drift({ type: 'STANDBY', standby: false });
      await advance(clock, 2000);
      await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing');
    }
    await advance(clock, PARK_AFTER);
    expect(notices()).toEqual(['playing', 'playing', 'playing', 'playing']);
    expect(actor.getSnapshot().context.away).toBeUndefined();
    actor.stop();
  });

  it('a device that answers but drops again before playing stays away: it parks once parkAfter has passed', async () => {
    const { c, clock, actor, at, conn, notices } = setup({}, { servable: () => false });
    actor.start();
    await waitUntil(() => at({ connected: 'awaitingStream' }), 2000, 'awaiting the stream');
    for (let t = 0; t < PARK_AFTER + 10_000 && notices().at(-1) !== 'parked'; t += 5000) {
      conn()?.drift({ type: 'CONNECTION_LOST', message: 'reset' });
      await advance(clock, 5000);
    }
    expect(notices()).toEqual(['parked']);
    expect(c.castDriver.connects).toBeGreaterThan(3); // it answered again and again, never long enough to play
    actor.stop();
  });

  it('a device asleep when connected to is waited for in standby, not launched on', async () => {
    const { c, clock, actor, at, notices } = setup();
    const connect = c.castDriver.connect.bind(c.castDriver);
    c.castDriver.connect = async (d, ctx) => {
      const conn = (await connect(d, ctx)) as ReturnType<typeof c.castDriver.connectionTo> & object;
      conn.app = { isIdleScreen: true, isStandBy: true, isActiveInput: false };
      return conn;
    };
    actor.start();
    await waitUntil(() => at({ connected: 'standby' }), 2000, 'standby');
    const c1 = c.castDriver.connectionTo('tv.local')!;
    expect(c1.launches).toBe(0);
    await advance(clock, PARK_AFTER);
    await waitUntil(() => notices().at(-1) === 'parked', 2000, 'parked');
    c1.drift({ type: 'STANDBY', standby: false });
    await advance(clock, 2000);
    await waitUntil(() => at({ connected: 'playing' }), 2000, 'playing');
    expect(notices()).toEqual(['parked', 'resumed', 'playing']);
    actor.stop();
  });
});
