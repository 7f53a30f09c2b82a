import { describe, expect, it } from 'vitest';
import { deviceKeyOf, diffSpecs, FIELD_COSTS, pageRenderKey, pagesOf, streamInputOf, streamKeyOf, type PageInput } from '../../specs/identity.js';
import { CastSpecBody, CastSpecSchema, type CastSpec } from '../../specs/schema.js';

const mk = (name: string, spec: Record<string, unknown> = {}): CastSpec =>
  CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name }, spec: { device: 'TV', url: 'https://a.example/', ...spec } });

const mkPages = (name: string, pages: Array<Record<string, unknown>>, spec: Record<string, unknown> = {}): CastSpec =>
  CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name }, spec: { device: 'TV', pages, ...spec } });

describe('spec identity', () => {
  it('what a change costs comes from the schema: every field says it, once', () => {
    expect([...FIELD_COSTS.keys()].sort()).toEqual(Object.keys(CastSpecBody.shape).sort());
    expect(Object.fromEntries(FIELD_COSTS)).toMatchObject({ device: 'cast', title: 'cast', url: 'stream', pages: 'stream', quality: 'stream', browser: 'stream', policy: 'live', schedule: 'live' });
    // The stream input is exactly the render fields (urlFrom is read into url; a url spec has no
    // pages, and a pages spec's url is its first page's, with the zone of the pages' windows).
    const renderFields = [...FIELD_COSTS].filter(([, c]) => c === 'stream').map(([f]) => f).filter((f) => f !== 'urlFrom');
    expect(Object.keys(streamInputOf(mk('a'))).sort()).toEqual(renderFields.filter((f) => f !== 'pages').sort());
    expect(Object.keys(streamInputOf(mkPages('a', [{ url: 'https://p.example/' }]))).sort()).toEqual([...renderFields, 'timezone'].sort());
  });

  it('specs with identical render input share a stream key; any render difference splits it', () => {
    expect(streamKeyOf(mk('a', { device: 'TV 1' }))).toBe(streamKeyOf(mk('b', { device: 'TV 2', priority: 4 })));
    expect(streamKeyOf(mk('a'))).not.toBe(streamKeyOf(mk('a', { mode: 'fmp4' })));
    expect(streamKeyOf(mk('a'))).not.toBe(streamKeyOf(mk('a', { hwAccel: 'off' })));
    expect(streamKeyOf(mk('a'))).not.toBe(streamKeyOf(mk('a', { browser: { css: 'body{}' } })));
  });

  it('device keys: names are case-insensitive; addresses include the port', () => {
    expect(deviceKeyOf('Kitchen TV')).toBe(deviceKeyOf(' kitchen tv'));
    expect(deviceKeyOf({ host: '10.0.0.2', port: 8009 })).not.toBe(deviceKeyOf({ host: '10.0.0.2', port: 8010 }));
    expect(deviceKeyOf({ id: 'ABCDEF0123456789ABCDEF0123456789' })).toBe(deviceKeyOf({ id: 'abcdef0123456789abcdef0123456789' }));
  });

  it('a device name that only changes case is not a re-cast', () => {
    expect(diffSpecs(mk('a', { device: 'Kitchen TV' }), mk('a', { device: 'kitchen tv' }))).toEqual({ stream: false, cast: false, live: true });
  });

  it('a change to render and device fields costs both', () => {
    expect(diffSpecs(mk('a'), mk('a', { device: 'Other', quality: '480p' }))).toEqual({ stream: true, cast: true, live: false });
  });
});

describe('pages in the stream input', () => {
  const morning = { windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '06:30', end: '09:00' }] };
  const pages = [
    { url: 'https://ha.example/', browser: { zoom: 2, headers: { 'X-Page': 'ha' } } },
    { url: 'https://grafana.example/', for: '1m', browser: { css: 'nav{display:none}' } },
    { url: 'https://ha.example/morning', schedule: morning },
  ];
  const spec = { browser: { zoom: 1.25, css: 'body{}', headers: { 'X-Spec': 's' }, reload: '6h' }, schedule: { timezone: 'Europe/Berlin' } };

  it('lists the pages in order, each with the browser options it renders with', () => {
    const input = streamInputOf(mkPages('a', pages, spec));
    const base = input.browser;
    expect(base).toMatchObject({ zoom: 1.25, css: 'body{}', headers: { 'X-Spec': 's' }, reload: 21_600_000 });
    expect(input.url).toBe('https://ha.example/');
    expect(input.timezone).toBe('Europe/Berlin');
    expect(input.pages).toEqual([
      // An override replaces the spec's value whole; what a page does not give is the spec's.
      { url: 'https://ha.example/', for: 30_000, browser: { ...base, zoom: 2, headers: { 'X-Page': 'ha' } } },
      { url: 'https://grafana.example/', for: 60_000, browser: { ...base, css: 'nav{display:none}' } },
      { url: 'https://ha.example/morning', for: 30_000, browser: base, windows: morning.windows },
    ]);
    expect('windows' in input.pages![0]!).toBe(false);
    expect(streamInputOf(mkPages('a', pages)).timezone).toBe('UTC');
  });

  it('a url spec has no pages: pagesOf gives its url as one page that does not rotate', () => {
    const input = streamInputOf(mk('a', { browser: { zoom: 2 } }));
    expect(input).not.toHaveProperty('pages');
    expect(input).not.toHaveProperty('timezone');
    expect(pagesOf(input)).toEqual([{ url: 'https://a.example/', for: 0, browser: input.browser }]);
    const rotating = streamInputOf(mkPages('a', pages, spec));
    expect(pagesOf(rotating)).toBe(rotating.pages);
  });

  it('specs with identical pages share a stream; any difference in order, time, windows, zone or rendering splits it', () => {
    const key = (p: Array<Record<string, unknown>>, s: Record<string, unknown> = spec) => streamKeyOf(mkPages('x', p, s));
    const same = key(pages);
    expect(streamKeyOf(mkPages('other', pages, { ...spec, device: 'TV 2', priority: 3, title: 'Other' }))).toBe(same);
    expect(key(pages.map((p, i) => (i === 1 ? { ...p, for: '60s' } : p)))).toBe(same); // 1m and 60s are one duration
    expect(key([pages[1]!, pages[0]!, pages[2]!])).not.toBe(same);
    expect(key(pages.map((p, i) => (i === 1 ? { ...p, for: '45s' } : p)))).not.toBe(same);
    expect(key(pages.map((p, i) => (i === 2 ? { ...p, schedule: { windows: [{ start: '06:30', end: '09:00' }] } } : p)))).not.toBe(same);
    expect(key(pages, { ...spec, schedule: { timezone: 'Europe/London' } })).not.toBe(same);
    expect(key(pages.map((p, i) => (i === 0 ? { ...p, browser: { zoom: 1.5 } } : p)))).not.toBe(same);
    expect(key(pages.slice(0, 2))).not.toBe(same);
    // One page is not the same stream as the url spec of that page: it rotates (for, windows).
    expect(streamKeyOf(mkPages('x', [{ url: 'https://a.example/' }]))).not.toBe(streamKeyOf(mk('x')));
  });

  it("a page's render key is its url and browser options, not how long or when it shows", () => {
    const [a, b] = [streamInputOf(mkPages('a', pages, spec)).pages!, streamInputOf(mkPages('b', pages.map((p) => ({ ...p, for: '2m', schedule: morning })), spec)).pages!];
    expect(a.map(pageRenderKey)).toEqual(b.map(pageRenderKey));
    const page: PageInput = a[0]!;
    expect(pageRenderKey({ ...page, url: 'https://ha.example/other' })).not.toBe(pageRenderKey(page));
    expect(pageRenderKey({ ...page, browser: { ...page.browser, zoom: 3 } })).not.toBe(pageRenderKey(page));
    expect(pageRenderKey(a[0]!)).not.toBe(pageRenderKey(a[1]!));
  });

  it('changing pages re-renders; changing the zone of a rotation re-renders, of a url spec not', () => {
    expect(diffSpecs(mkPages('a', pages, spec), mkPages('a', pages.slice(1), spec))).toEqual({ stream: true, cast: false, live: false });
    expect(diffSpecs(mkPages('a', pages, spec), mkPages('a', pages, { ...spec, schedule: { timezone: 'UTC' } }))).toEqual({ stream: true, cast: false, live: false });
    expect(diffSpecs(mk('a', { schedule: { timezone: 'Europe/Berlin' } }), mk('a', { schedule: { timezone: 'UTC' } }))).toEqual({ stream: false, cast: false, live: true });
  });
});
