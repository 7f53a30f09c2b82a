// Real Xvfb + Chromium: dashboard logins. A fixture page that behaves as Home Assistant's frontend
// does (it renders only with a valid token in localStorage `hassTokens`, and its API calls carry
// it), Grafana- and basic-auth-protected pages; and a third-party host every page loads from,
// which must never see a credential or an extra header.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { ProcessRegistry } from '../../../machines/processes/registry.js';
import { ChromiumBrowserDriver, type ChromiumBrowserHandle } from '../../../machines/media/browser.js';
import type { DisplayHandle, StartContext, StreamInput } from '../../../machines/components.js';
import { XvfbDisplayDriver } from '../../../machines/media/display.js';
import { BrowserOptions, type Login } from '../../../specs/schema.js';
import { resolveLogin } from '../../../specs/resolve.js';
import { waitUntil } from '../../helpers.js';

const W = 640;
const H = 360;
const TOKEN = 'llat-0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'pagecast-login-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
const driver = new ChromiumBrowserDriver({ registry, profileRoot: root, backoff: { initialMs: 200, maxMs: 1000 } });
let display: DisplayHandle;
let running: ChromiumBrowserHandle | undefined;
const servers: Server[] = [];
let dash = ''; // the dashboard's origin
let third = ''; // a third-party host the pages load an image from
const seen: Array<{ host: 'dash' | 'third'; path: string; headers: IncomingHttpHeaders }> = [];

const page = (body: string) => `<!doctype html><html><body style="margin:0"><img src="${third}/pixel.gif">${body}</body></html>`;
// Home Assistant's frontend, reduced: a valid saved token renders the dashboard, else the login page.
const HA = () => page(`<script>
const t = JSON.parse(localStorage.getItem('hassTokens') || 'null');
if (t && t.hassUrl === location.origin && t.access_token) {
  fetch('/api/states', { headers: { authorization: 'Bearer ' + t.access_token } }).then((r) => { document.body.id = r.ok ? 'dashboard' : 'denied'; });
} else document.body.id = 'login';
</script>`);

async function serve(host: 'dash' | 'third'): Promise<string> {
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push({ host, path, headers: req.headers });
    const auth = req.headers.authorization;
    const html = (code: number, body: string) => void res.writeHead(code, { 'content-type': 'text/html' }).end(body);
    if (host === 'third') return void res.writeHead(200, { 'content-type': 'image/gif' }).end(Buffer.from('R0lGODlhAQABAAAAACw=', 'base64'));
    if (path === '/ha') return html(200, HA());
    if (path === '/api/states') return void res.writeHead(auth === `Bearer ${TOKEN}` ? 200 : 401).end('[]');
    if (path === '/grafana') return auth === `Bearer ${TOKEN}` ? html(200, page('<div id="dashboard">grafana</div>')) : html(401, 'unauthorized');
    if (path === '/basic') return auth === `Basic ${Buffer.from('kiosk:pa55').toString('base64')}` ? html(200, page('<div id="dashboard">basic</div>')) : html(401, 'unauthorized');
    html(404, 'not found');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // Two origins on loopback: the same address, another port.
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function input(path: string, login: Login, headers?: Record<string, string>): Promise<StreamInput> {
  const resolved = await resolveLogin(login, 'spec.browser', join(root, 'spec.yaml'), { TOKEN, USER: 'kiosk', PASS: 'pa55' });
  if (resolved.error) throw new Error(resolved.error.message);
  const browser = { ...BrowserOptions.parse({ waitFor: { selector: '#dashboard' }, navigationTimeout: '5s', headers }), login: resolved.login };
  return { url: `${dash}${path}`, quality: { width: W, height: H, fps: 15, bitrateKbps: 800 }, mode: 'hls', hwAccel: 'off', browser };
}
const context = (): StartContext => ({ signal: new AbortController().signal, log: silentLogger(), report: () => {} });
/** No request to the third-party host carried a credential or an extra header. */
function thirdPartyClean() {
  const third = seen.filter((s) => s.host === 'third');
  expect(third.length).toBeGreaterThan(0);
  for (const s of third) {
    expect(s.headers.authorization).toBeUndefined();
    expect(s.headers['x-dashboard']).toBeUndefined();
  }
}

beforeAll(async () => {
  dash = await serve('dash');
  third = await serve('third');
  display = await new XvfbDisplayDriver({ registry }).start({ width: W, height: H }, context());
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  seen.length = 0;
});
afterAll(async () => {
  await display?.stop();
  await registry.stopAll();
  for (const s of servers) await new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())));
  rmSync(root, { recursive: true, force: true });
});

describe('dashboard logins', () => {
  it('Home Assistant: the long-lived token is in hassTokens before the frontend starts, and its API calls carry it', async () => {
    running = await driver.start({ display: display.display, input: await input('/ha', { homeAssistant: { tokenFrom: { env: 'TOKEN' } } }) }, context());
    const api = seen.find((s) => s.path === '/api/states');
    expect(api?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // The page itself got no Authorization header: Home Assistant's frontend authenticates itself.
    expect(seen.find((s) => s.path === '/ha')?.headers.authorization).toBeUndefined();
    thirdPartyClean();
  });

  it('without the login the same page shows its login page (the fixture is a real test of the token)', async () => {
    const bare = await input('/ha', { grafana: { tokenFrom: { env: 'TOKEN' } } });
    const ac = new AbortController();
    const failures: string[] = [];
    const started = driver.start(
      { display: display.display, input: { ...bare, browser: { ...bare.browser, login: undefined } } },
      { signal: ac.signal, log: silentLogger(), report: (r) => void (r.reason === 'NavigationFailed' && failures.push(r.message ?? '')) },
    );
    await waitUntil(() => failures.length > 0, 20_000, 'the dashboard never showing');
    expect(failures[0]).toBe('timeout');
    expect(seen.filter((s) => s.path === '/api/states')).toEqual([]);
    ac.abort();
    await expect(started).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('Grafana: a Bearer token and the extra headers go to the dashboard origin only', async () => {
    running = await driver.start({ display: display.display, input: await input('/grafana', { grafana: { tokenFrom: { env: 'TOKEN' } } }, { 'X-Dashboard': 'hall' }) }, context());
    const req = seen.find((s) => s.path === '/grafana')!;
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req.headers['x-dashboard']).toBe('hall');
    thirdPartyClean();
  });

  it('basic: username and password from their own sources, to the dashboard origin only', async () => {
    running = await driver.start({ display: display.display, input: await input('/basic', { basic: { usernameFrom: { env: 'USER' }, passwordFrom: { env: 'PASS' } } }) }, context());
    expect(seen.find((s) => s.path === '/basic')!.headers.authorization).toBe(`Basic ${Buffer.from('kiosk:pa55').toString('base64')}`);
    thirdPartyClean();
  });
});
