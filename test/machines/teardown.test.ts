import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, setup } from 'xstate';
import { stopAndWait, Teardown } from '../../machines/teardown.js';

/** A step that finishes only when the test says so. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Teardown', () => {
  it('runs steps one after another, in the order they were added, and done() waits for all', async () => {
    const t = new Teardown();
    const log: string[] = [];
    const encoder = gate();
    t.add(async () => {
      log.push('encoder: stopping');
      await encoder.opened;
      log.push('encoder: gone');
    });
    t.add(() => log.push('browser: gone'));
    t.add(async () => log.push('display: gone'));
    let done = false;
    void t.done().then(() => (done = true));
    await tick();
    expect(log).toEqual(['encoder: stopping']); // the browser waits for the encoder
    expect(done).toBe(false);
    encoder.open();
    await t.done();
    expect(log).toEqual(['encoder: stopping', 'encoder: gone', 'browser: gone', 'display: gone']);
    expect(done).toBe(true);
  });

  it('a failing step, rejected or thrown, does not break the chain', async () => {
    const t = new Teardown();
    const log: string[] = [];
    t.add(async () => {
      throw new Error('kill failed');
    });
    t.add(() => {
      throw new Error('sync failure');
    });
    t.add(() => log.push('next'));
    await expect(t.done()).resolves.toBeUndefined();
    expect(log).toEqual(['next']);
  });

  it('steps added after done() was taken run after it, and a later done() covers them', async () => {
    const t = new Teardown();
    const log: string[] = [];
    t.add(() => log.push('a'));
    const first = t.done();
    t.add(() => log.push('b'));
    await first;
    await t.done();
    expect(log).toEqual(['a', 'b']);
  });
});

describe('stopAndWait', () => {
  // An actor whose STOP takes a while, as the stream and spec machines' do.
  type Stop = { until: () => Promise<void> };
  const slowStop = setup({
    types: { events: {} as { type: 'STOP' }, context: {} as Stop, input: {} as Stop },
    actors: { stop: fromPromise<void, Stop>(({ input }) => input.until()) },
  }).createMachine({
    context: ({ input }) => input,
    initial: 'running',
    states: {
      running: { on: { STOP: 'stopping' } },
      stopping: { invoke: { src: 'stop', input: ({ context }) => context, onDone: 'stopped' } },
      stopped: { type: 'final' },
    },
  });

  it('sends STOP and resolves once the actor reaches its final state', async () => {
    const g = gate();
    const actor = createActor(slowStop, { input: { until: () => g.opened } }).start();
    let resolved = false;
    const stopped = stopAndWait(actor).then(() => (resolved = true));
    await tick();
    expect(actor.getSnapshot().value).toBe('stopping');
    expect(resolved).toBe(false);
    g.open();
    await stopped;
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('resolves at once for an actor that is no longer active, and when an actor dies instead', async () => {
    const done = createActor(slowStop, { input: { until: () => Promise.resolve() } }).start();
    done.stop();
    await stopAndWait(done);

    const failing = createActor(slowStop, { input: { until: () => Promise.reject(new Error('boom')) } }).start();
    failing.subscribe({ error: () => undefined }); // the test expects the error
    await stopAndWait(failing);
    expect(failing.getSnapshot().status).toBe('error');
  });
});
