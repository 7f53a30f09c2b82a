// What a rotation does next, decided without a browser: which page comes to the front, which
// failed pages to load again on their turn, and when to look again. The browser driver holds the
// windows; this holds the rule. Pure: the caller passes the pages' states and the instant.
import { nextRotationChange, pagesInRotation } from '../../specs/rotation.js';
import type { PageInput } from '../../specs/identity.js';

export type PageLoadState = 'loading' | 'ready' | 'failed';

export interface RotationView {
  pages: ReadonlyArray<PageInput>;
  timezone: string;
  states: ReadonlyArray<PageLoadState>;
  /** The page on screen, if any. */
  showing?: number;
}

export interface RotationStep {
  /** The page to bring to the front; undefined: leave the screen as it is. */
  show?: number;
  /** Failed pages whose turn came: load them again in the background. */
  retry: number[];
}

/**
 * The next page after `showing`, in the spec's order: the first in the rotation that is loaded.
 * Failed pages passed over on the way are retried; a page still loading is passed over. When no
 * other page is ready the one on screen stays (a page out of its window is better than a blank).
 */
export function nextStep(v: RotationView, at: Date): RotationStep {
  const inRotation = new Set(pagesInRotation(v.pages, v.timezone, at));
  const n = v.pages.length;
  const start = v.showing === undefined ? 0 : v.showing + 1;
  const retry: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (!inRotation.has(i)) continue;
    if (v.states[i] === 'ready') return { show: i === v.showing ? undefined : i, retry };
    if (v.states[i] === 'failed') retry.push(i);
  }
  return { retry };
}

/** The page to show first: the first in the rotation now that is loaded, else the first loaded. */
export function firstPage(v: Omit<RotationView, 'showing'>, at: Date): number | undefined {
  const ready = (i: number) => v.states[i] === 'ready';
  const any = v.pages.findIndex((_, i) => ready(i));
  return pagesInRotation(v.pages, v.timezone, at).find(ready) ?? (any === -1 ? undefined : any);
}

/** The order to load pages in at start: the rotation's pages now first, then the rest. */
export function loadOrder(pages: ReadonlyArray<PageInput>, timezone: string, at: Date): number[] {
  const now = pagesInRotation(pages, timezone, at);
  return [...now, ...pages.map((_, i) => i).filter((i) => !now.includes(i))];
}

/**
 * When to look again: the end of the turn of the page on screen, or the next change of the
 * rotation's set (a window opening or closing), whichever comes first. Undefined for a single
 * page that never rotates.
 */
export function nextLookAt(v: RotationView, since: number, at: Date): number | undefined {
  if (v.pages.length < 2) return undefined;
  const turnEnds = v.showing === undefined ? at.getTime() : since + v.pages[v.showing]!.for;
  const change = nextRotationChange(v.pages, v.timezone, at)?.getTime();
  return change === undefined ? turnEnds : Math.min(turnEnds, change);
}

/**
 * A switch planned for `ideal` is moved to just before a segment boundary, up to about a segment
 * earlier or later, and may land later still when the machine is busy. Within this much of `ideal`
 * the next turn still counts from `ideal`, so the moves cancel out over a rotation; further off
 * (the process was paused, the page came late) the rotation's clock restarts from the switch, so
 * it never catches up with a burst of short turns.
 */
export const KEEP_CLOCK_WITHIN_MS = 3000;

/** Where the turn that began at `shownAt` counts from: see KEEP_CLOCK_WITHIN_MS. */
export function turnBase(ideal: number | undefined, shownAt: number): number {
  return ideal !== undefined && Math.abs(shownAt - ideal) <= KEEP_CLOCK_WITHIN_MS ? ideal : shownAt;
}
