// Real Xvfb + Chromium + FFmpeg: the pages of a rotation each in a window of their own, brought to
// the front in turn. Every frame captured from the display is one of the pages, whole: no white,
// no black, no half-painted frame, at the start, at each switch and when the browser dies.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { ProcessRegistry } from '../../../machines/processes/registry.js';
import { ChromiumBrowserDriver, type ChromiumBrowserHandle } from '../../../machines/media/browser.js';
import type { ComponentReport, DisplayHandle, StartContext, StreamInput } from '../../../machines/components.js';
import { XvfbDisplayDriver } from '../../../machines/media/display.js';
import { BrowserOptions } from '../../../specs/schema.js';
import type { PageInput } from '../../../specs/identity.js';
import { waitUntil } from '../../helpers.js';
import { colourOf, type Rgb } from '../../fake-device/frame-colours.js';

const W = 640;
const H = 360;
const root = mkdtempSync(join(tmpdir(), 'pagecast-rot-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
const driver = new ChromiumBrowserDriver({ registry, profileRoot: root, backoff: { initialMs: 200, maxMs: 1000 }, health: { intervalMs: 500, timeoutMs: 4000 } });
let display: DisplayHandle;
let server: Server;
let base = '';
let running: ChromiumBrowserHandle | undefined;
let capture: Capture | undefined;
const hits = new Map<string, number>();

const COLOURS = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255], white: [255, 255, 255], black: [0, 0, 0] } as const;
type Colour = keyof typeof COLOURS | 'mixed';

function page(path: string, forMs: number, browser: Partial<BrowserOptions> = {}): PageInput {
  return { url: `${base}${path}`, for: forMs, browser: { ...BrowserOptions.parse({}), ...browser } };
}
function input(pages: PageInput[]): StreamInput {
  return { url: pages[0]!.url, quality: { width: W, height: H, fps: 30, bitrateKbps: 800 }, mode: 'hls', hwAccel: 'off', browser: BrowserOptions.parse({}), pages, timezone: 'UTC' };
}
type Stamped = ComponentReport & { at: number };
function context(reports: Stamped[]): StartContext {
  return { signal: new AbortController().signal, log: silentLogger(), report: (r) => reports.push({ ...r, at: Date.now() }) };
}

/** A frame as a 4×4 grid of area-averaged cells, named by the one colour every cell is near. */
const nameOf = (cells: Rgb[]) => colourOf(cells, COLOURS) as Colour;
interface Capture {
  names(): Colour[];
  stop(): Promise<void>;
}
/** FFmpeg grabbing the display at 30 fps, every frame shrunk to 4×4 RGB cells. */
function startCapture(): Capture {
  const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'x11grab', '-draw_mouse', '0', '-framerate', '30', '-video_size', `${W}x${H}`, '-i', display.display, '-vf', 'scale=4:4:flags=area', '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const chunks: Buffer[] = [];
  ff.stdout!.on('data', (d: Buffer) => chunks.push(d));
  const gone = new Promise<void>((resolve) => ff.once('exit', () => resolve()));
  return {
    names: () => {
      const buf = Buffer.concat(chunks);
      const out: Colour[] = [];
      for (let o = 0; o + 48 <= buf.length; o += 48) out.push(nameOf(Array.from({ length: 16 }, (_, c): Rgb => [buf[o + 3 * c]!, buf[o + 3 * c + 1]!, buf[o + 3 * c + 2]!])));
      return out;
    },
    stop: async () => {
      ff.stdin!.end('q');
      await gone;
    },
  };
}
/** Page loads so far (Chromium asks for /favicon.ico too). */
const pageHits = () => Object.fromEntries([...hits].filter(([path]) => path.startsWith('/solid/')));
/** Consecutive equal names as runs: [['red', 30], ['green', 31], …]. */
function runs(names: Colour[]): Array<[Colour, number]> {
  const out: Array<[Colour, number]> = [];
  for (const n of names) {
    if (out.at(-1)?.[0] === n) out.at(-1)![1]++;
    else out.push([n, 1]);
  }
  return out;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const m = /^\/solid\/(red|green|blue)$/.exec(path);
    if (m) return void res.writeHead(200, { 'content-type': 'text/html' }).end(`<html><body style="margin:0;background:rgb(${COLOURS[m[1] as 'red'].join(',')})"></body></html>`);
    if (path === '/broken') return void res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body style="background:white">Internal Server Error</body></html>');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  display = await new XvfbDisplayDriver({ registry }).start({ width: W, height: H }, context([]));
});
afterEach(async () => {
  await capture?.stop();
  capture = undefined;
  await running?.stop();
  running = undefined;
});
afterAll(async () => {
  await display?.stop();
  await registry.stopAll();
  await new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
  rmSync(root, { recursive: true, force: true });
});

describe('a rotation of pages in one Chromium', () => {
  it('shows each page in turn, every frame one whole page, and a page that fails is passed over and reported', async () => {
    const reports: Stamped[] = [];
    running = await driver.start({ display: display.display, input: input([page('/solid/red', 1500), page('/broken', 1500), page('/solid/green', 1500), page('/solid/blue', 1500)]) }, context(reports));
    capture = startCapture();
    expect(running.rotation()).toMatchObject({ showing: 0, pages: [{ state: 'ready' }, {}, {}, {}] });
    await waitUntil(() => running!.rotation()!.pages.every((p) => p.state !== 'loading'), 5000, 'every page loaded or failed');
    expect(running.rotation()!.pages.map((p) => p.state)).toEqual(['ready', 'failed', 'ready', 'ready']);
    // What status says of the failed page, sampled through its retries: failed with its error, never
    // flickering to loading (which would hide the error) while it is tried again.
    const brokenSeen = new Set<string>();
    const sampler = setInterval(() => {
      const b = running?.rotation()?.pages[1];
      if (b) brokenSeen.add(`${b.state} ${b.error ?? ''}`);
    }, 10);
    // Two full turns and more.
    await waitUntil(() => reports.filter((r) => r.type === 'PageShown').length >= 8, 20_000, () => `eight pages shown (${JSON.stringify(reports.map((r) => r.message))})`, { intervalMs: 100 }).finally(() => clearInterval(sampler));
    expect([...brokenSeen]).toEqual(['failed HTTP 500']);
    await capture.stop();
    const seen = runs(capture.names());
    capture = undefined;
    // red → green → blue → red …: each run is followed by the next page in the spec's order.
    const order = ['red', 'green', 'blue'];
    expect(seen.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < seen.length; i++) expect([seen[i - 1]![0], seen[i]![0]]).toEqual([seen[i - 1]![0], order[(order.indexOf(seen[i - 1]![0]) + 1) % 3]]);
    // Nothing but the pages: no white error page, no black, no half-painted frame.
    expect(seen.filter(([n]) => !['red', 'green', 'blue'].includes(n))).toEqual([]);
    // The failed page is tried again on its turn, and reported each time.
    expect(hits.get('/broken')).toBeGreaterThanOrEqual(2);
    const failed = reports.filter((r) => r.type === 'PageReady' && r.status === 'False');
    expect(failed[0]).toMatchObject({ reason: 'NavigationFailed', message: 'page 1 (of 0–3): HTTP 500' });
    const shown = reports.filter((r) => r.type === 'PageShown');
    expect(shown.map((r) => r.message).slice(0, 4)).toEqual(['page 0 (of 0–3)', 'page 2 (of 0–3)', 'page 3 (of 0–3)', 'page 0 (of 0–3)']);
    // Turns keep the rotation's clock: the k-th switch comes k turns of 1.5 s after the first,
    // never earlier (nothing aligns them to segments here), and later only by a switch's own time.
    // A gap between two reports may be shorter than a turn when the earlier switch was slow.
    const gaps = shown.slice(0, 5).map((r) => r.at - shown[0]!.at);
    for (let k = 1; k < 5; k++) expect(gaps[k], `switches at ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(k * 1500 - 50);
    for (let k = 1; k < 5; k++) expect(gaps[k], `switches at ${gaps.join(', ')} ms`).toBeLessThan(k * 1500 + 1000);
    const rot = running.rotation()!;
    expect(rot.pages[1]).toMatchObject({ state: 'failed', error: 'HTTP 500', inRotation: true });
    expect(Date.parse(rot.nextSwitchAt!)).toBeGreaterThan(Date.parse(rot.since!));
  });

  it('jumps to a page on request and restarts its turn; refuses a page out of range or not loaded', async () => {
    const reports: Stamped[] = [];
    running = await driver.start({ display: display.display, input: input([page('/solid/red', 60_000), page('/solid/green', 60_000), page('/broken', 60_000)]) }, context(reports));
    capture = startCapture();
    await waitUntil(() => running!.rotation()!.pages.every((p) => p.state !== 'loading'), 5000, 'every page loaded or failed');
    await waitUntil(() => capture!.names().includes('red'), 5000, 'red captured', { intervalMs: 50 });
    expect(running.showPage(5)).toEqual({ ok: false, reason: 'range', message: 'there is no page 5: the pages are 0 to 2' });
    expect(running.showPage(2)).toEqual({ ok: false, reason: 'not-ready', message: 'page 2 (of 0–2) is not loaded: HTTP 500' });
    const asked = Date.now();
    expect(running.showPage(1)).toEqual({ ok: true });
    await waitUntil(() => running!.rotation()?.showing === 1, 5000, 'page 2 on screen');
    const rot = running.rotation()!;
    expect(Date.parse(rot.since!)).toBeGreaterThanOrEqual(asked);
    expect(Date.parse(rot.nextSwitchAt!) - Date.parse(rot.since!)).toBe(60_000);
    expect(reports.filter((r) => r.type === 'PageShown').at(-1)).toMatchObject({ reason: 'Jumped', message: 'page 1 (of 0–2)' });
    await waitUntil(() => capture!.names().at(-1) === 'green', 5000, 'green captured', { intervalMs: 50 });
    await capture.stop();
    const seen = runs(capture.names());
    capture = undefined;
    expect(seen.map(([n]) => n)).toEqual(['red', 'green']);
  });

  it('takes new pages live: unchanged pages keep their loaded window, only new ones load, the page on screen stays', async () => {
    const reports: Stamped[] = [];
    hits.clear();
    running = await driver.start({ display: display.display, input: input([page('/solid/red', 60_000), page('/solid/green', 60_000)]) }, context(reports));
    capture = startCapture();
    await waitUntil(() => running!.rotation()!.pages.every((p) => p.state === 'ready'), 5000, 'both pages loaded');
    await waitUntil(() => capture!.names().includes('red'), 5000, 'red captured', { intervalMs: 50 });
    // A new page first, the others moved and given other durations: nothing reloads, red stays on screen.
    await running.updatePages(input([page('/solid/blue', 30_000), page('/solid/red', 45_000), page('/solid/green', 20_000)]));
    await waitUntil(() => running!.rotation()!.pages.every((p) => p.state === 'ready'), 5000, 'the new page loaded');
    expect(pageHits()).toEqual({ '/solid/red': 1, '/solid/green': 1, '/solid/blue': 1 });
    const rot = running.rotation()!;
    expect(rot.showing).toBe(1);
    expect(rot.pages.map((p) => p.url.replace(base, ''))).toEqual(['/solid/blue', '/solid/red', '/solid/green']);
    expect(Date.parse(rot.nextSwitchAt!) - Date.parse(rot.since!)).toBe(45_000);
    // The page on screen removed: the next one shows at once, and the removed window closes.
    await running.updatePages(input([page('/solid/green', 20_000), page('/solid/blue', 20_000)]));
    await waitUntil(() => capture!.names().at(-1) === 'green', 5000, 'green captured', { intervalMs: 50 });
    expect(running.rotation()!.showing).toBe(0);
    expect(pageHits()).toEqual({ '/solid/red': 1, '/solid/green': 1, '/solid/blue': 1 });
    await capture.stop();
    const seen = runs(capture.names());
    capture = undefined;
    expect(seen.map(([n]) => n)).toEqual(['red', 'green']);
  });

  it('a killed Chromium leaves its last page on the display, not the black root window', async () => {
    running = await driver.start({ display: display.display, input: input([page('/solid/blue', 60_000), page('/solid/red', 60_000)]) }, context([]));
    capture = startCapture();
    await waitUntil(() => capture!.names().includes('blue'), 5000, 'blue captured', { intervalMs: 50 });
    process.kill(running.pid!, 'SIGKILL');
    const e = await running.exited;
    expect(['disconnected', 'exited']).toContain(e.reason);
    const after = capture.names().length;
    await waitUntil(() => capture!.names().length > after + 30, 5000, 'a second of frames after the kill', { intervalMs: 50 });
    await capture.stop();
    const seen = runs(capture.names());
    capture = undefined;
    expect(seen.map(([n]) => n)).toEqual(['blue']);
  });
});
