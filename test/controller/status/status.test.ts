import { describe, expect, it } from 'vitest';
import { buildStatus, phaseOf, TransitionClock, type StatusInputs } from '../../../controller/status/status.js';
import type { Condition } from '../../../controller/status/types.js';
import type { RotationPage, RotationState } from '../../../machines/components.js';
import { CastSpecSchema } from '../../../specs/schema.js';
import { castIn, specIn, streamWith, type CastSnap, type SpecSnap } from './snapshots.js';

const spec = CastSpecSchema.parse({
  apiVersion: 'pagecast/v1',
  kind: 'CastSpec',
  metadata: { name: 'kitchen' },
  spec: { device: 'Kitchen TV', url: 'https://user:pw@ha.example/lovelace/kitchen?token=SECRET1' },
});
const inputs = (over: Partial<StatusInputs> = {}): StatusInputs => ({
  name: 'kitchen',
  spec,
  source: { file: 'kitchen.yaml', line: 1, column: 1 },
  generation: 'g1',
  suspended: false,
  ...over,
});
const T0 = new Date('2025-03-01T12:00:00.000Z');
const T1 = new Date('2025-03-01T12:05:00.000Z');

const playingStream = () =>
  streamWith({
    display: ':99',
    browserReady: true,
    encoderServable: true,
    encoder: { encoder: 'libx264', figures: () => ({ fps: 30, speed: 1, droppedFrames: 0, duplicatedFrames: 0, bitrateKbps: 2900, frame: 60, at: T0.toISOString() }) },
  });
const playingCast = () => castIn({ connected: 'playing' }, { device: { host: '192.168.1.20', port: 8009 }, conn: { media: () => ({ playerState: 'PLAYING' }) } });

const byType = (conditions: Condition[]) => Object.fromEntries(conditions.map((c) => [c.type, c]));

describe('phaseOf', () => {
  it('maps the spec and cast machines’ states to a phase', () => {
    const active = { active: 'running' };
    const cases: Array<[SpecSnap | undefined, CastSnap | undefined, string]> = [
      [undefined, undefined, 'Pending'],
      [specIn('stopped'), undefined, 'Stopped'],
      [specIn('scheduled'), undefined, 'Scheduled'],
      [specIn('suspended'), undefined, 'Suspended'],
      [specIn('preempted'), undefined, 'Preempted'],
      [specIn(active), undefined, 'Starting'],
      [specIn(active), castIn('resolving'), 'Starting'],
      [specIn(active), castIn('resolving', { restartCount: 1 }), 'Recovering'],
      [specIn(active), castIn('connecting', { lastDrift: { reason: 'ConnectionLost', at: T0.toISOString() } }), 'Recovering'],
      [specIn(active), castIn('retrying'), 'Recovering'],
      [specIn(active), castIn({ connected: 'recovering' }), 'Recovering'],
      [specIn(active), castIn({ connected: 'playing' }), 'Playing'],
      [specIn(active), castIn({ connected: 'waitingDevice' }), 'Waiting'],
      [specIn(active), castIn({ connected: 'standby' }), 'Waiting'],
      [specIn(active), castIn({ connected: 'standby' }, { parkedAt: 0, away: { reason: 'Standby', since: 0 } }), 'Parked'],
      [specIn(active), castIn('retrying', { parkedAt: 0, away: { reason: 'Unreachable', since: 0 } }), 'Parked'],
      [specIn(active), castIn({ connected: 'playing' }, { parkedAt: 0 }), 'Playing'],
      [specIn(active), castIn('failed'), 'Failed'],
      [specIn(active), castIn('ended'), 'Stopped'],
      [specIn(active), castIn('tornDown'), 'Stopped'],
      [specIn(active), castIn('stopping'), 'Stopped'],
      [specIn(active), castIn('stopped'), 'Stopped'],
    ];
    for (const [spec$, cast$, phase] of cases) {
      expect(phaseOf(spec$, cast$), `${JSON.stringify(spec$?.value)} / ${JSON.stringify(cast$?.value)}`).toBe(phase);
    }
  });
});

describe('buildStatus', () => {
  it('recomputes every condition from what the actors hold, on every call', () => {
    const clock = new TransitionClock();
    const playing = buildStatus(inputs({ spec$: specIn({ active: 'running' }), cast$: playingCast(), stream$: playingStream() }), clock, T0);
    expect(playing.phase).toBe('Playing');
    expect(playing.conditions.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['Valid', 'True', 'Valid', ''],
      ['DisplayReady', 'True', 'Running', 'display :99'],
      ['BrowserReady', 'True', 'PageShown', ''],
      ['EncoderRunning', 'True', 'Encoding', 'libx264'],
      ['StreamServable', 'True', 'SegmentsReady', ''],
      ['DeviceFound', 'True', 'Resolved', '192.168.1.20:8009'],
      ['DeviceConnected', 'True', 'Connected', ''],
      ['MediaPlaying', 'True', 'Playing', 'device reports PLAYING'],
    ]);
    expect(playing.stream).toMatchObject({ id: 's1', encoder: 'libx264', figures: { fps: 30 } });

    // The same spec, now with a file error, a conflict and a lost connection: nothing is carried over.
    const later = buildStatus(
      inputs({
        error: 'kitchen.yaml:4:3 spec.quality: expected 480p, 720p or 1080p',
        spec$: specIn({ active: 'running' }, { role: 'conflict', by: 'office' }),
        cast$: castIn('retrying', { lastErrorStep: 'connect', lastError: 'connect ECONNREFUSED 192.168.1.20:8009', restartCount: 2 }),
      }),
      clock,
      T1,
    );
    expect(later.phase).toBe('Recovering');
    expect(later.restarts).toBe(2);
    expect(later.stream).toBeUndefined();
    expect(later.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Valid', 'False', 'InvalidSpec'],
      ['DeviceConflict', 'True', 'EqualPriority'],
      ['DeviceFound', 'Unknown', 'Resolving'],
      ['DeviceConnected', 'False', 'ConnectFailed'],
      ['MediaPlaying', 'False', 'NotPlaying'],
    ]);
    expect(byType(later.conditions).DeviceConflict!.message).toBe('office has the device at the same priority');
    expect(byType(later.conditions).DeviceConnected!.message).toBe('connect ECONNREFUSED 192.168.1.20:8009');
  });

  it('keeps lastTransitionTime while a condition’s status and reason stay, and moves it when they change', () => {
    const clock = new TransitionClock();
    const at = (now: Date, cast$: CastSnap, name = 'kitchen') =>
      byType(buildStatus(inputs({ name, spec$: specIn({ active: 'running' }), cast$, stream$: playingStream() }), clock, now).conditions);

    const first = at(T0, playingCast());
    expect(first.MediaPlaying!.lastTransitionTime).toBe(T0.toISOString());
    const same = at(T1, playingCast());
    expect(same.MediaPlaying!.lastTransitionTime).toBe(T0.toISOString());
    expect(same.DisplayReady!.lastTransitionTime).toBe(T0.toISOString());

    const T2 = new Date('2025-03-01T12:10:00.000Z');
    const idle = at(T2, castIn({ connected: 'recovering' }, { device: { host: '192.168.1.20', port: 8009 }, conn: { media: () => undefined }, lastDrift: { reason: 'IdleError', message: 'device went IDLE (ERROR)', at: T2.toISOString() } }));
    expect(idle.MediaPlaying).toMatchObject({ status: 'False', reason: 'IdleError', lastTransitionTime: T2.toISOString() });
    expect(idle.DeviceConnected!.lastTransitionTime).toBe(T0.toISOString());

    // Another spec has its own times; a forgotten spec starts over.
    expect(at(T2, playingCast(), 'office').MediaPlaying!.lastTransitionTime).toBe(T2.toISOString());
    clock.forget('kitchen');
    const T3 = new Date('2025-03-01T12:15:00.000Z');
    expect(at(T3, playingCast()).DisplayReady!.lastTransitionTime).toBe(T3.toISOString());
    expect(at(T3, playingCast(), 'office').DisplayReady!.lastTransitionTime).toBe(T2.toISOString());
  });

  it('a parked spec says why and since when; its stopped stream is not reported as starting', () => {
    const away = Date.parse('2025-03-01T11:55:00.000Z');
    const parkedAt = Date.parse('2025-03-01T11:57:00.000Z');
    const cast$ = castIn('retrying', {
      lastErrorStep: 'connect',
      lastError: 'connect ECONNREFUSED 192.168.1.20:8009',
      away: { reason: 'Unreachable', since: away },
      parkedAt,
    });
    const status = buildStatus(inputs({ spec$: specIn({ active: 'running' }), cast$, stream$: streamWith({ parkedAt: new Date(parkedAt).toISOString() }) }), new TransitionClock(), T0);
    expect(status.phase).toBe('Parked');
    expect(status.parked).toEqual({
      reason: 'Unreachable',
      message: 'the device is unreachable; stream stopped until it is back',
      since: '2025-03-01T11:57:00.000Z',
      awaySince: '2025-03-01T11:55:00.000Z',
      streamStopped: true,
    });
    const c = byType(status.conditions);
    expect(c.Parked).toMatchObject({ status: 'True', reason: 'Unreachable' });
    for (const type of ['DisplayReady', 'BrowserReady', 'EncoderRunning', 'StreamServable']) expect(c[type]).toMatchObject({ status: 'False', reason: 'Parked' });
    expect(c.MediaPlaying).toMatchObject({ status: 'False', reason: 'Parked' });

    // Another spec's device keeps the shared stream running; another app holds this one.
    const busy = buildStatus(
      inputs({ spec$: specIn({ active: 'running' }), cast$: castIn({ connected: 'waitingDevice' }, { away: { reason: 'OtherApp', since: away, app: 'YouTube' }, parkedAt }), stream$: playingStream() }),
      new TransitionClock(),
      T0,
    );
    expect(busy.parked).toMatchObject({ reason: 'OtherApp', streamStopped: false, message: 'the device is showing YouTube; the stream keeps running for another spec' });
    expect(byType(busy.conditions).DisplayReady).toMatchObject({ status: 'True', reason: 'Running' });

    expect(buildStatus(inputs({ spec$: specIn({ active: 'running' }), cast$: playingCast(), stream$: playingStream() }), new TransitionClock(), T0).parked).toBeUndefined();
  });

  it('says when the encoder stepped down to keep up, and when it is back at full quality', () => {
    const withReport = (status: 'True' | 'False', reason: string, message: string) =>
      buildStatus(
        inputs({
          spec$: specIn({ active: 'running' }),
          cast$: playingCast(),
          stream$: streamWith({ ...playingStream().context, reports: { EncoderDegraded: { type: 'EncoderDegraded', status, reason, message, at: T0.toISOString() } } }),
        }),
        new TransitionClock(),
        T0,
      );
    expect(byType(withReport('True', 'FellBehind', 'speed 0.89 for 10 s: preset superfast, 30 fps').conditions).EncoderDegraded).toMatchObject({
      status: 'True',
      reason: 'FellBehind',
      message: 'speed 0.89 for 10 s: preset superfast, 30 fps',
    });
    expect(byType(withReport('False', 'Recovered', 'back to preset veryfast, 30 fps').conditions).EncoderDegraded).toMatchObject({ status: 'False', reason: 'Recovered' });
    // No report yet: no condition (an encoder that never had to step says nothing).
    expect(byType(buildStatus(inputs({ spec$: specIn({ active: 'running' }), cast$: playingCast(), stream$: playingStream() }), new TransitionClock(), T0).conditions).EncoderDegraded).toBeUndefined();
  });

  it('redacts secrets in the URL and in every message that quotes one', () => {
    const leak = 'http://10.0.0.5:8181/s/STREAMTOKEN/master.m3u8?sig=SECRET2';
    const status = buildStatus(
      inputs({
        spec$: specIn({ active: 'running' }),
        cast$: castIn({ connected: 'recovering' }, {
          device: { host: '192.168.1.20', port: 8009 },
          lastErrorStep: 'load',
          lastError: `LOAD of ${leak} failed`,
          lastDrift: { reason: 'LoadFailed', message: `LOAD of ${leak} failed`, at: T0.toISOString() },
        }),
        stream$: streamWith({
          reports: { BrowserReady: { reason: 'NavigationFailed', message: 'goto https://ha.example/k?token=SECRET3 timed out', at: T0.toISOString() } },
          lastExit: { component: 'browser', info: { reason: 'exited', message: 'chromium exited: https://u:SECRET4@ha.example/' }, at: T0.toISOString() },
        }),
      }),
      new TransitionClock(),
      T0,
    );
    expect(status.url).toBe('https://[redacted]@ha.example/lovelace/kitchen?[redacted]');
    const text = JSON.stringify(status);
    for (const secret of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', 'pw@']) expect(text).not.toContain(secret);
    expect(byType(status.conditions).MediaPlaying!.message).toBe('LOAD of http://10.0.0.5:8181/s/STREAMTOKEN/master.m3u8?[redacted] failed');
    expect(status.lastDrift?.message).toBe('LOAD of http://10.0.0.5:8181/s/STREAMTOKEN/master.m3u8?[redacted] failed');
    expect(byType(status.conditions).BrowserReady!.message).toBe('goto https://ha.example/k?[redacted] timed out');

    const fromEnv = CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'kitchen' }, spec: { device: 'Kitchen TV', urlFrom: { env: 'KITCHEN_URL' } } });
    expect(buildStatus(inputs({ spec: fromEnv }), new TransitionClock(), T0).url).toBe('[from urlFrom]');
  });
});

describe('buildStatus for a spec with pages', () => {
  const pagesSpec = CastSpecSchema.parse({
    apiVersion: 'pagecast/v1',
    kind: 'CastSpec',
    metadata: { name: 'kitchen' },
    spec: {
      device: 'Kitchen TV',
      pages: [
        { url: 'https://grafana.example/d/power?auth=PAGESECRET0' },
        { url: 'https://u:PAGESECRET1@cam.example/door', for: '10s' },
        { url: 'https://ha.example/k?token=PAGESECRET2' },
      ],
    },
  });
  const rotation = (over: Partial<RotationState> = {}, pages: Array<Partial<RotationPage>> = []): RotationState => ({
    showing: 0,
    since: '2025-03-01T12:00:05.000Z',
    nextSwitchAt: '2025-03-01T12:00:35.000Z',
    pages: pagesSpec.spec.pages!.map((p, index) => ({ index, url: p.url!, state: 'ready', inRotation: true, ...pages[index] })),
    ...over,
  });
  const status = (r: RotationState | undefined, spec = pagesSpec, clock = new TransitionClock(), now = T0) =>
    buildStatus(inputs({ spec, spec$: specIn({ active: 'running' }), cast$: playingCast(), stream$: playingStream(), rotation: r }), clock, now);

  it('shows the page on screen, since when and the next switch, redacted', () => {
    const s = status(rotation({ showing: 2 }));
    expect(s.url).toBe('[3 pages]');
    expect(s.page).toEqual({
      index: 2,
      count: 3,
      url: 'https://ha.example/k?[redacted]',
      since: '2025-03-01T12:00:05.000Z',
      nextSwitchAt: '2025-03-01T12:00:35.000Z',
      inRotation: [0, 1, 2],
      failed: [],
    });
    expect(byType(s.conditions).PagesReady).toMatchObject({ status: 'True', reason: 'PagesShown', message: '3 pages, 3 in the rotation now' });
    expect(JSON.stringify(s)).not.toMatch(/PAGESECRET/);
  });

  it('lists a page that failed, with its redacted URL and error, in the page object and a False condition', () => {
    const clock = new TransitionClock();
    const s = status(
      rotation({}, [{}, { state: 'failed', error: 'HTTP 500 from https://u:PAGESECRET1@cam.example/door?sig=PAGESECRET3' }, { inRotation: false }]),
      pagesSpec,
      clock,
    );
    expect(s.page!.failed).toEqual([{ index: 1, url: 'https://[redacted]@cam.example/door', error: 'HTTP 500 from https://[redacted]@cam.example/door?[redacted]' }]);
    expect(s.page!.inRotation).toEqual([0, 1]);
    expect(byType(s.conditions).PagesReady).toMatchObject({
      status: 'False',
      reason: 'PageFailed',
      message: 'page 1 (https://[redacted]@cam.example/door) failed: HTTP 500 from https://[redacted]@cam.example/door?[redacted]',
      lastTransitionTime: T0.toISOString(),
    });
    expect(JSON.stringify(s)).not.toMatch(/PAGESECRET/);
    // Loaded again: True, and the transition moves.
    const again = status(rotation(), pagesSpec, clock, T1);
    expect(again.page!.failed).toEqual([]);
    expect(byType(again.conditions).PagesReady).toMatchObject({ status: 'True', lastTransitionTime: T1.toISOString() });
  });

  it('before the first page shows: no index, and PagesReady Unknown', () => {
    const s = status(rotation({ showing: undefined, since: undefined, nextSwitchAt: undefined }, [{ state: 'loading' }, { state: 'loading' }, { state: 'loading' }]));
    expect(s.page).toEqual({ count: 3, inRotation: [0, 1, 2], failed: [] });
    expect(byType(s.conditions).PagesReady).toMatchObject({ status: 'Unknown', reason: 'Loading' });
  });

  it('no rotation (stream not running) or a single-URL spec: no page object, no PagesReady', () => {
    for (const s of [status(undefined), status(rotation(), spec)]) {
      expect(s.page).toBeUndefined();
      expect(byType(s.conditions).PagesReady).toBeUndefined();
    }
  });
});
