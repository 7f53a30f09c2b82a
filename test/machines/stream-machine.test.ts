import { afterEach, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { backoffMs, streamMachine } from '../../machines/stream-machine.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents } from '../stand-ins/components.js';
import { waitUntil, tempDirs } from '../helpers.js';

describe('stream component restart delays', () => {
  const at = (n: number) => backoffMs({ backoff: { initialMs: 1000, maxMs: 8000 }, attempts: { display: 0, browser: 0, encoder: n } }, 'encoder');
  it('restarts a component that died after running at once, then backs off exponentially to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map(at)).toEqual([0, 1000, 2000, 4000, 8000, 8000]);
  });
});

describe('stream machine with stand-ins', () => {
  const temps = tempDirs();
  const tempDir = temps.make;
  afterEach(() => temps.removeAll());

  const input = { url: 'https://x.example/', quality: { width: 640, height: 360, fps: 15, bitrateKbps: 800 }, mode: 'hls' as const, hwAccel: 'off' as const, browser: { zoom: 1, navigationTimeout: 30000, maxMemory: 1.5e9 } };
  const T0 = Date.UTC(2025, 2, 1, 12); // the machine's clock: exit times come from it, not from the wall
  const start = () => {
    const c = standInComponents(tempDir('pc-sm-'));
    const actor = createActor(streamMachine, { input: { id: 's', input, dir: c.streamRoot, components: c, log: silentLogger(), now: () => T0 } });
    const exits: string[] = [];
    actor.on('componentExited', (e) => exits.push(`${e.component} ${e.info.reason}`));
    actor.start();
    const servable = () => actor.getSnapshot().context.browserReady && actor.getSnapshot().context.encoderServable;
    return { c, actor, servable, exits };
  };

  it('an encoder exit restarts only the encoder; a display exit restarts everything', async () => {
    const { c, actor, servable } = start();
    await waitUntil(servable, 2000, 'servable');
    const [display] = c.log.running('display');
    const [browser] = c.log.running('browser');
    const encoder = c.log.running('encoder')[0]!;
    encoder.die();
    await waitUntil(() => c.log.running('encoder')[0] && c.log.running('encoder')[0] !== encoder && servable(), 2000, 'a new encoder, servable again');
    expect(c.log.running('display')[0]).toBe(display);
    expect(c.log.running('browser')[0]).toBe(browser);
    expect(actor.getSnapshot().context.lastExit).toEqual({ component: 'encoder', info: { reason: 'killed', signal: 'SIGKILL' }, at: new Date(T0).toISOString() });
    display!.die();
    await waitUntil(() => c.log.running('display')[0] !== display && servable(), 4000, 'whole stream back');
    await waitUntil(() => browser!.stopped && c.log.running('browser').length === 1, 2000, 'old browser stopped, new one running');
    expect(c.log.running('browser')[0]).not.toBe(browser);
    expect(c.log.events.filter((e) => e.startsWith('stop browser'))).toHaveLength(1);
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
    expect(c.log.running('display').length + c.log.running('browser').length + c.log.running('encoder').length).toBe(0);
  });

  it('starts the encoder only once the browser has its page on screen, and keeps it through a browser restart', async () => {
    const c = standInComponents(tempDir('pc-sm-'));
    const browserStart = c.browser.start.bind(c.browser);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let asked = 0;
    let encoderAsked = 0;
    c.browser = { start: async (o, sc) => (asked++, await gate, browserStart(o, sc)) };
    const encoderStart = c.encoder.start.bind(c.encoder);
    c.encoder = { start: (o, sc) => (encoderAsked++, encoderStart(o, sc)) };
    const actor = createActor(streamMachine, { input: { id: 's', input, dir: c.streamRoot, components: c, log: silentLogger(), now: () => T0 } }).start();
    await waitUntil(() => asked === 1, 2000, 'the browser asked to start');
    expect(encoderAsked).toBe(0); // the display is up, the page is not: nothing to capture yet
    release();
    await waitUntil(() => actor.getSnapshot().context.encoderServable, 2000, 'servable');
    expect(encoderAsked).toBe(1);
    const encoder = c.log.running('encoder')[0];
    c.log.running('browser')[0]!.die({ reason: 'crashed' });
    await waitUntil(() => asked === 2 && actor.getSnapshot().context.browserReady, 2000, 'a new browser');
    expect(c.log.running('encoder')[0]).toBe(encoder); // the backdrop holds the last picture meanwhile
    expect(encoderAsked).toBe(1);
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
  });

  it('a browser exit restarts only the browser; every exit is counted and announced once', async () => {
    const { c, actor, servable, exits } = start();
    await waitUntil(servable, 2000, 'servable');
    const [display] = c.log.running('display');
    const [encoder] = c.log.running('encoder');
    const browser = c.log.running('browser')[0]!;
    browser.die({ reason: 'crashed', message: 'page crashed' });
    expect(actor.getSnapshot().context.browserReady).toBe(true); // the exit arrives asynchronously
    await waitUntil(() => c.log.running('browser')[0] && c.log.running('browser')[0] !== browser && servable(), 2000, 'a new browser');
    expect(c.log.running('display')[0]).toBe(display);
    expect(c.log.running('encoder')[0]).toBe(encoder);
    const ctx = actor.getSnapshot().context;
    expect(ctx.lastExit).toMatchObject({ component: 'browser', info: { reason: 'crashed', message: 'page crashed' } });
    expect(ctx.restarts).toBe(1);
    c.log.running('encoder')[0]!.die();
    await waitUntil(() => exits.length === 2 && servable(), 2000, 'encoder back');
    expect(exits).toEqual(['browser crashed', 'encoder killed']);
    expect(actor.getSnapshot().context.restarts).toBe(2);
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
  });

  const running = (c: ReturnType<typeof start>['c']) => c.log.running('display').length + c.log.running('browser').length + c.log.running('encoder').length;

  it('PARK stops every component in order; RESUME starts them again once those stops are done', async () => {
    const { c, actor, servable } = start();
    await waitUntil(servable, 2000, 'servable');
    const changes: number[] = [];
    actor.on('changed', () => changes.push(1));
    actor.send({ type: 'PARK' });
    expect(actor.getSnapshot().matches('parked')).toBe(true);
    expect(actor.getSnapshot().context).toMatchObject({ browserReady: false, encoderServable: false, display: undefined, parkedAt: new Date(T0).toISOString() });
    expect(changes.length).toBeGreaterThan(0); // the registry learns it is no longer servable
    await waitUntil(() => actor.getSnapshot().matches({ parked: 'idle' }), 2000, 'drained');
    expect(running(c)).toBe(0);
    expect(c.log.events.slice(-3)).toEqual(['stop encoder#3', 'stop browser#2', 'stop display#1']);

    actor.send({ type: 'RESUME' });
    await waitUntil(servable, 2000, 'servable again');
    expect(running(c)).toBe(3);
    expect(actor.getSnapshot().context.parkedAt).toBeUndefined();
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
    expect(running(c)).toBe(0);
  });

  it('a RESUME that comes while the parked components are still stopping waits for them', async () => {
    const { c, actor, servable } = start();
    await waitUntil(servable, 2000, 'servable');
    // Slow stops: the display takes a while to go.
    const display = c.log.running('display')[0]!;
    const stop = display.stop.bind(display);
    let finishStop: () => void = () => {};
    display.stop = () => new Promise<void>((r) => (finishStop = () => void stop().then(r)));
    actor.send({ type: 'PARK' });
    actor.send({ type: 'RESUME' });
    await waitUntil(() => actor.getSnapshot().matches({ parked: 'resuming' }), 2000, 'resuming');
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); // time for a start (the stand-ins start on the next tick)
    expect(c.log.running('display')).toEqual([display]); // no second display while the first is there
    expect(actor.getSnapshot().matches({ parked: 'resuming' })).toBe(true);
    finishStop();
    await waitUntil(servable, 2000, 'servable again');
    expect(c.log.running('display')).toHaveLength(1);
    expect(c.log.running('display')[0]).not.toBe(display);
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
  });

  it('STOP while parked ends the stream', async () => {
    const { c, actor, servable } = start();
    await waitUntil(servable, 2000, 'servable');
    actor.send({ type: 'PARK' });
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
    expect(running(c)).toBe(0);
  });
});
