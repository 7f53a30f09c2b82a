import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePages, resolveSpec, resolveStorageState, resolveUrl } from '../../specs/resolve.js';
import { CastSpecSchema, type CastSpec } from '../../specs/schema.js';

const SECRET = 'https://ha.example/lovelace?token=s3cr3t-value';
const make = (spec: Record<string, unknown>): CastSpec =>
  CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'k' }, spec: { device: 'TV', ...spec } });

let dir: string;
let specFile: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pagecast-resolve-'));
  await mkdir(join(dir, 'secrets'));
  specFile = join(dir, 'kitchen.yaml');
  await writeFile(join(dir, 'secrets', 'url.txt'), `  ${SECRET}\n`);
  await writeFile(join(dir, 'secrets', 'blank.txt'), '\n');
  await writeFile(join(dir, 'secrets', 'notaurl.txt'), 's3cr3t-value\n');
  await writeFile(join(dir, 'secrets', 'state.json'), JSON.stringify({ cookies: [], origins: [] }));
  await writeFile(join(dir, 'secrets', 'broken.json'), '{"cookies": [s3cr3t-value');
  await writeFile(join(dir, 'secrets', 'list.json'), '[]');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveUrl', () => {
  it('passes url through', async () => {
    expect(await resolveUrl(make({ url: 'https://x.example/' }), specFile, {})).toEqual({ url: 'https://x.example/' });
  });

  it('reads an env variable, trimmed', async () => {
    expect(await resolveUrl(make({ urlFrom: { env: 'HA_URL' } }), specFile, { HA_URL: ` ${SECRET} ` })).toEqual({ url: SECRET });
  });

  it('reads a file relative to the spec file, trimmed', async () => {
    expect(await resolveUrl(make({ urlFrom: { file: 'secrets/url.txt' } }), specFile, {})).toEqual({ url: SECRET });
  });

  it.each([
    [{ env: 'HA_URL' }, {}, 'spec.urlFrom.env', 'environment variable HA_URL is not set'],
    [{ env: 'HA_URL' }, { HA_URL: '  ' }, 'spec.urlFrom.env', 'environment variable HA_URL is empty'],
    [{ env: 'HA_URL' }, { HA_URL: 's3cr3t-value' }, 'spec.urlFrom.env', 'environment variable HA_URL does not hold an http, https or file URL'],
    [{ file: 'secrets/missing.txt' }, {}, 'spec.urlFrom.file', 'secrets/missing.txt does not exist'],
    [{ file: 'secrets/blank.txt' }, {}, 'spec.urlFrom.file', 'secrets/blank.txt is empty'],
    [{ file: 'secrets/notaurl.txt' }, {}, 'spec.urlFrom.file', 'secrets/notaurl.txt does not hold an http, https or file URL'],
    [{ file: 'secrets' }, {}, 'spec.urlFrom.file', 'secrets is not a regular file'],
  ])('%j %j → %s: %s', async (urlFrom, env, path, message) => {
    const r = await resolveUrl(make({ urlFrom }), specFile, env);
    expect(r).toEqual({ error: { path, message } });
    expect(JSON.stringify(r)).not.toContain('s3cr3t');
  });
});

describe('resolveStorageState', () => {
  it('makes the path absolute relative to the spec file', async () => {
    expect(await resolveStorageState(make({ url: 'https://x.example/', browser: { storageState: 'secrets/state.json' } }), specFile)).toEqual({
      path: join(dir, 'secrets', 'state.json'),
    });
    expect(await resolveStorageState(make({ url: 'https://x.example/' }), specFile)).toEqual({ path: undefined });
  });

  it.each([
    ['secrets/none.json', 'secrets/none.json does not exist'],
    ['secrets/broken.json', 'secrets/broken.json is not valid JSON'],
    ['secrets/list.json', 'secrets/list.json is not a storage state (expected a JSON object with cookies and origins)'],
  ])('%s → %s, without its content', async (storageState, message) => {
    const r = await resolveStorageState(make({ url: 'https://x.example/', browser: { storageState } }), specFile);
    expect(r).toEqual({ error: { path: 'spec.browser.storageState', message } });
    expect(JSON.stringify(r)).not.toContain('s3cr3t');
  });
});

describe('resolvePages', () => {
  const pages = (list: Array<Record<string, unknown>>, spec: Record<string, unknown> = {}) => make({ pages: list, ...spec });

  it('reads each page url (env or a file beside the spec) and makes each storage state absolute', async () => {
    const spec = pages([
      { url: 'https://a.example/' },
      { urlFrom: { env: 'GRAFANA_URL' }, for: '1m', browser: { zoom: 2 } },
      { urlFrom: { file: 'secrets/url.txt' }, browser: { storageState: 'secrets/state.json' } },
    ]);
    expect(await resolvePages(spec, specFile, { GRAFANA_URL: ' https://grafana.example/d/x ' })).toEqual({
      pages: [
        { url: 'https://a.example/', for: 30_000 },
        { urlFrom: { env: 'GRAFANA_URL' }, url: 'https://grafana.example/d/x', for: 60_000, browser: { zoom: 2 } },
        { urlFrom: { file: 'secrets/url.txt' }, url: SECRET, for: 30_000, browser: { storageState: join(dir, 'secrets', 'state.json') } },
      ],
    });
    expect(await resolvePages(make({ url: 'https://a.example/' }), specFile, {})).toEqual({ pages: undefined });
  });

  it.each([
    [[{ url: 'https://a.example/' }, { urlFrom: { env: 'HA_URL' } }], {}, 'spec.pages[1].urlFrom.env', 'environment variable HA_URL is not set'],
    [[{ urlFrom: { env: 'HA_URL' } }], { HA_URL: 's3cr3t-value' }, 'spec.pages[0].urlFrom.env', 'environment variable HA_URL does not hold an http, https or file URL'],
    [[{ url: 'https://a.example/' }, { url: 'https://b.example/' }, { urlFrom: { file: 'secrets/notaurl.txt' } }], {}, 'spec.pages[2].urlFrom.file', 'secrets/notaurl.txt does not hold an http, https or file URL'],
    [[{ urlFrom: { file: 'secrets/missing.txt' } }], {}, 'spec.pages[0].urlFrom.file', 'secrets/missing.txt does not exist'],
    [[{ url: 'https://a.example/' }, { url: 'https://b.example/', browser: { storageState: 'secrets/broken.json' } }], {}, 'spec.pages[1].browser.storageState', 'secrets/broken.json is not valid JSON'],
    [[{ url: 'https://a.example/', browser: { storageState: 'secrets/list.json' } }], {}, 'spec.pages[0].browser.storageState', 'secrets/list.json is not a storage state (expected a JSON object with cookies and origins)'],
  ])('%j %j → %s: %s, without the secret', async (list, env, path, message) => {
    const r = await resolvePages(pages(list), specFile, env);
    expect(r).toEqual({ error: { path, message } });
    expect(JSON.stringify(r)).not.toContain('s3cr3t');
  });
});

describe('resolveSpec', () => {
  const resolved = async (p: ReturnType<typeof resolveSpec>): Promise<CastSpec> => {
    const r = await p;
    if (r.error) throw new Error(`${r.error.path}: ${r.error.message}`);
    return r.spec;
  };

  it('a url spec: url read and storage state absolute, as before', async () => {
    const r = await resolved(resolveSpec(make({ urlFrom: { env: 'HA_URL' }, browser: { storageState: 'secrets/state.json' } }), specFile, { HA_URL: SECRET }));
    expect(r.spec.url).toBe(SECRET);
    expect(r.spec.browser.storageState).toBe(join(dir, 'secrets', 'state.json'));
  });

  it('a pages spec: every page resolved, the spec url left alone', async () => {
    const r = await resolved(resolveSpec(make({ pages: [{ urlFrom: { file: 'secrets/url.txt' } }], browser: { storageState: 'secrets/state.json' } }), specFile, {}));
    expect(r.spec.url).toBeUndefined();
    expect(r.spec.pages?.[0]?.url).toBe(SECRET);
    expect(r.spec.browser.storageState).toBe(join(dir, 'secrets', 'state.json'));
  });

  it('names the first field that fails', async () => {
    expect(await resolveSpec(make({ urlFrom: { env: 'NOPE' }, browser: { storageState: 'secrets/none.json' } }), specFile, {})).toEqual({
      error: { path: 'spec.urlFrom.env', message: 'environment variable NOPE is not set' },
    });
    expect(await resolveSpec(make({ url: 'https://a.example/', browser: { storageState: 'secrets/none.json' } }), specFile, {})).toEqual({
      error: { path: 'spec.browser.storageState', message: 'secrets/none.json does not exist' },
    });
    expect(await resolveSpec(make({ pages: [{ url: 'https://a.example/' }, { urlFrom: { env: 'NOPE' } }] }), specFile, {})).toEqual({
      error: { path: 'spec.pages[1].urlFrom.env', message: 'environment variable NOPE is not set' },
    });
  });
});
