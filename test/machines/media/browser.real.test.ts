// Real Xvfb + Chromium: every browser option is observable in the captured frame or at the test server.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { ProcessRegistry, groupMembers } from '../../../machines/processes/registry.js';
import { CHROMIUM_TMP_PREFIX, ChromiumBrowserDriver } from '../../../machines/media/browser.js';
import type { BrowserHandle, ComponentReport, DisplayHandle, StartContext, StreamInput } from '../../../machines/components.js';
import { XvfbDisplayDriver } from '../../../machines/media/display.js';
import { BrowserOptions, type CastSpecInput } from '../../../specs/schema.js';
import { closedPort, grabFrame, startPageServer, type PageServer } from '../../fixtures/media/page-server.js';
import { waitUntil } from '../../helpers.js';

const W = 640;
const H = 360;
const root = mkdtempSync(join(tmpdir(), 'pagecast-br-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
let display: DisplayHandle;
let server: PageServer;
const driver = new ChromiumBrowserDriver({ registry, profileRoot: root, backoff: { initialMs: 200, maxMs: 1000 }, health: { intervalMs: 500, timeoutMs: 2000 } });

type BrowserIn = NonNullable<CastSpecInput['spec']['browser']>;
function input(path: string, browser: BrowserIn = {}): StreamInput {
  return { url: server.url(path), quality: { width: W, height: H, fps: 15, bitrateKbps: 800 }, mode: 'hls', hwAccel: 'off', browser: BrowserOptions.parse(browser) };
}
function context(reports: ComponentReport[] = [], signal = new AbortController().signal): StartContext {
  return { signal, log: silentLogger(), report: (r) => reports.push(r) };
}
/** Every frame grab runs FFmpeg: look five times a second at most. */
async function pixelEventually(x: number, y: number, rgb: [number, number, number]) {
  let last: number[] = [];
  await waitUntil(
    async () => {
      last = (await grabFrame(display.display, W, H))(x, y);
      return last.every((v, i) => Math.abs(v - rgb[i]!) < 40);
    },
    5000,
    () => `pixel ${x},${y} to be about rgb(${rgb.join(',')}) (last rgb(${last.join(',')}))`,
    { intervalMs: 200 },
  );
}
let running: BrowserHandle | undefined;
async function start(path: string, browser: BrowserIn = {}, reports: ComponentReport[] = []) {
  running = await driver.start({ display: display.display, input: input(path, browser) }, context(reports));
  return running;
}

beforeAll(async () => {
  server = await startPageServer();
  display = await new XvfbDisplayDriver({ registry }).start({ width: W, height: H }, context());
});
afterAll(async () => {
  await running?.stop();
  await registry.stopAll();
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('Chromium on Xvfb', () => {
  it('renders a page behind a cookie from a storage state, kiosk edge to edge', async () => {
    const state = join(root, 'state.json');
    writeFileSync(state, JSON.stringify({ cookies: [{ name: 'session', value: 'letmein', domain: '127.0.0.1', path: '/', expires: -1, httpOnly: false, secure: false, sameSite: 'Lax' }], origins: [] }));
    const h = await start('/secret', { storageState: state });
    expect(server.headers('/secret').at(-1)?.cookie).toContain('session=letmein');
    // No window chrome or scrollbars: every corner is the page.
    for (const [x, y] of [[1, 1], [W - 2, 1], [1, H - 2], [W - 2, H - 2], [W / 2, H / 2]] as const) await pixelEventually(x, y, [0, 255, 0]);
    await h.stop();
    expect((await h.exited).reason).toBe('stopped');
  });

  it('sends the extra HTTP headers', async () => {
    const h = await start('/header', { headers: { 'x-pagecast-test': 'yes' } });
    expect(server.headers('/header').at(-1)?.['x-pagecast-test']).toBe('yes');
    await pixelEventually(W / 2, H / 2, [0, 255, 0]);
    await h.stop();
  });

  it('applies the extra CSS and the zoom to what is captured', async () => {
    const h = await start('/box', { zoom: 2, css: 'body { background: rgb(255,0,0) !important; }' });
    await pixelEventually(150, 150, [0, 0, 255]); // inside the box only when zoomed 2×
    await pixelEventually(300, 300, [255, 0, 0]); // the CSS background
    await h.stop();
  });

  it('waits for the selector before reporting ready', async () => {
    const t0 = Date.now();
    const h = await start('/late', { waitFor: { selector: '#ready' } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    await h.stop();
  });

  it('reloads periodically, counted by the server and the handle', async () => {
    const before = server.hits('/count');
    const h = await start('/count', { reload: '1s' });
    await waitUntil(() => server.hits('/count') - before >= 3, 10_000, 'two reloads', { intervalMs: 100 });
    expect(h.reloads).toBeGreaterThanOrEqual(2);
    await h.stop();
  });

  it('retries a failing navigation with backoff and reports the HTTP status', async () => {
    const reports: ComponentReport[] = [];
    const h = await start('/flaky', {}, reports);
    const failures = reports.filter((r) => r.reason === 'NavigationFailed');
    expect(failures.map((r) => r.message)).toEqual(['HTTP 503', 'HTTP 503']);
    expect(reports.at(-1)).toMatchObject({ type: 'BrowserReady', status: 'True' });
    await h.stop();
  });

  it('reports a refused connection and stops retrying on abort', async () => {
    const reports: ComponentReport[] = [];
    const ac = new AbortController();
    const p = driver.start({ display: display.display, input: { ...input('/'), url: `http://127.0.0.1:${await closedPort()}/` } }, context(reports, ac.signal));
    await waitUntil(() => reports.filter((r) => r.reason === 'NavigationFailed').length >= 2, 10_000, 'two failures', { intervalMs: 100 });
    expect(reports[0]).toMatchObject({ type: 'BrowserReady', status: 'False', reason: 'NavigationFailed', message: 'net::ERR_CONNECTION_REFUSED' });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(registry.list().filter((r) => r.name === 'chromium')).toEqual([]);
  });

  it('a hung renderer settles exited with reason hung', async () => {
    const h = await start('/hang');
    const e = await h.exited;
    expect(e.reason).toBe('hung');
    await h.stop();
  });

  it('a killed Chromium settles exited, and stop clears its whole process group', async () => {
    const h = await start('/green');
    const rec = registry.list().find((r) => r.name === 'chromium')!;
    expect(groupMembers(rec.pgid).length).toBeGreaterThan(1); // helpers share the group
    process.kill(rec.pid, 'SIGKILL');
    const e = await h.exited;
    expect(['disconnected', 'exited']).toContain(e.reason);
    await h.stop();
    await waitUntil(() => groupMembers(rec.pgid).length === 0, 5000, 'helpers gone', { intervalMs: 100 });
  });

  it("keeps Playwright's temporary files in the browser's own temp directory, which goes when it stops", async () => {
    // By default Playwright makes a playwright-artifacts-* directory in the system's, which a
    // controller killed with SIGKILL never removes; the browser's own is reaped by the next start.
    const ours = () => readdirSync(tmpdir()).filter((n) => n.startsWith('playwright-artifacts-') || n.startsWith(CHROMIUM_TMP_PREFIX)).sort();
    const before = ours();
    const h = await start('/green');
    const during = ours().filter((n) => !before.includes(n));
    expect(during).toHaveLength(1);
    expect(during[0]).toMatch(new RegExp(`^${CHROMIUM_TMP_PREFIX}${process.pid}-`));
    await h.stop();
    expect(ours()).toEqual(before);
  });
});
