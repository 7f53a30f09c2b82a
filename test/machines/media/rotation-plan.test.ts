// The rotation's rule on a simulated clock: which page comes next, which failed pages are tried
// again, and when to look again (turns and dayparting windows).
import { describe, expect, it } from 'vitest';
import { firstPage, KEEP_CLOCK_WITHIN_MS, loadOrder, nextLookAt, nextStep, turnBase, type PageLoadState } from '../../../machines/media/rotation-plan.js';
import { boundaryAtOrAfter } from '../../../machines/media/encoder-args.js';
import type { PageInput } from '../../../specs/identity.js';
import { BrowserOptions, type ScheduleWindow } from '../../../specs/schema.js';

const browser = BrowserOptions.parse({});
const page = (name: string, forMs = 30_000, windows?: ScheduleWindow[]): PageInput => ({ url: `https://example.test/${name}`, for: forMs, browser, ...(windows ? { windows } : {}) });
const weekdays: ScheduleWindow['days'] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const ready = (n: number): PageLoadState[] => Array.from({ length: n }, () => 'ready');
// Monday 2026-11-30 in Europe/Berlin (UTC+1 in winter).
const berlin = (hhmm: string, day = 30) => new Date(`2026-11-${day}T${hhmm}:00+01:00`);

describe('a plain rotation', () => {
  const pages = [page('a', 10_000), page('b', 20_000), page('c', 5_000)];
  const v = (states: PageLoadState[], showing?: number) => ({ pages, timezone: 'UTC', states, showing });
  const now = new Date('2026-12-01T12:00:00Z');

  it('goes to the next page in the spec order, wrapping round', () => {
    expect(nextStep(v(ready(3), 0), now)).toEqual({ show: 1, retry: [] });
    expect(nextStep(v(ready(3), 2), now)).toEqual({ show: 0, retry: [] });
  });

  it('passes over a failed page and asks for it to be loaded again; passes over one still loading', () => {
    expect(nextStep(v(['ready', 'failed', 'ready'], 0), now)).toEqual({ show: 2, retry: [1] });
    expect(nextStep(v(['ready', 'loading', 'ready'], 0), now)).toEqual({ show: 2, retry: [] });
  });

  it('keeps the page on screen when no other is ready', () => {
    expect(nextStep(v(['ready', 'failed', 'failed'], 0), now)).toEqual({ retry: [1, 2] });
  });

  it('looks again when the turn of the page on screen ends', () => {
    const since = now.getTime() - 4_000;
    expect(nextLookAt(v(ready(3), 1), since, now)).toBe(since + 20_000);
    expect(nextLookAt({ ...v(ready(1), 0), pages: [page('only', 0)] }, since, now)).toBeUndefined();
  });

  it('shows first, and loads first, the first page', () => {
    expect(firstPage(v(['failed', 'ready', 'ready']), now)).toBe(1);
    expect(firstPage(v(['failed', 'failed', 'loading']), now)).toBeUndefined();
    expect(loadOrder(pages, 'UTC', now)).toEqual([0, 1, 2]);
  });
});

describe('dayparting', () => {
  // A morning page on weekdays, an evening page every day, and two pages for the rest of the time.
  const pages = [page('default-1', 60_000), page('morning', 30_000, [{ days: weekdays, start: '06:00', end: '12:00' }]), page('default-2', 60_000), page('evening', 30_000, [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '22:00', end: '02:00' }])];
  const v = (showing?: number, states = ready(4)) => ({ pages, timezone: 'Europe/Berlin', states, showing });

  it('the morning page alone takes the screen inside its window', () => {
    expect(nextStep(v(0), berlin('07:00'))).toEqual({ show: 1, retry: [] });
    expect(nextStep(v(1), berlin('07:00'))).toEqual({ retry: [] }); // it stays: nothing else is in the rotation
    expect(loadOrder(pages, 'Europe/Berlin', berlin('07:00'))).toEqual([1, 0, 2, 3]);
    expect(firstPage(v(), berlin('07:00'))).toBe(1);
  });

  it('outside every window the pages without a schedule rotate', () => {
    expect(nextStep(v(1), berlin('12:00'))).toEqual({ show: 2, retry: [] });
    expect(nextStep(v(2), berlin('15:00'))).toEqual({ show: 0, retry: [] });
    // Saturday morning: the morning page's window is weekdays only.
    expect(nextStep(v(0), berlin('07:00', 28))).toEqual({ show: 2, retry: [] });
  });

  it('a window crossing midnight holds after midnight', () => {
    expect(nextStep(v(0), berlin('01:30'))).toEqual({ show: 3, retry: [] }); // Monday 01:30, from Sunday 22:00
  });

  it('when the morning page is down, the screen keeps what it has rather than show nothing', () => {
    expect(nextStep(v(0, ['ready', 'failed', 'ready', 'ready']), berlin('07:00'))).toEqual({ retry: [1] });
  });

  it('looks again at a window boundary when it comes before the end of the turn', () => {
    const now = berlin('11:59');
    const since = now.getTime();
    // The morning page shows from 11:59 for 30 s, but its window closes at 12:00 (60 s away).
    expect(nextLookAt(v(1), since, now)).toBe(since + 30_000);
    const late = new Date(berlin('11:59').getTime() + 45_000);
    expect(nextLookAt(v(1), late.getTime(), late)).toBe(berlin('12:00').getTime());
  });
});

describe('the rotation clock under switches moved to segment boundaries', () => {
  const three = [page('a', 5000), page('b', 5000), page('c', 5000)];
  const view = (showing: number): Parameters<typeof nextLookAt>[0] => ({ pages: three, timezone: 'UTC', states: ready(3), showing });

  /** Switch times over `turns` turns, each moved as the browser driver moves it: just before the segment boundary nearest its ideal time. */
  function switches(turns: number, streamStart: number, late = 0): number[] {
    const t0 = 1_000_000;
    let base = t0;
    const at: number[] = [t0];
    for (let k = 0; k < turns; k++) {
      const ideal = nextLookAt(view(k % 3), base, new Date(base))!;
      const boundary = streamStart + 1000 * boundaryAtOrAfter((ideal - 1000 - streamStart) / 1000, 2, 1);
      const shown = boundary - 250 + late;
      at.push(shown);
      base = turnBase(ideal, shown);
    }
    return at;
  }

  it('turns of 5 s on 2 s segments alternate around 5 s and never drift, wherever the segments fall', () => {
    for (const offset of [0, 130, 500, 999, 1000, 1500, 1999]) {
      const at = switches(30, 1_000_000 - 3000 + offset);
      const turns = at.slice(1).map((t, i) => t - at[i]!);
      for (const t of turns) expect(t, `offset ${offset}: ${turns.join(', ')}`).toBeGreaterThanOrEqual(3000);
      for (const t of turns) expect(t, `offset ${offset}: ${turns.join(', ')}`).toBeLessThanOrEqual(7000);
      // Thirty turns end within a segment of 150 s after the first switch.
      expect(Math.abs(at[30]! - at[0]! - 150_000), `offset ${offset}: ${turns.join(', ')}`).toBeLessThanOrEqual(2000);
    }
  });

  it('a switch that lands late by a busy moment keeps the clock; one far off (a pause) restarts it', () => {
    const at = switches(12, 997_000, 600);
    expect(Math.abs(at[12]! - at[0]! - 60_000)).toBeLessThanOrEqual(2600);
    expect(turnBase(10_000, 10_000 + KEEP_CLOCK_WITHIN_MS)).toBe(10_000);
    expect(turnBase(10_000, 10_000 - KEEP_CLOCK_WITHIN_MS)).toBe(10_000);
    expect(turnBase(10_000, 10_000 + KEEP_CLOCK_WITHIN_MS + 1)).toBe(10_000 + KEEP_CLOCK_WITHIN_MS + 1);
    expect(turnBase(10_000, 70_000)).toBe(70_000);
    expect(turnBase(undefined, 70_000)).toBe(70_000);
  });
});
