import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../machines/stream-machine.js';

describe('stream component restart delays', () => {
  const at = (n: number) => backoffMs({ backoff: { initialMs: 1000, maxMs: 8000 }, attempts: { display: 0, browser: 0, encoder: n } }, 'encoder');
  it('restarts a component that died after running at once, then backs off exponentially to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map(at)).toEqual([0, 1000, 2000, 4000, 8000, 8000]);
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor } from 'xstate';
import { streamMachine } from '../../machines/stream-machine.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';

describe('stream machine with stand-ins', () => {
  const input = { url: 'https://x.example/', quality: { width: 640, height: 360, fps: 15, bitrateKbps: 800 }, mode: 'hls' as const, hwAccel: 'off' as const, browser: { zoom: 1, navigationTimeout: 30000 } };
  const start = () => {
    const c = standInComponents(mkdtempSync(join(tmpdir(), 'pc-sm-')));
    const actor = createActor(streamMachine, { input: { id: 's', input, dir: c.streamRoot, components: c, log: silentLogger() } });
    actor.start();
    const servable = () => actor.getSnapshot().context.browserReady && actor.getSnapshot().context.encoderServable;
    return { c, actor, servable };
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
    expect(actor.getSnapshot().context.lastExit?.component).toBe('encoder');
    display!.die();
    await waitUntil(() => c.log.running('display')[0] !== display && servable(), 4000, 'whole stream back');
    await waitUntil(() => browser!.stopped && c.log.running('browser').length === 1, 2000, 'old browser stopped, new one running');
    expect(c.log.running('browser')[0]).not.toBe(browser);
    expect(c.log.events.filter((e) => e.startsWith('stop browser'))).toHaveLength(1);
    actor.send({ type: 'STOP' });
    await waitUntil(() => actor.getSnapshot().status === 'done', 2000, 'stopped');
    expect(c.log.running('display').length + c.log.running('browser').length + c.log.running('encoder').length).toBe(0);
  });
});
