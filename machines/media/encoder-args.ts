// The FFmpeg command line for one stream, as a pure function so every Cast-safety rule is
// table-tested (CAST.md §10): H.264 High at a level the device supports, keyframes exactly on
// segment boundaries, a silent AAC track muxed in, a sliding live playlist with the seed's window.
import type { Resolution, StreamMode } from '../../specs/schema.js';
import type { CapturePath } from '../components.js';
import { h264Level } from './playlist.js';

export type VideoEncoder = 'libx264' | 'h264_vaapi' | 'h264_qsv' | 'h264_nvenc';
/** The libx264 presets the encoder steps through when it falls behind (encoder-pace.ts). */
export type X264Preset = 'veryfast' | 'superfast' | 'ultrafast';

/**
 * `adaptive`: capture at the spec's rate but only convert and encode frames that changed (plus a
 * frame every `floorSeconds`, aligned to segment boundaries), as variable frame rate. A still
 * dashboard then costs a few frames a second; a moving page gets every frame. `constant`: plain
 * constant frame rate.
 */
export type MotionMode = 'adaptive' | 'constant';

export interface EncoderArgsOptions {
  display: string; // ':12'
  /**
   * Where the frames come from. 'x11grab': FFmpeg grabs the display at the rate. 'damage': raw
   * frames on FFmpeg's fd 3 from damage-grab.py, written only when the display changed (and on the
   * floor grid), stamped by the wall clock as FFmpeg reads them; adaptive motion only.
   */
  capture?: CapturePath; // x11grab
  /** Segment and init names start with this, unique per encoder run, so a restart never reuses a name. */
  runId: string;
  /** The directory already holds a playlist from an earlier run: continue it (media sequence, discontinuity). */
  append?: boolean;
  segmentSeconds?: number; // 2
  /** Short first segments so three exist quickly; `segmentSeconds` must be a multiple. 0 disables. */
  initSegmentSeconds?: number; // 0.5
  listSize?: number; // 20
  deleteThreshold?: number; // 5
  motion?: MotionMode; // adaptive
  /** Adaptive mode: at least one frame per this many seconds (aligned to the keyframe grid). */
  floorSeconds?: number; // 0.5
  audioKbps?: number; // 48
  vaapiDevice?: string; // /dev/dri/renderD128
  /** libx264 threads; 0 lets x264 choose (one per core, sliced with zerolatency). */
  x264Threads?: number; // 0
  /** libx264 preset; a faster one when the stream falls behind real time. */
  x264Preset?: X264Preset; // veryfast
  /**
   * Capture and encode rate when stepped down below the spec's; the H.264 level stays the one the
   * spec's rate needs, so the stream matches the master playlist whatever the step.
   */
  fps?: number;
  /** Where `-progress` key=value blocks go. */
  progress?: string; // pipe:1
  playlistName?: string; // index.m3u8
}

export const ENCODER_DEFAULTS = {
  segmentSeconds: 2,
  initSegmentSeconds: 0.5,
  listSize: 20,
  deleteThreshold: 5,
  motion: 'adaptive' as MotionMode,
  capture: 'x11grab' as CapturePath,
  // Two frames a second on a still page: each boundary of the 0.5 s ramp and the 2 s segments has
  // one (measured: 0.25 cost a still 720p30 page a quarter more CPU, for frames that repeat).
  floorSeconds: 0.5,
  audioKbps: 48,
  vaapiDevice: '/dev/dri/renderD128',
  x264Threads: 0,
  x264Preset: 'veryfast' as X264Preset,
  progress: 'pipe:1',
  playlistName: 'index.m3u8',
};

/**
 * The display's pixels are bgr0. swscale has no direct way from bgr0 to 4:2:0 and converts it in
 * its generic path; through bgr24 (a byte shuffle) it takes its unscaled bgr24 → yuv420p path, same
 * matrix and range, chroma averaged over each 2x2 block (measured on 720p frames: 2.5 ms a frame
 * against 1.2 ms; FFmpeg's CPU on a still 720p30 page 3.50 → 3.10 % of a core, animated 34.3 → 32.0 %).
 */
const TO_YUV420 = 'format=bgr24,format=yuv420p';

/** Peak video bitrate (maxrate) for a quality: the spec's figure is the cap, CRF spends less on still frames. */
export function peakKbps(q: Resolution): number {
  return q.bitrateKbps;
}

/**
 * How many short segments of `init` s a stream starts with: enough to make a whole segment plus
 * one short one, so that a player starting at the first listed segment (players start a few
 * target durations behind the live edge, which at the start is the first segment) has the next,
 * full segment before it needs it. 0 without short segments.
 */
export function rampSegments(segment: number, init: number): number {
  return init > 0 && init < segment ? Math.ceil((segment + init) / init - 1e-9) : 0;
}

/**
 * Keyframe times as an FFmpeg expression: the ramp's short segments (so the stream is servable
 * early, with no stall when it starts), then one per segment.
 */
export function keyframeExpr(segment: number, init: number, fps: number, tolerance = 0.5 / fps): string {
  // x11grab: half a frame of tolerance, since its timestamps jitter around the boundary.
  const eps = round(tolerance);
  const n = rampSegments(segment, init);
  if (n === 0) return `expr:gte(t,n_forced*${segment}-${eps})`;
  const ramp = round(n * init);
  return `expr:if(lt(n_forced,${n}),gte(t,n_forced*${init}-${eps}),gte(t,${ramp}+(n_forced-${n})*${segment}-${eps}))`;
}

/**
 * The first segment boundary (a forced keyframe, where the muxer cuts) at or after `t` seconds of
 * one FFmpeg run's stream time: the ramp's short segments, then one every `segment` s.
 */
export function boundaryAtOrAfter(t: number, segment: number, init: number): number {
  const n = rampSegments(segment, init);
  const ramp = n * init;
  if (t <= 0) return 0;
  if (t <= ramp) return Math.ceil(t / init - 1e-9) * init;
  return ramp + Math.ceil((t - ramp) / segment - 1e-9) * segment;
}

/** Adaptive mode's frame selector: the first frame, any frame that differs from the one before, and one per floor slot. */
export function selectExpr(floorSeconds: number): string {
  const perSecond = round(1 / floorSeconds);
  return `select='isnan(prev_selected_t)+gt(scene\\,0)+gt(floor((t-start_t)*${perSecond})\\,floor((prev_selected_t-start_t)*${perSecond}))'`;
}

export function encoderArgs(quality: Resolution, encoder: VideoEncoder, mode: StreamMode, opts: EncoderArgsOptions): string[] {
  const o = { ...ENCODER_DEFAULTS, append: false, ...stripUndefined(opts) } as Required<EncoderArgsOptions>;
  if (o.initSegmentSeconds > 0 && Math.abs(o.segmentSeconds / o.initSegmentSeconds - Math.round(o.segmentSeconds / o.initSegmentSeconds)) > 1e-9) {
    throw new Error(`encoderArgs: segmentSeconds ${o.segmentSeconds} is not a multiple of initSegmentSeconds ${o.initSegmentSeconds}`);
  }
  const { width, height } = quality;
  const fps = opts.fps ?? quality.fps;
  const peak = peakKbps(quality);
  const level = h264Level(quality, peak);
  const gop = Math.round(fps * o.segmentSeconds);
  const init = o.initSegmentSeconds;

  if (o.capture === 'damage' && o.motion !== 'adaptive') throw new Error('encoderArgs: damage capture is adaptive by nature');
  const damage = o.capture === 'damage';
  const input = [
    '-hide_banner',
    '-loglevel', 'warning', '-nostats',
    '-progress', o.progress, '-stats_period', '1',
    ...(damage
      ? // A millisecond time base: wall-clock stamps keep their spacing (the frame rate's would round
        // a floor frame between two frame slots onto one of them). No input thread and no queue:
        // FFmpeg reads the pipe when it wants the next frame, so an encoder that falls behind shows
        // at once as frames the helper drops (which its pace reads), never as frames waiting here.
        // The silent track comes from the filter graph, not from a second input: with two inputs
        // FFmpeg (5.x) reads each on a thread of its own and, while none has a packet, polls them
        // every 10 ms (a still 720p30 page: FFmpeg 3.33 → 2.20 % of a core, system time 0.67 → 0.13).
        [
          '-f', 'rawvideo', '-pix_fmt', 'bgr0', '-video_size', `${width}x${height}`, '-framerate', '1000', '-use_wallclock_as_timestamps', '1', '-i', 'pipe:3',
          '-filter_complex', 'anullsrc=r=48000:cl=mono[silence]', '-map', '0:v', '-map', '[silence]',
        ]
      : // x11grab keeps the input layout its pace was proven with (its falling behind shows in
        // FFmpeg's speed only while its queue fills; on one input it kept that hidden in two runs).
        [
          '-thread_queue_size', '64', '-f', 'x11grab', '-draw_mouse', '0', '-framerate', String(fps), '-video_size', `${width}x${height}`, '-i', o.display,
          '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=mono', '-map', '0:v', '-map', '1:a',
        ]),
  ];

  // Conversion to YUV happens after selection, so unchanged frames are never converted. Damage
  // capture selected its frames already: each one it writes changed, or is a floor frame.
  const select = o.motion === 'adaptive' && !damage ? [selectExpr(o.floorSeconds)] : [];
  // Variable rate keeps the capture timestamps; a 90 kHz encoder clock (the MPEG-TS one) keeps two
  // jittered captures from rounding onto one 1/fps tick, which FFmpeg would count as a drop.
  // Damage capture's input has a millisecond time base, which FFmpeg would also hand the encoder as
  // its frame rate (x264 then budgets each frame for a thousandth of a second: a fifth of the bits,
  // visibly soft): -r gives the spec's rate for rate control, and vfr keeps every frame's own time.
  // Damage frames go through bgr24 (TO_YUV420); x11grab's as its pace was proven with.
  const toYuv420 = damage ? TO_YUV420 : 'format=yuv420p';
  const vsync = o.motion === 'adaptive' ? ['-fps_mode', 'vfr', ...(damage ? ['-r', String(fps)] : []), '-enc_time_base:v', '1/90000'] : ['-fps_mode', 'cfr'];

  let video: string[];
  switch (encoder) {
    case 'libx264':
      video = [
        '-vf', [...select, toYuv420].join(','),
        ...vsync,
        '-c:v', 'libx264', '-preset', o.x264Preset, '-tune', 'zerolatency',
        // ultrafast turns the 8x8 transform off, which makes x264 write Constrained Baseline; keep
        // it on so the stream stays the High profile the master playlist declares.
        ...(o.x264Preset === 'ultrafast' ? ['-x264-params', '8x8dct=1'] : []),
        ...(o.x264Threads > 0 ? ['-threads:v', String(o.x264Threads)] : []),
        '-profile:v', 'high', '-level:v', level.level,
        // Capped CRF: a still page needs few bits; ABR would spend the full rate polishing it.
        '-crf', '23', '-maxrate', `${peak}k`, '-bufsize', `${peak * 2}k`,
      ];
      break;
    case 'h264_vaapi':
      video = [
        '-vaapi_device', o.vaapiDevice,
        '-vf', [...select, 'format=nv12', 'hwupload'].join(','),
        ...vsync,
        '-c:v', 'h264_vaapi', '-profile:v', 'high', '-level:v', level.level,
        '-b:v', `${peak}k`, '-maxrate', `${peak}k`, '-bufsize', `${peak * 2}k`,
      ];
      break;
    case 'h264_qsv':
      video = [
        '-init_hw_device', 'qsv=hw', '-filter_hw_device', 'hw',
        '-vf', [...select, 'format=nv12', 'hwupload=extra_hw_frames=64', 'format=qsv'].join(','),
        ...vsync,
        '-c:v', 'h264_qsv', '-preset', 'veryfast', '-profile:v', 'high', '-level:v', String(level.idc),
        '-b:v', `${peak}k`, '-maxrate', `${peak}k`, '-bufsize', `${peak * 2}k`,
      ];
      break;
    case 'h264_nvenc':
      video = [
        '-vf', [...select, toYuv420].join(','),
        ...vsync,
        '-c:v', 'h264_nvenc', '-preset', 'p4', '-tune', 'll', '-profile:v', 'high', '-level:v', level.level,
        '-rc', 'vbr', '-cq', '23', '-b:v', `${peak}k`, '-maxrate', `${peak}k`, '-bufsize', `${peak * 2}k`,
        '-forced-idr', '1', '-bf', '0',
      ];
      break;
  }

  const gopArgs = [
    // Forced keyframes define the GOP; -g is only a cap twice as long, so jitter never adds an extra one.
    '-g', String(gop * 2), '-keyint_min', String(Math.max(1, Math.round(fps * (init || o.segmentSeconds)))),
    '-sc_threshold', '0',
    // Damage capture writes a frame at every boundary a moment after it, never before, so its
    // keyframe must never be taken early: the muxer cuts only at a keyframe past the boundary, and
    // an early one (a frame stamped late in a startup stall) would make that segment twice as long.
    '-force_key_frames', keyframeExpr(o.segmentSeconds, init, fps, damage ? 0.001 : 0.5 / fps),
  ];
  if (encoder !== 'libx264') gopArgs.splice(gopArgs.indexOf('-sc_threshold'), 2);

  const audio = ['-c:a', 'aac', '-b:a', `${o.audioKbps}k`, '-ar', '48000', '-ac', '1'];

  const ext = mode === 'fmp4' ? 'm4s' : 'ts';
  // temp_file: a segment appears under its name only once complete; without it a player following
  // the playlist can fetch a listed segment that FFmpeg has not finished flushing (seen: 1.7 KB of
  // PAT/PMT and no video, which the strict fake device rejects as undecodable).
  // omit_endlist: a graceful stop (a pace step, a restart, a browser restart's encoder) must not tell
  // the TV that the stream is over: with #EXT-X-ENDLIST in the playlist for the moment before the
  // next FFmpeg appends, a Default Media Receiver plays to the end and goes IDLE (FINISHED).
  const flags = ['delete_segments', 'independent_segments', 'program_date_time', 'temp_file', 'omit_endlist', ...(o.append ? ['append_list'] : [])];
  // FFmpeg ignores hls_init_time when appending (append_list turns it off). The muxer only cuts at
  // a keyframe once hls_time has passed, and the forced keyframes above already mark every
  // boundary: so a run that appends is given the short time as hls_time, and its first segments
  // are short too. A resumed or restarted stream is then servable after half a second of new
  // picture instead of a whole segment; TARGETDURATION still follows the longest listed segment.
  const cadence = o.append && init > 0 ? ['-hls_time', String(init)] : ['-hls_time', String(o.segmentSeconds), ...(init > 0 ? ['-hls_init_time', String(init)] : [])];
  const hls = [
    '-f', 'hls',
    ...cadence,
    '-hls_list_size', String(o.listSize),
    '-hls_delete_threshold', String(o.deleteThreshold),
    '-hls_flags', flags.join('+'),
    '-hls_segment_type', mode === 'fmp4' ? 'fmp4' : 'mpegts',
    ...(mode === 'fmp4' ? ['-hls_fmp4_init_filename', `init-${o.runId}.mp4`] : []),
    '-hls_segment_filename', `${o.runId}-%d.${ext}`,
    o.playlistName,
  ];

  return [...input, ...video, ...gopArgs, ...audio, ...hls];
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
