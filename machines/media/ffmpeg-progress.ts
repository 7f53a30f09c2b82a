// Parses FFmpeg's `-progress` output: blocks of key=value lines, each ended by `progress=continue`
// or `progress=end`. Pure: feed it text chunks, it returns the completed samples.

export interface ProgressSample {
  frame: number;
  fps: number;
  speed: number; // 1 = real time; NaN while FFmpeg reports N/A
  bitrateKbps: number; // NaN when FFmpeg reports N/A (the HLS muxer does)
  droppedFrames: number;
  duplicatedFrames: number;
  outTimeUs: number;
  end: boolean;
}

export class ProgressParser {
  private buffer = '';
  private block = new Map<string, string>();

  /** Feed a chunk of the progress stream; returns the samples completed by it. Never throws. */
  push(chunk: string): ProgressSample[] {
    this.buffer += chunk;
    // A runaway line without newlines is not progress output; drop it rather than grow forever.
    if (this.buffer.length > 65_536) this.buffer = this.buffer.slice(-4096);
    const out: ProgressSample[] = [];
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      if (key === 'progress') {
        out.push(toSample(this.block, value === 'end'));
        this.block = new Map();
      } else {
        this.block.set(key, value);
      }
    }
    return out;
  }
}

function toSample(b: Map<string, string>, end: boolean): ProgressSample {
  return {
    frame: num(b.get('frame')),
    fps: num(b.get('fps')),
    speed: num(b.get('speed')?.replace(/x$/, '')),
    bitrateKbps: num(b.get('bitrate')?.replace(/kbits\/s$/, '')),
    droppedFrames: num(b.get('drop_frames')),
    duplicatedFrames: num(b.get('dup_frames')),
    outTimeUs: num(b.get('out_time_us') ?? b.get('out_time_ms')),
    end,
  };
}

function num(v: string | undefined): number {
  if (v === undefined || v === '' || v === 'N/A') return Number.NaN;
  const n = Number(v);
  return Number.isFinite(n) ? n : Number.NaN;
}

/** A run's frame counter at a wall-clock time (ms). */
export interface FramePoint {
  at: number;
  frame?: number;
}

/**
 * Frames per second over the last `windowMs` of points (oldest first), or NaN with fewer than two.
 * FFmpeg's own `fps=` is the average since the run started, which hides what a page costs now.
 */
export function recentFrameRate(points: readonly FramePoint[], windowMs: number): number {
  const last = points.at(-1);
  if (!last) return Number.NaN;
  const first = points.find((p) => p.at >= last.at - windowMs) ?? last;
  const ms = last.at - first.at;
  return ms > 0 && first.frame !== undefined && last.frame !== undefined ? ((last.frame - first.frame) * 1000) / ms : Number.NaN;
}
