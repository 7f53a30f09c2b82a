// The console behind Home Assistant's ingress, through a real server: with --trust-ingress the
// proxy's requests view and act as a signed-in user, on a session bound to ingress; the same
// headers from any other address, or without trust, get nothing a stranger would not get. The
// proxy's address is given as loopback here (the server listens on 0.0.0.0, so loopback clients
// are not "local"); that 172.30.32.2 is the default is checked in ingress.test.ts.
import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { createLogger, silentLogger } from '../../../machines/log.js';
import { FakeControl } from './fake-control.js';

const TOKEN = 'ingress-test-token-Zr8_secret';
const INGRESS = '/api/hassio_ingress/Qx9-token';
let control: FakeControl;
let proxied: ApiServer; // trusts loopback as the ingress proxy
let supervisorOnly: ApiServer; // trusts only the Supervisor's address
let untrusting: ApiServer; // no --trust-ingress
const logLines: string[] = [];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function call(server: ApiServer, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const res = await request(`http://127.0.0.1:${server.port}${path}`, { method: method as 'GET', headers, body });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** A request as the Supervisor forwards it: the ingress path, the user, the browser's own headers. */
const viaIngress = (extra: Record<string, string> = {}) => ({ 'x-ingress-path': INGRESS, 'x-remote-user-name': 'anna', ...extra });

function form(server: ApiServer, path: string, fields: Record<string, string>, headers: Record<string, string>): Promise<Answer> {
  return call(server, 'POST', path, { 'content-type': 'application/x-www-form-urlencoded', origin: `http://127.0.0.1:${server.port}`, 'hx-request': 'true', ...headers }, new URLSearchParams(fields).toString());
}

beforeAll(async () => {
  control = new FakeControl();
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  proxied = await startApiServer({ control, host: '0.0.0.0', port: 0, token: TOKEN, trustIngress: { from: ['127.0.0.1'] }, log: createLogger({ level: 'info', destination }) });
  supervisorOnly = await startApiServer({ control, host: '0.0.0.0', port: 0, token: TOKEN, trustIngress: {}, log: silentLogger() });
  untrusting = await startApiServer({ control, host: '0.0.0.0', port: 0, token: TOKEN, log: silentLogger() });
});
afterAll(async () => {
  await Promise.all([proxied, supervisorOnly, untrusting].map((s) => s?.close()));
});
beforeEach(() => {
  control.calls = [];
});

describe('with --trust-ingress, from the proxy', () => {
  it('shows the console without a sign-in, every link under the ingress path, and a session whose cookie stays under it', async () => {
    const r = await call(proxied, 'GET', '/', viaIngress());
    expect(r.status).toBe(200);
    expect(r.text).toContain('<h1>Overview</h1>');
    expect(r.text).toContain('signed in through Home Assistant');
    expect(r.text).not.toContain('Sign in');
    expect(r.text).toContain(`href="${INGRESS}/assets/console.css"`);
    expect(r.text).toContain(`src="${INGRESS}/assets/htmx.min.js"`);
    expect(r.text).toContain(`sse-connect="${INGRESS}/events/overview"`);
    expect(r.text).toContain(`action="${INGRESS}/actions/casts"`);
    // No link or asset of the console's own leaves the ingress path.
    for (const m of r.text.matchAll(/(?:href|src|action|sse-connect|hx-post|data-src)="(\/[^"]*)"/g)) expect(m[1]!.startsWith(`${INGRESS}/`), m[1]).toBe(true);
    expect(String(r.headers['set-cookie'])).toMatch(new RegExp(`^pagecast_session=[\\w-]+; Path=${INGRESS}; HttpOnly; SameSite=Strict`));
    const spec = await call(proxied, 'GET', '/specs/kitchen', viaIngress());
    expect(spec.status).toBe(200);
    expect(spec.text).toContain(`action="${INGRESS}/actions/kitchen/suspend"`);
    // The JSON reads the console's pages make (thumbnails) are open to it too.
    expect((await call(proxied, 'GET', '/api/v1/specs', viaIngress())).status).toBe(200);
  });

  it('acts with the session’s CSRF token, and the audit line names the Home Assistant user', async () => {
    const page = await call(proxied, 'GET', '/', viaIngress());
    const cookie = String(page.headers['set-cookie']).split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const ok = await form(proxied, '/actions/kitchen/recast', { _csrf: csrf }, viaIngress({ cookie }));
    expect(ok.status).toBe(200);
    expect(control.calls).toContain('recast kitchen');
    const audit = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.action === 'recast');
    expect(audit).toMatchObject({ via: 'ingress', user: 'anna', name: 'kitchen' });
    // Still no action without the CSRF token, nor from another site.
    expect((await form(proxied, '/actions/kitchen/recast', {}, viaIngress({ cookie }))).status).toBe(403);
    expect((await form(proxied, '/actions/kitchen/recast', { _csrf: csrf }, viaIngress({ cookie, origin: 'https://evil.example' }))).status).toBe(403);
    expect(control.calls.filter((c) => c === 'recast kitchen')).toHaveLength(1);
  });

  it('gives nothing to the JSON API’s mutations: they still need the token', async () => {
    const r = await call(proxied, 'POST', '/api/v1/specs/kitchen/suspend', viaIngress());
    expect(r.status).toBe(401);
    expect(control.calls).toEqual([]);
  });

  it('the ingress session is no key outside ingress: the same cookie without the proxy’s headers gets the sign-in', async () => {
    const page = await call(proxied, 'GET', '/', viaIngress());
    const cookie = String(page.headers['set-cookie']).split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const view = await call(proxied, 'GET', '/', { cookie });
    expect(view.status).toBe(303);
    expect(view.headers.location).toBe('/login?next=%2F');
    expect((await form(proxied, '/actions/kitchen/recast', { _csrf: csrf }, { cookie })).status).toBe(401);
    expect((await call(proxied, 'GET', '/api/v1/specs', { cookie })).status).toBe(401);
    expect(control.calls).toEqual([]);
  });

  it('a request from the proxy’s address without X-Ingress-Path is a stranger', async () => {
    expect((await call(proxied, 'GET', '/')).status).toBe(303);
    expect((await call(proxied, 'GET', '/api/v1/specs')).status).toBe(401);
  });
});

describe('the same headers from elsewhere get nothing extra', () => {
  it.each([
    ['trust on, but the client is not the Supervisor', () => supervisorOnly],
    ['no --trust-ingress', () => untrusting],
  ])('%s', async (_why, server) => {
    const s = server();
    const view = await call(s, 'GET', '/', viaIngress());
    expect(view.status).toBe(303);
    // Links still follow the path (it shapes nothing but this client's own pages).
    expect(view.headers.location).toBe(`${INGRESS}/login?next=%2F`);
    expect(view.headers['set-cookie']).toBeUndefined();
    const login = await call(s, 'GET', '/login', viaIngress());
    expect(login.status).toBe(200);
    expect(login.text).not.toContain('signed in through Home Assistant');
    expect(login.text).not.toContain('_csrf');
    expect((await form(s, '/actions/kitchen/recast', {}, viaIngress())).status).toBe(401);
    expect((await call(s, 'GET', '/api/v1/specs', viaIngress())).status).toBe(401);
    expect((await call(s, 'GET', '/events/overview', viaIngress())).status).toBe(401);
    expect(control.calls).toEqual([]);
  });
});
