// The console in a real browser: Playwright drives the system Chromium against the API of a
// controller running the real pipeline (Xvfb, Chromium, FFmpeg, stream server) and fake Cast
// devices that pull and decode the stream. What a person does in the console must reach the TV.
// The file's tests run in order and share one harness: each starts from the state the last left.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../controller/http/api.js';
import { jpegSize } from '../../controller/http/console/thumbnail.js';
import { LogTail } from '../../controller/status/log-tail.js';
import { createLogger, silentLogger } from '../../machines/log.js';
import { findChromium } from '../../machines/media/browser.js';
import type { FakeCastDevice } from '../fake-device/device.js';
import { specYaml, startHarness, waitPlaying, type Harness } from '../harness.js';
import { waitUntil } from '../helpers.js';

const TOKEN = 'console-real-token-Zq8_not-a-secret';
const DOCS = join(import.meta.dirname, '../../docs');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

describe('the console in a real browser, against the real pipeline', () => {
  let h: Harness;
  let tv: FakeCastDevice;
  let lounge: FakeCastDevice;
  let api: ApiServer;
  let browser: Browser;
  let tmp: string;
  /** A browser with no session (loopback: it may look, not act). */
  let visitor: BrowserContext;
  /** A browser signed in with the token. */
  let operator: BrowserContext;
  const figures: Record<string, number> = {};
  const phase = (n: string) => h.controller.get(n)?.phase;
  /** What the API logged at error level: a page that failed says why. */
  const apiErrors: string[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'pc-console-real-'));
    h = await startHarness({ logTail: new LogTail() });
    tv = await h.device('Kitchen TV', { mdns: true });
    lounge = await h.device('Lounge TV', { mdns: true });
    // Two specs that cost nothing (suspended; outside their schedule) beside the one that plays.
    const notToday = DAYS[(new Date().getUTCDay() + 3) % 7];
    h.writeSpec('kitchen.yaml', specYaml('kitchen', 'Kitchen TV', h.page.url));
    h.writeSpec('lobby.yaml', specYaml('lobby', 'Lobby TV', h.pages.url('/solid/blue'), '  suspend: true\n'));
    h.writeSpec('menu.yaml', specYaml('menu', 'Lounge TV', h.pages.url('/solid/red'), `  schedule:\n    timezone: UTC\n    windows:\n      - { days: [${notToday}], start: "07:00", end: "08:00" }\n`));
    const errorLog = new Writable({ write: (c, _e, cb) => (apiErrors.push(String(c).trim()), cb()) });
    api = await startApiServer({ control: h.controller, port: 0, token: TOKEN, log: createLogger({ level: 'error', format: 'json', destination: errorLog }) });
    browser = await chromium.launch({
      executablePath: findChromium()!,
      headless: true,
      // The viewer's own temp files go under tmp, removed afterwards.
      env: { ...process.env, TMPDIR: tmp },
      args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-background-networking', '--disable-component-update'],
    });
    visitor = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await waitPlaying(tv, 60_000);
    await waitUntil(() => phase('kitchen') === 'Playing', 30_000, 'kitchen Playing');
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await h?.close();
    rmSync(tmp, { recursive: true, force: true });
    console.log('console figures:', JSON.stringify(figures));
  });

  /** Runs axe-core in the page; the serious and critical violations, described. */
  async function axeProblems(page: Page): Promise<string[]> {
    // Evaluated as the page's own script would be, but from the test: the page's CSP does not apply.
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const r = await (window as unknown as { axe: { run(ctx: Document, o: unknown): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: unknown }> }> }> } }).axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => JSON.stringify(n.target)) }));
    });
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.targets.join(' ')}`);
  }

  // A test that fails leaves no page open behind it: each holds an event stream, and Chromium
  // opens only six connections to one host.
  afterEach(async () => {
    for (const ctx of [visitor, operator]) for (const p of ctx?.pages() ?? []) await p.close();
  });

  async function noHorizontalScroll(page: Page): Promise<void> {
    const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
    expect(scroll, `page ${page.url()} is ${scroll} px wide in a ${width} px window`).toBeLessThanOrEqual(width);
  }

  it('the overview lists each spec with its phase, without a token on loopback', async () => {
    const page = await visitor.newPage();
    const t0 = Date.now();
    await page.goto(api.url);
    figures.overviewLoadMs = Date.now() - t0;
    await expect.poll(() => page.locator('#card-kitchen .badge').textContent()).toBe('Playing');
    expect(await page.locator('#card-lobby .badge').textContent()).toBe('Suspended');
    expect(await page.locator('#card-menu .badge').textContent()).toBe('Scheduled');
    expect(await page.locator('#counts').textContent()).toBe('3 specs: 1 playing, 1 scheduled, 1 suspended');
    // Looking needs no session; acting does, and says so.
    expect(await page.getByRole('link', { name: 'Sign in' }).first().isVisible()).toBe(true);
    expect(await page.locator('form.cast-form').count()).toBe(0);
    await page.close();
  });

  it('the thumbnail is a JPEG of the stream size, made from the newest segment', async () => {
    const t0 = performance.now();
    const res = await visitor.request.get(`${api.url}/api/v1/specs/kitchen/thumbnail.jpg`);
    figures.thumbnailFirstMs = Math.round(performance.now() - t0);
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toBe('image/jpeg');
    const jpeg = await res.body();
    expect(jpegSize(jpeg)).toEqual({ width: 854, height: 480 });
    const t1 = performance.now();
    await visitor.request.get(`${api.url}/api/v1/specs/kitchen/thumbnail.jpg?t=again`);
    figures.thumbnailCachedMs = Math.round(performance.now() - t1);
    const none = await visitor.request.get(`${api.url}/api/v1/specs/lobby/thumbnail.jpg`);
    expect(none.status()).toBe(404);
  });

  it('an action without a session is refused, and the TV sees nothing', async () => {
    const page = await visitor.newPage();
    await page.goto(`${api.url}/specs/kitchen`);
    const loads = tv.count('LOAD');
    const answers = await page.evaluate(async () => {
      const post = (path: string, body: string) => fetch(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' }, body }).then((r) => r.status);
      return {
        recast: await post('/actions/kitchen/recast', ''),
        suspend: await post('/actions/kitchen/suspend', '_csrf=guess'),
        api: await fetch('/api/v1/specs/kitchen/recast', { method: 'POST' }).then((r) => r.status),
        preview: await fetch('/api/v1/specs/kitchen/stream/master.m3u8').then((r) => r.status),
      };
    });
    // The JSON API refuses any web page outright; the console's own actions need the session.
    expect(answers).toEqual({ recast: 401, suspend: 401, api: 403, preview: 401 });
    expect(await page.locator('video').count()).toBe(0);
    expect(tv.count('LOAD')).toBe(loads);
    expect(phase('kitchen')).toBe('Playing');
    await page.close();
  });

  it('signing in once gives an HttpOnly, SameSite=Strict session cookie', async () => {
    const page = await operator.newPage();
    await page.goto(`${api.url}/login?next=/specs/kitchen`);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${api.url}/specs/kitchen`);
    const [cookie] = await operator.cookies();
    expect(cookie).toMatchObject({ name: 'pagecast_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await page.close();
  });

  it('the preview plays the stream the TV gets (its currentTime advances), with the spec log and YAML beside it', async () => {
    const page = await operator.newPage();
    await page.goto(`${api.url}/specs/kitchen`);
    const t0 = Date.now();
    await page.waitForFunction(() => ((document.getElementById('preview') as HTMLVideoElement | null)?.currentTime ?? 0) > 0, undefined, { timeout: 30_000 });
    figures.previewFirstFrameMs = Date.now() - t0;
    const start = await page.evaluate(() => (document.getElementById('preview') as HTMLVideoElement).currentTime);
    await page.waitForFunction((s) => (document.getElementById('preview') as HTMLVideoElement).currentTime >= s + 2, start, { timeout: 20_000 });
    expect(await page.locator('#detail .badge').first().textContent()).toBe('Playing');
    expect(await page.locator('ol.log li').count()).toBeGreaterThan(0);
    expect(await page.locator('pre.yaml').textContent()).toContain('name: kitchen');
    // The LAN URL of the stream, with its secret path, is nowhere on the page.
    expect(await page.content()).not.toMatch(/\/s\/[A-Za-z0-9_-]{22,}\//);
    await page.close();
  });

  it('suspend: the TV gets STOP, and the phase change reaches another tab over SSE within a second', async () => {
    const overview = await operator.newPage();
    await overview.goto(api.url);
    await expect.poll(() => overview.locator('#card-kitchen .badge').textContent()).toBe('Playing');
    // The SSE stream is open once the first fragments arrived; then watch the badge.
    await overview.evaluate(() => {
      const seen: Record<string, number> = {};
      (window as unknown as { seen: Record<string, number> }).seen = seen;
      new MutationObserver(() => {
        const t = document.querySelector('#card-kitchen .badge')?.textContent;
        if (t && seen[t] === undefined) seen[t] = Date.now();
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    let changedAt: number | undefined;
    const unsubscribe = h.controller.subscribe((names) => {
      if (changedAt === undefined && names.includes('kitchen') && phase('kitchen') === 'Suspended') changedAt = Date.now();
    });
    const stops = tv.count('STOP');
    const detail = await operator.newPage();
    await detail.goto(`${api.url}/specs/kitchen`);
    try {
      await detail.getByRole('button', { name: 'Suspend' }).click();
      await expect.poll(() => detail.locator('#action-result').textContent()).toContain('kitchen is suspended');
      await waitUntil(() => tv.count('STOP') > stops, 15_000, 'STOP at the TV');
      const shownAt = await waitUntil(() => overview.evaluate(() => (window as unknown as { seen: Record<string, number> }).seen.Suspended), 5_000, 'Suspended shown');
      expect(changedAt).toBeDefined();
      figures.sseLatencyMs = shownAt - changedAt!;
      expect(shownAt - changedAt!).toBeLessThan(1000);
      await expect.poll(() => overview.locator('#counts').textContent()).toContain('2 suspended');
    } finally {
      unsubscribe();
    }
    await waitUntil(() => h.pids().length === 0, 30_000, 'the suspended stream stopped');
    await overview.close();
    await detail.close();
  });

  it('resume: the TV gets a LOAD and plays again', async () => {
    const page = await operator.newPage();
    await page.goto(`${api.url}/specs/kitchen`);
    const loads = tv.count('LOAD');
    await page.getByRole('button', { name: 'Resume' }).click();
    await waitUntil(() => tv.count('LOAD') > loads, 60_000, 'a LOAD at the TV');
    await waitPlaying(tv, 60_000);
    await waitUntil(() => phase('kitchen') === 'Playing', 30_000, 'Playing');
    // The page follows: its actions are those of a playing spec now.
    await expect.poll(() => page.getByRole('button', { name: 'Cast again now' }).count(), { timeout: 10_000 }).toBe(1);
    await page.close();
  });

  it('cast again: a second LOAD of the same stream, no encoder restart', async () => {
    const page = await operator.newPage();
    await page.goto(`${api.url}/specs/kitchen`);
    const loads = tv.loads().length;
    const pids = h.pids().sort();
    await page.getByRole('button', { name: 'Cast again now' }).click();
    await waitUntil(() => tv.loads().length > loads, 15_000, 'a second LOAD');
    const [before, after] = [tv.loads()[loads - 1] as { media: { contentId: string } }, tv.loads()[loads] as { media: { contentId: string } }];
    expect(after.media.contentId).toBe(before.media.contentId);
    expect(h.pids().sort()).toEqual(pids);
    await waitPlaying(tv, 30_000);
    await page.close();
  });

  it('reload: the page server is asked for the page again', async () => {
    const page = await operator.newPage();
    await page.goto(`${api.url}/specs/kitchen`);
    const hits = h.page.hits;
    await page.getByRole('button', { name: 'Reload page' }).click();
    await waitUntil(() => h.page.hits > hits, 15_000, 'the page fetched again');
    await page.close();
  });

  it('restart: new display, browser and encoder; the TV keeps its URL and plays on', async () => {
    const page = await operator.newPage();
    await page.goto(`${api.url}/specs/kitchen`);
    const pids = new Set(h.pids());
    const loads = tv.count('LOAD');
    const frames = tv.status().player?.framesDecoded ?? 0;
    await page.getByRole('button', { name: 'Restart stream' }).click();
    await waitUntil(() => h.pids().length >= 3 && h.pids().every((p) => !pids.has(p)), 30_000, 'new processes');
    await waitUntil(() => (tv.status().player?.framesDecoded ?? 0) > frames + 30, 30_000, 'the TV decoding frames of the new encoder');
    // The stream's URL stays: a LOAD the device may need after the gap carries the same one.
    const urls = new Set(tv.loads().slice(loads - 1).map((l) => (l as { media: { contentId: string } }).media.contentId));
    expect(urls.size, `LOADs: ${tv.count('LOAD') - loads} new; last drift ${JSON.stringify(h.controller.get('kitchen')?.lastDrift)}`).toBe(1);
    figures.restartNewLoads = tv.count('LOAD') - loads;
    await page.close();
  });

  it('start an ephemeral cast from the form, then end it: the other TV gets a LOAD, then STOP', async () => {
    const page = await operator.newPage();
    // One encode at a time on two cores: the kitchen rests meanwhile.
    await h.controller.suspend('kitchen');
    await waitUntil(() => h.pids().length === 0, 30_000, 'kitchen stream stopped');
    await page.goto(api.url);
    await page.getByLabel('Device').fill('Lounge TV');
    await page.getByLabel('URL').fill(h.pages.url('/solid/green'));
    await page.getByLabel('Quality').selectOption('480p');
    await page.getByLabel('Duration').fill('10m');
    await page.getByLabel('Name').fill('doorbell');
    await page.getByRole('button', { name: 'Start cast' }).click();
    await expect.poll(() => page.locator('#cast-result').textContent()).toContain('Cast doorbell started');
    await waitPlaying(lounge, 60_000);
    // It appears on the overview by itself.
    await expect.poll(() => page.locator('#card-doorbell .badge').textContent(), { timeout: 30_000 }).toBe('Playing');
    const detail = await operator.newPage();
    await detail.goto(`${api.url}/specs/doorbell`);
    const stops = lounge.count('STOP');
    await detail.getByRole('button', { name: 'End cast' }).click();
    await waitUntil(() => lounge.count('STOP') > stops, 15_000, 'STOP at the lounge TV');
    await waitUntil(() => h.controller.get('doorbell') === undefined, 15_000, 'the cast gone');
    await expect.poll(() => page.locator('#card-doorbell').count(), { timeout: 10_000 }).toBe(0);
    await page.close();
    await detail.close();
    await h.controller.resume('kitchen');
    await waitPlaying(tv, 60_000);
    await waitUntil(() => phase('kitchen') === 'Playing', 30_000, 'kitchen Playing again');
  });

  it('the devices view shows what mDNS sees and which spec holds which device', async () => {
    const page = await operator.newPage();
    await page.goto(`${api.url}/devices`);
    const row = page.locator('tr', { has: page.locator('th', { hasText: 'Kitchen TV' }) });
    await expect.poll(() => row.textContent()).toContain('seen');
    expect(await row.textContent()).toContain('kitchen');
    expect(await row.textContent()).toContain('casting');
    expect(await row.textContent()).toContain('Default Media Receiver');
    const lobby = page.locator('tr', { has: page.locator('th', { hasText: 'Lobby TV' }) });
    expect(await lobby.textContent()).toContain('not seen');
    await page.close();
  });

  it('axe-core finds no serious or critical violation on any page', async () => {
    for (const [ctx, path] of [
      [visitor, '/'],
      [visitor, '/login'],
      [operator, '/'],
      [operator, '/specs/kitchen'],
      [operator, '/specs/lobby'],
      [operator, '/devices'],
    ] as const) {
      const page = await ctx.newPage();
      apiErrors.length = 0; // what loading this page logs
      const r = await page.goto(`${api.url}${path}`);
      expect({ path, status: r?.status(), type: r?.headers()['content-type'], errors: apiErrors }).toEqual({ path, status: 200, type: 'text/html; charset=utf-8', errors: [] });
      await page.waitForLoadState('networkidle').catch(() => undefined);
      expect(await axeProblems(page), path).toEqual([]);
      await page.close();
    }
  });

  it('the layout works at phone width (no horizontal scroll), and the screenshots are saved', async () => {
    const [cookie] = await operator.cookies();
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await phone.addCookies([cookie!]);
    for (const path of ['/', '/specs/kitchen', '/devices', '/login']) {
      const page = await phone.newPage();
      await page.goto(`${api.url}${path}`);
      await noHorizontalScroll(page);
      await page.close();
    }
    await phone.close();

    mkdirSync(DOCS, { recursive: true });
    const page = await operator.newPage();
    await page.goto(api.url);
    await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('img.thumb')).every((i) => i.complete && i.naturalWidth > 0), undefined, { timeout: 20_000 });
    await page.screenshot({ path: join(DOCS, 'console-overview.png'), fullPage: true });
    await page.goto(`${api.url}/specs/kitchen`);
    await page.waitForFunction(() => ((document.getElementById('preview') as HTMLVideoElement | null)?.currentTime ?? 0) > 1, undefined, { timeout: 30_000 });
    await page.screenshot({ path: join(DOCS, 'console-spec.png') });
    await page.close();
  });
});
