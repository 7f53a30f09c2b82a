import { describe, expect, it } from 'vitest';
import { describeCause, groupMemory, parsePss, parseStatmRss, processMemory, renewalDue } from '../../../machines/media/browser-memory.js';
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
