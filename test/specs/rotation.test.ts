import { describe, expect, it } from 'vitest';
import { nextRotationChange, pagesInRotation, specActive, specIntervals, specNextChange, type RotationPage } from '../../specs/rotation.js';
import { CastSpecSchema, ScheduleWindow, type CastSpecBody } from '../../specs/schema.js';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
const win = (days: string[] | undefined, start: string, end: string) => ScheduleWindow.parse(days ? { days, start, end } : { start, end });
const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();

// 2026-03-16 is a Monday; Berlin is on CET (UTC+1) until 2026-03-29.
const home: RotationPage = {};
const grafana: RotationPage = {};
const morning: RotationPage = { windows: [win(WEEKDAYS, '06:30', '09:00')] };
const lateFriday: RotationPage = { windows: [win(['fri'], '22:00', '02:00')] }; // runs into saturday
const dashboard = [home, grafana, morning, lateFriday];

describe('pagesInRotation', () => {
  it.each([
    ['a weekday morning: the morning page alone', '2026-03-16T06:00:00Z', [2]], // mon 07:00 CET
    ['its window starts inclusive', '2026-03-16T05:30:00Z', [2]],
    ['just before it', '2026-03-16T05:29:59Z', [0, 1]],
    ['its end is exclusive: back to the pages without a schedule', '2026-03-16T08:00:00Z', [0, 1]],
    ['a weekday afternoon', '2026-03-16T13:00:00Z', [0, 1]],
    ['friday late', '2026-03-20T21:00:00Z', [3]], // fri 22:00 CET
    ['after midnight, the friday window still on', '2026-03-21T00:59:59Z', [3]], // sat 01:59:59 CET
    ['its end on saturday', '2026-03-21T01:00:00Z', [0, 1]],
    ['saturday morning: no morning page', '2026-03-21T06:00:00Z', [0, 1]],
    ['sunday night: the friday window belongs to friday', '2026-03-22T23:30:00Z', [0, 1]],
  ])('%s', (_n, when, expected) => {
    expect(pagesInRotation(dashboard, 'Europe/Berlin', at(when))).toEqual(expected);
  });

  it('scheduled pages in their windows rotate together, in order', () => {
    const lunch: RotationPage = { windows: [win(undefined, '08:00', '12:00')] };
    expect(pagesInRotation([lunch, home, morning], 'Europe/Berlin', at('2026-03-16T07:30:00Z'))).toEqual([0, 2]); // 08:30 CET
    expect(pagesInRotation([lunch, home, morning], 'Europe/Berlin', at('2026-03-16T08:30:00Z'))).toEqual([0]);
  });

  it('no page with a schedule: all pages; one page without: it alone', () => {
    expect(pagesInRotation([home, grafana, {}], 'UTC', at('2026-03-16T12:00:00Z'))).toEqual([0, 1, 2]);
    expect(pagesInRotation([morning, home], 'UTC', at('2026-03-16T12:00:00Z'))).toEqual([1]);
  });

  it('every page scheduled and none in its window: nothing', () => {
    expect(pagesInRotation([morning, lateFriday], 'Europe/Berlin', at('2026-03-16T12:00:00Z'))).toEqual([]);
    expect(pagesInRotation([morning, lateFriday], 'Europe/Berlin', at('2026-03-16T06:00:00Z'))).toEqual([0]);
  });

  it('reads windows in the zone given', () => {
    const t = at('2026-03-16T06:00:00Z'); // 07:00 Berlin, 06:00 London, 02:00 New York (EDT since 03-08)
    expect(pagesInRotation(dashboard, 'Europe/Berlin', t)).toEqual([2]);
    expect(pagesInRotation(dashboard, 'Europe/London', t)).toEqual([0, 1]);
    expect(pagesInRotation(dashboard, 'America/New_York', at('2026-03-16T11:00:00Z'))).toEqual([2]); // 07:00 EDT
    expect(pagesInRotation(dashboard, 'America/New_York', at('2026-03-16T10:29:00Z'))).toEqual([0, 1]); // 06:29 EDT
  });
});

describe('nextRotationChange', () => {
  it.each([
    ['the morning window opening', '2026-03-16T05:00:00Z', '2026-03-16T05:30:00.000Z'],
    ['the morning window closing', '2026-03-16T06:00:00Z', '2026-03-16T08:00:00.000Z'],
    ['from a boundary, the next one', '2026-03-16T05:30:00Z', '2026-03-16T08:00:00.000Z'],
    ['friday afternoon: the late window', '2026-03-20T12:00:00Z', '2026-03-20T21:00:00.000Z'],
    ['friday late: its end after midnight', '2026-03-20T21:00:00Z', '2026-03-21T01:00:00.000Z'],
    ['saturday: monday morning', '2026-03-21T12:00:00Z', '2026-03-23T05:30:00.000Z'],
  ])('%s', (_n, from, expected) => {
    expect(iso(nextRotationChange(dashboard, 'Europe/Berlin', at(from)))).toBe(expected);
  });

  it('never, without scheduled pages or when their windows never close', () => {
    expect(nextRotationChange([home, grafana], 'UTC', at('2026-03-16T12:00:00Z'))).toBeUndefined();
    expect(nextRotationChange([{ windows: [win(undefined, '00:00', '24:00')] }, home], 'Europe/Berlin', at('2026-03-16T23:00:00Z'))).toBeUndefined();
  });

  it('agrees with pagesInRotation sampled every 5 minutes over the spring-forward week in Berlin', () => {
    const pages: RotationPage[] = [home, morning, lateFriday, { windows: [win(['sun'], '01:00', '04:00'), win(['sat', 'sun'], '23:30', '00:30')] }];
    const start = Date.parse('2026-03-23T00:00:00Z');
    const end = start + 7 * 86_400_000; // over 2026-03-29, when 02:00 CET becomes 03:00 CEST
    const key = (t: number) => pagesInRotation(pages, 'Europe/Berlin', new Date(t)).join(',');
    const flips: string[] = [];
    for (let t = start + 5 * 60_000; t < end; t += 5 * 60_000) if (key(t) !== key(t - 5 * 60_000)) flips.push(new Date(t).toISOString());
    const chained: string[] = [];
    for (let next = nextRotationChange(pages, 'Europe/Berlin', new Date(start)); next && next.getTime() < end; next = nextRotationChange(pages, 'Europe/Berlin', next)) {
      chained.push(next.toISOString());
    }
    expect(chained).toEqual(flips);
    expect(chained).toContain('2026-03-29T00:00:00.000Z'); // sun 01:00 CET
    expect(chained).toContain('2026-03-29T02:00:00.000Z'); // sun 04:00 CEST
  });
});

describe('a spec within its schedule', () => {
  const body = (spec: Record<string, unknown>): CastSpecBody =>
    CastSpecSchema.parse({ apiVersion: 'pagecast/v1', kind: 'CastSpec', metadata: { name: 'k' }, spec: { device: 'TV', ...spec } }).spec;
  const page = (url: string, windows?: Array<{ days?: string[]; start: string; end: string }>) => ({ url, ...(windows && { schedule: { windows } }) });

  it('a url spec: its own schedule, as before', () => {
    const s = body({ url: 'https://a.example/', schedule: { windows: [{ start: '09:00', end: '17:00' }] } });
    expect(specActive(s, at('2026-03-16T08:59:00Z'))).toBe(false);
    expect(iso(specNextChange(s, at('2026-03-16T08:59:00Z')))).toBe('2026-03-16T09:00:00.000Z');
    expect(specActive(body({ url: 'https://a.example/' }), at('2026-03-16T08:59:00Z'))).toBe(true);
    expect(specNextChange(body({ url: 'https://a.example/' }), at('2026-03-16T08:59:00Z'))).toBeUndefined();
  });

  it('a schedule with only a zone is always on', () => {
    const s = body({ url: 'https://a.example/', schedule: { timezone: 'Europe/Berlin' } });
    expect(specActive(s, at('2026-03-16T03:00:00Z'))).toBe(true);
    expect(specNextChange(s, at('2026-03-16T03:00:00Z'))).toBeUndefined();
  });

  it('every page scheduled: on only while one is in its window, in the spec zone', () => {
    const s = body({
      schedule: { timezone: 'Europe/Berlin' },
      pages: [page('https://a.example/', [{ days: WEEKDAYS, start: '07:00', end: '09:00' }]), page('https://b.example/', [{ days: WEEKDAYS, start: '08:30', end: '10:00' }])],
    });
    expect(specActive(s, at('2026-03-16T05:59:00Z'))).toBe(false); // 06:59 CET
    expect(iso(specNextChange(s, at('2026-03-16T05:59:00Z')))).toBe('2026-03-16T06:00:00.000Z');
    expect(specActive(s, at('2026-03-16T06:00:00Z'))).toBe(true);
    // The two windows touch through 08:30–09:00: one stretch, 07:00–10:00 CET.
    expect(iso(specNextChange(s, at('2026-03-16T06:00:00Z')))).toBe('2026-03-16T09:00:00.000Z');
    expect(specActive(s, at('2026-03-16T09:00:00Z'))).toBe(false);
    expect(iso(specNextChange(s, at('2026-03-20T09:00:00Z')))).toBe('2026-03-23T06:00:00.000Z'); // friday → monday
  });

  it("every page scheduled and the spec's own windows: both", () => {
    const s = body({
      schedule: { timezone: 'UTC', windows: [{ start: '08:00', end: '18:00' }] },
      pages: [page('https://a.example/', [{ start: '07:00', end: '09:00' }, { start: '17:00', end: '20:00' }])],
    });
    const from = Date.parse('2026-03-16T00:00:00Z');
    expect(specIntervals(s, from, from + 86_400_000).filter((iv) => iv.end > from && iv.start < from + 86_400_000)).toEqual([
      { start: Date.parse('2026-03-16T08:00:00Z'), end: Date.parse('2026-03-16T09:00:00Z') },
      { start: Date.parse('2026-03-16T17:00:00Z'), end: Date.parse('2026-03-16T18:00:00Z') },
    ]);
    expect(specActive(s, at('2026-03-16T07:30:00Z'))).toBe(false);
    expect(specActive(s, at('2026-03-16T08:30:00Z'))).toBe(true);
    expect(specActive(s, at('2026-03-16T12:00:00Z'))).toBe(false);
    expect(iso(specNextChange(s, at('2026-03-16T12:00:00Z')))).toBe('2026-03-16T17:00:00.000Z');
    expect(iso(specNextChange(s, at('2026-03-16T17:00:00Z')))).toBe('2026-03-16T18:00:00.000Z');
  });

  it('a page without a schedule keeps the spec on: its own schedule alone decides', () => {
    const s = body({ pages: [page('https://a.example/', [{ start: '07:00', end: '09:00' }]), page('https://b.example/')] });
    expect(specActive(s, at('2026-03-16T12:00:00Z'))).toBe(true);
    expect(specNextChange(s, at('2026-03-16T12:00:00Z'))).toBeUndefined();
  });
});
