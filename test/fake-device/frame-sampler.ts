// What the fake device's screen shows, cheaply: every segment the player accepts is decoded once
// more by FFmpeg, scaled down to a grid of a few cells, and each frame's cells are recorded with
// the time the decode finished. Opt-in (PlayerOptions.sampleFrames): it costs a decode per segment
// on the two cores the pipeline under test also uses, so one decode runs at a time, in order.
// `gridArgs`, `parseGridFrames` and `parseShowinfoPts` are pure; `decodeGrid` runs the process.
import { execa } from 'execa';
import { PagecastError, isAbort } from '../../machines/errors.js';
import type { Rgb } from './frame-colours.js';

export interface SampledFrame {
  /** Wall clock (ms) when the decode of its segment finished: when the device "had" the frame. */
  decodedAt: number;
  /** Wall clock (ms) when the player handed the segment over (fetched and checked); decodedAt − queuedAt is the sampler's own delay. */
  queuedAt: number;
  /** Media sequence number of its segment. */
  sequence: number;
  /** Position within the segment, in presentation order. */
  index: number;
  /** Seconds from the start of the segment (FFmpeg's, from the earliest stream in it), when FFmpeg reported it. */
  pts?: number;
  /** The segment's EXT-X-PROGRAM-DATE-TIME plus pts (ms): when the frame was captured, if the playlist says. */
  programDateTime?: number;
  /** grid × grid cells, row by row, each the average colour of its block of the picture. */
  cells: Rgb[];
}

export interface SampleFramesOptions {
  /** Cells per side (4 → 4×4). */
  grid?: number;
  ffmpegPath?: string;
  /** Per segment. */
  timeoutMs?: number;
}

/** A segment the sampler could not decode: its frames are missing from the record. */
export interface SampleError {
  sequence: number;
  message: string;
}

export const SAMPLE_DEFAULTS = { grid: 4, ffmpegPath: 'ffmpeg', timeoutMs: 15_000 };

/**
 * FFmpeg reads the segment on stdin and writes grid×grid RGB frames on stdout. One decoding and one
 * filter thread; `area` averages each block; showinfo (at info level, on stderr) gives the pts;
 * passthrough keeps exactly the decoded frames (no duplicates or drops for variable frame rate).
 */
export function gridArgs(grid: number, container?: 'ts' | 'fmp4'): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'info',
    '-filter_threads', '1', '-threads', '1',
    ...(container ? ['-f', container === 'ts' ? 'mpegts' : 'mp4'] : []),
    '-i', 'pipe:0',
    '-map', '0:v:0', '-vf', `scale=${grid}:${grid}:flags=area,showinfo`, '-fps_mode', 'passthrough',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ];
}

/** Raw rgb24 frames of grid×grid pixels, each as its cells. Throws on a partial frame. */
export function parseGridFrames(raw: Uint8Array, grid: number): Rgb[][] {
  const size = grid * grid * 3;
  if (raw.length % size !== 0) throw new PagecastError('PROCESS_FAILED', `ffmpeg wrote ${raw.length} bytes, not a whole number of ${grid}×${grid} frames`, { source: 'ffmpeg' });
  const frames: Rgb[][] = [];
  for (let off = 0; off < raw.length; off += size) {
    const cells: Rgb[] = [];
    for (let i = off; i < off + size; i += 3) cells.push([raw[i]!, raw[i + 1]!, raw[i + 2]!]);
    frames.push(cells);
  }
  return frames;
}

/** Each frame's pts_time from showinfo's lines on FFmpeg's stderr, in output order. */
export function parseShowinfoPts(stderr: string): number[] {
  const out: number[] = [];
  for (const m of stderr.matchAll(/Parsed_showinfo[^\]]*\]\s+n:\s*\d+\s+pts:\s*-?\d+\s+pts_time:(-?[\d.]+(?:e-?\d+)?)/g)) out.push(Number(m[1]));
  return out;
}

export interface GridDecodeOptions {
  grid: number;
  container?: 'ts' | 'fmp4';
  signal?: AbortSignal;
  ffmpegPath?: string;
  timeoutMs?: number;
}

export interface GridDecode {
  frames: Rgb[][];
  /** Per frame, when showinfo reported one line per frame. */
  pts?: number[];
}

/** Decodes one segment (for fMP4: init section and segment, concatenated) to small frames. */
export async function decodeGrid(bytes: Uint8Array, opts: GridDecodeOptions): Promise<GridDecode> {
  try {
    const r = await execa(opts.ffmpegPath ?? SAMPLE_DEFAULTS.ffmpegPath, gridArgs(opts.grid, opts.container), {
      input: bytes,
      encoding: 'buffer',
      timeout: opts.timeoutMs ?? SAMPLE_DEFAULTS.timeoutMs,
      cancelSignal: opts.signal,
      // stop() waits for the process to be gone; a decoder ignoring SIGTERM must not hold it up long.
      forceKillAfterDelay: 1_000,
      reject: false,
      maxBuffer: 20_000_000,
    });
    if (r.isCanceled) throw new PagecastError('ABORTED', 'ffmpeg cancelled', { source: 'ffmpeg' });
    if (r.timedOut) throw new PagecastError('PROCESS_FAILED', 'ffmpeg timed out', { source: 'ffmpeg', timedOut: true });
    const stderr = Buffer.from(r.stderr).toString('utf8');
    if (r.exitCode !== 0) {
      const why = stderr.trim().split('\n').filter((l) => !l.includes('Parsed_showinfo')).slice(-2).join('; ') || `exit ${r.exitCode}`;
      throw new PagecastError('PROCESS_FAILED', `ffmpeg: ${why}`, { source: 'ffmpeg', exitCode: r.exitCode ?? null, signal: r.signal ?? null });
    }
    const frames = parseGridFrames(r.stdout, opts.grid);
    const pts = parseShowinfoPts(stderr);
    return pts.length === frames.length ? { frames, pts } : { frames };
  } catch (err) {
    if (err instanceof PagecastError) throw err;
    if (isAbort(err) || opts.signal?.aborted) throw new PagecastError('ABORTED', 'ffmpeg cancelled', { source: 'ffmpeg', cause: err });
    throw new PagecastError('PROCESS_FAILED', `ffmpeg failed to run: ${(err as Error).message}`, { source: 'ffmpeg', cause: err });
  }
}

export interface SegmentToSample {
  sequence: number;
  /** For fMP4, the init section already prepended. */
  bytes: Uint8Array;
  container?: 'ts' | 'fmp4';
  /** Epoch ms of the segment's first sample, from the playlist. */
  programDateTime?: number;
}

export interface FrameSamplerOptions extends SampleFramesOptions {
  /** One call per decoded segment, with its frames in order. Never called after stop(). */
  onFrames: (frames: SampledFrame[]) => void;
  /** Never called after stop(). */
  onError?: (e: SampleError) => void;
  now?: () => number;
  /** Stand-in for FFmpeg in tests. */
  decode?: (bytes: Uint8Array, opts: GridDecodeOptions) => Promise<GridDecode>;
}

/** Decodes segments one at a time in the order they were added. */
export class FrameSampler {
  private readonly queue: Array<SegmentToSample & { queuedAt: number }> = [];
  private readonly ac = new AbortController();
  private readonly now: () => number;
  private readonly decode: (bytes: Uint8Array, opts: GridDecodeOptions) => Promise<GridDecode>;
  /** A drain loop is running; set and cleared synchronously, so add() never misses the loop's end. */
  private busy = false;
  private draining: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: FrameSamplerOptions) {
    this.now = opts.now ?? Date.now;
    this.decode = opts.decode ?? decodeGrid;
  }

  /** Segments waiting, plus the one decoding. */
  get backlog(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  add(seg: SegmentToSample): void {
    if (this.stopped) return;
    this.queue.push({ ...seg, queuedAt: this.now() });
    if (this.busy) return;
    this.busy = true;
    this.draining = this.drain();
  }

  /** Drops the queue, kills the decode in flight; resolves once its process has exited. Nothing is reported after. */
  stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    this.ac.abort();
    return this.draining;
  }

  private async drain(): Promise<void> {
    const grid = this.opts.grid ?? SAMPLE_DEFAULTS.grid;
    try {
      for (let seg = this.queue.shift(); seg && !this.stopped; seg = this.queue.shift()) {
        let decoded: GridDecode;
        try {
          decoded = await this.decode(seg.bytes, { grid, container: seg.container, signal: this.ac.signal, ffmpegPath: this.opts.ffmpegPath, timeoutMs: this.opts.timeoutMs });
        } catch (err) {
          if (this.stopped) return;
          const message = (err as Error)?.message ?? String(err);
          const sequence = seg.sequence;
          this.report(() => this.opts.onError?.({ sequence, message }));
          continue;
        }
        if (this.stopped) return;
        const frames = framesOf(decoded, seg, this.now());
        this.report(() => this.opts.onFrames(frames));
      }
    } finally {
      // In the same step as the loop's last look at the queue: an add() after this starts a new loop.
      this.busy = false;
    }
  }

  private report(fn: () => void): void {
    try {
      fn();
    } catch {
      // a listener must not stop the sampling
    }
  }
}

function framesOf(decoded: GridDecode, seg: SegmentToSample & { queuedAt: number }, decodedAt: number): SampledFrame[] {
  const { sequence, queuedAt, programDateTime } = seg;
  return decoded.frames.map((cells, index) => {
    const f: SampledFrame = { decodedAt, queuedAt, sequence, index, cells };
    const pts = decoded.pts?.[index];
    if (pts !== undefined) {
      f.pts = pts;
      if (programDateTime !== undefined) f.programDateTime = Math.round(programDateTime + pts * 1000);
    }
    return f;
  });
}
