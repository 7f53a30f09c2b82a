// POST /api/v1/specs/NAME/page against the real controller (stand-in components): every answer
// the route gives, from what the controller and the browser's rotation hold.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../../controller/controller.js';
import { matchRoute, startApiServer, type ApiServer } from '../../../controller/http/api.js';
import { silentLogger } from '../../../machines/log.js';
import { standInComponents, type StandInRotation, type StandIns } from '../../stand-ins/components.js';
import { waitUntil } from '../../helpers.js';

const TOKEN = 'page-token-0123456789abcdefghijklmn';
const SECRETS = ['SECRET0', 'SECRET1', 'SECRET2', 'SECRET9'];

const pagesSpec = (name: string, device: string, tail = '') => `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: ${name} }
spec:
  device: ${device}
  pages:
    - url: https://grafana.example/d/power?auth=SECRET0
    - url: https://cam.example/door?sig=SECRET1
      for: 10s
    - url: https://ha.example/k?token=SECRET2
  policy:
    backoff: { initial: 50ms, max: 200ms }
${tail}`;

let ctl: Controller;
let api: ApiServer;
let c: StandIns;
const answers: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'pc-page-specs-'));
const state = mkdtempSync(join(tmpdir(), 'pc-page-state-'));
const streams = mkdtempSync(join(tmpdir(), 'pc-page-s-'));

async function post(name: string, body: string | undefined, opts: { token?: string | null; type?: string | null } = {}) {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const type = opts.type === undefined ? 'application/json' : opts.type;
  if (type) headers['content-type'] = type;
  const res = await request(`${api.url}/api/v1/specs/${name}/page`, { method: 'POST', headers, body });
  const text = await res.body.text();
  answers.push(text);
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) };
}
const jump = (name: string, index: unknown) => post(name, JSON.stringify({ index }));

/** The running board's rotation (the stand-in browser's). */
const board = (): StandInRotation => {
  const [r] = c.log.rotations();
  if (!r) throw new Error('no rotating browser running');
  return r;
};

beforeAll(async () => {
  writeFileSync(join(dir, 'board.yaml'), pagesSpec('board', 'TV A'));
  writeFileSync(join(dir, 'single.yaml'), `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata: { name: single }\nspec:\n  device: TV B\n  url: https://x.example/?token=SECRET9\n`);
  // The same pages, suspended: no stream is running for it.
  writeFileSync(join(dir, 'later.yaml'), pagesSpec('later', 'TV C', '  suspend: true\n  quality: 480p\n'));
  c = standInComponents(streams);
  ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000 });
  await ctl.start();
  api = await startApiServer({ control: ctl, port: 0, token: TOKEN, log: silentLogger() });
  await waitUntil(() => ctl.get('board')?.phase === 'Playing' && ctl.get('board')?.page?.index === 0, 5000, 'board playing page 0');
});
afterAll(async () => {
  await api?.close();
  await ctl?.stop();
  for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  // No answer ever carried a secret from a page URL or an error.
  for (const secret of SECRETS) expect(answers.join('\n')).not.toContain(secret);
});
beforeEach(() => {
  board().jumps.length = 0;
});

describe('POST /api/v1/specs/NAME/page', () => {
  it('is a mutation (POST only)', () => {
    expect(matchRoute('POST', '/api/v1/specs/board/page')).toEqual({ ok: true, route: { kind: 'showPage', name: 'board' }, mutation: true });
    expect(matchRoute('GET', '/api/v1/specs/board/page')).toEqual({ ok: false, status: 405, allow: ['POST'] });
  });

  it('401 without the token or with a wrong one; nothing is shown', async () => {
    const none = await post('board', '{"index": 1}', { token: null });
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await post('board', '{"index": 1}', { token: 'guess' })).status).toBe(401);
    expect(board().jumps).toEqual([]);
  });

  it('shows the page and answers the rotation once it is on screen, its turn restarted', async () => {
    const before = Date.now();
    const r = await jump('board', 2);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'board', page: { index: 2, count: 3, url: 'https://ha.example/k?[redacted]', inRotation: [0, 1, 2], failed: [] } });
    // The stand-in shows a jump a tick after showPage returns: the answer waited for it.
    expect(board().jumps).toEqual([2]);
    expect(Date.parse(r.json.page.since)).toBeGreaterThanOrEqual(before - 1);
    // Page 2 shows for the default 30 s from the jump.
    expect(Date.parse(r.json.page.nextSwitchAt) - Date.parse(r.json.page.since)).toBe(30_000);
    expect(ctl.get('board')!.page).toMatchObject({ index: 2, since: r.json.page.since });
    const back = await jump('board', 0);
    expect([back.status, back.json.page.index]).toEqual([200, 0]);
  });

  it('a jump to the page on screen restarts its turn, and the answer waits for that', async () => {
    const first = await jump('board', 1);
    const again = await jump('board', 1);
    expect(board().jumps).toEqual([1, 1]);
    expect(again.json.page).toMatchObject({ index: 1, since: board().since, nextSwitchAt: board().nextSwitchAt });
    expect(Date.parse(again.json.page.since)).toBeGreaterThanOrEqual(Date.parse(first.json.page.since));
    // Page 1 shows for its own 10 s.
    expect(Date.parse(again.json.page.nextSwitchAt) - Date.parse(again.json.page.since)).toBe(10_000);
  });

  it('404 for an unknown spec, 409 for a spec without pages or not playing', async () => {
    const unknown = await jump('ghost', 0);
    expect([unknown.status, unknown.json.error]).toEqual([404, { code: 'SPEC_NOT_FOUND', message: 'no spec named "ghost"' }]);
    const single = await jump('single', 0);
    expect([single.status, single.json.error]).toEqual([409, { code: 'NO_PAGES', message: 'single shows one URL, not pages: nothing to jump to' }]);
    const later = await jump('later', 0);
    expect([later.status, later.json.error]).toEqual([
      409,
      { code: 'NOT_PLAYING', message: 'later is not playing (phase Suspended; its stream is not running): no page to jump to' },
    ]);
    expect(board().jumps).toEqual([]);
  });

  it('422 naming the valid range, 0-based, for an index past either end', async () => {
    for (const index of [3, -1, 1e9]) {
      const r = await jump('board', index);
      expect(r.status, String(index)).toBe(422);
      expect(r.json.error).toEqual({ code: 'PAGE_OUT_OF_RANGE', message: `no page ${index} in board: pages are numbered from 0, so 0 to 2` });
    }
    expect(board().jumps).toEqual([]);
  });

  it('409 with the page’s error, redacted, for a page that failed or is loading', async () => {
    board().fail(1, 'HTTP 500 from https://cam.example/door?sig=SECRET1');
    try {
      const failed = await jump('board', 1);
      expect(failed.status).toBe(409);
      expect(failed.json.error).toEqual({
        code: 'PAGE_NOT_READY',
        message: 'page 1 of board (https://cam.example/door?[redacted]) failed to load: HTTP 500 from https://cam.example/door?[redacted]',
      });
      board().set(1, 'loading');
      const loading = await jump('board', 1);
      expect([loading.status, loading.json.error.message]).toEqual([409, 'page 1 of board (https://cam.example/door?[redacted]) is still loading']);
    } finally {
      board().set(1, 'ready');
    }
    expect(board().jumps).toEqual([]);
  });

  it('a refusal from the browser itself (the page failed a moment ago) is a 409 with its message redacted', async () => {
    board().refuseNext = { ok: false, reason: 'not-ready', message: 'page 1 (https://cam.example/door?sig=SECRET1) failed: net::ERR_CONNECTION_REFUSED' };
    const r = await jump('board', 1);
    expect([r.status, r.json.error]).toEqual([409, { code: 'PAGE_NOT_READY', message: 'page 1 (https://cam.example/door?[redacted]) failed: net::ERR_CONNECTION_REFUSED' }]);
    board().refuseNext = { ok: false, reason: 'range', message: 'no page 1: 1 pages' };
    expect((await jump('board', 1)).status).toBe(422);
  });

  it('400 for a body that is not {"index": N} with N a whole number, naming the field; nothing is shown', async () => {
    const cases: Array<[string, string]> = [
      ['[]', 'body: expected a JSON object like {"index": 0} (pages are numbered from 0)'],
      ['null', 'body: expected a JSON object like {"index": 0} (pages are numbered from 0)'],
      ['2', 'body: expected a JSON object like {"index": 0} (pages are numbered from 0)'],
      ['{}', 'body.index: missing, expected a page index, a whole number from 0'],
      ['{"index": "2"}', 'body.index: expected a page index, a whole number from 0'],
      ['{"index": 1.5}', 'body.index: expected a page index, a whole number from 0'],
      ['{"index": null}', 'body.index: expected a page index, a whole number from 0'],
      ['{"index": 1e400}', 'body.index: expected a page index, a whole number from 0'],
      ['{"index": 1, "force": true}', 'body.force: unknown field "force"'],
      ['{"index": 1, "indx": 2}', 'body.indx: unknown field "indx" (did you mean index?)'],
    ];
    for (const [body, message] of cases) {
      const r = await post('board', body);
      expect(r.status, body).toBe(400);
      expect(r.json.error.code, body).toBe('BAD_REQUEST');
      expect(r.json.error.message, body).toBe(message);
    }
    expect(board().jumps).toEqual([]);
  });

  it('400 with the position for malformed JSON, 415 for a body not declared JSON', async () => {
    const r = await post('board', '{"index":\n 1,}');
    expect(r.status).toBe(400);
    expect(r.json.error).toEqual({
      code: 'MALFORMED_JSON',
      message: 'request body is not valid JSON: expected a property name in double quotes at line 2, column 4 (position 13)',
      details: { line: 2, column: 4, position: 13 },
    });
    const empty = await post('board', '');
    expect([empty.status, empty.json.error.message]).toEqual([400, 'request body is empty: expected a JSON object']);
    expect((await post('board', '{"index": 1}', { type: null })).status).toBe(415);
    expect((await post('board', 'index=1', { type: 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect(board().jumps).toEqual([]);
  });
});
