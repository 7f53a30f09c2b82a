// Secrets never reach a log line: URLs, headers, tokens and storage states, a rotation's pages included.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseLogFormat, componentLogger, createLogger, parseLogFormat, scrubSecrets } from '../../machines/log.js';
import { streamInputOf } from '../../specs/identity.js';
import { loadSpecText } from '../../specs/load.js';
import { loginSecret, resolveSpec } from '../../specs/resolve.js';
import { duplicateKeys } from './duplicate-keys.js';

function capture() {
  const dest = new PassThrough();
  const chunks: string[] = [];
  dest.on('data', (d: Buffer) => chunks.push(d.toString()));
  return { log: createLogger({ level: 'info', destination: dest }), text: () => chunks.join('') };
}

describe('log redaction', () => {
  it('redacts URLs, headers, tokens and storage states at the top level, one level down and in pages', () => {
    const { log, text } = capture();
    log.info({ url: 'https://a.example/?k=S1', token: 'S2', spec: { url: 'https://b.example/S3', headers: { authorization: 'S4' } } }, 'one');
    log.info({ input: { browser: { headers: { cookie: 'S5' } }, pages: [{ url: 'https://c.example/S6', browser: { headers: { x: 'S7' }, storageState: '/secret/S8.json' } }] } }, 'two');
    log.info({ pages: [{ url: 'https://d.example/S9' }] }, 'three');
    const out = text();
    for (let i = 1; i <= 9; i++) expect(out).not.toContain(`S${i}`);
    expect(out.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(9);
    expect(out).toContain('"msg":"three"');
  });
});

describe('log redaction of dashboard logins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-log-login-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'hall.yaml');
  // Each secret once: the Grafana token of the spec, a Home Assistant token and a basic login per page.
  const env = { GRAFANA: 'glsa_SECRET1', HA: 'llat-SECRET2', USER: 'SECRET3user', PASS: 'SECRET4pass' };
  const text = `apiVersion: pagecast/v1
kind: CastSpec
metadata: { name: hall }
spec:
  device: Hall TV
  quality: 720p
  browser:
    headers: { x-api-key: SECRET5 }
    login: { grafana: { tokenFrom: { env: GRAFANA } } }
  pages:
    - url: https://ha.example/lovelace/0?auth=SECRET6
      browser: { login: { homeAssistant: { tokenFrom: { env: HA } } } }
    - url: https://grafana.example/d/1
      browser: { login: { basic: { usernameFrom: { env: USER }, passwordFrom: { env: PASS } } } }
`;

  it('logs no secret of a resolved spec or its stream input, in whatever shape and depth it is logged', async () => {
    const loaded = loadSpecText(text, file);
    expect(loaded.diagnostics).toEqual([]);
    const r = await resolveSpec(loaded.specs[0]!.spec, file, env);
    if (r.error) throw new Error(r.error.message);
    const spec = r.spec;
    const input = streamInputOf(spec);
    // The secrets are really there to leak (else this test proves nothing).
    expect(JSON.stringify({ spec, input })).toContain('SECRET4pass');
    const { log, text: out } = capture();
    log.info(spec, 'the document as the entry');
    log.info({ spec }, 'inside a field');
    log.info({ spec: spec.spec }, 'its body');
    log.info({ input }, 'a stream input');
    log.info({ stream: { id: 's1', input } }, 'a stream input two levels down');
    log.info({ page: input.pages![1] }, 'one page');
    log.info({ browser: input.pages![0]!.browser }, 'one page’s browser options');
    log.child({ spec: 'hall' }).warn({ changes: [{ before: spec, after: spec }] }, 'in a list, twice');
    const all = out();
    for (let i = 1; i <= 6; i++) expect(all, `SECRET${i}`).not.toContain(`SECRET${i}`);
    expect(all).not.toMatch(/glsa_|llat-/);
    // What is not secret is still there to read.
    const lines = all.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines).toHaveLength(8);
    expect(lines[1]!.spec.spec.quality).toMatchObject({ width: 1280, height: 720 });
    expect(lines[1]!.spec.spec.browser.login).toBe('[redacted]');
    expect(lines[3]!.input.pages[1]).toMatchObject({ url: '[redacted]', browser: { login: '[redacted]', headers: '[redacted]' } });
    // The caller's objects are not changed by the redaction.
    expect(loginSecret(spec.spec.browser.login)).toEqual({ kind: 'grafana', token: 'glsa_SECRET1' });
  });

  it('scrubSecrets copies only what it censors and survives a cycle', () => {
    const shared = { quality: '720p' };
    const entry: Record<string, unknown> = { a: shared, b: { login: { secret: 'x' } } };
    entry.self = entry;
    const out = scrubSecrets(entry);
    expect(out).not.toBe(entry);
    expect(out.a).toBe(shared);
    expect(out.b).toEqual({ login: '[redacted]' });
    expect((entry.b as { login: unknown }).login).toEqual({ secret: 'x' });
    const clean = { a: 1, b: [{ c: 2 }] };
    expect(scrubSecrets(clean)).toBe(clean);
  });
});

describe('duplicateKeys (the check the tests below rely on)', () => {
  it('finds a key written twice at any depth, and is not fooled by strings', () => {
    expect(duplicateKeys('{"a":1,"b":{"c":1,"c":2},"a":"{\\"a\\":1}"}')).toEqual(['b.c', 'a']);
    expect(duplicateKeys('{"a":[{"x":1},{"x":1}],"s":"\\",\\"a\\":"}')).toEqual([]);
  });
  it('sees the duplicate a plain pino child makes: binding component under component', () => {
    const { log, text } = capture();
    log.child({ component: 'streams' }).child({ component: 'encoder' }).info('twice');
    expect(duplicateKeys(text().trim())).toEqual(['component']);
  });
});

describe('componentLogger', () => {
  it('names the innermost component once, keeps the other bindings and the level, and still redacts', () => {
    const { log, text } = capture();
    const streams = log.child({ component: 'streams' });
    const stream = streams.child({ stream: 'kitchen-1' });
    stream.level = 'warn';
    const encoder = componentLogger(stream, 'encoder');
    encoder.info('dropped: the level is warn');
    encoder.warn({ url: 'https://a.example/?k=SECRET' }, 'encoder exited');
    componentLogger(log, 'api').warn('top level');
    const lines = text().trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(duplicateKeys(l)).toEqual([]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ stream: 'kitchen-1', component: 'encoder', url: '[redacted]', msg: 'encoder exited' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ component: 'api', msg: 'top level' });
    expect(text()).not.toContain('SECRET');
  });
});

describe('log format', () => {
  it('is JSON to a pipe and to a given destination, pretty at a terminal; the flag and PAGECAST_LOG_FORMAT decide first', () => {
    const cases: Array<[Parameters<typeof chooseLogFormat>[0], string]> = [
      [{ env: {}, stderrIsTTY: true }, 'pretty'],
      [{ env: {}, stderrIsTTY: false }, 'json'],
      [{ env: { PAGECAST_LOG_FORMAT: 'json' }, stderrIsTTY: true }, 'json'],
      [{ env: { PAGECAST_LOG_FORMAT: 'pretty' }, stderrIsTTY: false }, 'pretty'],
      [{ env: { PAGECAST_LOG_FORMAT: 'auto' }, stderrIsTTY: true }, 'pretty'],
      [{ format: 'json', env: { PAGECAST_LOG_FORMAT: 'pretty' }, stderrIsTTY: true }, 'json'],
      [{ destination: new PassThrough(), env: { PAGECAST_LOG_FORMAT: 'pretty' }, stderrIsTTY: true }, 'json'],
      [{ format: 'pretty', destination: new PassThrough() }, 'pretty'],
    ];
    for (const [o, want] of cases) expect(chooseLogFormat(o), JSON.stringify({ ...o, destination: !!o.destination })).toBe(want);
    expect(() => chooseLogFormat({ env: { PAGECAST_LOG_FORMAT: 'yaml' } })).toThrow('PAGECAST_LOG_FORMAT: expected json, pretty or auto, got "yaml"');
    expect(() => parseLogFormat('text', '--log-format')).toThrow('--log-format: expected json, pretty or auto, got "text"');
  });

  it('pretty: one line per entry, time, level, [component], message, fields; redacted and escaped', () => {
    const dest = new PassThrough();
    const chunks: string[] = [];
    dest.on('data', (d: Buffer) => chunks.push(d.toString()));
    const log = createLogger({ level: 'info', destination: dest, format: 'pretty' });
    componentLogger(log.child({ component: 'streams' }).child({ stream: 'kitchen-1' }), 'encoder').warn({ url: 'https://a.example/?k=SECRET', code: 1 }, 'FFmpeg exited\x1b[2J');
    log.info('plain');
    const lines = chunks.join('').trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[encoder\] FFmpeg exited\\x1b\[2J \{"stream":"kitchen-1","url":"\[redacted\]","code":1\}$/);
    expect(lines[1]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: plain$/);
    expect(lines).toHaveLength(2);
    expect(chunks.join('')).not.toContain('\x1b');
  });
});
