// End to end: a rotation of pages (spec.pages) through the controller and the real pipeline,
// against fake TVs that record every frame they decode as a grid of colours. The pages are solid
// colours, so the frames say which page the TV showed, and that it never showed anything else.
// The harness is shared by the file; each test writes its own spec on its own TV, and afterEach
// removes both, so any one of them runs alone with -t.
import { readdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer } from '../../controller/http/api.js';
import type { SpecStatus } from '../../controller/status/types.js';
import { deviceAt, gone, ownedProcesses, pagesYaml, startHarness, waitPlaying, type Harness, type PageYaml } from '../harness.js';
import type { FakeCastDevice } from '../fake-device/device.js';
import { describeRuns, nameFrames, runsOf, type ColourRun, type Palette } from '../fake-device/frame-colours.js';
import { ERROR_PAGE_RGB, SOLID_RGB } from '../fixtures/media/page-server.js';
import { waitUntil } from '../helpers.js';

/** Every colour a frame could plausibly be: the pages', and what a wrong frame would be (white, black, the error page). */
const PALETTE: Palette = { ...SOLID_RGB, magenta: ERROR_PAGE_RGB };
const SAMPLE = { sampleFrames: { grid: 4 } };

describe('a rotation of pages in one stream, real pipeline, fake TVs reading the colours', () => {
  let h: Harness;
  const devices: FakeCastDevice[] = [];
  const pidsSeen = new Set<number>();
  const timings: Record<string, number | number[]> = {};

  beforeAll(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    for (const f of readdirSync(h.dir)) if (f.endsWith('.yaml')) h.removeSpec(f);
    await waitUntil(() => h.controller.list().length === 0 && h.pids().length === 0, 30_000, () => `no spec and no process (left: ${JSON.stringify(h.runtime.registry.list())})`);
    for (const d of devices.splice(0)) await d.stop();
  });
  afterAll(async () => {
    const owner = h?.runtime.registry.owner;
    await h?.close();
    // Every Chromium, FFmpeg and Xvfb a test saw is gone, and so are Chromium's helpers (its
    // crashpad handler and zygotes, not in the registry), which exit a moment after the browser.
    expect([...pidsSeen].filter((pid) => !gone(pid))).toEqual([]);
    if (owner) {
      const t = Date.now();
      await waitUntil(() => ownedProcesses(owner).length === 0, 10_000, () => `no process of ours left (left: ${ownedProcesses(owner).join(', ')})`, { intervalMs: 50 });
      timings.helpersGoneAfterClose = Date.now() - t;
    }
    console.log('e2e pages timings (ms):', JSON.stringify(timings));
  });

  async function tv(name: string, sample = true): Promise<FakeCastDevice> {
    const d = await h.device(name, sample ? SAMPLE : {});
    devices.push(d);
    return d;
  }
  const solid = (colour: keyof typeof SOLID_RGB, every = '5s'): PageYaml => ({ url: h.pages.url(`/solid/${colour}`), for: every });
  const runs = (d: FakeCastDevice): ColourRun[] => runsOf(nameFrames(d.frames(), PALETTE));
  const names = (d: FakeCastDevice): string[] => runs(d).map((r) => r.name);
  const condition = (s: SpecStatus | undefined, type: string) => s?.conditions.find((c) => c.type === type);
  const remember = () => h.pids().forEach((p) => pidsSeen.add(p));
  /** What the TV showed so far, for a timeout message. */
  const showed = (d: FakeCastDevice) => () => `frames ${describeRuns(runs(d)) || '(none)'}; sampler errors ${JSON.stringify(d.frameErrors())}`;

  /** Fails with the runs when a frame was anything but one of `allowed`, or a segment went unsampled. */
  function onlyPages(d: FakeCastDevice, allowed: readonly string[]): ColourRun[] {
    const r = runs(d);
    expect(d.frameErrors(), 'segments the sampler could not decode').toEqual([]);
    expect(r.filter((x) => !allowed.includes(x.name)), `every frame one of ${allowed.join(', ')}: ${describeRuns(r)}`).toEqual([]);
    return r;
  }

  it('red, green, blue every 5 s: the TV decodes them in order over a cycle and a switch, every frame (the first too) one of the pages, with one LOAD', async () => {
    const d = await tv('Rotation TV');
    const t0 = Date.now();
    h.writeSpec('rotation.yaml', pagesYaml('rotation', deviceAt(d), [solid('red'), solid('green'), solid('blue')]));
    await waitUntil(() => names(d).length >= 5, 90_000, showed(d), { intervalMs: 250 });
    remember();
    timings.rotationRun = Date.now() - t0;

    const r = onlyPages(d, ['red', 'green', 'blue']);
    // The first frame the TV decodes is the first page: no white, unpainted window before it.
    expect(r.map((x) => x.name).slice(0, 5), describeRuns(r)).toEqual(['red', 'green', 'blue', 'red', 'green']);
    expect(d.count('LOAD')).toBe(1);
    // Each full turn lasts its 5 s in the stream (capture times, from the playlist's program
    // date-time), give or take the move of each switch to just before a segment boundary (at most
    // half a 2 s segment and 250 ms); the rotation does not drift.
    const frames = nameFrames(d.frames(), PALETTE);
    const starts = frames.filter((f, i) => i === 0 || f.name !== frames[i - 1]!.name).map((f) => f.programDateTime ?? NaN);
    const turns = [1, 2, 3].map((k) => starts[k + 1]! - starts[k]!);
    timings.turnsInStream = turns;
    for (const t of turns) expect(t, `turns in the stream ${turns.join(', ')} ms`).toBeGreaterThan(5_000 - 1_400);
    for (const t of turns) expect(t, `turns in the stream ${turns.join(', ')} ms`).toBeLessThan(5_000 + 1_400);
    expect(Math.abs(starts[4]! - starts[1]! - 15_000), `three turns in the stream ${turns.join(', ')} ms`).toBeLessThan(2_700);

    const s = h.controller.get('rotation')!;
    expect(s.url).toBe('[3 pages]');
    expect(s.page).toMatchObject({ count: 3, inRotation: [0, 1, 2], failed: [] });
    expect(condition(s, 'PagesReady')?.status).toBe('True');
  });

  it('a page answering 500 is skipped (the TV never shows it) and reported in the status, its URL redacted', async () => {
    const d = await tv('Skip TV');
    const failing = h.pages.url('/500?token=SECRET500');
    h.writeSpec('skip.yaml', pagesYaml('skip', deviceAt(d), [solid('red'), { url: failing, for: '5s' }, solid('blue')]));
    const reported = await waitUntil(() => {
      const s = h.controller.get('skip');
      return s?.page?.failed.some((f) => f.index === 1) && condition(s, 'PagesReady')?.status === 'False' ? s : undefined;
    }, 60_000, () => `page 1 reported failed (status: ${JSON.stringify(h.controller.get('skip')?.page)})`);
    // Passed over twice: once after its first load failed, once after it was tried again on its turn.
    await waitUntil(() => names(d).length >= 4, 60_000, showed(d), { intervalMs: 250 });
    remember();

    const r = onlyPages(d, ['red', 'blue']);
    expect(r.map((x) => x.name).slice(0, 4), describeRuns(r)).toEqual(['red', 'blue', 'red', 'blue']);
    expect(d.count('LOAD')).toBe(1);
    expect(h.pages.hits('/500')).toBeGreaterThanOrEqual(2); // tried again on its turn
    expect(reported.page!.failed).toEqual([{ index: 1, url: `${h.pages.url('/500')}?[redacted]`, error: 'HTTP 500' }]);
    expect(condition(reported, 'PagesReady')).toMatchObject({ status: 'False', reason: 'PageFailed' });
    expect(condition(reported, 'PagesReady')!.message).toContain('page 1');
    expect(JSON.stringify(h.controller.list())).not.toContain('SECRET500');
  });

  it('a jump (POST /api/v1/specs/NAME/page, then controller.showPage) brings that page to the TV with no new LOAD', async () => {
    const d = await tv('Jump TV');
    const token = 'j'.repeat(43);
    const api = await startApiServer({ control: h.controller, host: '127.0.0.1', port: 0, token, log: h.log });
    try {
      // Turns of a minute: only the jumps switch pages.
      h.writeSpec('jump.yaml', pagesYaml('jump', deviceAt(d), [solid('red', '1m'), solid('green', '1m'), solid('blue', '1m')]));
      await waitPlaying(d, 60_000);
      await waitUntil(() => names(d)[0] === 'red' && h.controller.get('jump')?.page?.index === 0, 30_000, showed(d), { intervalMs: 100 });

      let t = Date.now();
      const res = await fetch(`${api.url}/api/v1/specs/jump/page`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ index: 2 }),
      });
      const body = (await res.json()) as { name: string; page: { index: number; since: string } };
      expect(res.status).toBe(200);
      expect(body).toMatchObject({ name: 'jump', page: { index: 2 } });
      await waitUntil(() => names(d).at(-1) === 'blue', 30_000, showed(d), { intervalMs: 50 });
      timings.jumpApiToDecoded = Date.now() - t;

      t = Date.now();
      const shown = await h.controller.showPage('jump', 1);
      expect(shown).toMatchObject({ ok: true, page: { index: 1 } });
      await waitUntil(() => names(d).at(-1) === 'green', 30_000, showed(d), { intervalMs: 50 });
      timings.jumpShowPageToDecoded = Date.now() - t;
      remember();

      const r = onlyPages(d, ['red', 'green', 'blue']);
      expect(r.map((x) => x.name), describeRuns(r)).toEqual(['red', 'blue', 'green']);
      expect(d.count('LOAD')).toBe(1);
      expect(h.controller.get('jump')!.page).toMatchObject({ index: 1 });
    } finally {
      await api.close();
    }
  });

  it('two specs with identical pages on two TVs share one stream: one browser, one encoder', async () => {
    const [a, b] = [await tv('Share TV A', false), await tv('Share TV B', false)];
    const pages = [solid('red'), solid('green')];
    h.writeSpec('share-a.yaml', pagesYaml('share-a', deviceAt(a), pages));
    h.writeSpec('share-b.yaml', pagesYaml('share-b', deviceAt(b), pages));
    await waitPlaying(a, 60_000);
    await waitPlaying(b, 60_000);
    const both = await waitUntil(() => {
      const [sa, sb] = [h.controller.get('share-a'), h.controller.get('share-b')];
      return sa?.phase === 'Playing' && sb?.phase === 'Playing' && sa.stream && sb.stream ? [sa, sb] as const : undefined;
    }, 30_000, 'both specs Playing with a stream');
    remember();

    const [sa, sb] = both;
    expect(sa.stream!.id).toBe(sb.stream!.id);
    expect(sa.stream!.sharedWith).toEqual(['share-b']);
    expect(sb.stream!.sharedWith).toEqual(['share-a']);
    expect(h.controller.streams.size).toBe(1);
    const processes = h.runtime.registry.list();
    expect(processes.filter((p) => p.name === 'chromium'), JSON.stringify(processes)).toHaveLength(1);
    expect(processes.filter((p) => /ffmpeg/.test(p.name)), JSON.stringify(processes)).toHaveLength(1);
    // The same rotation shows on both: the same page since the same instant.
    expect(sa.page?.index).toBeDefined();
    expect({ index: sb.page?.index, since: sb.page?.since }).toEqual({ index: sa.page!.index, since: sa.page!.since });
    expect([a.count('LOAD'), b.count('LOAD')]).toEqual([1, 1]);
  });
});
