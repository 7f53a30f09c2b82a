// Keeping the stream in real time: when FFmpeg's recent speed stays below 1 the encoder steps down
// (a faster x264 preset, then a lower frame rate) and, after a long stable spell, tries one step up
// again, doubling the wait each time a try falls behind. Pure: the driver feeds it progress samples
// and the clock, and restarts FFmpeg at the level it returns.
import type { VideoEncoder, X264Preset } from './encoder-args.js';
import { macroblocksPerFrame } from './playlist.js';

/** One rung of the ladder. `preset` is libx264's; hardware encoders only step the frame rate. */
export interface PaceLevel {
  preset?: X264Preset;
  fps: number;
  /** libx264 on one thread; otherwise x264 chooses (one per core, sliced). */
  singleThread?: boolean;
}

/** A progress sample: when it arrived (ms, the driver's clock) and FFmpeg's `out_time` then (s). */
export interface SpeedSample {
  at: number;
  outS: number;
  /** The run's frame counter then (for frames encoded per second). */
  frame?: number;
}

export interface PaceOptions {
  /** Speed is judged over this much wall-clock time of one FFmpeg run. */
  windowMs: number;
  /** Below this speed over a full window, judged again and again for `holdMs`, the encoder steps down. */
  slowBelow: number;
  /** So a stall that FFmpeg makes up at once (it drains its input queue) is not a step. */
  holdMs: number;
  /** At or above this speed the encoder counts as having headroom. */
  fastAtLeast: number;
  /** With headroom for this long, try one level up. Doubled after a try that fell behind. */
  stepUpAfterMs: number;
  maxStepUpAfterMs: number;
  /** The lowest frame rate the ladder goes down to (never above the spec's own). */
  minFps: number;
}

export const PACE_DEFAULTS: PaceOptions = {
  windowMs: 10_000,
  slowBelow: 0.97,
  holdMs: 3000,
  fastAtLeast: 0.99,
  stepUpAfterMs: 5 * 60_000,
  maxStepUpAfterMs: 60 * 60_000,
  minFps: 10,
};

const X264_LADDER: X264Preset[] = ['veryfast', 'superfast', 'ultrafast'];

/**
 * The ladder from full quality down: libx264 presets veryfast → superfast → ultrafast at the spec's
 * rate, then 2/3 and 1/2 of it (30 → 20 → 15), never below `minFps`. Keyframes are forced by time,
 * so a lower rate keeps GOP = segment duration and keyframes on segment boundaries.
 */
export function paceLevels(encoder: VideoEncoder, fps: number, minFps = PACE_DEFAULTS.minFps, singleThreadFirst = false): PaceLevel[] {
  const rates = [fps, Math.round((fps * 2) / 3), Math.round(fps / 2)].filter((r, i, all) => i === 0 || (r >= minFps && r < all[i - 1]!));
  if (encoder !== 'libx264') return rates.map((r) => ({ fps: r }));
  const ladder = [...X264_LADDER.map((preset) => ({ preset, fps })), ...rates.slice(1).map((r) => ({ preset: X264_LADDER.at(-1)!, fps: r }))];
  return singleThreadFirst ? [{ preset: X264_LADDER[0]!, fps, singleThread: true }, ...ladder] : ladder;
}

/**
 * Whether libx264 starts on one thread: up to 720p30's macroblock rate. Sliced threads cost more
 * than they give there: an animated 720p30 page's FFmpeg took 40.9, 40.4 and 37.2 % of a core with
 * x264's own thread count, 33.3, 34.8 and 29.5 % on one thread, all in real time (bench/pipeline
 * `--only 720p30-animated --threads 0|1`, alternating); on a still page the difference was within
 * the noise. The first step down, if it falls behind, is back to x264's own thread count at the
 * same preset. Above 720p30 one core may not keep up, so it starts there.
 */
export function startsSingleThreaded(q: { width: number; height: number; fps: number }): boolean {
  return macroblocksPerFrame(q) * q.fps <= macroblocksPerFrame({ width: 1280, height: 720 }) * 30;
}

export function describeLevel(l: PaceLevel): string {
  const base = l.preset ? `preset ${l.preset}, ${l.fps} fps` : `${l.fps} fps`;
  return l.singleThread ? `${base}, one thread` : base;
}

/**
 * Media seconds made per wall-clock second over the last `windowMs`: how far out_time moved between
 * the window's start and now, so a stall that FFmpeg has made up since costs nothing. Each end is
 * the mean of two samples, so one late sample or a frame the adaptive selector held back does not
 * swing it. NaN until the samples span the window. (FFmpeg's own `speed=` is cumulative since its
 * start, so a stall long ago or a slow start would weigh on it for ever.)
 */
export function recentSpeed(samples: readonly SpeedSample[], now: number, windowMs: number): number {
  const w = samples.filter((s) => s.at <= now);
  let first = -1;
  for (let i = w.length - 1; i >= 0; i--) {
    if (w[i]!.at <= now - windowMs) {
      first = i;
      break;
    }
  }
  if (first < 0 || w.length - first < 4) return Number.NaN;
  const mean = (a: SpeedSample, b: SpeedSample) => ({ at: (a.at + b.at) / 2, outS: (a.outS + b.outS) / 2 });
  const start = mean(w[first]!, w[first + 1]!);
  const end = mean(w.at(-2)!, w.at(-1)!);
  return end.at > start.at ? ((end.outS - start.outS) / (end.at - start.at)) * 1000 : Number.NaN;
}

export interface PaceState {
  /** Index into the ladder; 0 is full quality. */
  level: number;
  /** Since when the speed has held at `fastAtLeast` or more (undefined: not now). */
  fastSince?: number;
  /** Since when it has been below `slowBelow` (undefined: not now). */
  slowSince?: number;
  /** The current wait before trying a level up. */
  stepUpAfterMs: number;
  /** Set after a step up, until it has held as long as the wait: falling behind then doubles the wait. */
  tryingUntil?: number;
  /** Already said that the floor is not enough (said once per run). */
  floorReported?: boolean;
}

export function initialPace(opts: PaceOptions, level = 0): PaceState {
  return { level, stepUpAfterMs: opts.stepUpAfterMs };
}

export type PaceDecision =
  | { kind: 'step'; direction: 'down' | 'up'; to: number; speed: number }
  /** Behind at the lowest level: nothing left to give up. */
  | { kind: 'floor'; speed: number };

/**
 * Judges the current run's samples at `now`. A step means: restart FFmpeg at `state.level` (the
 * caller starts a new sample list for the new run). Slowness that the window absorbs, or that is
 * made up within `holdMs`, changes nothing; speed over a whole window below `slowBelow` for
 * `holdMs` is a step down.
 */
export function judgePace(state: PaceState, samples: readonly SpeedSample[], now: number, levels: number, opts: PaceOptions): { state: PaceState; decision?: PaceDecision } {
  const speed = recentSpeed(samples, now, opts.windowMs);
  if (Number.isNaN(speed)) return { state };
  const trying = state.tryingUntil !== undefined && now < state.tryingUntil;
  // A try that held as long as the wait succeeded: the next one waits the base time again.
  const settled: PaceState = state.tryingUntil !== undefined && !trying ? { ...state, tryingUntil: undefined, stepUpAfterMs: opts.stepUpAfterMs } : state;

  if (speed < opts.slowBelow) {
    const slowSince = settled.slowSince ?? now;
    if (now - slowSince < opts.holdMs) return { state: { ...settled, fastSince: undefined, slowSince } };
    if (settled.level >= levels - 1) {
      if (settled.floorReported) return { state: { ...settled, fastSince: undefined, slowSince } };
      return { state: { ...settled, fastSince: undefined, slowSince, floorReported: true }, decision: { kind: 'floor', speed } };
    }
    const to = settled.level + 1;
    const wait = trying ? Math.min(settled.stepUpAfterMs * 2, opts.maxStepUpAfterMs) : settled.stepUpAfterMs;
    return { state: { level: to, stepUpAfterMs: wait }, decision: { kind: 'step', direction: 'down', to, speed } };
  }
  if (speed < opts.fastAtLeast) return { state: { ...settled, fastSince: undefined, slowSince: undefined } };
  const fastSince = settled.fastSince ?? now;
  if (settled.level > 0 && now - fastSince >= settled.stepUpAfterMs) {
    const to = settled.level - 1;
    return { state: { level: to, stepUpAfterMs: settled.stepUpAfterMs, tryingUntil: now + settled.stepUpAfterMs }, decision: { kind: 'step', direction: 'up', to, speed } };
  }
  return { state: { ...settled, fastSince, slowSince: undefined } };
}
