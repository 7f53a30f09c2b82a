import { describe, expect, it } from 'vitest';
import { playTimeline, stateAfter, timelineShares } from '../../../controller/status/timeline.js';
import { DriftHistory } from '../../../controller/status/drift-history.js';

const H = 3600_000;
const span = (start: number, end: number, reason?: string) => ({ spec: 'kitchen', device: 'TV', start, end, ...(reason ? { reason } : {}) });

describe('playTimeline', () => {
  const window = { since: 0, until: 24 * H };

  it('colours each gap by why the play before it ended', () => {
    const got = playTimeline([span(2 * H, 10 * H, 'Parked'), span(12 * H, 20 * H, 'IdleCancelled'), span(21 * H, 24 * H)], window, 'Playing');
    expect(got).toEqual([
      { start: 0, end: 2 * H, state: 'stopped' },
      { start: 2 * H, end: 10 * H, state: 'playing' },
      { start: 10 * H, end: 12 * H, state: 'parked' },
      { start: 12 * H, end: 20 * H, state: 'playing' },
      { start: 20 * H, end: 21 * H, state: 'recovering' },
      { start: 21 * H, end: 24 * H, state: 'playing' },
    ]);
    expect(timelineShares(got).playing).toBeCloseTo(19 / 24);
  });

  it('clips to the window, merges overlaps, and leaves the rest after a suspend stopped', () => {
    const got = playTimeline([span(-5 * H, 1 * H, 'Restarted'), span(1 * H, 3 * H, 'Suspended'), span(2 * H, 2.5 * H, 'Suspended')], window, 'Suspended');
    expect(got).toEqual([
      { start: 0, end: 3 * H, state: 'playing' },
      { start: 3 * H, end: 24 * H, state: 'stopped' },
    ]);
  });

  it('with no play in the window, says what the phase now says', () => {
    expect(playTimeline([], window, 'Parked')).toEqual([{ start: 0, end: 24 * H, state: 'parked' }]);
    expect(playTimeline([], window, 'Recovering')).toEqual([{ start: 0, end: 24 * H, state: 'recovering' }]);
    expect(playTimeline([], window, 'Suspended')).toEqual([{ start: 0, end: 24 * H, state: 'stopped' }]);
  });

  it('maps end reasons', () => {
    expect(stateAfter('Parked')).toBe('parked');
    expect(stateAfter('Shutdown')).toBe('stopped');
    expect(stateAfter('EncoderExited')).toBe('recovering');
    expect(stateAfter(undefined)).toBe('playing');
  });
});

describe('DriftHistory', () => {
  it('adds a drift once, keeps a bounded list', () => {
    const h = new DriftHistory(2);
    const d = { reason: 'IdleCancelled', at: '2025-01-01T10:00:00.000Z' };
    h.observe('kitchen', d);
    h.observe('kitchen', { ...d });
    h.observe('kitchen', undefined);
    expect(h.of('kitchen')).toEqual([d]);
    h.observe('kitchen', { reason: 'ConnectionLost', at: '2025-01-01T10:01:00.000Z' });
    h.observe('kitchen', { reason: 'IdleCancelled', at: '2025-01-01T10:02:00.000Z' });
    expect(h.of('kitchen').map((x) => x.at)).toEqual(['2025-01-01T10:01:00.000Z', '2025-01-01T10:02:00.000Z']);
  });
});
