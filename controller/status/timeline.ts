// A spec's day as a bar: the proof-of-play intervals are the playing parts; each gap takes its
// state from why the play before it ended (parked, recovering from a drift, or stopped on purpose).
// Pure: intervals and a window in, segments out.
import type { Phase, PlaySpan } from './types.js';

export type TimelineState = 'playing' | 'parked' | 'recovering' | 'stopped';

export interface TimelineSegment {
  start: number;
  end: number;
  state: TimelineState;
}

/** Ends that were meant (a suspend, a schedule, a higher priority, a shutdown) leave the spec stopped. */
const STOPPED_BY = new Set(['Suspended', 'Scheduled', 'Preempted', 'SpecRemoved', 'Shutdown', 'ControllerDied', 'Failed', 'Stopped']);

/** What a spec is doing after play ended for `reason`. */
export function stateAfter(reason: string | undefined): TimelineState {
  if (reason === undefined) return 'playing';
  if (reason === 'Parked') return 'parked';
  return STOPPED_BY.has(reason) ? 'stopped' : 'recovering';
}

/** The state a gap with no play before it in the window has, by the phase now. */
export function stateOfPhase(phase: Phase | undefined): TimelineState {
  switch (phase) {
    case 'Playing':
      return 'playing';
    case 'Parked':
      return 'parked';
    case 'Starting':
    case 'Recovering':
    case 'Waiting':
      return 'recovering';
    default:
      return 'stopped';
  }
}

/**
 * The segments covering [since, until] for one spec's intervals. A gap before the first interval in
 * the window is stopped, unless no interval at all falls in it (then the phase now says).
 */
export function playTimeline(spans: readonly PlaySpan[], window: { since: number; until: number }, phaseNow?: Phase): TimelineSegment[] {
  const { since, until } = window;
  if (until <= since) return [];
  const inWindow = spans.filter((s) => s.end > since && s.start < until).sort((a, b) => a.start - b.start);
  if (inWindow.length === 0) return [{ start: since, end: until, state: stateOfPhase(phaseNow) === 'playing' ? 'recovering' : stateOfPhase(phaseNow) }];
  const out: TimelineSegment[] = [];
  const push = (start: number, end: number, state: TimelineState) => {
    if (end <= start) return;
    const last = out[out.length - 1];
    if (last && last.state === state && last.end >= start) last.end = Math.max(last.end, end);
    else out.push({ start, end, state });
  };
  let cursor = since;
  let after: TimelineState = 'stopped';
  for (const s of inWindow) {
    const start = Math.max(s.start, since);
    const end = Math.min(s.end, until);
    push(cursor, start, after);
    push(Math.max(start, cursor), end, 'playing');
    if (end >= cursor) {
      cursor = end;
      after = stateAfter(s.reason);
    }
  }
  // A live interval reaches `until`; a closed one leaves the rest to why it ended.
  push(cursor, until, after === 'playing' ? 'recovering' : after);
  return out;
}

/** Share of the window per state, 0..1, for a text alternative to the bar. */
export function timelineShares(segments: readonly TimelineSegment[]): Record<TimelineState, number> {
  const total = segments.reduce((t, s) => t + (s.end - s.start), 0);
  const shares: Record<TimelineState, number> = { playing: 0, parked: 0, recovering: 0, stopped: 0 };
  if (total <= 0) return shares;
  for (const s of segments) shares[s.state] += (s.end - s.start) / total;
  return shares;
}
