// Page rotation: which pages of a `pages` spec are in the rotation at an instant, and when that
// set changes. Pure, like schedule.ts: the caller passes the instant.
//
// Pages without a schedule are the default set. A scheduled page takes the screen while one of
// its windows is on: the scheduled pages in their windows rotate, and only they. When none is,
// the default set rotates (one page simply shows). When every page has a schedule and none is
// in its window, nothing is in the rotation: the spec behaves as outside its schedule.
import { contains, HORIZON_MS, intersectIntervals, intervalsBetween, mergeIntervals, nextFlip, windowIntervals, windowsActive, type Interval } from './schedule.js';
import type { CastSpecBody, ScheduleWindow } from './schema.js';

/** What rotation needs of a page: its windows, if it has any (a PageInput is one). */
export interface RotationPage {
  windows?: ReadonlyArray<ScheduleWindow>;
}

/** The pages of a spec body as rotation sees them (single-url specs: none). */
function rotationPagesOf(body: CastSpecBody): RotationPage[] {
  return (body.pages ?? []).map((p) => (p.schedule ? { windows: p.schedule.windows } : {}));
}

function rotationAt(pages: ReadonlyArray<RotationPage>, on: (i: number) => boolean): number[] {
  const scheduled: number[] = [];
  const unscheduled: number[] = [];
  pages.forEach((p, i) => (p.windows ? scheduled : unscheduled).push(i));
  const inWindow = scheduled.filter(on);
  return inWindow.length > 0 ? inWindow : unscheduled;
}

/** The indices of the pages in the rotation at `at`, in order; [] when none is. */
export function pagesInRotation(pages: ReadonlyArray<RotationPage>, timezone: string, at: Date): number[] {
  const t = at.getTime();
  return rotationAt(pages, (i) => windowsActive(timezone, pages[i]!.windows!, t));
}

/** The next instant after `from` at which pagesInRotation changes; undefined if it never does. */
export function nextRotationChange(pages: ReadonlyArray<RotationPage>, timezone: string, from: Date): Date | undefined {
  const t = from.getTime();
  const horizon = t + HORIZON_MS;
  const intervals = pages.map((p) => (p.windows ? windowIntervals(timezone, p.windows, t, horizon) : []));
  // Only a page's own boundary can change the set; an end at or past the horizon is where the
  // computation stopped (a weekly pattern has a real boundary well before it).
  const boundaries = [...new Set(intervals.flat().flatMap((iv) => [iv.start, iv.end]))].filter((b) => b > t && b < horizon).sort((a, b) => a - b);
  const setAt = (at: number) => rotationAt(pages, (i) => contains(intervals[i]!, at)).join(',');
  const now = setAt(t);
  const next = boundaries.find((b) => setAt(b) !== now);
  return next === undefined ? undefined : new Date(next);
}

/**
 * When a spec is on, as intervals over [from, to): its own schedule (none, or no windows: all of
 * it) and, for a pages spec whose every page has a schedule, while some page is in its window.
 * Merged and sorted; the bounds may lie outside [from, to).
 */
export function specIntervals(body: CastSpecBody, from: number, to: number): Interval[] {
  const own = body.schedule ? intervalsBetween(body.schedule, from, to) : [{ start: from, end: to }];
  const pages = rotationPagesOf(body);
  if (pages.length === 0 || pages.some((p) => !p.windows)) return own;
  const timezone = body.schedule?.timezone ?? 'UTC';
  const anyPage = mergeIntervals(pages.flatMap((p) => windowIntervals(timezone, p.windows!, from, to)));
  return intersectIntervals(own, anyPage);
}

/**
 * Whether the spec is within its schedule at `at`: its own windows, and some page in the
 * rotation. What the planner asks; a spec outside it is Scheduled.
 */
export function specActive(body: CastSpecBody, at: Date): boolean {
  if (!specHasSchedule(body)) return true;
  const t = at.getTime();
  return contains(specIntervals(body, t, t + 1), t);
}

/** The next instant after `at` at which specActive flips; undefined when it never does. */
export function specNextChange(body: CastSpecBody, at: Date): Date | undefined {
  if (!specHasSchedule(body)) return undefined;
  const t = at.getTime();
  return nextFlip(specIntervals(body, t, t + HORIZON_MS), t);
}

/** Whether anything can take the spec off: windows of its own, or a schedule on every page. */
export function specHasSchedule(body: CastSpecBody): boolean {
  const pages = body.pages ?? [];
  return body.schedule?.windows !== undefined || (pages.length > 0 && pages.every((p) => p.schedule));
}

/**
 * What decides when a spec is on, as comparable data: specs with equal keys have equal
 * specIntervals (the pages' durations and URLs do not matter to it). Undefined: always on.
 */
export function specScheduleKey(body: CastSpecBody): unknown {
  if (!specHasSchedule(body)) return undefined;
  const pages = body.pages ?? [];
  const pageWindows = pages.length > 0 && pages.every((p) => p.schedule) ? pages.map((p) => p.schedule!.windows) : undefined;
  return { timezone: body.schedule?.timezone ?? 'UTC', windows: body.schedule?.windows, pageWindows };
}
