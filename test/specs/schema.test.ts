import { describe, expect, it } from 'vitest';
import { loadSpecText } from '../../specs/load.js';
import { formatDiagnostic } from '../../specs/diagnostics.js';
import { BrowserOptions, CastSpecSchema, MAX_PAGES, PAGE_OVERRIDES } from '../../specs/schema.js';

// Five header lines, so the body starts on line 6 and positions below are easy to check.
const HEAD = 'apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: kitchen\nspec:\n';
const doc = (...body: string[]) => HEAD + body.map((l) => `  ${l}\n`).join('');
const errors = (text: string) => {
  const r = loadSpecText(text, 'k.yaml');
  if (r.diagnostics.length > 0) expect(r.specs).toEqual([]);
  return r.diagnostics.map(formatDiagnostic);
};
const pagesOf = (text: string) => {
  const r = loadSpecText(text, 'k.yaml');
  expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
  return r.specs[0]!.spec.spec;
};

describe('spec.pages: accepted', () => {
  it('applies the defaults: 30s per page, no overrides, no windows', () => {
    const s = pagesOf(doc('device: TV', 'pages:', '  - url: https://a.example/', '  - urlFrom: { env: GRAFANA_URL }', '    for: 1m30s'));
    expect(s.url).toBeUndefined();
    expect(s.pages).toEqual([
      { url: 'https://a.example/', for: 30_000 },
      { urlFrom: { env: 'GRAFANA_URL' }, for: 90_000 },
    ]);
  });

  it('keeps page browser overrides as given, without the spec-level defaults', () => {
    const s = pagesOf(doc('device: TV', 'pages:', '  - url: https://a.example/', '    browser: { zoom: 1.5, css: "x{}", waitFor: { delay: 2s }, headers: { X-A: b }, storageState: s.json }'));
    expect(s.pages![0]!.browser).toEqual({ zoom: 1.5, css: 'x{}', waitFor: { delay: 2000 }, headers: { 'X-A': 'b' }, storageState: 's.json' });
    expect(pagesOf(doc('device: TV', 'pages:', '  - url: https://a.example/', '    browser: {}')).pages![0]!.browser).toEqual({});
  });

  it('takes page windows, in the zone of spec.schedule, which may have no windows of its own', () => {
    const s = pagesOf(
      doc('device: TV', 'schedule: { timezone: Europe/Berlin }', 'pages:', '  - url: https://a.example/', '    schedule:', '      windows: [{ days: [mon], start: "22:00", end: "02:00" }]'),
    );
    expect(s.schedule).toEqual({ timezone: 'Europe/Berlin' });
    expect(s.pages![0]!.schedule).toEqual({ windows: [{ days: ['mon'], start: '22:00', end: '02:00' }] });
  });

  it.each([
    ['5s, the least', '5s', 5000],
    ['1d, the most', '1d', 86_400_000],
  ])('for: %s', (_n, given, ms) => {
    expect(pagesOf(doc('device: TV', 'pages:', '  - url: https://a.example/', `    for: ${given}`)).pages![0]!.for).toBe(ms);
  });

  it(`takes ${MAX_PAGES} pages`, () => {
    const lines = Array.from({ length: MAX_PAGES }, (_, i) => `  - url: https://a.example/${i}`);
    expect(pagesOf(doc('device: TV', 'pages:', ...lines)).pages).toHaveLength(MAX_PAGES);
  });
});

describe('spec.pages: refused, with file:line:col and the field', () => {
  it.each([
    ['url and pages', doc('device: TV', 'url: https://x.example/', 'pages:', '  - url: https://a.example/'), ['k.yaml:8:3 spec.pages: give url, urlFrom or pages, not more than one']],
    ['urlFrom and pages', doc('device: TV', 'urlFrom: { env: X }', 'pages: [{ url: "https://a.example/" }]'), ['k.yaml:8:10 spec.pages: give url, urlFrom or pages, not more than one']],
    ['no page', doc('device: TV', 'pages: []'), ['k.yaml:7:10 spec.pages: expected at least one page']],
    [
      `${MAX_PAGES + 1} pages`,
      doc('device: TV', 'pages:', ...Array.from({ length: MAX_PAGES + 1 }, (_, i) => `  - url: https://a.example/${i}`)),
      [`k.yaml:7:3 spec.pages: at most ${MAX_PAGES} pages`],
    ],
    ['a page with url and urlFrom', doc('device: TV', 'pages:', '  - url: https://a.example/', '    urlFrom: { env: A }'), ['k.yaml:9:16 spec.pages[0].urlFrom: give url or urlFrom, not both']],
    ['a page with neither', doc('device: TV', 'pages:', '  - url: https://a.example/', '  - for: 10s'), ['k.yaml:9:7 spec.pages[1].url: expected url or urlFrom']],
    [
      'for under 5s, over 1d, or no duration',
      doc('device: TV', 'pages:', '  - url: https://a.example/', '    for: 4s', '  - url: https://b.example/', '    for: 2d', '  - url: https://c.example/', '    for: soon'),
      [
        'k.yaml:9:12 spec.pages[0].for: expected at least 5s, got "4s"',
        'k.yaml:11:12 spec.pages[1].for: expected at most 1d, got "2d"',
        'k.yaml:13:12 spec.pages[2].for: expected a duration like 2s, 5m or 1h, got "soon"',
      ],
    ],
    [
      'an option of the whole browser on a page, at its key',
      doc('device: TV', 'pages:', '  - url: https://a.example/', '    browser:', '      maxMemory: 1GB'),
      ['k.yaml:10:9 spec.pages[0].browser.maxMemory: maxMemory is an option of the whole browser: set it in spec.browser (a page can override zoom, css, waitFor, headers, storageState and login)'],
    ],
    ['a typo in a page browser option', doc('device: TV', 'pages:', '  - url: https://a.example/', '    browser: { zom: 2 }'), ['k.yaml:9:18 spec.pages[0].browser.zom: unknown field "zom" (did you mean zoom?)']],
    ['a bad page override', doc('device: TV', 'pages:', '  - url: https://a.example/', '    browser: { zoom: 9 }'), ['k.yaml:9:24 spec.pages[0].browser.zoom: must be at most 5']],
    [
      'a time zone on a page',
      doc('device: TV', 'pages:', '  - url: https://a.example/', '    schedule: { timezone: UTC, windows: [{ start: "07:00", end: "09:00" }] }'),
      ["k.yaml:9:19 spec.pages[0].schedule.timezone: a page's windows are in the spec's time zone: set spec.schedule.timezone"],
    ],
    ['a page schedule without windows', doc('device: TV', 'pages:', '  - url: https://a.example/', '    schedule: { windows: [] }'), ['k.yaml:9:28 spec.pages[0].schedule.windows: needs at least 1 entry']],
    [
      'a bad page window',
      doc('device: TV', 'pages:', '  - url: https://a.example/', '  - url: https://b.example/', '    schedule:', '      windows:', '        - { days: [mon], start: 7am, end: "09:00" }'),
      ['k.yaml:12:35 spec.pages[1].schedule.windows[0].start: expected a time like 07:00 (24-hour), got "7am"'],
    ],
    ['an unknown page field', doc('device: TV', 'pages:', '  - url: https://a.example/', '    duration: 10s'), ['k.yaml:9:7 spec.pages[0].duration: unknown field "duration"']],
    ['a page url scheme (not echoed)', doc('device: TV', 'pages:', '  - url: ftp://user:secret@a.example/'), ['k.yaml:8:12 spec.pages[0].url: expected an http, https or file URL']],
    ['a page header value (not echoed)', doc('device: TV', 'pages:', '  - url: https://a.example/', '    browser: { headers: { Authorization: 12345 } }'), ['k.yaml:9:44 spec.pages[0].browser.headers.Authorization: expected a string, got 12345']],
  ])('%s', (_n, text, expected) => {
    expect(errors(text)).toEqual(expected);
  });

  it('refuses every browser option but the page overrides, naming spec.browser', () => {
    const whole = Object.keys(BrowserOptions.shape).filter((k) => !(PAGE_OVERRIDES as readonly string[]).includes(k));
    expect(whole.sort()).toEqual(['colorScheme', 'maxMemory', 'navigationTimeout', 'reload', 'restartEvery', 'userAgent']);
    for (const key of whole) {
      const r = CastSpecSchema.safeParse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'k' }, spec: { device: 'TV', pages: [{ url: 'https://a.example/', browser: { [key]: 'x' } }] } });
      expect(r.success, key).toBe(false);
      expect(r.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([[`spec.pages.0.browser.${key}`, expect.stringContaining('set it in spec.browser')]]);
    }
  });
});

describe('spec.schedule without windows', () => {
  it('names the zone alone and means always on', () => {
    const s = pagesOf(doc('device: TV', 'url: https://x.example/', 'schedule: { timezone: America/New_York }'));
    expect(s.schedule).toEqual({ timezone: 'America/New_York' });
  });

  it('still refuses an empty window list and a bad zone', () => {
    expect(errors(doc('device: TV', 'url: https://x.example/', 'schedule: { windows: [] }'))).toEqual(['k.yaml:8:24 spec.schedule.windows: needs at least 1 entry']);
    expect(errors(doc('device: TV', 'url: https://x.example/', 'schedule: { timezone: Mars/Olympus }'))).toEqual([
      'k.yaml:8:25 spec.schedule.timezone: expected an IANA time zone like Europe/Berlin, got "Mars/Olympus"',
    ]);
  });
});
