// The console against a stand-in control plane: pages, sign-in, sessions, CSRF, Origins, actions,
// the live feeds, the preview's files and access beyond loopback.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { firstLanAddress } from '../../../controller/http/local-address.js';
import { createLogger, silentLogger } from '../../../machines/log.js';
import { FakeControl, specStatus } from './fake-control.js';
import { waitUntil } from '../../helpers.js';

const TOKEN = 'console-token-Qw3_very-secret-value';
let control: FakeControl;
let api: ApiServer;
let host: string;
const logLines: string[] = [];
const bodies: string[] = [];
let dir: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function call(method: string, path: string, o: { headers?: Record<string, string>; body?: string; base?: string } = {}): Promise<Answer> {
  const res = await request(`${o.base ?? api.url}${path}`, { method: method as 'GET', headers: o.headers, body: o.body });
  const text = await res.body.text();
  bodies.push(JSON.stringify(res.headers) + text);
  return { status: res.statusCode, headers: res.headers, text };
}

/** A form post as a browser of this console sends it. */
function post(path: string, fields: Record<string, string>, o: { cookie?: string; origin?: string | null; htmx?: boolean; base?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (o.cookie) headers.cookie = o.cookie;
  if (o.origin !== null) headers.origin = o.origin ?? (o.base ?? api.url);
  if (o.htmx) headers['hx-request'] = 'true';
  return call('POST', path, { headers, body: new URLSearchParams(fields).toString(), base: o.base });
}

/** Signs in; the cookie to send and the session's CSRF token (read from a page, as a browser would). */
async function signIn(base?: string): Promise<{ cookie: string; csrf: string }> {
  const r = await post('/login', { token: TOKEN, next: '/' }, { base });
  expect(r.status).toBe(303);
  const set = String(r.headers['set-cookie']);
  const cookie = set.split(';')[0]!;
  const page = await call('GET', '/', { headers: { cookie }, base });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
  expect(csrf).toBeTruthy();
  return { cookie, csrf: csrf! };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pc-console-'));
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  control = new FakeControl();
  api = await startApiServer({ control, port: 0, token: TOKEN, log: createLogger({ level: 'debug', destination }) });
  host = new URL(api.url).host;
});
afterAll(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
  // Nothing the console wrote or logged may contain the token.
  expect(logLines.join('')).not.toContain(TOKEN);
  expect(bodies.join('')).not.toContain(TOKEN);
});
beforeEach(() => {
  control.calls = [];
});

describe('viewing on loopback', () => {
  it('serves the overview without a token: each spec with its phase, no actions, a sign-in link', async () => {
    control.specs.set('garage', specStatus('garage', { phase: 'Recovering', device: 'Garage TV', conditions: [{ type: 'DeviceFound', status: 'False', reason: 'NotFound', message: 'no Cast device named "Garage TV"', lastTransitionTime: '2025-01-01T10:00:00.000Z' }] }));
    try {
      const r = await call('GET', '/');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['content-security-policy']).toMatch(/script-src 'self'/);
      expect(r.headers['content-security-policy']).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(r.text).toContain('<h1>Overview</h1>');
      expect(r.text).toMatch(/<a href="\/specs\/kitchen">kitchen<\/a> <span class="badge tone-ok">Playing<\/span>/);
      expect(r.text).toMatch(/<span class="badge tone-busy">Recovering<\/span>/);
      expect(r.text).toContain('no Cast device named &quot;Garage TV&quot;');
      expect(r.text).toMatch(/2 specs: <span class="count tone-busy">1 recovering<\/span>, <span class="count tone-ok">1 playing<\/span>/);
      expect(r.text).toContain('href="/login"');
      expect(r.text).not.toContain('_csrf');
      expect(r.text).not.toContain('set-cookie');
      expect(r.headers['set-cookie']).toBeUndefined();
    } finally {
      control.specs.delete('garage');
    }
  });

  it('serves the spec page: conditions, drift history, log lines, the YAML with its error marked, and no preview without a session', async () => {
    control.specs.set('kitchen', specStatus('kitchen', { stream: { id: 's1', sharedWith: [], encoder: 'libx264', figures: { fps: 29.7, speed: 1.01, droppedFrames: 0, duplicatedFrames: 0, bitrateKbps: 900, frame: 10, at: '2025-01-01T10:00:00.000Z', capture: { path: 'x11grab', capturedFps: 30, encodedFps: 4.56 } }, fetches: [] }, error: 'kitchen.yaml:6:12 spec.quality: expected 480p, 720p or 1080p' }));
    control.drifts.set('kitchen', [{ reason: 'IdleCancelled', message: 'the TV was stopped from its remote', at: '2025-01-01T09:00:00.000Z' }]);
    control.logs.set('kitchen', [{ time: '2025-01-01T09:00:01.000Z', level: 'warn', msg: 'device went IDLE <b>', component: 'cast' }]);
    control.sources.set('kitchen', { file: 'kitchen.yaml', text: 'a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nquality: 4k\n', line: 1, errors: [{ line: 6, column: 12, message: 'spec.quality: expected 480p, 720p or 1080p' }] });
    try {
      const r = await call('GET', '/specs/kitchen');
      expect(r.status).toBe(200);
      // Frames taken from the display, and how many of them were encoded.
      expect(r.text).toContain('libx264 · x11grab 30 → 4.6 fps · 1.01×');
      expect(r.text).toContain('<th scope="row">Valid</th>');
      expect(r.text).toContain('<strong>IdleCancelled</strong>: the TV was stopped from its remote');
      expect(r.text).toContain('device went IDLE &lt;b&gt;');
      expect(r.text).toMatch(/<span class="ln err" id="L6">.*quality: 4k<span class="err-msg" role="note"> ← line 6:12: spec.quality: expected 480p/);
      expect(r.text).not.toContain('<video');
      expect(r.text).toContain('to watch the live preview');
      const missing = await call('GET', '/specs/ghost');
      expect(missing.status).toBe(404);
      expect(missing.text).toContain('No spec named &quot;ghost&quot;');
      const bad = await call('GET', '/specs/Bad_Name');
      expect(bad.status).toBe(400);
    } finally {
      control.specs.set('kitchen', specStatus('kitchen'));
      control.drifts.clear();
      control.logs.clear();
      control.sources.clear();
    }
  });

  it('serves the devices page: what mDNS saw and which spec holds which device', async () => {
    const r = await call('GET', '/devices');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<th scope="row">Kitchen TV</th>');
    expect(r.text).toContain('192.168.1.20:8009');
    expect(r.text).toContain('Default Media Receiver');
    expect(r.text).toMatch(/<a href="\/specs\/kitchen">kitchen<\/a> <span class="badge tone-ok">Playing<\/span> <strong class="tag">casting<\/strong>/);
  });

  it('serves htmx, its SSE extension, hls.js and its own files from the installed packages, gzipped and revalidated', async () => {
    for (const [path, sample] of [
      ['/assets/htmx.min.js', 'htmx'],
      ['/assets/htmx-sse.min.js', 'sse'],
      ['/assets/hls.light.min.js', 'Hls'],
      ['/assets/console.js', 'startPreview'],
      ['/assets/console.css', '.badge'],
    ] as const) {
      const plain = await call('GET', path);
      expect(plain.status, path).toBe(200);
      expect(plain.text, path).toContain(sample);
      const gz = await request(`${api.url}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      await gz.body.arrayBuffer();
      expect(gz.headers['content-encoding'], path).toBe('gzip');
      const again = await call('GET', path, { headers: { 'if-none-match': String(plain.headers.etag) } });
      expect(again.status, path).toBe(304);
    }
    expect((await call('GET', '/assets/nope.js')).status).toBe(404);
    expect((await call('GET', '/assets/../package.json')).status).toBe(404);
  });
});

describe('sign-in and sessions', () => {
  it('takes the token once and sets an HttpOnly, SameSite=Strict session cookie; a wrong token gets none', async () => {
    const form = await call('GET', '/login?next=/specs/kitchen');
    expect(form.text).toContain('type="password"');
    expect(form.text).toContain('value="/specs/kitchen"');
    const wrong = await post('/login', { token: 'guess', next: '/' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(wrong.text).toContain('That is not the API token.');
    expect(logLines.some((l) => l.includes('sign-in refused'))).toBe(true);
    const ok = await post('/login', { token: TOKEN, next: '/specs/kitchen' });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/specs/kitchen');
    const cookie = String(ok.headers['set-cookie']);
    expect(cookie).toMatch(/^pagecast_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(cookie).not.toContain(TOKEN);
    const page = await call('GET', '/', { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.text).toContain('Sign out');
    expect(page.text).toContain('Start a cast');
  });

  it('sends sign-in back only to a path of this console', async () => {
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)']) {
      const r = await post('/login', { token: TOKEN, next });
      expect(r.headers.location, next).toBe('/');
    }
  });

  it('refuses a sign-in posted from another site', async () => {
    const r = await post('/login', { token: TOKEN, next: '/' }, { origin: 'https://evil.example' });
    expect(r.status).toBe(403);
    expect(r.headers['set-cookie']).toBeUndefined();
  });

  it('signs out: the session ends and its cookie is cleared', async () => {
    const s = await signIn();
    const out = await post('/logout', { _csrf: s.csrf }, { cookie: s.cookie });
    expect(out.status).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
    const after = await post('/actions/kitchen/recast', { _csrf: s.csrf }, { cookie: s.cookie, htmx: true });
    expect(after.status).toBe(401);
  });
});

describe('actions', () => {
  it('need the session: without one, 401 and nothing is done', async () => {
    const r = await post('/actions/kitchen/recast', {}, { htmx: true });
    expect(r.status).toBe(401);
    expect(r.text).toContain('sign in first');
    expect(control.calls).toEqual([]);
    const plain = await post('/actions/kitchen/suspend', {});
    expect(plain.status).toBe(401);
    expect(control.calls).toEqual([]);
  });

  it('need the CSRF token of the session, and refuse a foreign Origin even with the session', async () => {
    const s = await signIn();
    expect((await post('/actions/kitchen/recast', {}, { cookie: s.cookie, htmx: true })).status).toBe(403);
    expect((await post('/actions/kitchen/recast', { _csrf: 'x'.repeat(32) }, { cookie: s.cookie, htmx: true })).status).toBe(403);
    const other = await signIn();
    expect((await post('/actions/kitchen/recast', { _csrf: other.csrf }, { cookie: s.cookie, htmx: true })).status).toBe(403);
    const foreign = await post('/actions/kitchen/recast', { _csrf: s.csrf }, { cookie: s.cookie, htmx: true, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    const nullOrigin = await post('/actions/kitchen/recast', { _csrf: s.csrf }, { cookie: s.cookie, htmx: true, origin: 'null' });
    expect(nullOrigin.status).toBe(403);
    const crossSite = await call('POST', '/actions/kitchen/recast', {
      headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
      body: `_csrf=${s.csrf}`,
    });
    expect(crossSite.status).toBe(403);
    expect(control.calls).toEqual([]);
    expect(logLines.some((l) => l.includes('console: action refused'))).toBe(true);
  });

  it('each goes through the control plane: htmx gets the result to show, a plain form is sent back', async () => {
    const s = await signIn();
    control.specs.set('kitchen', specStatus('kitchen', { page: { index: 0, count: 3, inRotation: [0, 1, 2], failed: [] } }));
    control.casts.add('doorbell');
    control.specs.set('doorbell', specStatus('doorbell', { source: { ephemeral: true } }));
    try {
      for (const [verb, call, extra] of [
        ['suspend', 'suspend kitchen', {}],
        ['resume', 'resume kitchen', {}],
        ['recast', 'recast kitchen', {}],
        ['reload', 'reloadPage kitchen', {}],
        ['restart', 'restartStream kitchen', {}],
        ['page', 'showPage kitchen 2', { index: '2' }],
      ] as const) {
        control.calls = [];
        const r = await post(`/actions/kitchen/${verb}`, { _csrf: s.csrf, ...extra }, { cookie: s.cookie, htmx: true });
        expect(r.status, verb).toBe(200);
        expect(r.text, verb).toMatch(/class="msg msg-ok"/);
        expect(control.calls, verb).toEqual([call]);
      }
      const plain = await post('/actions/kitchen/recast', { _csrf: s.csrf }, { cookie: s.cookie });
      expect(plain.status).toBe(303);
      expect(plain.headers.location).toBe('/specs/kitchen');
      control.calls = [];
      const end = await post('/actions/doorbell/end', { _csrf: s.csrf }, { cookie: s.cookie, htmx: true });
      expect(end.status).toBe(200);
      expect(control.calls).toEqual(['deleteCast doorbell']);
      const refused = await post('/actions/ghost/recast', { _csrf: s.csrf }, { cookie: s.cookie, htmx: true });
      expect(refused.status).toBe(404);
      expect(refused.text).toContain('msg-error');
      const range = await post('/actions/kitchen/page', { _csrf: s.csrf, index: '7' }, { cookie: s.cookie, htmx: true });
      expect(range.status).toBe(409);
      expect(range.text).toContain('no page 7 in kitchen');
    } finally {
      control.specs.set('kitchen', specStatus('kitchen'));
      control.specs.delete('doorbell');
      control.casts.delete('doorbell');
    }
  });

  it('starts an ephemeral cast from the form, with field errors shown and the URL kept out of the log', async () => {
    const s = await signIn();
    const bad = await post('/actions/casts', { _csrf: s.csrf, device: 'Kitchen TV', url: 'file:///etc/passwd' }, { cookie: s.cookie, htmx: true });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('url: expected an http or https URL');
    expect(control.calls).toEqual([]);
    const ok = await post('/actions/casts', { _csrf: s.csrf, device: 'Kitchen TV', url: 'https://cam.example/live?key=SECRETKEY', duration: '10m', name: 'doorbell' }, { cookie: s.cookie, htmx: true });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('Cast doorbell started');
    expect(control.lastCast).toEqual({ device: 'Kitchen TV', url: 'https://cam.example/live?key=SECRETKEY', duration: '10m', name: 'doorbell' });
    expect(logLines.join('')).not.toContain('SECRETKEY');
    await control.deleteCast('doorbell');
  });

  it('the JSON API takes re-cast, reload and restart with the token, never from a web page', async () => {
    for (const [verb, call] of [
      ['recast', 'recast kitchen'],
      ['reload', 'reloadPage kitchen'],
      ['restart', 'restartStream kitchen'],
    ] as const) {
      control.calls = [];
      const none = await call2('POST', `/api/v1/specs/kitchen/${verb}`);
      expect(none.status, verb).toBe(401);
      const page = await call2('POST', `/api/v1/specs/kitchen/${verb}`, { authorization: `Bearer ${TOKEN}`, origin: api.url });
      expect(page.status, verb).toBe(403);
      expect(control.calls).toEqual([]);
      const ok = await call2('POST', `/api/v1/specs/kitchen/${verb}`, { authorization: `Bearer ${TOKEN}` });
      expect(ok.status, verb).toBe(200);
      expect(JSON.parse(ok.text)).toMatchObject({ name: 'kitchen', action: verb });
      expect(control.calls).toEqual([call]);
    }
    const ghost = await call2('POST', '/api/v1/specs/ghost/recast', { authorization: `Bearer ${TOKEN}` });
    expect(ghost.status).toBe(404);
    expect(JSON.parse(ghost.text).error.code).toBe('SPEC_NOT_FOUND');
    const get = await call2('GET', '/api/v1/specs/kitchen/recast');
    expect(get.status).toBe(405);
  });
});

function call2(method: string, path: string, headers: Record<string, string> = {}) {
  return call(method, path, { headers });
}

/** Reads an SSE stream, collecting its events until `until` holds for them. */
async function readEvents(path: string, until: (events: Array<{ event: string; data: string }>) => boolean, headers: Record<string, string> = {}, base?: string) {
  const ac = new AbortController();
  const res = await request(`${base ?? api.url}${path}`, { headers, signal: ac.signal });
  const events: Array<{ event: string; data: string }> = [];
  let buf = '';
  const done = new Promise<void>((resolve, reject) => {
    res.body.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = [...block.matchAll(/^data: (.*)$/gm)].map((m) => m[1]).join('\n');
        if (block.startsWith(':') || (!data && event === 'message')) continue;
        events.push({ event, data });
      }
      if (until(events)) resolve();
    });
    res.body.on('error', (err) => (ac.signal.aborted ? resolve() : reject(err)));
  });
  return { status: res.statusCode, headers: res.headers, events, done, close: () => ac.abort() };
}

describe('live updates', () => {
  it('GET /api/v1/events: every status at once, then each spec whose status changed, once per change; a removed spec', async () => {
    const feed = await readEvents('/api/v1/events', () => false);
    try {
      expect(feed.status).toBe(200);
      expect(feed.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      await waitUntil(() => feed.events.length >= 1, 5000, 'initial status');
      expect(feed.events[0]!.event).toBe('status');
      expect(JSON.parse(feed.events[0]!.data)).toMatchObject({ name: 'kitchen', phase: 'Playing' });
      // A change that reads the same is not sent again.
      control.changed('kitchen');
      control.specs.get('kitchen')!.phase = 'Recovering';
      control.changed('kitchen');
      await waitUntil(() => feed.events.length >= 2, 5000, 'the change');
      expect(feed.events).toHaveLength(2);
      expect(JSON.parse(feed.events[1]!.data)).toMatchObject({ name: 'kitchen', phase: 'Recovering' });
      control.specs.set('garage', specStatus('garage'));
      control.changed('garage');
      await waitUntil(() => feed.events.length >= 3, 5000, 'the new spec');
      control.specs.delete('garage');
      control.changed('garage');
      await waitUntil(() => feed.events.length >= 4, 5000, 'the removal');
      expect(feed.events[3]).toEqual({ event: 'removed', data: '{"name":"garage"}' });
    } finally {
      feed.close();
      control.specs.set('kitchen', specStatus('kitchen'));
    }
    // The last stream gone, the control plane is not listened to any more.
    await waitUntil(() => control.listeners.size === 0, 5000, 'unsubscribed');
  });

  it('the overview feed swaps a card and the counts when a phase changes', async () => {
    const feed = await readEvents('/events/overview', () => false);
    try {
      await waitUntil(() => feed.events.some((e) => e.event === 'counts'), 5000, 'initial fragments');
      expect(feed.events.map((e) => e.event)).toEqual(['cards', 'card-kitchen', 'counts']);
      const n = feed.events.length;
      control.specs.get('kitchen')!.phase = 'Failed';
      control.changed('kitchen');
      await waitUntil(() => feed.events.length >= n + 2, 5000, 'card and counts');
      const card = feed.events.find((e, i) => i >= n && e.event === 'card-kitchen')!;
      expect(card.data).toContain('<span class="badge tone-bad">Failed</span>');
      expect(feed.events.find((e, i) => i >= n && e.event === 'counts')!.data).toContain('1 failed');
    } finally {
      feed.close();
      control.specs.set('kitchen', specStatus('kitchen'));
    }
  });

  it('the spec feed swaps the detail with its phase', async () => {
    const feed = await readEvents('/events/specs/kitchen', () => false);
    try {
      await waitUntil(() => feed.events.some((e) => e.event === 'yaml'), 5000, 'initial fragments');
      control.specs.get('kitchen')!.phase = 'Suspended';
      control.specs.get('kitchen')!.suspended = true;
      control.changed('kitchen');
      await waitUntil(() => feed.events.filter((e) => e.event === 'detail').length >= 2, 5000, 'new detail');
      expect(feed.events.filter((e) => e.event === 'detail')[1]!.data).toContain('<span class="badge tone-idle">Suspended</span>');
    } finally {
      feed.close();
      control.specs.set('kitchen', specStatus('kitchen'));
    }
  });
});

describe('the preview', () => {
  beforeAll(() => {
    const sdir = join(dir, 'stream');
    mkdirSync(sdir, { recursive: true });
    writeFileSync(join(sdir, 'master.m3u8'), '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nindex.m3u8\n');
    writeFileSync(join(sdir, 'index.m3u8'), '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nr1-0.ts\n');
    writeFileSync(join(sdir, 'r1-0.ts'), Buffer.alloc(188 * 4, 0x47));
    writeFileSync(join(dir, 'secret.ts'), 'outside');
    control.streams.set('kitchen', { streamId: 's1', dir: sdir, mode: 'hls', width: 854, height: 480, entry: 'master.m3u8' });
  });

  it('serves the stream files only with the session, even on loopback', async () => {
    const none = await call('GET', '/api/v1/specs/kitchen/stream/master.m3u8');
    expect(none.status).toBe(401);
    expect((await call('GET', '/api/v1/specs/kitchen/stream/master.m3u8', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(401);
    const s = await signIn();
    const m = await call('GET', '/api/v1/specs/kitchen/stream/master.m3u8', { headers: { cookie: s.cookie } });
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(m.text).toContain('index.m3u8');
    const seg = await call('GET', '/api/v1/specs/kitchen/stream/r1-0.ts', { headers: { cookie: s.cookie } });
    expect(seg.status).toBe(200);
    expect(seg.headers['content-type']).toBe('video/mp2t');
    for (const bad of ['..%2Fsecret.ts', '.hidden.ts', 'index.txt', '%2e%2e%2fsecret.ts', 'a/b.ts']) {
      const r = await call('GET', `/api/v1/specs/kitchen/stream/${bad}`, { headers: { cookie: s.cookie } });
      expect(r.status, bad).toBe(404);
    }
    control.specs.set('kitchen', specStatus('kitchen', { stream: { id: 's1', sharedWith: [], fetches: [] } }));
    const page = await call('GET', '/specs/kitchen', { headers: { cookie: s.cookie } });
    control.specs.set('kitchen', specStatus('kitchen'));
    expect(page.text).toContain('data-src="/api/v1/specs/kitchen/stream/master.m3u8"');
    expect(page.text).toContain('/assets/hls.light.min.js');
  });

  it('a segment that does not decode gives a 503 thumbnail to retry, logged once as a warning with its cause, not as an API error', async () => {
    const before = logLines.length;
    const r = await call('GET', '/api/v1/specs/kitchen/thumbnail.jpg');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('2');
    const logged = logLines.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(logged.filter((l) => l.msg === 'thumbnail failed').map((l) => l.level)).toEqual([40]);
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);
  });
});

describe('beyond loopback', () => {
  let wide: ApiServer;
  beforeAll(async () => {
    wide = await startApiServer({ control, host: '0.0.0.0', port: 0, token: TOKEN, log: silentLogger() });
  });
  afterAll(() => wide.close());

  const targets = (): string[] => {
    const lan = firstLanAddress();
    return [`http://127.0.0.1:${wide.port}`, ...(lan ? [`http://${lan}:${wide.port}`] : [])];
  };

  it('viewing needs the session (or the token): pages send to sign-in, the API and feeds answer 401', async () => {
    for (const base of targets()) {
      const page = await call('GET', '/', { base });
      expect(page.status, base).toBe(303);
      expect(page.headers.location, base).toBe('/login?next=%2F');
      expect((await call('GET', '/api/v1/specs', { base })).status, base).toBe(401);
      expect((await call('GET', '/events/overview', { base })).status, base).toBe(401);
      expect((await call('GET', '/api/v1/events', { base })).status, base).toBe(401);
      expect((await call('GET', '/api/v1/specs/kitchen/thumbnail.jpg', { base })).status, base).toBe(401);
      // The sign-in page and its files are served to anyone.
      expect((await call('GET', '/login', { base })).status, base).toBe(200);
      expect((await call('GET', '/assets/console.css', { base })).status, base).toBe(200);
      const s = await signIn(base);
      const seen = await call('GET', '/', { base, headers: { cookie: s.cookie } });
      expect(seen.status, base).toBe(200);
      expect(seen.text).toContain('kitchen');
      expect((await call('GET', '/api/v1/specs', { base, headers: { cookie: s.cookie } })).status, base).toBe(200);
      expect((await call('GET', '/api/v1/specs', { base, headers: { authorization: `Bearer ${TOKEN}` } })).status, base).toBe(200);
    }
  });

  it('honours a proxy path prefix (Home Assistant ingress) in links and redirects', async () => {
    const s = await signIn(`http://127.0.0.1:${wide.port}`);
    const r = await call('GET', '/', { base: `http://127.0.0.1:${wide.port}`, headers: { cookie: s.cookie, 'x-ingress-path': '/api/hassio_ingress/abc123' } });
    expect(r.text).toContain('href="/api/hassio_ingress/abc123/assets/console.css"');
    expect(r.text).toContain('sse-connect="/api/hassio_ingress/abc123/events/overview"');
    const odd = await call('GET', '/', { base: `http://127.0.0.1:${wide.port}`, headers: { cookie: s.cookie, 'x-ingress-path': '//evil.example/"><script>' } });
    expect(odd.text).toContain('href="/assets/console.css"');
  });
});

describe('without a token (loopback only)', () => {
  it('gives the browser a session at once: actions work with its CSRF token, and still refuse a foreign Origin', async () => {
    const open = await startApiServer({ control, port: 0, log: silentLogger() });
    try {
      const page = await call('GET', '/', { base: open.url });
      const cookie = String(page.headers['set-cookie']).split(';')[0]!;
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
      expect(page.text).toContain('no token set');
      const ok = await post('/actions/kitchen/recast', { _csrf: csrf }, { cookie, htmx: true, base: open.url });
      expect(ok.status).toBe(200);
      const foreign = await post('/actions/kitchen/recast', { _csrf: csrf }, { cookie, htmx: true, base: open.url, origin: 'https://evil.example' });
      expect(foreign.status).toBe(403);
    } finally {
      await open.close();
    }
  });
});

it('the Host check against DNS rebinding covers the console too', async () => {
  const r = await call('GET', '/', { headers: { host: 'evil.example' } });
  expect(r.status).toBe(421);
  expect(host).toMatch(/^127\.0\.0\.1:\d+$/);
});
