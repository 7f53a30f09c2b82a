// The actions a person takes on a running spec (re-cast, reload, restart) and the change feed a
// console follows, through the controller with stand-in components.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents, type StandIns } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';

const spec = (name: string, device: string, tail = '') => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: ${name} }
spec:
  device: ${device}
  url: https://ha.example/${name}
  policy:
    backoff: { initial: 50ms, max: 200ms }
${tail}`;

describe('actions on a running spec', () => {
  let dir: string;
  let state: string;
  let streams: string;
  let c: StandIns;
  let ctl: Controller;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-act-'));
    state = mkdtempSync(join(tmpdir(), 'pc-act-state-'));
    streams = mkdtempSync(join(tmpdir(), 'pc-act-streams-'));
    c = standInComponents(streams);
    writeFileSync(join(dir, 'kitchen.yaml'), spec('kitchen', 'Kitchen TV'));
    writeFileSync(join(dir, 'hall.yaml'), spec('hall', 'Hall TV', '  suspend: true\n'));
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000 });
    await ctl.start();
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing', 5000, 'kitchen playing');
  });
  afterEach(async () => {
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  it('re-cast gives the device a new LOAD of the same stream', async () => {
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    expect(conn.loads).toHaveLength(1);
    expect(await ctl.recast('kitchen')).toEqual({ ok: true, message: 'kitchen: the device is given a new LOAD' });
    await waitUntil(() => conn.loads.length === 2 && ctl.get('kitchen')?.phase === 'Playing', 5000, 'a second LOAD');
    expect(conn.loads[1]!.url).toBe(conn.loads[0]!.url);
    expect(c.log.events.filter((e) => e.startsWith('start encoder'))).toHaveLength(1);
  });

  it('reload loads the page again in the running browser', async () => {
    const browser = c.log.running('browser')[0] as unknown as { reloads: number };
    expect(await ctl.reloadPage('kitchen')).toMatchObject({ ok: true });
    expect(browser.reloads).toBe(1);
  });

  it('restart stops display, browser and encoder and starts them again; the TV keeps its URL', async () => {
    const conn = c.castDriver.connectionTo('kitchen-tv')!;
    const before = c.log.running('display')[0];
    expect(await ctl.restartStream('kitchen')).toMatchObject({ ok: true });
    await waitUntil(() => c.log.running('display')[0] && c.log.running('display')[0] !== before && c.log.running('encoder').length === 1, 5000, 'a new display and encoder');
    expect(c.log.events.filter((e) => e.startsWith('stop')).map((e) => e.split('#')[0])).toEqual(['stop encoder', 'stop browser', 'stop display']);
    expect(conn.loads).toHaveLength(1);
    expect(ctl.get('kitchen')!.stream!.id).toBeDefined();
  });

  it('each action refuses an unknown spec and one that is not playing, saying why', async () => {
    for (const act of ['recast', 'reloadPage', 'restartStream'] as const) {
      expect(await ctl[act]('nope')).toEqual({ ok: false, reason: 'unknown', message: 'no spec named "nope"' });
      expect(await ctl[act]('hall')).toMatchObject({ ok: false, reason: 'not-playing', message: expect.stringMatching(/^hall is not playing \(phase Suspended\): nothing to /) });
    }
  });

  it('subscribers hear which specs changed, coalesced, and stop hearing once they unsubscribe', async () => {
    const heard: string[][] = [];
    const off = ctl.subscribe((names) => heard.push(names));
    await ctl.suspend('kitchen');
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Suspended' && heard.some((n) => n.includes('kitchen')), 5000, 'kitchen suspended and heard');
    // Coalesced: one call per turn of the event loop, each name once.
    for (const names of heard) expect(new Set(names).size).toBe(names.length);
    off();
    const count = heard.length;
    await ctl.resume('kitchen');
    await waitUntil(() => ctl.get('kitchen')?.phase === 'Playing', 5000, 'kitchen playing again');
    expect(heard.length).toBe(count);
  });
});
