import { describe, expect, it } from 'vitest';
import { RepeatedWarning } from '../../machines/repeated-warning.js';
import { captureLog } from '../helpers.js';

describe('RepeatedWarning', () => {
  it('logs the start, each backoff step up to the cap and the end; nothing for attempts at the cap', () => {
    const { log, lines } = captureLog();
    let t = 0;
    const w = new RepeatedWarning(log, 'device unreachable', () => t);
    for (const wait of [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]) {
      w.failed(wait, { device: 'tv' });
      t += wait;
    }
    expect(w.active).toBe(true);
    w.recovered('device back', { device: 'tv' });
    expect(w.active).toBe(false);
    const warns = lines().filter((l) => l.level === 40);
    expect(warns.map((l) => l.retryInMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000]);
    expect(String(warns.at(-1)!.msg)).toMatch(/quiet until it changes/);
    expect(String(warns[1]!.msg)).toBe('device unreachable');
    const info = lines().filter((l) => l.level === 30);
    expect(info).toHaveLength(1);
    expect(info[0]).toMatchObject({ msg: 'device back', attempts: 10, device: 'tv' });
    expect(info[0]!.forMs).toBe(t);
  });

  it('says nothing on recovery when nothing failed, and starts afresh after a recovery', () => {
    const { log, lines } = captureLog();
    const w = new RepeatedWarning(log, 'page failing');
    w.recovered('page loads');
    expect(lines()).toHaveLength(0);
    w.failed(1000);
    w.recovered('page loads');
    w.failed(1000);
    expect(lines().filter((l) => l.level === 40)).toHaveLength(2);
  });
});
