import { describe, expect, it } from 'vitest';
import { ProgressParser, recentFrameRate, type FramePoint } from '../../../machines/media/ffmpeg-progress.js';

const block = (over: Record<string, string> = {}) =>
  Object.entries({ frame: '240', fps: '29.96', stream_0_0_q: '25.0', bitrate: '2946.1kbits/s', total_size: '1000', out_time_us: '8000000', dup_frames: '3', drop_frames: '1', speed: '0.999x', ...over })
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');

describe('ProgressParser', () => {
  it('turns one block into a sample', () => {
    const [s] = new ProgressParser().push(block() + 'progress=continue\n');
    expect(s).toEqual({ frame: 240, fps: 29.96, speed: 0.999, bitrateKbps: 2946.1, droppedFrames: 1, duplicatedFrames: 3, outTimeUs: 8_000_000, end: false });
  });
  it('handles blocks split across chunks and several per chunk', () => {
    const p = new ProgressParser();
    const text = block({ frame: '1' }) + 'progress=continue\n' + block({ frame: '2' }) + 'progress=end\n';
    const out = [...p.push(text.slice(0, 37)), ...p.push(text.slice(37, 150)), ...p.push(text.slice(150))];
    expect(out.map((s) => [s.frame, s.end])).toEqual([[1, false], [2, true]]);
  });
  it('reads N/A as NaN and ignores junk lines', () => {
    const [s] = new ProgressParser().push('garbage\n=x\n' + block({ bitrate: 'N/A', speed: 'N/A', fps: 'abc' }) + 'progress=continue\n');
    expect(s!.bitrateKbps).toBeNaN();
    expect(s!.speed).toBeNaN();
    expect(s!.fps).toBeNaN();
    expect(s!.frame).toBe(240);
  });
  it('does not grow without bound on output without newlines', () => {
    const p = new ProgressParser();
    expect(p.push('x'.repeat(200_000))).toEqual([]);
    expect(p.push('\nframe=5\nprogress=continue\n')[0]!.frame).toBe(5);
  });
});

describe('recentFrameRate', () => {
  it('is the rate over the last window, not since the start', () => {
    // 30 frames a second for 10 s, then a still page: 4 a second.
    const points: FramePoint[] = [];
    for (let s = 0; s <= 10; s++) points.push({ at: s * 1000, frame: s * 30 });
    for (let s = 11; s <= 20; s++) points.push({ at: s * 1000, frame: 300 + (s - 10) * 4 });
    expect(recentFrameRate(points, 5000)).toBeCloseTo(4, 5);
    expect(recentFrameRate(points.slice(0, 11), 5000)).toBeCloseTo(30, 5);
    expect(recentFrameRate([], 5000)).toBeNaN();
    expect(recentFrameRate([{ at: 0, frame: 1 }], 5000)).toBeNaN();
  });
});
