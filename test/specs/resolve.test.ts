import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveStorageState, resolveUrl } from '../../specs/resolve.js';
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
