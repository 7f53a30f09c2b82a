// Can the console's overview (GET /), its live feed or a spec page throw for a status or a
// proof-of-play record that can really occur? A throw that is not an HttpError becomes the API's
// JSON 500, which a browser shows as a page with no <title> and no <html lang>. Each shape a
// transition can produce is rendered by the real functions; the end-to-end part drives the real
// controller (stand-in components) through the sequence the real-browser test ran.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { cardFragment, cardsFragment, countsFragment, detailFragment, overviewPage, specPage, timelineBar } from '../../../controller/http/console/views.js';
import { Controller } from '../../../controller/controller.js';
import { buildStatus, TransitionClock, type StatusInputs } from '../../../controller/status/status.js';
import { playIntervals, type PlayRecord } from '../../../controller/status/play-log.js';
import type { PlaySpan, SpecStatus } from '../../../controller/status/types.js';
import { createLogger } from '../../../machines/log.js';
import { CastSpecSchema } from '../../../specs/schema.js';
import { standInComponents } from '../../stand-ins/components.js';
import { waitUntil } from '../../helpers.js';
import { FakeControl, specStatus } from './fake-control.js';
import { castIn, specIn, streamWith } from '../status/snapshots.js';

const NOW = Date.parse('2025-01-02T10:00:00.000Z');
const ctx = { base: '', tokenSet: true, now: NOW };
const H = 3600_000;

/** Everything a browser needs to not report document-title / html-has-lang. */
function renderAll(s: SpecStatus, spans: PlaySpan[]): void {
  const page = overviewPage(ctx, { specs: [s], spans, deviceNames: [s.device] }).text;
  expect(page).toContain('<html lang="en">');
  expect(page).toContain('<title>Overview · pagecast</title>');
  cardsFragment(ctx, [s], spans);
  cardFragment(ctx, s, spans);
  countsFragment([s]);
  const detail = { status: s, drifts: [], logs: [], spans };
  detailFragment(ctx, detail);
  expect(specPage(ctx, { ...detail, source: undefined, preview: !!s.stream }).text).toContain(`<title>${s.name} · pagecast</title>`);
  expect(specPage({ ...ctx, csrf: 'x' }, { ...detail, source: { text: '', errors: [{ message: 'x' }] }, preview: true }).text).toContain('<html lang="en">');
}

describe('views: status shapes a transition can produce', () => {
  const shapes: Array<[string, Partial<SpecStatus>]> = [
    ['starting: stream without encoder or figures', { phase: 'Starting', stream: { id: 's', sharedWith: [], fetches: [] } }],
    ['encoder without figures yet', { phase: 'Starting', stream: { id: 's', sharedWith: [], encoder: 'libx264', fetches: [] } }],
    ['figures with NaN (nz() makes them 0 at runtime; NaN only reads oddly)', { stream: { id: 's', sharedWith: [], encoder: 'libx264', figures: { fps: NaN, speed: NaN, droppedFrames: 0, duplicatedFrames: 0, bitrateKbps: NaN, frame: 0, at: '' }, fetches: [] } }],
    ['stopping: suspended while its stream still runs', { phase: 'Stopped', suspended: true, stream: { id: 's', sharedWith: ['other'], fetches: [] } }],
    ['ending ephemeral cast', { phase: 'Stopped', source: { ephemeral: true, expiresAt: 'not a time' } }],
    ['ephemeral without expiry', { phase: 'Starting', source: { ephemeral: true } }],
    ['empty source (no file, no line)', { source: {} }],
    ['no conditions at all', { phase: 'Pending', conditions: [] }],
    ['odd times', { lastDrift: { reason: 'EncoderExited', at: '' }, deviceLastFetch: { playlist: 'garbage' }, nextScheduleChange: 'nope', conditions: [{ type: 'X', status: 'Unknown', reason: '', message: '', lastTransitionTime: 'x' }] }],
    ['far-future time', { lastDrift: { reason: 'R', at: '+275760-09-13T00:00:00.000Z' }, deviceLastFetch: { segment: '-271821-04-20T00:00:00.000Z' } }],
    ['parked, stream stopped', { phase: 'Parked', parked: { reason: 'Standby', message: 'the TV is in standby', since: '2025-01-02T09:00:00.000Z', awaySince: '2025-01-02T08:59:00.000Z', streamStopped: true } }],
    ['pages: none on screen yet, none in rotation', { page: { count: 0, inRotation: [], failed: [] } }],
    ['pages: index beyond count, failed pages', { page: { index: 7, count: 2, inRotation: [5], failed: [{ index: 9, url: '', error: '' }], since: 'x', nextSwitchAt: 'y' } }],
    ['file error while starting', { phase: 'Starting', error: 'kitchen.yaml:1:1 boom' }],
  ];
  for (const [what, over] of shapes) {
    it(what, () => renderAll(specStatus('kitchen', over), []));
  }

  it('every phase, with and without a stream', () => {
    for (const phase of ['Pending', 'Scheduled', 'Preempted', 'Suspended', 'Starting', 'Playing', 'Recovering', 'Waiting', 'Parked', 'Failed', 'Stopped'] as const) {
      renderAll(specStatus('kitchen', { phase }), []);
      renderAll(specStatus('kitchen', { phase, stream: { id: 's', sharedWith: [], fetches: [] } }), []);
    }
  });
});

describe('views: play spans and proof-of-play records', () => {
  const span = (start: number, end: number, reason?: string): PlaySpan => ({ spec: 'kitchen', device: 'Kitchen TV', start, end, ...(reason ? { reason } : {}) });
  const odd: Array<[string, PlaySpan[]]> = [
    ['end before start', [span(NOW - H, NOW - 2 * H, 'Suspended')]],
    ['zero length', [span(NOW - H, NOW - H, 'Suspended')]],
    ['live (no reason) ending now, and one in the future', [span(NOW - H, NOW), span(NOW + H, NOW + 2 * H)]],
    ['overlapping, unsorted, duplicated', [span(NOW - H, NOW - 10_000, 'SpecRemoved'), span(NOW - 3 * H, NOW - 0.5 * H, 'Parked'), span(NOW - H, NOW - 10_000, 'SpecRemoved')]],
    ['before the window, and spanning all of it', [span(NOW - 50 * H, NOW - 30 * H, 'Shutdown'), span(NOW - 48 * H, NOW + H)]],
    ['NaN and Infinity', [span(NaN, NOW, 'x'), span(NOW - H, NaN), span(-Infinity, Infinity)]],
    ['another spec’s spans (the overview passes every spec’s)', [{ ...span(NOW - H, NOW), spec: 'doorbell' }]],
  ];
  for (const [what, spans] of odd) {
    it(what, () => {
      for (const phase of ['Playing', 'Starting', 'Stopped', 'Parked'] as const) {
        renderAll(specStatus('kitchen', { phase }), spans);
        const bar = timelineBar(spans, phase, NOW, 'x').text;
        expect(bar).toContain('<figure class="timeline">');
      }
    });
  }

  it('records as playIntervals reads them: a close before its start, checkpoints before the start, opens only, a cast removed mid-play', () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const records: PlayRecord[] = [
      { v: 1, type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: iso(NOW - H), end: iso(NOW - 2 * H), reason: 'Suspended' },
      { v: 1, type: 'open', spec: 'kitchen', device: 'Kitchen TV', start: iso(NOW - 0.5 * H), at: iso(NOW - H) },
      { v: 1, type: 'open', spec: 'doorbell', device: 'Lounge TV', start: iso(NOW - 60_000), at: iso(NOW - 60_000) },
      { v: 1, type: 'close', spec: 'doorbell', device: 'Lounge TV', start: iso(NOW - 60_000), end: iso(NOW - 1000), reason: 'SpecRemoved' },
      { v: 1, type: 'open', spec: 'kitchen', device: 'Kitchen TV', start: '+275760-09-13T00:00:00.000Z', at: '+275760-09-13T00:00:00.000Z' },
      { v: 1, type: 'open', spec: 'kitchen', device: 'Kitchen TV', start: iso(NOW - 5000), at: iso(NOW + 5000) },
    ];
    for (const live of [true, false]) {
      const spans = playIntervals(records, { now: NOW, live });
      for (const s of spans) expect(s.end).toBeGreaterThanOrEqual(s.start);
      renderAll(specStatus('kitchen'), spans);
      renderAll(specStatus('doorbell', { source: { ephemeral: true } }), spans);
    }
  });
});

// Real snapshots of the real machines, as test/controller/status/status.test.ts builds them.
describe('buildStatus in transitional states, then rendered', () => {
  const spec = CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'doorbell' }, spec: { device: 'Lounge TV', url: 'https://ha.example/cam' } });
  const inputs = (over: Partial<StatusInputs>): StatusInputs => ({ name: 'doorbell', spec, source: { ephemeral: true, expiresAt: '2025-01-02T10:10:00.000Z' }, generation: 'g', suspended: false, ...over });
  const device = { host: 'lounge-tv', port: 8009 };
  const exit = { component: 'encoder', info: { reason: 'stopped' }, at: '2025-01-02T09:59:00.000Z' };
  const cases: Array<[string, Partial<StatusInputs>]> = [
    ['spec active, no cast child yet', { spec$: specIn({ active: 'running' }) }],
    ['spec stopping, cast stopping, stream half down', { spec$: specIn({ active: 'stopping' }), cast$: castIn('stopping', { device }), stream$: streamWith({ lastExit: exit }) }],
    ['cast stopped (final), stream still listed', { spec$: specIn({ active: 'stopping' }), cast$: castIn('stopped'), stream$: streamWith({}) }],
    ['spec stopped (final)', { spec$: specIn('stopped') }],
    ['torn down / ended / failed', { spec$: specIn({ active: 'running' }), cast$: castIn('tornDown', { lastDrift: { reason: 'SessionEnded', at: 'x' } }) }],
    ['failed with no message anywhere', { spec$: specIn({ active: 'running' }), cast$: castIn('failed', { lastErrorStep: 'resolve' }), stream$: streamWith({ lastExit: { component: 'browser', info: { reason: 'crashed' }, at: 'x' } }) }],
    ['launching, encoder up without figures', { spec$: specIn({ active: 'running' }), cast$: castIn({ connected: 'launching' }, { device, conn: { media: () => undefined } }), stream$: streamWith({ display: ':1', encoder: { encoder: 'libx264', figures: () => undefined } }) }],
    ['loading, stream parked', { spec$: specIn({ active: 'running' }), cast$: castIn({ connected: 'loading' }, { device, conn: { media: () => undefined } }), stream$: streamWith({ parkedAt: '2025-01-02T09:00:00.000Z' }) }],
    ['parked cast, away', { spec$: specIn({ active: 'running' }), cast$: castIn('retrying', { parkedAt: NOW - H, away: { reason: 'Unreachable', since: NOW - 2 * H } }), stream$: streamWith({ parkedAt: 'x' }) }],
    ['resumed while suspended flag still set', { spec$: specIn('suspended', { role: 'suspended' }), suspended: true }],
    ['preempted by the ending cast', { spec$: specIn('preempted', { role: 'preempted', by: 'doorbell', nextChange: 'x' }) }],
    ['pages rotation before a page shows', { spec: CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'doorbell' }, spec: { device: 'Lounge TV', pages: [{ url: 'https://a.example/' }, { url: 'https://b.example/' }] } }), rotation: { pages: [] }, stream$: streamWith({}) }],
  ];
  for (const [what, over] of cases) {
    it(what, () => {
      const s = buildStatus(inputs(over), new TransitionClock(), new Date(NOW));
      renderAll(s, []);
    });
  }
});

describe('what does throw: shapes the types forbid (none produced at runtime)', () => {
  it('figures without speed, a status without phase, conditions or source', () => {
    const noSpeed = specStatus('k', { stream: { id: 's', sharedWith: [], encoder: 'x', figures: { fps: 30 } as never, fetches: [] } });
    expect(() => cardFragment(ctx, noSpeed, [])).toThrow(TypeError);
    expect(() => cardFragment(ctx, specStatus('k', { phase: undefined as never }), [])).toThrow(TypeError);
    expect(() => cardFragment(ctx, specStatus('k', { conditions: undefined as never }), [])).toThrow(TypeError);
    expect(() => cardFragment(ctx, specStatus('k', { source: undefined as never }), [])).toThrow(TypeError);
    // A list with a hole (list() maps get(n)!): the overview and the counts both throw.
    expect(() => countsFragment([undefined as never])).toThrow(TypeError);
  });
});

describe('the mechanism: a throw in the console route is JSON, not a page', () => {
  let api: ApiServer | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });
  it('GET / with list() throwing answers 500 application/json (no <title>, no lang)', async () => {
    const control = new FakeControl();
    control.list = () => {
      throw new Error('boom');
    };
    api = await startApiServer({ control, port: 0, token: 'tok-0123456789abcdef', log: createLogger({ level: 'fatal', destination: new Writable({ write: (_c, _e, cb) => cb() }) }) });
    const r = await request(`${api.url}/`);
    expect(r.statusCode).toBe(500);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(await r.body.text()).toContain('internal error');
  });
});

describe('end to end: the real controller through a cast that ends and a resume', () => {
  let dir: string | undefined;
  let ctl: Controller | undefined;
  let api: ApiServer | undefined;
  afterEach(async () => {
    await api?.close();
    await ctl?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    api = ctl = dir = undefined;
  });

  it('every GET /, GET /specs/NAME and overview feed answer is HTML while specs change state', { timeout: 60_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-robust-'));
    const specs = join(dir, 'specs');
    const state = join(dir, 'state');
    const streams = join(dir, 'streams');
    for (const d of [specs, state, streams]) mkdirSync(d);
    const yaml = (name: string, device: string, extra = '') =>
      `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: ${name}\nspec:\n  device: ${device}\n  url: https://ha.example/${name}\n  policy:\n    backoff: { initial: 20ms, max: 40ms }\n${extra}`;
    writeFileSync(join(specs, 'kitchen.yaml'), yaml('kitchen', 'Kitchen TV'));
    writeFileSync(join(specs, 'lobby.yaml'), yaml('lobby', 'Lobby TV', '  suspend: true\n'));
    // Proof of play that is odd but valid: a close before its start, a checkpoint-only open.
    writeFileSync(
      join(state, 'play.jsonl'),
      [
        { v: 1, type: 'close', spec: 'kitchen', device: 'Kitchen TV', start: new Date(Date.now() - H).toISOString(), end: new Date(Date.now() - 2 * H).toISOString(), reason: 'Suspended' },
        { v: 1, type: 'open', spec: 'doorbell', device: 'Lounge TV', start: new Date(Date.now() - 60_000).toISOString(), at: new Date(Date.now() - 30_000).toISOString() },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n{"half a line',
    );
    const errors: string[] = [];
    const log = createLogger({ level: 'error', format: 'json', destination: new Writable({ write: (c, _e, cb) => (errors.push(String(c)), cb()) }) });
    const quiet = createLogger({ level: 'fatal', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const c = standInComponents(streams, { startDelayMs: 15 });
    const segmentAt = () => new Date().toISOString();
    ctl = new Controller({
      specsDir: specs,
      stateDir: state,
      components: c,
      log: quiet,
      resyncMs: 60_000,
      playCheckMs: 10,
      fetches: () => [
        { client: 'kitchen-tv', lastSegmentAt: segmentAt(), bytes: 1 },
        { client: 'lounge-tv', lastSegmentAt: segmentAt(), bytes: 1 },
      ],
      discover: async () => [],
    });
    await ctl.start();
    api = await startApiServer({ control: ctl, port: 0, token: 'tok-0123456789abcdef', log });
    const base = api.url;
    await waitUntil(() => ctl!.get('kitchen')?.phase === 'Playing', 10_000, 'kitchen Playing');

    // The overview feed, read as text while everything happens.
    const feedAbort = new AbortController();
    const feed = await request(`${base}/events/overview`, { signal: feedAbort.signal });
    let feedText = '';
    const feedDone = (async () => {
      try {
        for await (const chunk of feed.body) feedText += String(chunk);
      } catch {
        // aborted
      }
    })();

    const bad: string[] = [];
    let pages = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const path of ['/', '/specs/kitchen', '/specs/doorbell', '/specs/lobby']) {
          const r = await request(`${base}${path}`);
          const text = await r.body.text();
          pages++;
          const html = r.headers['content-type'] === 'text/html; charset=utf-8' && text.includes('<html lang="en">') && text.includes('<title>');
          if (!html || (r.statusCode !== 200 && !(r.statusCode === 404 && path === '/specs/doorbell'))) bad.push(`${path} ${r.statusCode} ${r.headers['content-type']} ${text.slice(0, 200)}`);
        }
      }
    })();

    for (let round = 0; round < 3; round++) {
      await ctl.suspend('kitchen');
      await ctl.createCast({ device: 'Lounge TV', url: 'https://ha.example/cam', duration: '10m', name: 'doorbell' });
      await waitUntil(() => ctl!.get('doorbell')?.phase === 'Playing', 10_000, 'doorbell Playing');
      await new Promise((r) => setTimeout(r, 50));
      await ctl.deleteCast('doorbell');
      await ctl.resume('kitchen');
      await waitUntil(() => ctl!.get('kitchen')?.phase === 'Playing', 10_000, 'kitchen Playing again');
      await new Promise((r) => setTimeout(r, 50));
    }
    polling = false;
    await poll;
    feedAbort.abort();
    await feedDone;

    expect(pages).toBeGreaterThan(20);
    expect(bad).toEqual([]);
    expect(errors).toEqual([]);
    expect(feedText).toContain('event: card-doorbell');
    expect(feedText).toContain('event: counts');
    // The play log the controller wrote meanwhile reads back into spans the views take.
    const spans = await ctl.playSpans(Date.now() - 24 * H);
    expect(spans.some((s) => s.spec === 'doorbell')).toBe(true);
  });
});
