// Schedule windows as concrete instants. Pure: no timers, no clock reads; the caller passes `at`.
//
// A window belongs to the local day it STARTS on; an `end` at or before `start` runs into the
// next day (fri 22:00–06:00 ends sat 06:00), and `24:00` means the next midnight.
//
// One rule maps a wall-clock time on a local date to an instant: the FIRST instant at which the
// zone's clock shows that time or later. Consequences, chosen on purpose:
//  - skipped hour (spring forward): 02:30 does not exist, so it means the transition instant
//    (03:00 in Europe/Berlin), for starts and ends alike; a window lying wholly inside the gap
//    does not happen that day.
//  - repeated hour (fall back): 02:30 happens twice; starts AND ends use the first occurrence,
//    so a window ending at 02:30 ends the first time the clock reads 02:30.
// Overlapping or touching windows merge, so the active state only flips at real boundaries.
// A schedule without windows is always on (it only names the zone for the windows of its pages).
import { IANAZone } from 'luxon';
import { DAYS, type Schedule, type ScheduleWindow } from './schema.js';

export interface Interval {
  start: number; // epoch ms, inclusive
  end: number; // epoch ms, exclusive
}

const MINUTE = 60_000;
const DAY = 86_400_000;
/** How far ahead nextChange looks before deciding a schedule is always on (a week + DST slack). */
export const HORIZON_MS = 8 * DAY;

/** Offset of the zone at an instant, in ms. */
function offsetMs(zone: IANAZone, ts: number): number {
  return zone.offset(ts) * MINUTE;
}

/** The first instant at which the zone's clock reads `wall` (local time as if it were UTC) or later. */
export function wallToInstant(zone: IANAZone, wall: number): number {
  const before = offsetMs(zone, wall - DAY);
  const after = offsetMs(zone, wall + DAY);
  // Fast path: no transition nearby (one more lookup confirms it).
  if (before === after && offsetMs(zone, wall - before) === before) return wall - before;
  const valid = [wall - before, wall - after].filter((ts) => offsetMs(zone, ts) === wall - ts);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: find the transition between the two candidate instants (binary search to the ms).
  let lo = Math.min(wall - before, wall - after);
  let hi = Math.max(wall - before, wall - after);
  const loOffset = offsetMs(zone, lo);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetMs(zone, mid) === loOffset) lo = mid;
    else hi = mid;
  }
  return hi;
}

function clockMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/** Local midnight (as a wall value, ms) of the local day containing `ts`. */
function localDayStart(zone: IANAZone, ts: number): number {
  const wall = ts + offsetMs(zone, ts);
  return Math.floor(wall / DAY) * DAY;
}

function windowOn(zone: IANAZone, dayWall: number, w: ScheduleWindow, fixedOffset: number | undefined): Interval | undefined {
  const startMin = clockMinutes(w.start);
  const endMin = clockMinutes(w.end);
  const startWall = dayWall + startMin * MINUTE;
  const endWall = endMin > startMin ? dayWall + endMin * MINUTE : dayWall + DAY + endMin * MINUTE;
  if (fixedOffset !== undefined) return { start: startWall - fixedOffset, end: endWall - fixedOffset };
  const start = wallToInstant(zone, startWall);
  const end = wallToInstant(zone, endWall);
  return end > start ? { start, end } : undefined;
}

/**
 * The schedule's merged active intervals that touch [from, to). Intervals are not clipped, so a
 * window that started before `from` keeps its real start; a schedule without windows is one
 * interval, [from, to).
 */
export function intervalsBetween(schedule: Schedule, from: number, to: number): Interval[] {
  return schedule.windows ? windowIntervals(schedule.timezone, schedule.windows, from, to) : [{ start: from, end: to }];
}

/** The merged intervals of windows in a zone that touch [from, to), not clipped. */
export function windowIntervals(timezone: string, windows: ReadonlyArray<ScheduleWindow>, from: number, to: number): Interval[] {
  const zone = IANAZone.create(timezone);
  const raw: Interval[] = [];
  // A window lasts under 25 h (23:59 plus a DST hour), so one that starts two local days before
  // `from` has ended by then; one starting the local day after `to` starts after `to`.
  const first = localDayStart(zone, from) - DAY;
  const last = localDayStart(zone, to);
  // Offset lookups dominate the cost; consecutive days share their probe points.
  const probes = new Map<number, number>();
  const probe = (ts: number) => {
    let o = probes.get(ts);
    if (o === undefined) probes.set(ts, (o = offsetMs(zone, ts)));
    return o;
  };
  for (let day = first; day <= last; day += DAY) {
    const weekday = DAYS[(new Date(day).getUTCDay() + 6) % 7]!; // getUTCDay: 0 = sunday
    const today = windows.filter((w) => w.days.includes(weekday));
    if (today.length === 0) continue;
    // A window starting this day lies within [day - 1 day, day + 3 days] as instants. The same
    // offset at both ends means no transition in between (no zone changes its offset twice
    // within four days and comes back), so every wall time maps with that one offset.
    const before = probe(day - DAY);
    const fixed = before === probe(day + 3 * DAY) ? before : undefined;
    for (const w of today) {
      const iv = windowOn(zone, day, w, fixed);
      if (iv && iv.end > from && iv.start < to) raw.push(iv);
    }
  }
  return mergeIntervals(raw);
}

/** Sorts and merges overlapping or touching intervals. */
export function mergeIntervals(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const lastIv = out[out.length - 1];
    if (lastIv && iv.start <= lastIv.end) lastIv.end = Math.max(lastIv.end, iv.end);
    else out.push({ ...iv });
  }
  return out;
}

/** Whether the schedule is on at `at`. No schedule (or no windows) means always on. */
export function isActive(schedule: Schedule | undefined, at: Date): boolean {
  if (!schedule?.windows) return true;
  return windowsActive(schedule.timezone, schedule.windows, at.getTime());
}

/** Whether one of the windows (in the zone) contains the instant `t`. */
export function windowsActive(timezone: string, windows: ReadonlyArray<ScheduleWindow>, t: number): boolean {
  return contains(windowIntervals(timezone, windows, t, t + 1), t);
}

/** Whether one of the intervals contains the instant `t`. */
export function contains(intervals: ReadonlyArray<Interval>, t: number): boolean {
  return intervals.some((iv) => iv.start <= t && t < iv.end);
}

/** The next instant after `at` at which isActive flips; undefined when the schedule is always on. */
export function nextChange(schedule: Schedule | undefined, at: Date): Date | undefined {
  if (!schedule?.windows) return undefined;
  const t = at.getTime();
  return nextFlip(windowIntervals(schedule.timezone, schedule.windows, t, t + HORIZON_MS), t);
}

/**
 * The first boundary after `t` of merged intervals computed over [t, t + HORIZON_MS), or
 * undefined when the intervals cover the whole horizon (a weekly pattern on for 8 days straight
 * is always on). An end at the horizon is where the computation stopped, not a real boundary.
 */
export function nextFlip(intervals: ReadonlyArray<Interval>, t: number): Date | undefined {
  const horizon = t + HORIZON_MS;
  for (const iv of intervals) {
    if (iv.end <= t) continue;
    if (iv.start > t) return iv.start < horizon ? new Date(iv.start) : undefined;
    return iv.end >= horizon ? undefined : new Date(iv.end);
  }
  return undefined; // never on in the horizon: a valid schedule has a window every week
}

/** "on until Mon 18:00 Europe/Berlin" / "off until Tue 07:00 Europe/Berlin" / "always on". */
export function describeNext(schedule: Schedule | undefined, at: Date): string {
  const next = nextChange(schedule, at);
  if (!schedule || !next) return 'always on';
  const when = new Intl.DateTimeFormat('en-GB', {
    timeZone: schedule.timezone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(next);
  return `${isActive(schedule, at) ? 'on' : 'off'} until ${when} ${schedule.timezone}`;
}

/** Whether two schedules are both on at some instant in [from, to). Absent means always on. */
export function schedulesOverlap(a: Schedule | undefined, b: Schedule | undefined, from: number, to: number): Interval | undefined {
  return firstOverlap(activeIntervals(a, from, to), activeIntervals(b, from, to), from, to);
}

/** When a schedule is on between `from` and `to` (no schedule: all of it). */
export function activeIntervals(schedule: Schedule | undefined, from: number, to: number): Interval[] {
  return schedule ? intervalsBetween(schedule, from, to) : [{ start: from, end: to }];
}

/** Where two sorted, merged interval lists are both on. */
export function intersectIntervals(ia: ReadonlyArray<Interval>, ib: ReadonlyArray<Interval>): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < ia.length && j < ib.length) {
    const x = ia[i]!;
    const y = ib[j]!;
    const start = Math.max(x.start, y.start);
    const end = Math.min(x.end, y.end);
    if (start < end) out.push({ start, end });
    if (x.end < y.end) i++;
    else j++;
  }
  return out;
}

/** The first stretch two sorted interval lists share, if any. */
export function firstOverlap(ia: ReadonlyArray<Interval>, ib: ReadonlyArray<Interval>, from: number, to: number): Interval | undefined {
  let i = 0;
  let j = 0;
  while (i < ia.length && j < ib.length) {
    const x = ia[i]!;
    const y = ib[j]!;
    const start = Math.max(x.start, y.start, from);
    const end = Math.min(x.end, y.end, to);
    if (start < end) return { start, end };
    if (x.end < y.end) i++;
    else j++;
  }
  return undefined;
}
