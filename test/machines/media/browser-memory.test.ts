import { describe, expect, it } from 'vitest';
import { describeCause, groupMemory, groupMemoryAgainst, memoryAgainst, parsePss, parseStatmRss, processMemory, processRss, renewalDue } from '../../../machines/media/browser-memory.js';
import { readStat } from '../../../machines/processes/registry.js';
import { displaySocket } from '../../../machines/media/x11.js';

const MIN = 60_000;

describe('browser memory', () => {
  it('reads PSS from smaps_rollup and RSS from statm', () => {
    expect(parsePss('55d0c0000000-7ffd00000000 ---p 00000000 00:00 0  [rollup]\nRss:              204800 kB\nPss:              102400 kB\nPss_Anon:          90000 kB\n')).toBe(102400 * 1024);
    expect(parsePss('Rss: 1 kB\n')).toBeUndefined();
    expect(parseStatmRss('50000 2500 300 10 0 4000 0\n')).toBe(2500 * 4096);
  });

  it('measures this process and its group', () => {
    const own = processMemory(process.pid);
    expect(own).toBeGreaterThan(10e6);
    expect(groupMemory(readStat(process.pid)!.pgid)).toBeGreaterThanOrEqual(own);
    expect(processMemory(2 ** 22 + 1)).toBe(0); // no such process
  });

  it('checks against a limit by RSS, and reads PSS only when the RSS sum is over it', () => {
    const rss = new Map([[1, 300], [2, 500]]);
    const pss = new Map([[1, 120], [2, 260]]);
    const read = () => {
      const calls = { rss: 0, pss: 0 };
      return { calls, rss: (p: number) => (calls.rss++, rss.get(p)!), pss: (p: number) => (calls.pss++, pss.get(p)!) };
    };
    const under = read();
    expect(memoryAgainst([1, 2], 800, under)).toBe(800); // RSS 800 ≤ 800: PSS cannot be over
    expect(under.calls).toEqual({ rss: 2, pss: 0 });
    const over = read();
    expect(memoryAgainst([1, 2], 799, over)).toBe(380); // RSS over: the PSS sum decides (not over)
    expect(over.calls).toEqual({ rss: 2, pss: 2 });
    expect(memoryAgainst([1, 2], 300, read())).toBe(380); // over by PSS too
    // This process: its RSS is at least its PSS, and a group check under a huge limit is the RSS sum.
    expect(processRss(process.pid)).toBeGreaterThanOrEqual(processMemory(process.pid) * 0.9);
    expect(groupMemoryAgainst(readStat(process.pid)!.pgid, 1e15)).toBeGreaterThanOrEqual(processRss(process.pid));
    expect(processRss(2 ** 22 + 1)).toBe(0);
  });

  it('renews past maxMemory, but a fresh browser over it not again within the interval', () => {
    const base = { maxMemory: 1.5e9, startedAt: 0, minIntervalMs: 10 * MIN };
    expect(renewalDue({ ...base, now: 5 * MIN, memoryBytes: 1.4e9 })).toBeUndefined();
    expect(renewalDue({ ...base, now: 1000, memoryBytes: 1.6e9 })).toEqual({ cause: { kind: 'memory', bytes: 1.6e9, max: 1.5e9 }, held: false }); // never renewed: at once
    expect(renewalDue({ ...base, now: 12 * MIN, lastRenewedAt: 10 * MIN, memoryBytes: 1.6e9 })?.held).toBe(true);
    expect(renewalDue({ ...base, now: 20 * MIN, lastRenewedAt: 10 * MIN, memoryBytes: 1.6e9 })?.held).toBe(false);
    expect(renewalDue({ ...base, now: 12 * MIN, memoryBytes: undefined })).toBeUndefined(); // unknown: nothing to do
  });

  it('renews every restartEvery, counted from the last renewal or the start', () => {
    const base = { maxMemory: 1.5e9, memoryBytes: 1e9, restartEvery: 60 * MIN, startedAt: 0, minIntervalMs: 10 * MIN };
    expect(renewalDue({ ...base, now: 59 * MIN })).toBeUndefined();
    expect(renewalDue({ ...base, now: 60 * MIN })).toEqual({ cause: { kind: 'schedule', everyMs: 60 * MIN }, held: false });
    expect(renewalDue({ ...base, now: 100 * MIN, lastRenewedAt: 60 * MIN })).toBeUndefined();
    expect(renewalDue({ ...base, now: 120 * MIN, lastRenewedAt: 60 * MIN })?.cause.kind).toBe('schedule');
  });

  it('says why in the report', () => {
    expect(describeCause({ kind: 'memory', bytes: 1_612_345_678, max: 1.5e9 })).toBe('memory 1612 MB > max 1500 MB');
    expect(describeCause({ kind: 'schedule', everyMs: 6 * 3_600_000 })).toBe('restartEvery 6 h');
    expect(describeCause({ kind: 'schedule', everyMs: 90 * 60_000 })).toBe('restartEvery 1.5 h');
    expect(describeCause({ kind: 'schedule', everyMs: 5 * MIN })).toBe('restartEvery 5 min');
  });

  it('finds a local display socket', () => {
    expect(displaySocket(':7')).toBe('/tmp/.X11-unix/X7');
    expect(displaySocket(':12.0')).toBe('/tmp/.X11-unix/X12');
    expect(() => displaySocket('host:0')).toThrow(/not a local X display/);
  });
});
