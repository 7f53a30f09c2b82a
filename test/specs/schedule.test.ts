import { describe, expect, it } from 'vitest';
import { describeNext, intersectIntervals, isActive, nextChange, schedulesOverlap, windowIntervals } from '../../specs/schedule.js';
import { Schedule } from '../../specs/schema.js';

const sched = (timezone: string, ...windows: Array<[string[] | undefined, string, string]>) =>
  Schedule.parse({ timezone, windows: windows.map(([days, start, end]) => (days ? { days, start, end } : { start, end })) });

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
const iso = (d: Date | undefined) => d?.toISOString();

describe('isActive', () => {
  const office = sched('Europe/Berlin', [WEEKDAYS, '07:00', '18:00']);
  const night = sched('UTC', [['fri'], '22:00', '06:00']);
  const evening = sched('UTC', [['mon'], '20:00', '24:00']);
  // 2026-03-29 (sun): Berlin skips 02:00–03:00 CET→CEST at 01:00Z.
  const springSkipStart = sched('Europe/Berlin', [['sun'], '02:30', '05:00']);
  const springAcross = sched('Europe/Berlin', [['sun'], '01:00', '04:00']);
  const inGap = sched('Europe/Berlin', [['sun'], '02:10', '02:40']);
  // 2026-10-25 (sun): Berlin repeats 02:00–03:00 (CEST→CET at 01:00Z).
  const fallStart = sched('Europe/Berlin', [['sun'], '02:30', '04:00']);
  const fallEnd = sched('Europe/Berlin', [['sun'], '00:00', '02:30']);
  // 2026-11-01 (sun): New York repeats 01:00–02:00 (EDT→EST at 06:00Z).
  const nyFall = sched('America/New_York', [['sun'], '01:30', '03:00']);
  // 2026-03-08 (sun): New York skips 02:00–03:00 at 07:00Z.
  const nySpring = sched('America/New_York', [['sun'], '02:15', '03:30']);

  it.each([
    ['weekday morning', office, '2026-03-18T06:00:00Z', true], // wed 07:00 CET
    ['weekday before start', office, '2026-03-18T05:59:59Z', false],
    ['weekday end is exclusive', office, '2026-03-18T17:00:00Z', false], // 18:00 CET
    ['weekday summer time', office, '2026-06-17T05:00:00Z', true], // 07:00 CEST
    ['weekday summer before', office, '2026-06-17T04:59:00Z', false],
    ['saturday', office, '2026-03-21T10:00:00Z', false],
    ['cross-midnight runs into saturday', night, '2026-03-21T05:59:00Z', true],
    ['cross-midnight ends saturday 06:00', night, '2026-03-21T06:00:00Z', false],
    ['cross-midnight starts friday', night, '2026-03-20T22:00:00Z', true],
    ['cross-midnight not before friday', night, '2026-03-20T21:59:00Z', false],
    ['cross-midnight belongs to the start day', night, '2026-03-22T05:00:00Z', false], // sun morning
    ['24:00 end includes 23:59', evening, '2026-03-16T23:59:59Z', true],
    ['24:00 end excludes midnight', evening, '2026-03-17T00:00:00Z', false],
    ['skipped start begins at transition', springSkipStart, '2026-03-29T01:00:00Z', true], // 03:00 CEST
    ['skipped start not before transition', springSkipStart, '2026-03-29T00:59:59Z', false],
    ['window across the gap: start', springAcross, '2026-03-29T00:00:00Z', true], // 01:00 CET
    ['window across the gap: end 04:00 CEST', springAcross, '2026-03-29T01:59:59Z', true],
    ['window across the gap: after end', springAcross, '2026-03-29T02:00:00Z', false],
    ['window inside the gap never happens', inGap, '2026-03-29T01:00:00Z', false],
    ['window inside the gap happens the next week', inGap, '2026-04-05T00:20:00Z', true], // 02:20 CEST
    ['repeated hour: start at first occurrence', fallStart, '2026-10-25T00:30:00Z', true], // 02:30 CEST
    ['repeated hour: not before first occurrence', fallStart, '2026-10-25T00:29:00Z', false],
    ['repeated hour: through the second 02:30', fallStart, '2026-10-25T01:30:00Z', true], // 02:30 CET
    ['repeated hour: ends 04:00 CET', fallStart, '2026-10-25T03:00:00Z', false],
    ['repeated hour: end at first occurrence', fallEnd, '2026-10-25T00:29:59Z', true],
    ['repeated hour: ended at first 02:30', fallEnd, '2026-10-25T00:30:00Z', false],
    ['repeated hour: still ended at second 02:30', fallEnd, '2026-10-25T01:30:00Z', false],
    ['new york fall back: first 01:30 EDT', nyFall, '2026-11-01T05:30:00Z', true],
    ['new york fall back: before', nyFall, '2026-11-01T05:29:00Z', false],
    ['new york fall back: ends 03:00 EST', nyFall, '2026-11-01T07:59:00Z', true],
    ['new york fall back: after', nyFall, '2026-11-01T08:00:00Z', false],
    ['new york spring: skipped start at 03:00 EDT', nySpring, '2026-03-08T07:00:00Z', true],
    ['new york spring: before transition', nySpring, '2026-03-08T06:59:00Z', false],
    ['new york spring: ends 03:30 EDT', nySpring, '2026-03-08T07:30:00Z', false],
  ])('%s', (_name, schedule, at, expected) => {
    expect(isActive(schedule, new Date(at))).toBe(expected);
  });

  it('no schedule is always on', () => {
    expect(isActive(undefined, new Date())).toBe(true);
    expect(nextChange(undefined, new Date())).toBeUndefined();
  });

  it('a schedule with a zone and no windows is always on', () => {
    const zoneOnly = Schedule.parse({ timezone: 'Europe/Berlin' });
    expect(zoneOnly).toEqual({ timezone: 'Europe/Berlin' });
    expect(isActive(zoneOnly, new Date('2026-03-29T01:30:00Z'))).toBe(true);
    expect(nextChange(zoneOnly, new Date('2026-03-29T01:30:00Z'))).toBeUndefined();
    expect(describeNext(zoneOnly, new Date())).toBe('always on');
    const from = Date.parse('2026-03-16T00:00:00Z');
    expect(schedulesOverlap(zoneOnly, sched('UTC', [['tue'], '10:00', '11:00']), from, from + 8 * 86_400_000)).toEqual({
      start: Date.parse('2026-03-17T10:00:00Z'),
      end: Date.parse('2026-03-17T11:00:00Z'),
    });
  });
});

describe('nextChange', () => {
  it.each([
    ['UTC weekday start', sched('UTC', [WEEKDAYS, '09:00', '17:00']), '2026-03-16T08:00:00Z', '2026-03-16T09:00:00.000Z'],
    ['UTC weekday end', sched('UTC', [WEEKDAYS, '09:00', '17:00']), '2026-03-16T09:00:00Z', '2026-03-16T17:00:00.000Z'],
    ['friday evening waits for monday', sched('UTC', [WEEKDAYS, '09:00', '17:00']), '2026-03-20T17:00:00Z', '2026-03-23T09:00:00.000Z'],
    ['touching windows merge across midnight', sched('UTC', [['mon'], '22:00', '24:00'], [['tue'], '00:00', '06:00']), '2026-03-16T23:00:00Z', '2026-03-17T06:00:00.000Z'],
    ['overlapping windows merge', sched('UTC', [undefined, '08:00', '12:00'], [undefined, '11:00', '13:00']), '2026-03-16T09:00:00Z', '2026-03-16T13:00:00.000Z'],
    ['skipped hour start', sched('Europe/Berlin', [['sun'], '02:30', '05:00']), '2026-03-28T12:00:00Z', '2026-03-29T01:00:00.000Z'],
    ['repeated hour end', sched('Europe/Berlin', [['sun'], '00:00', '02:30']), '2026-10-24T23:00:00Z', '2026-10-25T00:30:00.000Z'],
    ['cross-midnight into the fall-back night', sched('Europe/Berlin', [['sat'], '22:00', '03:30']), '2026-10-24T21:00:00Z', '2026-10-25T02:30:00.000Z'],
  ])('%s', (_name, schedule, at, expected) => {
    expect(iso(nextChange(schedule, new Date(at)))).toBe(expected);
  });

  it('is undefined when the windows cover every instant', () => {
    const always = sched('Europe/Berlin', [undefined, '00:00', '24:00']);
    expect(isActive(always, new Date('2026-03-29T01:30:00Z'))).toBe(true);
    expect(nextChange(always, new Date('2026-03-29T01:30:00Z'))).toBeUndefined();
    const overnight = sched('America/New_York', [undefined, '06:00', '06:00'.replace('06:00', '05:59')], [undefined, '05:59', '06:00']);
    expect(nextChange(overnight, new Date('2026-11-01T12:00:00Z'))).toBeUndefined();
    // At a local midnight too: the horizon ends where a window starts, which is not a change.
    expect(nextChange(sched('UTC', [undefined, '00:00', '24:00']), new Date('2026-03-16T00:00:00Z'))).toBeUndefined();
  });

  it('chains over a DST week to exactly the expected boundaries', () => {
    const s = sched('Europe/Berlin', [WEEKDAYS, '07:00', '18:00'], [['sat'], '22:00', '02:30'], [['sun'], '23:00', '24:00']);
    const from = new Date('2026-03-23T00:00:00Z'); // mon 01:00 CET; the week before spring forward
    const seen: string[] = [];
    let at: Date | undefined = new Date('2026-03-22T22:30:00Z'); // sun 23:30 CET, on
    while (at && at.getTime() < from.getTime() + 8 * 86_400_000) {
      at = nextChange(s, at);
      if (at && at.getTime() < from.getTime() + 8 * 86_400_000) seen.push(at.toISOString().slice(0, 16));
    }
    expect(seen).toEqual([
      '2026-03-22T23:00', // sun 23:00–24:00 CET ends mon 00:00 CET
      '2026-03-23T06:00', '2026-03-23T17:00',
      '2026-03-24T06:00', '2026-03-24T17:00',
      '2026-03-25T06:00', '2026-03-25T17:00',
      '2026-03-26T06:00', '2026-03-26T17:00',
      '2026-03-27T06:00', '2026-03-27T17:00',
      '2026-03-28T21:00', // sat 22:00 CET
      '2026-03-29T01:00', // sun 02:30 is skipped: ends at the transition (03:00 CEST)
      '2026-03-29T21:00', '2026-03-29T22:00', // sun 23:00–24:00 CEST
      '2026-03-30T05:00', '2026-03-30T16:00', // mon 07:00–18:00 CEST
    ]);
  });

  it('agrees with isActive sampled every 5 minutes over a fall-back week in New York', () => {
    const s = sched('America/New_York', [['sat', 'sun'], '23:30', '01:30'], [WEEKDAYS, '08:00', '17:00']);
    const start = Date.parse('2026-10-30T00:00:00Z');
    const flips: string[] = [];
    let prev = isActive(s, new Date(start));
    for (let t = start; t < start + 7 * 86_400_000; t += 5 * 60_000) {
      const now = isActive(s, new Date(t));
      if (now !== prev) flips.push(new Date(t).toISOString());
      prev = now;
    }
    const chained: string[] = [];
    let at: Date | undefined = new Date(start);
    for (;;) {
      at = nextChange(s, at);
      if (!at || at.getTime() >= start + 7 * 86_400_000) break;
      chained.push(at.toISOString());
    }
    expect(chained).toEqual(flips);
    expect(chained).toContain('2026-11-01T05:30:00.000Z'); // sat 23:30 → sun 01:30: the first 01:30 (EDT)
    expect(chained).toContain('2026-11-02T04:30:00.000Z'); // sun 23:30 EST
  });
});

describe('describeNext and overlap', () => {
  it('describes the next change in the schedule zone', () => {
    const s = sched('Europe/Berlin', [WEEKDAYS, '07:00', '18:00']);
    expect(describeNext(s, new Date('2026-03-20T12:00:00Z'))).toBe('on until Fri 18:00 Europe/Berlin');
    expect(describeNext(s, new Date('2026-03-20T18:00:00Z'))).toBe('off until Mon 07:00 Europe/Berlin');
    expect(describeNext(undefined, new Date())).toBe('always on');
  });

  it('finds overlaps across zones and none for disjoint windows', () => {
    const from = Date.parse('2026-03-16T00:00:00Z');
    const to = from + 8 * 86_400_000;
    const berlinMorning = sched('Europe/Berlin', [WEEKDAYS, '07:00', '12:00']);
    const berlinAfternoon = sched('Europe/Berlin', [WEEKDAYS, '12:00', '18:00']);
    const londonMorning = sched('Europe/London', [WEEKDAYS, '06:00', '11:30']); // 07:00–12:30 Berlin
    expect(schedulesOverlap(berlinMorning, berlinAfternoon, from, to)).toBeUndefined();
    expect(schedulesOverlap(berlinAfternoon, londonMorning, from, to)).toEqual({
      start: Date.parse('2026-03-16T11:00:00Z'),
      end: Date.parse('2026-03-16T11:30:00Z'),
    });
    expect(schedulesOverlap(undefined, berlinMorning, from, to)?.start).toBe(Date.parse('2026-03-16T06:00:00Z'));
  });
});

describe('interval helpers', () => {
  const t = (hhmm: string, day = 16) => Date.parse(`2026-03-${day}T${hhmm}:00Z`);

  it('windowIntervals: windows in a zone, merged, not clipped', () => {
    const windows = [
      { days: ['mon' as const], start: '22:00', end: '02:00' },
      { days: ['tue' as const], start: '01:00', end: '03:00' },
    ];
    expect(windowIntervals('UTC', windows, t('23:00'), t('01:30', 17))).toEqual([{ start: t('22:00'), end: t('03:00', 17) }]);
    expect(windowIntervals('Europe/Berlin', windows, t('23:00'), t('01:30', 17))).toEqual([{ start: t('21:00'), end: t('02:00', 17) }]);
    // Only windows that touch the range: the tuesday one starts after it, so it is not merged in.
    expect(windowIntervals('UTC', windows, t('23:00'), t('23:30'))).toEqual([{ start: t('22:00'), end: t('02:00', 17) }]);
  });

  it('intersectIntervals: where both lists are on', () => {
    const a = [{ start: 0, end: 10 }, { start: 20, end: 30 }];
    const b = [{ start: 5, end: 25 }, { start: 28, end: 40 }];
    expect(intersectIntervals(a, b)).toEqual([{ start: 5, end: 10 }, { start: 20, end: 25 }, { start: 28, end: 30 }]);
    expect(intersectIntervals(a, [{ start: 10, end: 20 }])).toEqual([]);
    expect(intersectIntervals(a, [])).toEqual([]);
  });
});
