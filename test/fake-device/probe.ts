// Decode check for one HLS segment with ffprobe: do its bytes really hold frames, at what level?
// `parseProbeJson` is pure (ffprobe's reply is input to judge); `probeSegment` runs the process.
import { execa } from 'execa';
import { PagecastError, isAbort } from '../../machines/errors.js';

export interface VideoProbe {
  codec: string;
  profile?: string;
  /** level_idc as ffprobe reports it: level × 10 (30 = 3.0). */
  level?: number;
  width?: number;
  height?: number;
  frames: number;
}

export interface AudioProbe {
  codec: string;
  frames: number;
}

export interface SegmentProbe {
  video?: VideoProbe;
  audio?: AudioProbe;
}

export interface ProbeOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  ffprobePath?: string;
  /** The container the playlist says this is. Named, because ffprobe's own detection needs about
   * ten TS packets, and a still page's short first segment can be valid in fewer. */
  container?: 'ts' | 'fmp4';
}

// One decoding thread: the fake device shares two cores with the pipeline it is judging.
export const PROBE_ARGS = [
  '-v', 'error', '-threads', '1', '-count_frames',
  '-show_entries', 'stream=codec_type,codec_name,profile,level,width,height,nb_read_frames',
  '-of', 'json', '-i', 'pipe:0',
] as const;

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Reads ffprobe's JSON; the first video and first audio stream count. Throws on anything malformed. */
export function parseProbeJson(text: string): SegmentProbe {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new PagecastError('PROCESS_FAILED', `ffprobe printed invalid JSON: ${text.slice(0, 80)}`, { source: 'ffprobe' });
  }
  const streams = (data as { streams?: unknown })?.streams;
  if (!Array.isArray(streams)) throw new PagecastError('PROCESS_FAILED', 'ffprobe found no streams', { source: 'ffprobe' });
  const out: SegmentProbe = {};
  for (const s of streams as Record<string, unknown>[]) {
    if (typeof s !== 'object' || s === null) continue;
    const codec = typeof s.codec_name === 'string' ? s.codec_name : 'unknown';
    const frames = num(s.nb_read_frames) ?? 0;
    if (s.codec_type === 'video' && !out.video) {
      const v: VideoProbe = { codec, frames };
      if (typeof s.profile === 'string') v.profile = s.profile;
      const level = num(s.level);
      if (level !== undefined && level > 0) v.level = level;
      const width = num(s.width);
      const height = num(s.height);
      if (width !== undefined) v.width = width;
      if (height !== undefined) v.height = height;
      out.video = v;
    } else if (s.codec_type === 'audio' && !out.audio) {
      out.audio = { codec, frames };
    }
  }
  return out;
}

/** Decodes a segment (for fMP4: init section and segment, concatenated) fed on stdin. */
export async function probeSegment(bytes: Uint8Array, opts: ProbeOptions = {}): Promise<SegmentProbe> {
  try {
    const args: string[] = [...PROBE_ARGS];
    if (opts.container) args.splice(args.indexOf('-i'), 0, '-f', opts.container === 'ts' ? 'mpegts' : 'mp4');
    const r = await execa(opts.ffprobePath ?? 'ffprobe', args, {
      input: bytes,
      timeout: opts.timeoutMs ?? 15_000,
      cancelSignal: opts.signal,
      reject: false,
      stripFinalNewline: false,
      maxBuffer: 1_000_000,
    });
    if (r.isCanceled) throw new PagecastError('ABORTED', 'ffprobe cancelled', { source: 'ffprobe' });
    if (r.timedOut) throw new PagecastError('PROCESS_FAILED', 'ffprobe timed out', { source: 'ffprobe', timedOut: true });
    if (r.exitCode !== 0) {
      const why = String(r.stderr).trim().split('\n').slice(-2).join('; ') || `exit ${r.exitCode}`;
      throw new PagecastError('PROCESS_FAILED', `ffprobe: ${why}`, { source: 'ffprobe', exitCode: r.exitCode ?? null, signal: r.signal ?? null });
    }
    return parseProbeJson(String(r.stdout));
  } catch (err) {
    if (err instanceof PagecastError) throw err;
    if (isAbort(err) || opts.signal?.aborted) throw new PagecastError('ABORTED', 'ffprobe cancelled', { source: 'ffprobe', cause: err });
    throw new PagecastError('PROCESS_FAILED', `ffprobe failed to run: ${(err as Error).message}`, { source: 'ffprobe', cause: err });
  }
}
