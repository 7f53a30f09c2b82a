// The adaptive (variable) frame rate a still page gets must play in a real browser HLS engine
// without stalls: hls.js in headless Chromium follows the live stream of the static dashboard.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { ProcessRegistry } from '../../../machines/processes/registry.js';
import { StreamServer } from '../../../controller/http/stream-server.js';
import { findChromium } from '../../../machines/media/browser.js';
import type { StartContext } from '../../../machines/components.js';
import { createMediaDrivers } from '../../../machines/media/drivers.js';
import { BrowserOptions } from '../../../specs/schema.js';
import { startPageServer } from '../../fixtures/media/page-server.js';

const root = mkdtempSync(join(tmpdir(), 'pagecast-hlsjs-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
afterAll(async () => {
  await registry.stopAll();
  rmSync(root, { recursive: true, force: true });
});
const ctx = (): StartContext => ({ signal: new AbortController().signal, log: silentLogger(), report: () => {} });

it('hls.js plays the adaptive-rate stream of a still dashboard for 18 s without a stall', async () => {
  const hlsJs = readFileSync(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));
  const player = readFileSync(join(import.meta.dirname, '../../fixtures/media/hls-player.html'));
  const web = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/hls.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(hlsJs);
    if (path === '/player.html') return res.writeHead(200, { 'content-type': 'text/html' }).end(player);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const pages = await startPageServer();
  const streams = new StreamServer({ host: '127.0.0.1', port: 0, advertiseHost: '127.0.0.1', log: silentLogger() });
  await streams.start();
  const drivers = createMediaDrivers({ registry, browser: { profileRoot: root } });
  const quality = { width: 854, height: 480, fps: 30, bitrateKbps: 1500 };
  const input = { url: pages.url('/static'), quality, mode: 'hls' as const, hwAccel: 'off' as const, browser: BrowserOptions.parse({}) };
  const display = await drivers.display.start(quality, ctx());
  const page = await drivers.browser.start({ display: display.display, input }, ctx());
  const enc = await drivers.encoder.start({ display: display.display, input, dir: join(root, 'stream') }, ctx());
  // The viewer's own temp files (its audio client's runtime dir) go under root, removed afterwards.
  const viewer = await chromium.launch({ executablePath: findChromium()!, headless: true, env: { ...process.env, TMPDIR: root }, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-background-networking', '--disable-component-update'] });
  try {
    await enc.servable();
    streams.publish('still', join(root, 'stream'), 'hls');
    const src = streams.urlFor('still', '127.0.0.1');
    const tab = await viewer.newPage();
    await tab.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/player.html?src=${encodeURIComponent(src)}`);
    await tab.waitForFunction(() => (window as unknown as { score: { playing: boolean } }).score.playing, undefined, { timeout: 20_000 });
    const t0 = await tab.evaluate(() => (window as unknown as { score: { currentTime: number } }).score.currentTime);
    const w0 = Date.now();
    await tab.waitForFunction((t) => (window as unknown as { score: { currentTime: number } }).score.currentTime >= t + 18, t0, { timeout: 40_000 });
    // Playback kept pace with the wall clock: no stall hid between the samples.
    expect(Date.now() - w0).toBeLessThan(21_000);
    const score = await tab.evaluate(() => (window as unknown as { score: Record<string, unknown> }).score);
    expect(score.fatal).toEqual([]);
    expect(score.stalls, `stalls at the end of the buffer: ${JSON.stringify(score.stallInfo)}`).toBe(0);
    if ((score.viewerStalls as unknown[]).length) console.log(`[hls.js] stalls with data buffered (the viewer was starved of CPU): ${JSON.stringify(score.viewerStalls)}`);
    expect(score.waiting).toBe(0);
    expect(score.codecs).toBe('avc1.64001f,mp4a.40.2');
    // The encoder really ran at a reduced rate on the still page (that is what is under test).
    const f = enc.figures()!;
    expect(f.frame / ((score.currentTime as number) + 3)).toBeLessThan(quality.fps / 2);
  } finally {
    await viewer.close();
    await enc.stop();
    await page.stop();
    await display.stop();
    await streams.stop();
    await pages.close();
    await new Promise<void>((r) => web.close(() => r()));
  }
});
