// EncoderDriver: FFmpeg x11grab → H.264 live HLS in the stream's directory. The directory outlives
// one FFmpeg: a restart appends to the same playlist (media sequence goes on, a discontinuity marks
// the join) with segment names prefixed by a fresh run id, so no name is ever reused.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PagecastError } from '../errors.js';
import { FFMPEG_STOP, describeExit, lastLines, spawnRegistered, tailOf, type ProcessRegistry } from '../processes/registry.js';
import { removeStaleTemps, writeFileAtomicSync } from '../atomic-file.js';
import type { EncoderDriver, EncoderFigures, EncoderHandle, ExitInfo, StartContext, StreamInput } from '../components.js';
import { encoderArgs, peakKbps, ENCODER_DEFAULTS, type EncoderArgsOptions } from './encoder-args.js';
import { ProgressParser } from './ffmpeg-progress.js';
import { probeEncoder, type ProbeOptions, type ProbeResult } from './hw-probe.js';
import { codecsString, h264Level, masterPlaylist, parseMediaPlaylist, type MediaPlaylist } from './playlist.js';

export const MASTER_PLAYLIST = 'master.m3u8';

export interface FfmpegEncoderOptions {
  registry: ProcessRegistry;
  ffmpegPath?: string;
  /** Per-machine cache of the hardware probe. */
  probeCacheFile?: string;
  probeDevices?: ProbeOptions['devices'];
  /** Overrides for the argument builder (tests use short windows; the defaults are the seed's). */
  args?: Partial<Omit<EncoderArgsOptions, 'display' | 'runId' | 'append'>>;
  /** Segments the playlist must list before the stream counts as servable. */
  servableSegments?: number; // 3
  /** How long FFmpeg may take to report its first progress. */
  startTimeoutMs?: number; // 15 s
  pollMs?: number; // 200
}

/** Removes a stream's files (teardown). */
export function removeStreamFiles(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
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
  constructor(private readonly opts: FfmpegEncoderOptions) {}

  async start(o: { display: string; input: StreamInput; dir: string }, ctx: StartContext): Promise<EncoderHandle> {
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'encoder start aborted');
    const log = ctx.log.child({ component: 'encoder' });
    const ffmpegPath = this.opts.ffmpegPath ?? 'ffmpeg';
    const probe: ProbeResult = await probeEncoder(o.input.hwAccel, {
      ffmpegPath,
      cacheFile: this.opts.probeCacheFile,
      devices: this.opts.probeDevices,
      signal: ctx.signal,
      log,
    });
    if (ctx.signal.aborted) throw new PagecastError('ABORTED', 'encoder start aborted');

    mkdirSync(o.dir, { recursive: true });
    const playlistName = this.opts.args?.playlistName ?? ENCODER_DEFAULTS.playlistName;
    const append = existsSync(join(o.dir, playlistName));
    const runId = `r${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    const q = o.input.quality;
    const audioKbps = this.opts.args?.audioKbps ?? ENCODER_DEFAULTS.audioKbps;
    removeStaleTemps(o.dir); // a write a killed run left half done
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
    const args = encoderArgs(q, probe.encoder, o.input.mode, { ...this.opts.args, display: o.display, runId, append });
    log.info({ encoder: probe.encoder, append, runId }, 'starting FFmpeg');

    const child = spawnRegistered(this.opts.registry, 'ffmpeg', ffmpegPath, args, {
      cwd: o.dir,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      stopSteps: FFMPEG_STOP,
    });
    const stderr = tailOf(child.subprocess.stderr as Readable | null);
    let stopping = false;
    let figures: EncoderFigures | undefined;
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
    const parser = new ProgressParser();
    let firstProgress: () => void = () => {};
    const progressed = new Promise<void>((r) => (firstProgress = r));
    const stdout = child.subprocess.stdout as Readable | null;
    stdout?.setEncoding('utf8');
    stdout?.on('data', (chunk: string) => {
      for (const s of parser.push(chunk)) {
        figures = {
          fps: nz(s.fps),
          speed: nz(s.speed),
          droppedFrames: nz(s.droppedFrames),
          duplicatedFrames: nz(s.duplicatedFrames),
          bitrateKbps: s.bitrateKbps, // NaN when FFmpeg does not know: then read from the segments
          frame: nz(s.frame),
          at: new Date().toISOString(),
        };
        firstProgress();
      }
    });

    const exited: Promise<ExitInfo> = child.exited.then((e) => describeExit('FFmpeg', e, stopping, stderr()));
    let watching = true;
    const stop = async () => {
      stopping = true;
      watching = false;
      await child.stop();
    };
    void exited.then((e) => {
      watching = false;
      if (e.reason !== 'stopped') {
        log.warn({ exit: e }, 'FFmpeg exited');
        ctx.report({ type: 'EncoderRunning', status: 'False', reason: e.reason === 'killed' ? 'Killed' : 'Exited', message: e.message });
      }
    });

    // Servable once the playlist lists enough segments, at least one of them written by this run.
    const need = this.opts.servableSegments ?? 3;
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
        if (pl && pl.segments.length >= need && pl.segments.some((s) => s.uri.startsWith(runId))) {
          markServable();
          ctx.report({ type: 'StreamServable', status: 'True', reason: 'SegmentsReady', message: `${pl.segments.length} segments` });
          return;
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
    };
    void poll();

    // Started = FFmpeg reported progress (it runs and encodes); an early exit is a clear error.
    const startTimeout = this.opts.startTimeoutMs ?? 15_000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new PagecastError('PROCESS_FAILED', `FFmpeg reported no progress within ${startTimeout} ms: ${lastLines(stderr())}`, { timedOut: true, source: 'ffmpeg' })), startTimeout);
        const onAbort = () => reject(new PagecastError('ABORTED', 'encoder start aborted'));
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        void progressed.then(resolve);
        void exited.then((e) => reject(new PagecastError('PROCESS_FAILED', `FFmpeg failed to start: ${e.message}`, { exitCode: e.code, signal: e.signal, source: 'ffmpeg' })));
        const cleanup = () => {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', onAbort);
        };
        void progressed.then(cleanup, cleanup);
        void exited.then(cleanup);
      });
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

    const handle: EncoderHandle = {
      encoder: probe.encoder,
      ...(probe.fallbackReason === undefined ? {} : { fallbackReason: probe.fallbackReason }),
      exited,
      stop,
      figures: () => (figures && !Number.isFinite(figures.bitrateKbps) ? { ...figures, bitrateKbps: nz(currentSegmentKbps()) } : figures),
      servable: () => servable,
    };
    return handle;
  }
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
