import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiClientError } from '../../../controller/cli/api-client.js';
import { startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { silentLogger } from '../../../machines/log.js';
import { FakeControl, specStatus } from '../http/fake-control.js';

const TOKEN = 'client-test-token';
let control: FakeControl;
let api: ApiServer;
let client: ApiClient;

beforeAll(async () => {
  control = new FakeControl();
  api = await startApiServer({ control, port: 0, token: TOKEN, log: silentLogger() });
  client = new ApiClient({ baseUrl: api.url + '/', token: TOKEN });
});
afterAll(async () => {
  await api.close();
});

async function failure(p: Promise<unknown>): Promise<ApiClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiClientError);
  return err as ApiClientError;
}

describe('ApiClient against the real server', () => {
  it('reads', async () => {
    expect((await client.list()).map((s) => s.name)).toEqual(['kitchen']);
    expect((await client.get('kitchen')).phase).toBe('Playing');
    expect(await client.health()).toMatchObject({ ok: true, specs: 1 });
    control.healthy = false;
    expect((await client.health()).ok).toBe(false); // 503 still yields the report
    control.healthy = true;
  });

  it('suspend, resume, cast and delete', async () => {
    expect(await client.suspend('kitchen')).toEqual({ name: 'kitchen', suspended: true });
    expect(control.get('kitchen')?.suspended).toBe(true);
    expect(await client.resume('kitchen')).toEqual({ name: 'kitchen', suspended: false });
    const cast = await client.createCast({ device: 'Kitchen TV', url: 'https://cam.example/', duration: '10m', name: 'doorbell' });
    expect(cast).toEqual({ name: 'doorbell', expiresAt: '2025-01-01T10:10:00.000Z' });
    await client.deleteCast('doorbell');
    expect(control.casts.size).toBe(0);
  });

  it('showPage posts {"index": N} and answers the rotation; a refusal is an error with its code', async () => {
    const refused = await failure(client.showPage('kitchen', 1));
    expect([refused.status, refused.code, refused.message]).toEqual([409, 'NO_PAGES', 'kitchen shows one URL, not pages: nothing to jump to']);
    control.specs.set('board', specStatus('board', { page: { index: 0, count: 3, inRotation: [0, 1, 2], failed: [] } }));
    try {
      expect(await client.showPage('board', 2)).toEqual({ name: 'board', page: { index: 2, count: 3, since: '2025-01-01T10:00:00.000Z', inRotation: [0, 1, 2], failed: [] } });
      expect(control.calls).toContain('showPage board 2');
      const range = await failure(client.showPage('board', 3));
      expect([range.status, range.code]).toEqual([422, 'PAGE_OUT_OF_RANGE']);
    } finally {
      control.specs.delete('board');
    }
  });

  it('API errors carry their message, code and status', async () => {
    const missing = await failure(client.get('ghost'));
    expect(missing.message).toBe('no spec named "ghost"');
    expect(missing.code).toBe('SPEC_NOT_FOUND');
    expect(missing.status).toBe(404);
    const invalid = await failure(client.createCast({ device: 'TV', url: 'ftp://x' }));
    expect(invalid.message).toBe('body.url: expected an http or https URL (file: URLs only in spec files)');
    expect(invalid.code).toBe('SPEC_INVALID');
    expect(invalid.details).toEqual({ errors: ['body.url: expected an http or https URL (file: URLs only in spec files)'] });
    const badName = await failure(client.suspend('Bad Name'));
    expect(badName.status).toBe(400);
    expect(badName.code).toBe('INVALID_NAME');
  });

  it('401: a wrong token and a missing one say what to do', async () => {
    const wrong = await failure(new ApiClient({ baseUrl: api.url, token: 'nope' }).suspend('kitchen'));
    expect(wrong.message).toBe('token rejected: check --token-file');
    expect(wrong.code).toBe('UNAUTHORIZED');
    const none = await failure(new ApiClient({ baseUrl: api.url }).suspend('kitchen'));
    expect(none.message).toMatch(/needs the API token: pass --token-file/);
    expect(control.get('kitchen')?.suspended).toBe(false);
  });

  it('connection refused: pagecast is not running', async () => {
    // A port that was just free: bind, note it, close.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await failure(new ApiClient({ baseUrl: `http://127.0.0.1:${port}` }).list());
    expect(err.message).toBe(`pagecast is not running at http://127.0.0.1:${port} (start it with pagecast run)`);
    expect(err.code).toBe('UNREACHABLE');
  });

  it('an answer that is not the API: a clear error, not a crash', async () => {
    const other = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>hello</html>');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as AddressInfo).port;
    try {
      const err = await failure(new ApiClient({ baseUrl: `http://127.0.0.1:${port}` }).list());
      expect(err.code).toBe('BAD_RESPONSE');
      expect(err.message).toBe(`unexpected answer from pagecast at http://127.0.0.1:${port}/api/v1/specs: not JSON (HTTP 200)`);
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('a server that never answers: a timeout naming the address', async () => {
    const silent = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const err = await failure(new ApiClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 200 }).list());
      expect(err.message).toBe(`pagecast at http://127.0.0.1:${port} did not answer within 200 ms`);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
