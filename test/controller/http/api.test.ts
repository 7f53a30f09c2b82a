import { connect } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isLoopbackHost, matchRoute, startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { PagecastError } from '../../../machines/errors.js';
import { createLogger, silentLogger } from '../../../machines/log.js';
import { FakeControl } from './fake-control.js';

const TOKEN = 'test-token-Zx9_very-secret-value';
let control: FakeControl;
let api: ApiServer;
const logLines: string[] = [];
const responses: string[] = [];

async function call(method: string, path: string, opts: { token?: string; body?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await request(`${api.url}${path}`, { method: method as 'GET', headers, body: opts.body });
  const text = await res.body.text();
  responses.push(JSON.stringify(res.headers) + text);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}
const postJson = (path: string, body: unknown, token: string | null = TOKEN) =>
  call('POST', path, { token: token ?? undefined, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  control = new FakeControl();
  api = await startApiServer({ control, port: 0, token: TOKEN, log: createLogger({ level: 'debug', destination }) });
});
afterAll(async () => {
  await api.close();
  // Nothing the API wrote or logged may contain the token.
  expect(logLines.join('')).not.toContain(TOKEN);
  expect(responses.join('')).not.toContain(TOKEN);
});
beforeEach(() => {
  control.calls = [];
});

describe('reads', () => {
  it('serves /healthz, 503 when not ok', async () => {
    const ok = await call('GET', '/healthz');
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ ok: true, specs: 1 });
    control.healthy = false;
    try {
      const bad = await call('GET', '/healthz');
      expect(bad.status).toBe(503);
      expect(bad.json.ok).toBe(false);
    } finally {
      control.healthy = true;
    }
  });

  it('serves /readyz: 200 once the control plane is ready, else 503; /healthz stays liveness', async () => {
    const ready = await call('GET', '/readyz');
    expect([ready.status, ready.json]).toEqual([200, { ready: true }]);
    expect(ready.headers['cache-control']).toBe('no-store');
    control.isReady = false;
    try {
      const notYet = await call('GET', '/readyz');
      expect([notYet.status, notYet.json]).toEqual([503, { ready: false }]);
      expect((await call('HEAD', '/readyz')).status).toBe(503);
      expect((await call('GET', '/healthz')).status).toBe(200); // alive, not ready
    } finally {
      control.isReady = true;
    }
    const post = await call('POST', '/readyz', { token: TOKEN });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    // Like /healthz: no token asked, the loopback Host check still applies.
    expect((await call('GET', '/readyz', { headers: { host: 'evil.example:8780' } })).status).toBe(421);
  });

  it('serves prometheus text on /metrics', async () => {
    const r = await call('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.text).toContain('pagecast_specs 1');
  });

  it('lists and gets specs without a token on loopback', async () => {
    const list = await call('GET', '/api/v1/specs');
    expect(list.status).toBe(200);
    expect(list.json.specs.map((s: { name: string }) => s.name)).toContain('kitchen');
    const one = await call('GET', '/api/v1/specs/kitchen/');
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ name: 'kitchen', phase: 'Playing' });
    expect(one.headers['cache-control']).toBe('no-store');
  });

  it('404 with a JSON error for an unknown spec or path', async () => {
    const r = await call('GET', '/api/v1/specs/nope');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: 'SPEC_NOT_FOUND', message: 'no spec named "nope"' } });
    for (const p of ['/api/v2/specs', '/api/v1/widgets', '/api/v1/specs/kitchen/explode', '/api/v1/casts/a/b']) {
      const x = await call('GET', p);
      expect(x.status, p).toBe(404);
      expect(x.json.error.code, p).toBe('NOT_FOUND');
    }
  });

  it('400 for a name that cannot be a spec name', async () => {
    for (const bad of ['Kitchen', 'a_b', 'x'.repeat(64), 'a.b', 'caf%C3%A9', '%20']) {
      const r = await call('GET', `/api/v1/specs/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.json.error.code).toBe('INVALID_NAME');
    }
  });
});

describe('auth', () => {
  it('401 with WWW-Authenticate for a mutation without or with a wrong token; nothing is done', async () => {
    const none = await call('POST', '/api/v1/specs/kitchen/suspend');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.json.error.code).toBe('UNAUTHORIZED');
    const wrong = await call('POST', '/api/v1/specs/kitchen/suspend', { token: 'guess' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/invalid_token/);
    const basic = await call('DELETE', '/api/v1/casts/x', { headers: { authorization: `Basic ${TOKEN}` } });
    expect(basic.status).toBe(401);
    const cast = await postJson('/api/v1/casts', { device: 'TV', url: 'https://a.example/' }, null);
    expect(cast.status).toBe(401);
    expect(control.calls).toEqual([]);
    const refused = logLines.filter((l) => l.includes('api: request refused'));
    expect(refused.length).toBeGreaterThanOrEqual(4);
    expect(refused[0]).toContain('"path":"/api/v1/specs/kitchen/suspend"');
    expect(refused.join('')).not.toContain('guess');
  });

  it('suspend and resume with the token', async () => {
    const s = await call('POST', '/api/v1/specs/kitchen/suspend', { token: TOKEN });
    expect(s.status).toBe(200);
    expect(s.json).toEqual({ name: 'kitchen', suspended: true });
    expect(control.get('kitchen')?.suspended).toBe(true);
    const r = await call('POST', '/api/v1/specs/kitchen/resume', { token: TOKEN });
    expect(r.json).toEqual({ name: 'kitchen', suspended: false });
    expect(control.calls).toEqual(['suspend kitchen', 'resume kitchen']);
    const missing = await call('POST', '/api/v1/specs/ghost/suspend', { token: TOKEN });
    expect(missing.status).toBe(404);
    // The mutation is logged with who and what, never the token.
    const logged = logLines.filter((l) => l.includes('"action":"suspend"'));
    expect(logged.length).toBe(1);
    expect(logged[0]).toContain('"remote":"127.0.0.1"');
    expect(logged[0]).toContain('"name":"kitchen"');
  });

  it('refuses mutations from a browser page (Origin header) even with the token', async () => {
    const r = await call('POST', '/api/v1/specs/kitchen/suspend', { token: TOKEN, headers: { origin: 'https://evil.example' } });
    expect(r.status).toBe(403);
    expect(control.calls).toEqual([]);
  });

  it('answers only to a loopback Host (DNS rebinding)', async () => {
    const r = await call('GET', '/api/v1/specs', { headers: { host: 'evil.example:8780' } });
    expect(r.status).toBe(421);
    const ok = await call('GET', '/api/v1/specs', { headers: { host: `localhost:${api.port}` } });
    expect(ok.status).toBe(200);
  });
});

describe('ephemeral casts', () => {
  it('creates a cast: 201, Location, body passed through', async () => {
    const r = await postJson('/api/v1/casts', { device: 'Kitchen TV', url: 'https://cam.example/live?token=abc', duration: '10m', name: 'doorbell' });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ name: 'doorbell', expiresAt: '2025-01-01T10:10:00.000Z' });
    expect(r.headers.location).toBe('/api/v1/specs/doorbell');
    expect(control.lastCast).toEqual({ device: 'Kitchen TV', url: 'https://cam.example/live?token=abc', duration: '10m', name: 'doorbell' });
    expect(logLines.join('')).not.toContain('token=abc');
    const del = await call('DELETE', '/api/v1/casts/doorbell', { token: TOKEN });
    expect(del.status).toBe(200);
    expect(del.json).toEqual({ name: 'doorbell', deleted: true });
    const again = await call('DELETE', '/api/v1/casts/doorbell', { token: TOKEN });
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe('CAST_NOT_FOUND');
  });

  it('400 with field-path messages from the control plane', async () => {
    control.invalid = ['body.name: kitchen is already a spec from kitchen.yaml', 'body.device: no such device'];
    try {
      const r = await postJson('/api/v1/casts', { device: 'TV', url: 'https://a.example/', name: 'kitchen' });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('SPEC_INVALID');
      expect(r.json.error.details.errors).toEqual(['body.name: kitchen is already a spec from kitchen.yaml', 'body.device: no such device']);
      expect(r.json.error.message).toContain('body.name: kitchen is already a spec from kitchen.yaml');
      expect(control.calls).toEqual(['createCast']);
    } finally {
      control.invalid = undefined;
    }
  });

  it('400 naming each field the API refuses itself, before the control plane is asked', async () => {
    const r = await postJson('/api/v1/casts', { url: 'ftp://x' });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('SPEC_INVALID');
    expect(r.json.error.details.errors).toEqual([
      'body.device: missing, expected a device name, {host, port} or {id}',
      'body.url: expected an http or https URL (file: URLs only in spec files)',
    ]);
    expect(r.json.error.message).toContain('body.url: expected an http or https URL');
    expect(control.calls).toEqual([]);
  });

  it('400 for a body that is JSON but not an object', async () => {
    for (const body of ['[]', '"x"', 'null', '3']) {
      const r = await call('POST', '/api/v1/casts', { token: TOKEN, body, headers: { 'content-type': 'application/json' } });
      expect(r.status, body).toBe(400);
      expect(r.json.error.message).toMatch(/^body: expected a JSON object/);
    }
  });

  it('400 with the position for malformed JSON, without echoing the body', async () => {
    const body = '{"device": "TV",\n "url": https://cam.example/?token=SECRETQ}';
    const r = await call('POST', '/api/v1/casts', { token: TOKEN, body, headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('MALFORMED_JSON');
    expect(r.json.error.message).toBe('request body is not valid JSON: unexpected character "h" at line 2, column 9 (position 25)');
    expect(r.json.error.details).toEqual({ line: 2, column: 9, position: 25 });
    expect(r.text).not.toContain('SECRETQ');
    const empty = await call('POST', '/api/v1/casts', { token: TOKEN, body: '', headers: { 'content-type': 'application/json' } });
    expect(empty.status).toBe(400);
    expect(empty.json.error.message).toMatch(/empty/);
  });

  it('415 for a body that is not declared JSON', async () => {
    const r = await call('POST', '/api/v1/casts', { token: TOKEN, body: 'device=TV', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.status).toBe(415);
    expect(r.json.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const none = await call('POST', '/api/v1/casts', { token: TOKEN, body: '{}' });
    expect(none.status).toBe(415);
    expect(control.calls).toEqual([]);
  });

  it('413 for a body over 16 KiB, declared or streamed', async () => {
    const big = JSON.stringify({ device: 'TV', url: 'https://a.example/', pad: 'x'.repeat(70 * 1024) });
    const r = await postJson('/api/v1/casts', JSON.parse(big));
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    // Chunked: no Content-Length, the limit applies while reading.
    async function* chunks() {
      for (let i = 0; i < 20; i++) yield Buffer.from('x'.repeat(8 * 1024));
    }
    const res = await request(`${api.url}/api/v1/casts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: Readable.from(chunks()),
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe('close');
    await res.body.text();
    expect(control.calls).toEqual([]);
  });

  it('an unexpected failure in the control plane is a 500 that reveals nothing', async () => {
    const r = await postJson('/api/v1/casts', { device: 'TV', url: 'https://boom.example/?key=HIDDEN' });
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(logLines.join('')).not.toContain('HIDDEN');
    // The server lives on.
    expect((await call('GET', '/healthz')).status).toBe(200);
  });
});

describe('methods and malformed requests', () => {
  it('405 with Allow for a known path and the wrong method', async () => {
    const cases: Array<[string, string, string]> = [
      ['DELETE', '/api/v1/specs/kitchen', 'GET, HEAD'],
      ['POST', '/api/v1/specs', 'GET, HEAD'],
      ['GET', '/api/v1/specs/kitchen/suspend', 'POST'],
      ['GET', '/api/v1/casts', 'POST'],
      ['PUT', '/healthz', 'GET, HEAD'],
      ['OPTIONS', '/api/v1/casts', 'POST'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(method, path, { token: TOKEN });
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.headers.allow).toBe(allow);
      expect(r.json.error.code).toBe('METHOD_NOT_ALLOWED');
    }
  });

  it('answers a garbage request line with 400 and keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(api.port, '127.0.0.1', () => sock.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect(reply).toContain('"code":"BAD_REQUEST"');
    expect((await call('GET', '/healthz')).status).toBe(200);
  });
});

describe('requests node rejects', () => {
  /** What the server answered a raw socket that sent `send` (if anything), by the time it closed. */
  async function rawReply(port: number, send?: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => (send === undefined ? undefined : sock.write(send)));
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('end', () => {
        sock.end();
        resolve(data);
      });
      sock.on('error', reject);
    });
  }

  it('a connection that sends no request in time gets 408, which a browser retries, never a 400 it would show', async () => {
    const quick = await startApiServer({ control: new FakeControl(), port: 0, log: silentLogger(), timeouts: { headersMs: 300, requestMs: 300 } });
    try {
      const started = Date.now();
      const [idle, dripped] = await Promise.all([rawReply(quick.port), rawReply(quick.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n')]);
      expect(Date.now() - started).toBeLessThan(5000);
      for (const reply of [idle, dripped]) {
        expect(reply).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
        expect(reply).toContain('Connection: close');
        expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' } });
      }
    } finally {
      await quick.close();
    }
  });

  it('a request head over the limit gets 431, and the server keeps serving', async () => {
    const reply = await rawReply(api.port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
    expect(reply).toContain('"code":"HEADERS_TOO_LARGE"');
    expect((await call('GET', '/healthz')).status).toBe(200);
  });
});

describe('binding', () => {
  it('refuses a non-loopback address without a token', async () => {
    const err = await startApiServer({ control: new FakeControl(), host: '0.0.0.0', port: 0, log: silentLogger() }).catch((e) => e);
    expect(err).toBeInstanceOf(PagecastError);
    expect(err.code).toBe('CONFIG');
    expect(err.message).toMatch(/refusing to serve the control API on 0\.0\.0\.0 without a token/);
  });

  it('a port in use is a CONFIG error naming the address', async () => {
    const err = await startApiServer({ control: new FakeControl(), port: api.port, log: silentLogger() }).catch((e) => e);
    expect(err).toBeInstanceOf(PagecastError);
    expect(err.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${api.port}.*EADDRINUSE`));
  });

  it('without a token on loopback, mutations are open (loopback only)', async () => {
    const c = new FakeControl();
    const open = await startApiServer({ control: c, port: 0, log: silentLogger() });
    try {
      const r = await request(`${open.url}/api/v1/specs/kitchen/suspend`, { method: 'POST' });
      expect(r.statusCode).toBe(200);
      await r.body.text();
      expect(c.calls).toEqual(['suspend kitchen']);
    } finally {
      await open.close();
    }
  });
});

describe('pure parts', () => {
  it('matchRoute', () => {
    expect(matchRoute('GET', '/api/v1/specs/a')).toEqual({ ok: true, route: { kind: 'getSpec', name: 'a' }, mutation: false });
    expect(matchRoute('DELETE', '/api/v1/casts/a')).toEqual({ ok: true, route: { kind: 'deleteCast', name: 'a' }, mutation: true });
    expect(matchRoute('POST', '/api/v1/casts/')).toEqual({ ok: true, route: { kind: 'createCast' }, mutation: true });
    expect(matchRoute('GET', '/api/v1')).toEqual({ ok: false, status: 404 });
    expect(matchRoute('HEAD', '/readyz')).toEqual({ ok: true, route: { kind: 'readyz' }, mutation: false });
  });

  it('isLoopbackHost', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com', '10.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });
});
