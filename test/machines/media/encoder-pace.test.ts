import { describe, expect, it } from 'vitest';
import { PACE_DEFAULTS, describeLevel, initialPace, judgePace, paceLevels, recentSpeed, startsSingleThreaded, type PaceDecision, type PaceState, type SpeedSample } from '../../../machines/media/encoder-pace.js';

const opts = { ...PACE_DEFAULTS, stepUpAfterMs: 60_000, maxStepUpAfterMs: 200_000 };

/** One sample a second from `from` to `to` (s), the media clock moving at `speed(t)`. */
function run(from: number, to: number, speed: (t: number) => number, outAt0 = 0): SpeedSample[] {
  const out: SpeedSample[] = [];
  let outS = outAt0;
  for (let t = from; t <= to; t++) {
    if (t > from) outS += speed(t);
    out.push({ at: t * 1000, outS });
  }
  return out;
}

/** Feeds samples one by one as the driver does; returns the decisions with their times (s). */
function feed(state: PaceState, samples: SpeedSample[], levels: number): { state: PaceState; decisions: Array<PaceDecision & { t: number }> } {
  const decisions: Array<PaceDecision & { t: number }> = [];
  for (let i = 0; i < samples.length; i++) {
    const r = judgePace(state, samples.slice(0, i + 1), samples[i]!.at, levels, opts);
    state = r.state;
    if (r.decision) {
      decisions.push({ ...r.decision, t: samples[i]!.at / 1000 });
      if (r.decision.kind === 'step') break; // the driver restarts FFmpeg: a new run, new samples
    }
  }
  return { state, decisions };
}

describe('paceLevels', () => {
  it('libx264: faster presets first, then 2/3 and 1/2 of the rate', () => {
    expect(paceLevels('libx264', 30).map(describeLevel)).toEqual([
      'preset veryfast, 30 fps',
      'preset superfast, 30 fps',
      'preset ultrafast, 30 fps',
      'preset ultrafast, 20 fps',
      'preset ultrafast, 15 fps',
    ]);
  });
  it('libx264 up to 720p30 starts on one thread; its first step down is x264\'s own thread count', () => {
    expect(paceLevels('libx264', 30, 10, true).map(describeLevel)).toEqual([
      'preset veryfast, 30 fps, one thread',
      'preset veryfast, 30 fps',
      'preset superfast, 30 fps',
      'preset ultrafast, 30 fps',
      'preset ultrafast, 20 fps',
      'preset ultrafast, 15 fps',
    ]);
    expect(paceLevels('h264_vaapi', 30, 10, true)).toEqual([{ fps: 30 }, { fps: 20 }, { fps: 15 }]);
    expect([[854, 480, 30], [1280, 720, 30], [1280, 720, 60], [1920, 1080, 15], [1920, 1080, 30]].map(([width, height, fps]) => startsSingleThreaded({ width: width!, height: height!, fps: fps! }))).toEqual([
      true, true, false, false, false,
    ]);
  });
  it('hardware encoders only step the frame rate', () => {
    expect(paceLevels('h264_vaapi', 60)).toEqual([{ fps: 60 }, { fps: 40 }, { fps: 30 }]);
  });
  it('never goes below the floor rate', () => {
    expect(paceLevels('libx264', 15).map((l) => l.fps)).toEqual([15, 15, 15, 10]);
    expect(paceLevels('h264_nvenc', 10)).toEqual([{ fps: 10 }]);
    expect(paceLevels('libx264', 30, 20).map((l) => l.fps)).toEqual([30, 30, 30, 20]);
  });
});

describe('recentSpeed', () => {
  it('is NaN until the samples span the window', () => {
    expect(recentSpeed(run(0, 9, () => 1), 9000, 10_000)).toBeNaN();
    expect(recentSpeed(run(0, 10, () => 1), 10_000, 10_000)).toBeCloseTo(1, 6);
  });
  it('measures the last window only, whatever came before', () => {
    const s = [...run(0, 30, (t) => (t <= 15 ? 0.5 : 1))];
    expect(recentSpeed(s, 30_000, 10_000)).toBeCloseTo(1, 6);
    expect(recentSpeed(s, 15_000, 10_000)).toBeCloseTo(0.5, 6);
  });
  it('is not swung by media time arriving in steps (the adaptive selector holds still frames)', () => {
    // out_time moves in 0.25 s steps, sampled at odd moments: the end points alone would say 0.975.
    const s: SpeedSample[] = [];
    for (let t = 0; t <= 10_000; t += 1000) s.push({ at: t + (t % 3000 === 0 ? 240 : 0), outS: Math.floor(t / 250) * 0.25 });
    expect(recentSpeed(s, 10_300, 10_000)).toBeGreaterThan(0.98);
  });
});

describe('judgePace', () => {
  it('steps down once the speed over a full window is below 0.97', () => {
    const { state, decisions } = feed(initialPace(opts), run(0, 30, () => 0.89), 5);
    expect(decisions).toEqual([{ kind: 'step', direction: 'down', to: 1, speed: expect.closeTo(0.89, 3), t: 13 }]);
    expect(state.level).toBe(1);
  });
  it('does not step for a transient stall the window absorbs', () => {
    // A one-second stall, made up over the next two (FFmpeg drains its input queue).
    const speed = (t: number) => (t === 12 ? 0 : t >= 13 && t <= 14 ? 1.5 : 1);
    expect(feed(initialPace(opts), run(0, 40, speed), 5).decisions).toEqual([]);
    // A shorter dip that is never made up stays above the threshold too.
    expect(feed(initialPace(opts), run(0, 40, (t) => (t === 20 ? 0.8 : 1)), 5).decisions).toEqual([]);
  });
  it('keeps a speed just above the threshold', () => {
    expect(feed(initialPace(opts), run(0, 60, () => 0.975), 5).decisions).toEqual([]);
  });
  it('walks down the ladder one run at a time, then says once that the floor is not enough', () => {
    let state = initialPace(opts);
    const path: string[] = [];
    for (let r = 0; r < 6; r++) {
      const res = feed(state, run(0, 30, () => 0.8), 3);
      state = res.state;
      path.push(...res.decisions.map((d) => (d.kind === 'step' ? `${d.direction}→${d.to}` : 'floor')));
    }
    expect(path).toEqual(['down→1', 'down→2', 'floor']);
    expect(state.level).toBe(2);
  });
  it('at full quality there is nothing to step up to', () => {
    expect(feed(initialPace(opts), run(0, 300, () => 1), 5).decisions).toEqual([]);
  });
  it('steps up after the wait with headroom; a try that falls behind steps back and doubles the wait (capped)', () => {
    let state: PaceState = { ...initialPace(opts), level: 2 };
    // Headroom: the first full window at 10 s, then the 60-s wait.
    let r = feed(state, run(0, 200, () => 1), 5);
    expect(r.decisions).toEqual([{ kind: 'step', direction: 'up', to: 1, speed: expect.closeTo(1, 3), t: 70 }]);
    state = r.state;
    // The try falls behind: back down, and the next try waits twice as long.
    r = feed(state, run(70, 100, () => 0.9), 5);
    expect(r.decisions).toMatchObject([{ direction: 'down', to: 2, t: 83 }]);
    expect(r.state.stepUpAfterMs).toBe(120_000);
    r = feed(r.state, run(83, 400, () => 1), 5);
    expect(r.decisions).toMatchObject([{ direction: 'up', to: 1, t: 83 + 10 + 120 }]);
    r = feed(r.state, run(213, 300, () => 0.9), 5);
    expect(r.decisions).toMatchObject([{ direction: 'down', to: 2, t: 226 }]);
    expect(r.state.stepUpAfterMs).toBe(200_000); // 240 s, capped
    r = feed(r.state, run(226, 1000, () => 1), 5);
    expect(r.decisions).toMatchObject([{ direction: 'up', to: 1, t: 226 + 10 + 200 }]);
    // A try that holds for as long as it waited succeeds: the wait is back to the base, and the
    // headroom it had meanwhile counts toward the next step.
    r = feed(r.state, run(436, 1000, () => 1), 5);
    expect(r.decisions).toMatchObject([{ direction: 'up', to: 0, t: 436 + 200 }]);
    expect(r.state.stepUpAfterMs).toBe(60_000);
  });
  it('a speed between the thresholds neither steps down nor counts toward a step up', () => {
    const state: PaceState = { ...initialPace(opts), level: 1 };
    const speed = (t: number) => (t % 50 < 25 ? 1 : 0.98);
    expect(feed(state, run(0, 400, speed), 5).decisions).toEqual([]);
  });
});
