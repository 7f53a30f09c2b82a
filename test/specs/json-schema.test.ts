import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { castSpecJsonSchema } from '../../specs/json-schema.js';
import { listSpecFiles, loadSpecFile } from '../../specs/load.js';

// Strict mode: unknown keywords, ambiguous types and the like are errors, as in picky editors.
const ajv = new Ajv({ strict: true, allErrors: true });
const validate = ajv.compile(castSpecJsonSchema());

async function documentsOf(file: string): Promise<unknown[]> {
  const docs = parseAllDocuments(await readFile(file, 'utf8')) as unknown as Array<{ contents: unknown; toJS(): unknown }>;
  return docs.filter((d) => d.contents != null).map((d) => d.toJS());
}

describe('the generated JSON Schema', () => {
  it('is a draft-07 schema with an id and a title', () => {
    const schema = castSpecJsonSchema();
    expect(schema).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#', $id: expect.stringMatching(/^https:/), title: expect.any(String), type: 'object' });
  });

  it('is what pagecast.schema.json holds (regenerate it with `pagecast schema > pagecast.schema.json`)', async () => {
    expect(JSON.parse(await readFile('pagecast.schema.json', 'utf8'))).toEqual(castSpecJsonSchema());
  });

  it('offers only the fields a page can set (the ones refused by name are left out)', () => {
    const json = JSON.stringify(castSpecJsonSchema());
    expect(json).not.toContain('"not":{}');
    const page = (castSpecJsonSchema() as { properties: { spec: { properties: { pages: { items: { properties: Record<string, { properties?: object }> } } } } } }).properties.spec.properties.pages.items.properties;
    expect(Object.keys(page).sort()).toEqual(['browser', 'for', 'schedule', 'url', 'urlFrom']);
    expect(Object.keys(page.browser!.properties!).sort()).toEqual(['css', 'headers', 'login', 'storageState', 'waitFor', 'zoom']);
    expect(Object.keys(page.schedule!.properties!)).toEqual(['windows']);
  });

  it('accepts every example and valid fixture, which the loader accepts too', async () => {
    const files = [...(await listSpecFiles('examples')), ...(await listSpecFiles('test/fixtures/specs/valid'))];
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      expect(text.startsWith('# yaml-language-server: $schema=../pagecast.schema.json') || !file.startsWith('examples/'), file).toBe(true);
      for (const doc of await documentsOf(file)) {
        const ok = validate(doc);
        expect(ok ? [] : validate.errors, file).toEqual([]);
      }
      expect((await loadSpecFile(file)).diagnostics, file).toEqual([]);
    }
  });

  it.each([
    ['a typo in a field name', { qualty: '720p' }, 'additionalProperties'],
    ['a quality that is no preset', { quality: '4k' }, 'enum'],
    ['a duration in words', { policy: { backoff: { initial: '2 sec' } } }, 'pattern'],
    ['an unknown hwAccel', { hwAccel: 'cuda' }, 'enum'],
    ['an option of the whole browser on a page', { url: undefined, pages: [{ url: 'https://a.example/', browser: { maxMemory: '1GB' } }] }, 'additionalProperties'],
    ['a time zone on a page', { url: undefined, pages: [{ url: 'https://a.example/', schedule: { timezone: 'UTC', windows: [{ start: '07:00', end: '09:00' }] } }] }, 'additionalProperties'],
    ['more than 20 pages', { url: undefined, pages: Array.from({ length: 21 }, () => ({ url: 'https://a.example/' })) }, 'maxItems'],
  ])('rejects %s', (_n, extra, keyword) => {
    const doc = JSON.parse(JSON.stringify({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'k' }, spec: { device: 'TV', url: 'https://x.example/', ...extra } }));
    expect(validate(doc)).toBe(false);
    expect(validate.errors?.map((e) => e.keyword)).toContain(keyword);
  });
});
