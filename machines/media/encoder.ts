// EncoderDriver: FFmpeg x11grab → H.264 live HLS in the stream's directory. The directory outlives
// one FFmpeg: a restart appends to the same playlist (media sequence goes on, a discontinuity marks
// the join) with segment names prefixed by a fresh run id, so no name is ever reused.
// When FFmpeg falls behind real time the driver itself restarts it one step down (encoder-pace.ts),
// the same way, behind the same handle: the machines see one encoder that keeps running.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PagecastError } from '../errors.js';
import { componentLogger } from '../log.js';
import { lineSplitter } from '../processes/dead-man-rules.js';
import { FFMPEG_STOP, describeExit, lastLines, spawnRegistered, tailOf, type ProcessRegistry } from '../processes/registry.js';
import { removeStaleTemps, writeFileAtomicSync } from '../atomic-file.js';
import type { EncoderDriver, EncoderFigures, EncoderHandle, ExitInfo, StartContext, StreamInput } from '../components.js';
import { encoderArgs, peakKbps, rampSegments, boundaryAtOrAfter, ENCODER_DEFAULTS, type EncoderArgsOptions } from './encoder-args.js';
import { PACE_DEFAULTS, describeLevel, initialPace, judgePace, paceLevels, recentSpeed, startsSingleThreaded, type PaceLevel, type PaceOptions, type PaceState, type SpeedSample } from './encoder-pace.js';
import { ProgressParser, recentFrameRate } from './ffmpeg-progress.js';
import { probeEncoder, type ProbeOptions, type ProbeResult } from './hw-probe.js';
import { codecsString, h264Level, masterPlaylist, parseMediaPlaylist, type MediaPlaylist } from './playlist.js';
import { checkDamageGrab, damageGrabArgs, defaultPython, keptUp, parseGrabCounts, type GrabCounts } from './damage-grab.js';
import type { CapturePath } from '../components.js';
import type { Socket } from 'node:net';

export const MASTER_PLAYLIST = 'master.m3u8';
/** The window over which status gives frames encoded per second. */
const ENCODED_FPS_WINDOW_MS = 5000;

export interface FfmpegEncoderOptions {
  registry: ProcessRegistry;
  ffmpegPath?: string;
  /** Per-machine cache of the hardware probe. */
  probeCacheFile?: string;
  probeDevices?: ProbeOptions['devices'];
  /** Overrides for the argument builder (tests use short windows; the defaults are the seed's). */
  args?: Partial<Omit<EncoderArgsOptions, 'display' | 'runId' | 'append' | 'x264Preset' | 'fps'>>;
  /** Stepping down when FFmpeg falls behind real time and back up with headroom (tests use short windows). */
  pace?: Partial<PaceOptions>;
  /** Segments the playlist must list before the stream counts as servable. */
  servableSegments?: number; // 3
  /** How long FFmpeg may take to report its first progress. */
  startTimeoutMs?: number; // 15 s
  pollMs?: number; // 200
  /**
   * 'auto' (the default): damage-driven capture where it runs (adaptive motion, python3 and the X
   * extensions; checked once), x11grab otherwise. A path named here is used as it is.
   */
  capture?: 'auto' | CapturePath;
  /** Python 3 for damage-grab.py; the system's (/usr/bin/python3) when there is one. */
  python?: string;
  /** Damage capture: a floor frame is grabbed anew at least this often. */
  regrabSeconds?: number; // 2
}

/** Where the encoder stands on its ladder (encoder-pace.ts). */
export interface EncoderPace {
  level: PaceLevel;
  /** 0 is full quality; `levels.length - 1` the floor. */
  index: number;
  levels: PaceLevel[];
  /** FFmpeg restarts this handle made to change level. */
  steps: number;
  /** Speed over the pace window of the current FFmpeg run; NaN until the run is that old. */
  speed: number;
}

/** The real driver's handle: the machines' EncoderHandle plus the pace, for benches and tests. */
export interface FfmpegEncoderHandle extends EncoderHandle {
  pace(): EncoderPace;
  /** Speed over the last `ms` of the current FFmpeg run; NaN when the run is younger. */
  speedOver(ms: number): number;
}

/** Removes a stream's files (teardown). */
export function removeStreamFiles(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes the segment and init files in `dir` that its media playlist no longer lists. FFmpeg
 * deletes a segment some time after it leaves the playlist (hls_delete_threshold), but only the
 * ones its own run saw leave: those a killed or replaced FFmpeg still meant to delete, and the one
 * it was writing, would stay for ever. Called before a run appends; returns what it removed.
 */
export function removeUnlistedSegments(dir: string, playlistName = ENCODER_DEFAULTS.playlistName): string[] {
  const pl = readMediaPlaylist(dir, playlistName);
  if (!pl) return [];
  const listed = new Set(pl.segments.flatMap((s) => (s.map === undefined ? [s.uri] : [s.uri, s.map])));
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!/\.(ts|m4s|mp4)$/.test(name) || listed.has(name)) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** Reads the media playlist in `dir`, or undefined when it is missing or not yet valid. */
export function readMediaPlaylist(dir: string, name = ENCODER_DEFAULTS.playlistName): MediaPlaylist | undefined {
  try {
    return parseMediaPlaylist(readFileSync(join(dir, name), 'utf8'), join(dir, name));
  } catch {
    return undefined;
  }
}

export class FfmpegEncoderDriver implements EncoderDriver {
  /** The level each stream reached, so an encoder the machine restarts does not fall behind again first. */
  private readonly reached = new Map<string, PaceState>();
  /** Whether damage capture runs on this machine: undefined when it does, else why not (checked once). */
  private damageCheck?: Promise<string | undefined>;

  constructor(private readonly opts: FfmpegEncoderOptions) {}

  /** The capture path for a stream on `display` (see FfmpegEncoderOptions.capture). */
  private async capturePath(display: string, q: { width: number; height: number; fps: number }, log: ReturnType<typeof componentLogger>): Promise<CapturePath> {
    const wanted = this.opts.capture ?? 'auto';
    const motion = this.opts.args?.motion ?? ENCODER_DEFAULTS.motion;
    if (wanted !== 'auto') return wanted;
    if (motion !== 'adaptive') return 'x11grab';
    const first = this.damageCheck === undefined;
    this.damageCheck ??= checkDamageGrab(this.opts.python ?? defaultPython(), { display, ...q, floorSeconds: 1, regrabSeconds: 1 });
    const why = await this.damageCheck;
    // A display that did not answer in time says nothing about this machine: ask again next time.
    if (why !== undefined && TRANSIENT_CHECK_FAILURE.test(why)) this.damageCheck = undefined;
    if (why !== undefined && first) log.warn({ why }, 'damage-driven capture does not run here: every stream grabs the display at its full rate (x11grab)');
    return why === undefined ? 'damage' : 'x11grab';
  }

  /** Starts damage-grab.py writing into `into` (FFmpeg's fd 3), and lets go of this process's end of it. */
  private startGrab(into: Socket, dir: string, display: string, q: { width: number; height: number }, fps: number, log: ReturnType<typeof componentLogger>, onCounts: (c: GrabCounts, at: number) => void): Grab {
    const args = damageGrabArgs({ display, width: q.width, height: q.height, fps, floorSeconds: this.opts.args?.floorSeconds ?? ENCODER_DEFAULTS.floorSeconds, regrabSeconds: this.opts.regrabSeconds ?? 2 });
    const child = spawnRegistered(this.opts.registry, 'damage-grab', this.opts.python ?? defaultPython(), args, { cwd: dir, stdin: 'ignore', stdout: into, stderr: 'pipe' });
    into.destroy();
    const counts: { at: number; frame: number }[] = [];
    const lines: string[] = [];
    const err = child.subprocess.stderr as Readable | null;
    err?.setEncoding('utf8');
    err?.on(
      'data',
      lineSplitter((line) => {
        const c = parseGrabCounts(line);
        if (c) {
          const at = Date.now();
          counts.push({ at, frame: c.grabs });
          if (counts.length > 12) counts.shift();
          onCounts(c, at);
          return;
        }
        lines.push(line.slice(0, 500));
        if (lines.length > 20) lines.shift();
        log.debug({ line: line.slice(0, 200) }, 'damage-grab');
      }),
    );
    let stopping = false;
    return {
      counts,
      exited: child.exited.then((e) => describeExit('damage-grab', e, stopping, lines)),
      stop: async () => {
        stopping = true;
        await child.stop();
      },
    };
  }

  async start(o: { display: string; input: StreamInput; dir: string }, ctx: StartContext): Promise<FfmpegEncoderHandle> {
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'encoder start aborted');
    const log = componentLogger(ctx.log, 'encoder');
    const ffmpegPath = this.opts.ffmpegPath ?? 'ffmpeg';
    const probe: ProbeResult = await probeEncoder(o.input.hwAccel, {
      ffmpegPath,
      cacheFile: this.opts.probeCacheFile,
      devices: this.opts.probeDevices,
      signal: ctx.signal,
      log,
    });
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'encoder start aborted');

    const capture = await this.capturePath(o.display, o.input.quality, log);
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'encoder start aborted');

    mkdirSync(o.dir, { recursive: true });
    const playlistName = this.opts.args?.playlistName ?? ENCODER_DEFAULTS.playlistName;
    const q = o.input.quality;
    const audioKbps = this.opts.args?.audioKbps ?? ENCODER_DEFAULTS.audioKbps;
    removeStaleTemps(o.dir); // a write a killed run left half done
    // The spec's rate: FRAME-RATE is a maximum, and a step down only lowers the real one.
    writeFileAtomicSync(
      join(o.dir, MASTER_PLAYLIST),
      masterPlaylist({
        bandwidth: (peakKbps(q) + audioKbps) * 1000 * 1.1, // + container overhead
        width: q.width,
        height: q.height,
        fps: q.fps,
        codecs: codecsString(h264Level(q, peakKbps(q))),
        media: playlistName,
      }),
    );

    const paceOpts: PaceOptions = { ...PACE_DEFAULTS, ...stripUndefined(this.opts.pace ?? {}) };
    // A thread count given to the driver is kept at every step; otherwise small streams start on one.
    const levels = paceLevels(probe.encoder, q.fps, paceOpts.minFps, this.opts.args?.x264Threads === undefined && startsSingleThreaded(q));
    const paceKey = `${o.dir}|${probe.encoder}|${q.width}x${q.height}@${q.fps}`;
    const remembered = this.reached.get(paceKey);
    let pace: PaceState = remembered && remembered.level < levels.length ? { level: remembered.level, stepUpAfterMs: remembered.stepUpAfterMs } : initialPace(paceOpts);
    let steps = 0;

    const stderrOf = new Map<Run, () => string[]>();
    const runIds = new Set<string>();
    let current: Run;
    let stopping = false;
    let stepping: Promise<void> | undefined;
    let figures: EncoderFigures | undefined;
    /** The current run's damage-grab helper, if it has one. */
    let grabOf: Grab | undefined;
    // Counters go on across the runs of one handle.
    let base = { frame: 0, dropped: 0, duplicated: 0 };
    let samples: SpeedSample[] = [];
    /** The current run's stream time 0 on the wall clock (ms), once its progress tells. */
    let streamStart: number | undefined;
    const segmentSeconds = this.opts.args?.segmentSeconds ?? ENCODER_DEFAULTS.segmentSeconds;
    const initSegmentSeconds = this.opts.args?.initSegmentSeconds ?? ENCODER_DEFAULTS.initSegmentSeconds;

    let settle: (e: ExitInfo) => void = () => {};
    const exited = new Promise<ExitInfo>((r) => (settle = r));
    let watching = true;
    void exited.then(() => (watching = false));

    // The HLS muxer often reports no bitrate: then it is read from the newest segments' sizes, on
    // demand (a status read) and at most once every 2 s, not by a poll that runs for ever.
    let segmentKbps = { value: Number.NaN, at: 0 };
    const currentSegmentKbps = (): number => {
      const now = Date.now();
      if (now - segmentKbps.at >= 2000) {
        const pl = readMediaPlaylist(o.dir, playlistName);
        segmentKbps = { value: pl ? playlistKbps(o.dir, pl) : Number.NaN, at: now };
      }
      return segmentKbps.value;
    };

    const launch = (level: PaceLevel): Run => {
      const append = existsSync(join(o.dir, playlistName));
      if (append) {
        const removed = removeUnlistedSegments(o.dir, playlistName);
        if (removed.length > 0) log.debug({ removed: removed.length }, 'removed segments the last FFmpeg left unlisted');
      }
      const runId = `r${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
      runIds.add(runId);
      const args = encoderArgs(q, probe.encoder, o.input.mode, {
        ...this.opts.args,
        capture,
        display: o.display,
        runId,
        append,
        ...(level.preset ? { x264Preset: level.preset } : {}),
        ...(level.singleThread ? { x264Threads: 1 } : {}),
        ...(level.fps !== q.fps ? { fps: level.fps } : {}),
      });
      log.info({ encoder: probe.encoder, capture, append, runId, pace: describeLevel(level) }, 'starting FFmpeg');
      const damage = capture === 'damage';
      const child = spawnRegistered(this.opts.registry, 'ffmpeg', ffmpegPath, args, {
        cwd: o.dir,
        // Damage capture: the frames arrive on fd 3; stdin stays the graceful stop's.
        ...(damage ? { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] as const } : { stdin: 'pipe' as const, stdout: 'pipe' as const, stderr: 'pipe' as const }),
        // FFmpeg reads no keys while an input is a pipe: a damage run is stopped by SIGTERM, which it
        // handles the same way (it finishes the segment and the playlist).
        stopSteps: damage ? FFMPEG_STOP.filter((s) => s.signal !== 'q') : FFMPEG_STOP,
      });
      const stderr = tailOf(child.subprocess.stderr as Readable | null);
      let runStopping = false;
      let firstProgress: () => void = () => {};
      const progressed = new Promise<void>((r) => (firstProgress = r));
      // Damage capture: FFmpeg's speed stays 1 (frames are stamped as it reads them), so the pace
      // reads how much of what was due FFmpeg took: stream time that advances only that fast.
      let paceFrom: { counts: GrabCounts; at: number; outS: number } | undefined;
      let lastFrame: number | undefined;
      const grab = damage
        ? this.startGrab(child.subprocess.stdio[3] as Socket, o.dir, o.display, q, level.fps, log, (c, at) => {
            if (paceFrom) {
              const outS = paceFrom.outS + ((at - paceFrom.at) / 1000) * keptUp(paceFrom.counts, c);
              observe(run, { at, outS, ...(lastFrame === undefined ? {} : { frame: lastFrame }) });
              paceFrom = { counts: c, at, outS };
            } else paceFrom = { counts: c, at, outS: 0 };
          })
        : undefined;
      // The helper writes straight into FFmpeg's fd 3, and this process keeps no end of that pipe:
      // when FFmpeg goes the helper's next write fails and it ends; when the helper goes FFmpeg reads
      // the end of its input, and is stopped here with the helper's words as the reason.
      const ffmpegExited = child.exited.then((e) => describeExit('FFmpeg', e, runStopping, stderr()));
      const run: Run = {
        runId,
        progressed,
        replaced: false,
        exited: grab
          ? // The helper ends quietly (code 0) only when FFmpeg closed its input: then FFmpeg's exit
            // tells. A helper that failed (FFmpeg then ends on the broken input, often first) does.
            Promise.race([
              ffmpegExited.then(async (e) => {
                if (runStopping) return e;
                const g = await Promise.race([grab.exited, new Promise<undefined>((r) => void setTimeout(() => r(undefined), 1000).unref())]);
                return g && g.code !== 0 ? g : e;
              }),
              grab.exited.then((e) => (runStopping || e.code === 0 ? ffmpegExited : child.stop().then(() => e))),
            ])
          : ffmpegExited,
        stop: async () => {
          runStopping = true;
          await child.stop();
          await grab?.stop();
        },
      };
      grabOf = grab;
      // However the run ended, its helper goes with it (and out of the registry).
      if (grab) void run.exited.then(() => grab.stop());
      stderrOf.set(run, stderr);
      streamStart = undefined;
      const parser = new ProgressParser();
      const stdout = child.subprocess.stdout as Readable | null;
      stdout?.setEncoding('utf8');
      stdout?.on('data', (chunk: string) => {
        for (const s of parser.push(chunk)) {
          if (run.replaced) return;
          const now = Date.now();
          figures = {
            fps: nz(s.fps),
            speed: nz(s.speed),
            droppedFrames: base.dropped + nz(s.droppedFrames),
            duplicatedFrames: base.duplicated + nz(s.duplicatedFrames),
            bitrateKbps: s.bitrateKbps, // NaN when FFmpeg does not know: then read from the segments
            frame: base.frame + nz(s.frame),
            at: new Date(now).toISOString(),
            // x11grab takes every frame at the level's rate; adaptive mode encodes only those that
            // changed. Damage capture grabs only what changed. Both rates are read from their samples
            // of this run when the figures are (below).
            capture: { path: capture, capturedFps: level.fps, encodedFps: 0 },
          };
          firstProgress();
          if (Number.isFinite(s.frame)) lastFrame = s.frame;
          if (Number.isFinite(s.outTimeUs)) {
            if (!damage) observe(run, { at: now, outS: s.outTimeUs / 1e6, ...(Number.isFinite(s.frame) ? { frame: s.frame } : {}) });
            // When this run's stream time 0 was, on the wall clock: a sample is printed after the
            // frame it counts was captured, so the earliest estimate is the closest.
            if (run === current && s.outTimeUs > 0) streamStart = Math.min(streamStart ?? Infinity, now - s.outTimeUs / 1000);
          }
        }
      });
      void run.exited.then((e) => {
        if (run.replaced) return; // stopped for a step: the next run carries on
        if (e.reason !== 'stopped') {
          log.warn({ exit: e }, 'FFmpeg exited');
          ctx.report({ type: 'EncoderRunning', status: 'False', reason: e.reason === 'killed' ? 'Killed' : 'Exited', message: e.message });
        }
        settle(e);
      });
      return run;
    };

    // Started = FFmpeg reported progress (it runs and encodes); an early exit is a clear error.
    const startTimeout = this.opts.startTimeoutMs ?? 15_000;
    const started = (run: Run, signal?: AbortSignal): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new PagecastError('PROCESS_FAILED', `FFmpeg reported no progress within ${startTimeout} ms: ${lastLines(stderrOf.get(run)!())}`, { timedOut: true, source: 'ffmpeg' })),
          startTimeout,
        );
        const onAbort = () => reject(new PagecastError('ABORTED', 'encoder start aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
        void run.progressed.then(resolve);
        void run.exited.then((e) => reject(new PagecastError('PROCESS_FAILED', `FFmpeg failed to start: ${e.message}`, { exitCode: e.code, signal: e.signal, source: 'ffmpeg' })));
        const cleanup = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        void run.progressed.then(cleanup, cleanup);
        void run.exited.then(cleanup);
      });

    const reportPace = (speed: number | undefined, why: 'down' | 'up' | 'floor' | 'start') => {
      const level = levels[pace.level]!;
      const what = describeLevel(level);
      const seconds = `${Math.round(paceOpts.windowMs / 1000)} s`;
      const hw = level.preset ? '' : ` (${probe.encoder}: only the frame rate steps)`;
      const sp = speed === undefined ? '' : speed.toFixed(2);
      if (why === 'start') {
        if (pace.level === 0) ctx.report({ type: 'EncoderDegraded', status: 'False', reason: 'FullQuality', message: what });
        else ctx.report({ type: 'EncoderDegraded', status: 'True', reason: 'FellBehind', message: `fell behind before: ${what}${hw}` });
      } else if (why === 'floor') {
        ctx.report({ type: 'EncoderDegraded', status: 'True', reason: 'BehindAtFloor', message: `speed ${sp} for ${seconds} at the lowest step: ${what}${hw}` });
      } else if (why === 'down') {
        ctx.report({ type: 'EncoderDegraded', status: 'True', reason: 'FellBehind', message: `speed ${sp} for ${seconds}: ${what}${hw}` });
      } else if (pace.level === 0) {
        ctx.report({ type: 'EncoderDegraded', status: 'False', reason: 'Recovered', message: `speed ${sp}: back to ${what}` });
      } else {
        ctx.report({ type: 'EncoderDegraded', status: 'True', reason: 'SteppingUp', message: `speed ${sp}: trying ${what}${hw}` });
      }
    };

    // A step: stop this FFmpeg (it finishes its segment), start one at the new level appending to
    // the playlist. The device's buffer covers the few seconds without a new segment.
    const step = async (from: Run): Promise<void> => {
      from.replaced = true;
      base = { frame: figures?.frame ?? base.frame, dropped: figures?.droppedFrames ?? base.dropped, duplicated: figures?.duplicatedFrames ?? base.duplicated };
      samples = [];
      await from.stop();
      if (stopping) return settle({ reason: 'stopped', code: null, signal: null, message: 'FFmpeg stopped' });
      const run = (current = launch(levels[pace.level]!));
      // An exit is the handle's exit (above); a run that never reports progress is ended here.
      void started(run).catch(async (err: unknown) => {
        if (run.replaced || stopping || !(err instanceof PagecastError && err.timedOut)) return;
        run.replaced = true;
        await run.stop();
        log.warn({ err: err.message }, 'FFmpeg failed to restart at a new level');
        ctx.report({ type: 'EncoderRunning', status: 'False', reason: 'Exited', message: err.message });
        settle({ reason: 'exited', code: null, signal: null, message: err.message });
      });
    };

    const observe = (run: Run, sample: SpeedSample) => {
      if (run !== current || stepping || stopping) return;
      samples.push(sample);
      // Enough for the window and for speedOver() reads in benches.
      const keep = Math.max(paceOpts.windowMs, 120_000);
      while (samples.length > 2 && samples[1]!.at <= sample.at - keep) samples.shift();
      const { state, decision } = judgePace(pace, samples, sample.at, levels.length, paceOpts);
      pace = state;
      if (!decision) return;
      this.reached.set(paceKey, { level: pace.level, stepUpAfterMs: pace.stepUpAfterMs });
      if (decision.kind === 'floor') {
        log.warn({ speed: decision.speed, pace: describeLevel(levels[pace.level]!) }, 'FFmpeg behind real time at the lowest step');
        reportPace(decision.speed, 'floor');
        return;
      }
      steps++;
      log[decision.direction === 'down' ? 'warn' : 'info']({ speed: decision.speed, pace: describeLevel(levels[pace.level]!) }, `FFmpeg ${decision.direction === 'down' ? 'behind real time: stepping down' : 'has headroom: stepping up'}`);
      reportPace(decision.speed, decision.direction);
      stepping = step(run).finally(() => (stepping = undefined));
    };

    current = launch(levels[pace.level]!);

    // Servable once the playlist lists enough segments, at least one of them written by this handle.
    // And the whole ramp of short segments: a player starting at the first never waits for the next.
    const ramp = rampSegments(this.opts.args?.segmentSeconds ?? ENCODER_DEFAULTS.segmentSeconds, this.opts.args?.initSegmentSeconds ?? ENCODER_DEFAULTS.initSegmentSeconds);
    const need = Math.min(Math.max(this.opts.servableSegments ?? 3, ramp), this.opts.args?.listSize ?? ENCODER_DEFAULTS.listSize);
    const pollMs = this.opts.pollMs ?? 200;
    let markServable: () => void = () => {};
    let failServable: (e: Error) => void = () => {};
    const servable = new Promise<void>((resolve, reject) => {
      markServable = resolve;
      failServable = reject;
    });
    servable.catch(() => {});
    void exited.then((e) => failServable(new PagecastError('PROCESS_FAILED', `stream never became servable: ${e.message ?? e.reason}`, { source: 'ffmpeg' })));
    // Polled only until servable: after that nothing here needs the playlist.
    const poll = async () => {
      while (watching) {
        const pl = readMediaPlaylist(o.dir, playlistName);
        if (pl && pl.segments.length >= need && pl.segments.some((s) => runIds.has(s.uri.slice(0, s.uri.lastIndexOf('-'))))) {
          markServable();
          ctx.report({ type: 'StreamServable', status: 'True', reason: 'SegmentsReady', message: `${pl.segments.length} segments` });
          return;
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
    };
    void poll();

    const stop = async () => {
      stopping = true;
      await stepping;
      await current.stop();
    };

    try {
      await started(current, ctx.signal);
    } catch (err) {
      await stop();
      throw err;
    }
    ctx.report({
      type: 'EncoderRunning',
      status: 'True',
      reason: probe.fallbackReason ? 'SoftwareFallback' : 'Started',
      message: probe.fallbackReason ? `${probe.encoder}: ${probe.fallbackReason}` : probe.encoder,
    });
    reportPace(undefined, 'start');

    const handle: FfmpegEncoderHandle = {
      encoder: probe.encoder,
      ...(probe.fallbackReason === undefined ? {} : { fallbackReason: probe.fallbackReason }),
      exited,
      stop,
      figures: () =>
        figures && {
          ...figures,
          ...(Number.isFinite(figures.bitrateKbps) ? {} : { bitrateKbps: nz(currentSegmentKbps()) }),
          capture: {
            ...figures.capture!,
            ...(grabOf ? { capturedFps: nz(recentFrameRate(grabOf.counts, ENCODED_FPS_WINDOW_MS)) } : {}),
            encodedFps: nz(recentFrameRate(samples, ENCODED_FPS_WINDOW_MS)),
          },
        },
      servable: () => servable,
      pace: () => ({ level: levels[pace.level]!, index: pace.level, levels, steps, speed: recentSpeed(samples, Date.now(), paceOpts.windowMs) }),
      speedOver: (ms) => recentSpeed(samples, Date.now(), ms),
      nextSegmentEnd: (after) => {
        if (streamStart === undefined) return undefined;
        return streamStart + 1000 * boundaryAtOrAfter((after - streamStart) / 1000, segmentSeconds, initSegmentSeconds);
      },
    };
    return handle;
  }
}

/** A damage-grab check that failed for the display's sake, not the machine's. */
const TRANSIENT_CHECK_FAILURE = /cannot open display|took longer than/;

/** A run's damage-grab helper. */
interface Grab {
  /** Its grab counter, once a second (the last dozen). */
  counts: { at: number; frame: number }[];
  exited: Promise<ExitInfo>;
  stop(): Promise<void>;
}

/** One FFmpeg process of a handle. */
interface Run {
  runId: string;
  progressed: Promise<void>;
  exited: Promise<ExitInfo>;
  /** Stopped for a step (or failed one): its exit is not the handle's. */
  replaced: boolean;
  stop(): Promise<void>;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function nz(n: number): number {
  return Number.isFinite(n) ? n : 0;
}

/** Output bitrate from the newest segments' sizes and durations (the HLS muxer reports N/A). */
export function playlistKbps(dir: string, pl: MediaPlaylist): number {
  let bytes = 0;
  let seconds = 0;
  for (const s of pl.segments.slice(-5)) {
    try {
      bytes += statSync(join(dir, s.uri)).size;
      seconds += s.duration;
    } catch {
      // deleted meanwhile
    }
  }
  return seconds > 0 ? (bytes * 8) / seconds / 1000 : Number.NaN;
}
