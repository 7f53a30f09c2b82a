// Hostile and careless cast bodies: every one is a 4xx naming `body.<field>`, never a 500, never
// stored. The same table runs against FakeControl and against the real controller (stand-in
// components), because the API decides before either is asked.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { Controller } from '../../../controller/controller.js';
import { silentLogger } from '../../../machines/log.js';
import { standInComponents } from '../../stand-ins/components.js';
import { FakeControl } from './fake-control.js';

const TOKEN = 'bodies-token-0123456789abcdefghij';

interface Answer {
  status: number;
  json: any;
}

async function post(api: ApiServer, body: string | Uint8Array): Promise<Answer> {
  const res = await request(`${api.url}/api/v1/casts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body,
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json };
}

const ok = { device: 'Kitchen TV', url: 'https://cam.example/live' };
const withOk = (extra: Record<string, unknown>) => JSON.stringify({ ...ok, ...extra });

/** [what, body as sent, the errors expected: exact lines, or patterns each line must match in order]. */
const HOSTILE: Array<[string, string, Array<string | RegExp>]> = [
  ['duration past any date', withOk({ duration: '99999999999d' }), ['body.duration: expected a duration like 30s, 10m or 1h, got "99999999999d"']],
  ['duration of 400 digits', withOk({ duration: `${'9'.repeat(400)}d` }), ['body.duration: expected a duration like 30s, 10m or 1h, got a long string']],
  ['duration past a year', withOk({ duration: '400d' }), ['body.duration: expected at most 365d (leave it out for a cast that lasts until it is ended), got "400d"']],
  ['duration of zero', withOk({ duration: '0s' }), ['body.duration: expected a duration like 30s, 10m or 1h, got "0s"']],
  ['duration as a number', withOk({ duration: 600 }), ['body.duration: expected a duration like 30s, 10m or 1h']],
  ['duration null', withOk({ duration: null }), ['body.duration: expected a duration like 30s, 10m or 1h']],
  ['priority null', withOk({ priority: null }), ['body.priority: Invalid input: expected number, received null']],
  ['priority as text', withOk({ priority: 'high' }), ['body.priority: Invalid input: expected number, received string']],
  ['priority beyond the spec range', withOk({ priority: 5000 }), ['body.priority: Too big: expected number to be <=1000']],
  ['priority fractional', withOk({ priority: 1.5 }), ['body.priority: Invalid input: expected int, received number']],
  ['priority overflowing to Infinity', `{"device":"TV","url":"https://a.example/","priority":1e400}`, ['body.priority: Invalid input: expected number, received Infinity']],
  ['name a number', withOk({ name: 5 }), ['body.name: Invalid input: expected string, received number']],
  ['name not a spec name', withOk({ name: 'Kitchen TV' }), ['body.name: expected a lowercase name of letters, digits and dashes (like kitchen-tv), got "Kitchen TV"']],
  ['name too long', withOk({ name: 'a'.repeat(64) }), [/^body\.name: Too big: expected string to have <=63 characters/]],
  ['device an empty object', withOk({ device: {} }), [/^body\.device\.host: missing/]],
  ['device null', withOk({ device: null }), ['body.device: expected a device name, {host, port} or {id}']],
  ['device an array', withOk({ device: ['TV'] }), ['body.device: expected a device name, {host, port} or {id}']],
  ['device with a NUL', withOk({ device: 'Kitchen\u0000TV' }), ['body.device: a device name must not contain control characters (newlines, NUL, escapes)']],
  ['device port out of range', withOk({ device: { host: '10.0.0.5', port: 70000 } }), [/^body\.device\.port: Too big/]],
  ['device with a misspelt key', withOk({ device: { host: '10.0.0.5', prot: 8009 } }), ['body.device.prot: unknown field "prot"']],
  ['device missing', JSON.stringify({ url: ok.url }), ['body.device: missing, expected a device name, {host, port} or {id}']],
  ['url a number', withOk({ url: 42 }), ['body.url: expected an http or https URL']],
  ['url missing', JSON.stringify({ device: 'TV' }), ['body.url: missing, expected an http or https URL']],
  ['url a file', withOk({ url: 'file:///etc/passwd' }), ['body.url: expected an http or https URL (file: URLs only in spec files)']],
  ['url javascript:', withOk({ url: 'javascript:alert(1)' }), ['body.url: expected an http or https URL (file: URLs only in spec files)']],
  ['url not a URL', withOk({ url: 'cam.example/live' }), ['body.url: expected an http or https URL (file: URLs only in spec files)']],
  ['a misspelt duration', withOk({ durration: '5m' }), ['body.durration: unknown field "durration" (did you mean duration?)']],
  ['a misspelt quality', withOk({ qualty: '720p' }), ['body.qualty: unknown field "qualty" (did you mean quality?)']],
  ['a __proto__ key', `{"device":"TV","url":"https://a.example/","__proto__":{"priority":1}}`, ['body.__proto__: unknown field "__proto__"']],
  ['a spec-file field', withOk({ policy: { onOtherApp: 'leave' } }), ['body.policy: unknown field "policy"']],
  ['quality nested garbage', withOk({ quality: { a: { b: [1, { c: null }] } } }), [/^body\.quality\.width: missing/, /^body\.quality\.height: missing/, /^body\.quality\.fps: missing/, 'body.quality.a: unknown field "a"']],
  ['quality 1,000 arrays deep', withOk({ quality: JSON.parse('['.repeat(1000) + ']'.repeat(1000)) }), ['body.quality: expected 480p, 720p, 1080p or {width, height, fps}']],
  ['quality an odd width', withOk({ quality: { width: 1001, height: 720, fps: 30 } }), ['body.quality.width: width must be even (H.264 4:2:0)']],
  ['mode unknown', withOk({ mode: 'dash' }), ['body.mode: Invalid option: expected one of "hls"|"fmp4"']],
  [
    'a key with terminal escapes',
    withOk({ 'x\u001b[2J\u202e': 1 }),
    ['body.x\\x1b[2J\\u202e: unknown field "x\\x1b[2J\\u202e"'],
  ],
  [
    'several fields wrong at once',
    JSON.stringify({ device: {}, url: 42, priority: null, name: 5, duration: '99999999999d' }),
    [/^body\.device\.host: missing/, 'body.url: expected an http or https URL', /^body\.duration: /, 'body.priority: Invalid input: expected number, received null', 'body.name: Invalid input: expected string, received number'],
  ],
  [
    '300 unknown fields',
    withOk(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]))),
    [...Array.from({ length: 20 }, (_, i) => `body.k${i}: unknown field "k${i}"`), '… and 280 more'],
  ],
];

function expectRefused(what: string, a: Answer, want: Array<string | RegExp>): void {
  expect(a.status, what).toBe(400);
  expect(a.json?.error?.code, what).toBe('SPEC_INVALID');
  const errors: string[] = a.json.error.details.errors;
  expect(errors, what).toHaveLength(want.length);
  want.forEach((w, i) => {
    if (typeof w === 'string') expect(errors[i], what).toBe(w);
    else expect(errors[i], what).toMatch(w);
  });
  expect(a.json.error.message, what).toBe(errors.join('\n'));
}

describe('hostile cast bodies against FakeControl', () => {
  let control: FakeControl;
  let api: ApiServer;
  beforeAll(async () => {
    control = new FakeControl();
    api = await startApiServer({ control, port: 0, token: TOKEN, log: silentLogger() });
  });
  afterAll(async () => {
    await api.close();
  });

  it.each(HOSTILE)('%s: 400 naming the field, the control plane never asked', async (what, body, want) => {
    control.calls = [];
    expectRefused(what, await post(api, body), want);
    expect(control.calls).toEqual([]);
    expect(control.casts.size).toBe(0);
  });

  it('a good body still passes through unchanged', async () => {
    const body = { ...ok, quality: { width: 1280, height: 720, fps: 30 }, duration: '30d', priority: -5, mode: 'fmp4', name: 'door' };
    const r = await post(api, JSON.stringify(body));
    expect(r.status).toBe(201);
    expect(control.lastCast).toEqual(body);
  });

  it('no bytes make a 500: arbitrary bodies are answered 201 or 4xx with a JSON error', async () => {
    await neverA500(api, 300);
  });
});

// Bytes, JSON-ish text, any JSON, and objects of the right and wrong keys with plausible values.
const keys = ['device', 'url', 'quality', 'duration', 'priority', 'mode', 'name', '__proto__', 'constructor', 'durration', ''];
const piece = fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\n', '1e400', '-', 'null', 'true', '"device"', '"url"', '"https://a.example/"', '\u0000', '\ufeff', '\ud800', 'é');
const bodies = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.array(piece, { maxLength: 40 }).map((p) => p.join('')),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc
    .dictionary(fc.constantFrom(...keys), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('TV', 'https://a.example/', 'file:///etc/passwd', '10m', '99999999999d', '720p', 'hls', 'door')))
    .map((o) => JSON.stringify(o)),
);

async function neverA500(api: ApiServer, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(bodies, async (body) => {
      fc.pre(!Buffer.from(body).toString('utf8').includes('boom')); // FakeControl's deliberate failure
      const r = await post(api, body);
      expect(r.status === 201 || (r.status >= 400 && r.status < 500), `status ${r.status} for ${JSON.stringify(Buffer.from(body).toString('utf8'))}`).toBe(true);
      if (r.status !== 201) expect(['SPEC_INVALID', 'MALFORMED_JSON', 'BAD_REQUEST']).toContain(r.json?.error?.code);
    }),
    { numRuns },
  );
}

describe('hostile cast bodies against the real controller', () => {
  let root: string;
  let ctl: Controller;
  let api: ApiServer;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'pc-bodies-'));
    const [specs, state, streams] = ['specs', 'state', 'streams'].map((d) => join(root, d));
    for (const d of [specs!, streams!]) mkdirSync(d);
    writeFileSync(join(specs!, 'k.yaml'), 'apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: kitchen }\nspec:\n  device: Kitchen TV\n  url: https://ha.example/k\n');
    ctl = new Controller({ specsDir: specs!, stateDir: state!, components: standInComponents(streams!), log: silentLogger(), watch: false });
    await ctl.start();
    api = await startApiServer({ control: ctl, port: 0, token: TOKEN, log: silentLogger() });
  });
  afterAll(async () => {
    await api?.close();
    await ctl?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('answers the whole table as FakeControl does, and stores nothing', async () => {
    for (const [what, body, want] of HOSTILE) expectRefused(what, await post(api, body), want);
    expect(ctl.list().map((s) => s.name)).toEqual(['kitchen']);
  });

  it("the control plane's own field errors are a 400 too; a good cast is created", async () => {
    expectRefused('a name a spec file uses', await post(api, withOk({ name: 'kitchen' })), [/^body\.name: kitchen is already a spec from .*k\.yaml$/]);
    const made = await post(api, withOk({ name: 'door', duration: '365d', priority: 1000 }));
    expect(made.status).toBe(201);
    expect(made.json.name).toBe('door');
    expect(Date.parse(made.json.expiresAt)).toBeGreaterThan(Date.now() + 364 * 86_400_000);
    expect(await ctl.deleteCast('door')).toBe(true);
  });

  it('no bytes make a 500 here either', async () => {
    await neverA500(api, 100);
  });
});
