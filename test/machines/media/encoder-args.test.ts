import { describe, expect, it } from 'vitest';
import { boundaryAtOrAfter, encoderArgs, keyframeExpr, selectExpr, type VideoEncoder } from '../../../machines/media/encoder-args.js';
import { PRESETS } from '../../../specs/schema.js';

const base = { display: ':7', runId: 'rX' };
function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

describe('encoderArgs', () => {
  it.each([
    ['480p', PRESETS['480p'], '3.0'],
    ['720p', PRESETS['720p'], '3.1'],
    ['1080p', PRESETS['1080p'], '4.0'],
    ['1080p60', { width: 1920, height: 1080, fps: 60, bitrateKbps: 8000 }, '4.2'],
    ['tiny', { width: 320, height: 240, fps: 10, bitrateKbps: 300 }, '3.0'],
  ])('%s: x11grab at size and rate, High profile at level %s', (_n, q, level) => {
    const a = encoderArgs(q, 'libx264', 'hls', base);
    expect(opt(a, '-f')).toBe('x11grab');
    expect(opt(a, '-video_size')).toBe(`${q.width}x${q.height}`);
    expect(opt(a, '-framerate')).toBe(String(q.fps));
    expect(opt(a, '-i')).toBe(':7');
    expect(opt(a, '-thread_queue_size')).toBe('64'); // x11grab keeps grabbing on its own thread while a frame encodes
    expect(opt(a, '-profile:v')).toBe('high');
    expect(opt(a, '-level:v')).toBe(level);
    expect(opt(a, '-maxrate')).toBe(`${q.bitrateKbps}k`);
    expect(opt(a, '-sc_threshold')).toBe('0');
  });

  it('a step down: a faster preset (ultrafast kept High), a lower rate with the same level and a GOP cap of two segments', () => {
    const q = PRESETS['1080p'];
    expect(opt(encoderArgs(q, 'libx264', 'hls', base), '-preset')).toBe('veryfast');
    expect(encoderArgs(q, 'libx264', 'hls', base)).not.toContain('-x264-params');
    const fast = encoderArgs(q, 'libx264', 'hls', { ...base, x264Preset: 'ultrafast' });
    expect(opt(fast, '-preset')).toBe('ultrafast');
    expect(opt(fast, '-x264-params')).toBe('8x8dct=1'); // else x264 writes Constrained Baseline
    const slow = encoderArgs(q, 'libx264', 'hls', { ...base, x264Preset: 'ultrafast', fps: 20, append: true });
    expect(opt(slow, '-framerate')).toBe('20');
    expect(opt(slow, '-level:v')).toBe('4.0');
    expect(opt(slow, '-g')).toBe('80');
    // It appends, with the short first segments of any run: keyframes as close as those allow.
    expect(opt(slow, '-keyint_min')).toBe('10');
    expect(opt(slow, '-force_key_frames')).toBe(keyframeExpr(2, 0.5, 20));
    const hw = encoderArgs(q, 'h264_vaapi', 'hls', { ...base, fps: 15 });
    expect(opt(hw, '-framerate')).toBe('15');
    expect(hw).not.toContain('-preset');
  });

  it('has the seed window, a sliding live playlist and short first segments by default', () => {
    const a = encoderArgs(PRESETS['720p'], 'libx264', 'hls', base);
    expect(opt(a, '-hls_time')).toBe('2');
    expect(opt(a, '-hls_list_size')).toBe('20');
    expect(opt(a, '-hls_delete_threshold')).toBe('5');
    expect(opt(a, '-hls_init_time')).toBe('0.5');
    expect(opt(a, '-hls_flags')).toBe('delete_segments+independent_segments+program_date_time+temp_file+omit_endlist');
    expect(a).not.toContain('-hls_playlist_type');
    expect(opt(a, '-hls_segment_type')).toBe('mpegts');
    expect(opt(a, '-hls_segment_filename')).toBe('rX-%d.ts');
    expect(a.at(-1)).toBe('index.m3u8');
    expect(opt(a, '-force_key_frames')).toBe(keyframeExpr(2, 0.5, 30));
  });

  it('muxes a silent AAC track with the video', () => {
    const a = encoderArgs(PRESETS['480p'], 'libx264', 'hls', base);
    expect(a.join(' ')).toContain('-f lavfi -i anullsrc=r=48000:cl=mono');
    expect(a.join(' ')).toContain('-map 0:v -map 1:a');
    expect(opt(a, '-c:a')).toBe('aac');
    // Damage capture: from the filter graph, not a second input (two inputs cost FFmpeg a thread each and a 10 ms poll).
    const d = encoderArgs(PRESETS['480p'], 'libx264', 'hls', { ...base, capture: 'damage' });
    expect(opt(d, '-filter_complex')).toBe('anullsrc=r=48000:cl=mono[silence]');
    expect(d.join(' ')).toContain('-map 0:v -map [silence]');
    expect(d.filter((x) => x === '-i')).toHaveLength(1);
    expect(opt(d, '-c:a')).toBe('aac');
  });

  it('fmp4 mode writes fMP4 segments with a per-run init file', () => {
    const a = encoderArgs(PRESETS['480p'], 'libx264', 'fmp4', base);
    expect(opt(a, '-hls_segment_type')).toBe('fmp4');
    expect(opt(a, '-hls_fmp4_init_filename')).toBe('init-rX.mp4');
    expect(opt(a, '-hls_segment_filename')).toBe('rX-%d.m4s');
  });

  it('a restart appends to the playlist with the same short first segments: hls_time is the short time, the keyframes make the cuts', () => {
    const a = encoderArgs(PRESETS['480p'], 'libx264', 'hls', { ...base, append: true });
    expect(opt(a, '-hls_flags')).toContain('append_list');
    // FFmpeg turns hls_init_time off under append_list: not given.
    expect(a).not.toContain('-hls_init_time');
    expect(opt(a, '-hls_time')).toBe('0.5');
    expect(opt(a, '-force_key_frames')).toBe(keyframeExpr(2, 0.5, 15));
    const fresh = encoderArgs(PRESETS['480p'], 'libx264', 'hls', base);
    expect(opt(fresh, '-hls_time')).toBe('2');
    expect(opt(fresh, '-hls_init_time')).toBe('0.5');
    expect(opt(fresh, '-force_key_frames')).toBe(keyframeExpr(2, 0.5, 15));
    // Without short segments, an appending run cuts every segment as a fresh one does.
    const plain = encoderArgs(PRESETS['480p'], 'libx264', 'hls', { ...base, append: true, initSegmentSeconds: 0 });
    expect(opt(plain, '-hls_time')).toBe('2');
    expect(opt(plain, '-force_key_frames')).toBe(keyframeExpr(2, 0, 15));
  });

  it('adaptive motion selects changed frames before conversion and writes variable frame rate', () => {
    const a = encoderArgs(PRESETS['720p'], 'libx264', 'hls', base);
    expect(opt(a, '-vf')).toBe(`${selectExpr(0.5)},format=yuv420p`);
    expect(opt(a, '-fps_mode')).toBe('vfr');
    expect(opt(a, '-enc_time_base:v')).toBe('1/90000');
    const c = encoderArgs(PRESETS['720p'], 'libx264', 'hls', { ...base, motion: 'constant' });
    expect(opt(c, '-vf')).toBe('format=yuv420p');
    expect(opt(c, '-fps_mode')).toBe('cfr');
  });

  it('damage capture reads raw frames on fd 3 stamped by the wall clock, and selects nothing itself', () => {
    const a = encoderArgs(PRESETS['720p'], 'libx264', 'hls', { ...base, capture: 'damage' });
    expect(a.slice(a.indexOf('-f'), a.indexOf('-i') + 2)).toEqual([
      '-f', 'rawvideo', '-pix_fmt', 'bgr0', '-video_size', '1280x720', '-framerate', '1000', '-use_wallclock_as_timestamps', '1', '-i', 'pipe:3',
    ]);
    expect(a).not.toContain('x11grab');
    // No input thread, no queue: a slow encoder shows as drops at once, not as frames waiting in FFmpeg.
    expect(a).not.toContain('-thread_queue_size');
    expect(a.filter((x) => x === '-i')).toHaveLength(1);
    expect(opt(a, '-vf')).toBe('format=bgr24,format=yuv420p');
    expect(opt(a, '-fps_mode')).toBe('vfr');
    // The encoder's rate control is told the spec's rate, not the input's millisecond time base
    // (x264 gave an animated 720p30 page a twentieth of the bits, visibly soft, without it).
    expect(opt(a, '-r')).toBe('30');
    expect(opt(a, '-enc_time_base:v')).toBe('1/90000');
    // Keyframes on the same grid, never taken before a boundary (the helper writes a frame just after each).
    expect(opt(a, '-force_key_frames')).toBe(keyframeExpr(2, 0.5, 30, 0.001));
    // The stream's other rules are the same as x11grab's: High profile, level, GOP cap, segmenting.
    const x = encoderArgs(PRESETS['720p'], 'libx264', 'hls', base);
    for (const name of ['-g', '-keyint_min', '-profile:v', '-level:v', '-maxrate', '-hls_time', '-hls_init_time', '-hls_flags']) expect(opt(a, name), name).toBe(opt(x, name));
    expect(() => encoderArgs(PRESETS['720p'], 'libx264', 'hls', { ...base, capture: 'damage', motion: 'constant' })).toThrow(/adaptive/);
  });

  it.each([
    ['h264_vaapi', ['-vaapi_device', '/dev/dri/renderD128'], 'hwupload'],
    ['h264_qsv', ['-init_hw_device', 'qsv=hw'], 'format=qsv'],
    ['h264_nvenc', ['-forced-idr', '1'], 'format=yuv420p'],
  ] as Array<[VideoEncoder, string[], string]>)('%s has its device setup and keeps High profile and forced keyframes', (enc, setup, vf) => {
    const a = encoderArgs(PRESETS['1080p'], enc, 'hls', base);
    expect(opt(a, '-c:v')).toBe(enc);
    expect(a.join(' ')).toContain(setup.join(' '));
    expect(opt(a, '-vf')).toContain(vf);
    expect(opt(a, '-profile:v')).toBe('high');
    expect(opt(a, '-force_key_frames')).toBeDefined();
  });

  it('rejects an init segment length that does not divide the segment length', () => {
    expect(() => encoderArgs(PRESETS['480p'], 'libx264', 'hls', { ...base, initSegmentSeconds: 0.7 })).toThrow(/multiple/);
  });
});

describe('keyframeExpr', () => {
  // Evaluates the expression the way FFmpeg does for a run of frame times.
  function keyTimes(expr: string, fps: number, seconds: number): number[] {
    const body = expr.replace(/^expr:/, '');
    const out: number[] = [];
    for (let i = 0; i < fps * seconds; i++) {
      const t = i / fps;
      const js = body.replace(/if\(/g, 'IF(').replace(/lt\(/g, 'LT(').replace(/gte\(/g, 'GTE(').replace(/n_forced/g, String(out.length)).replace(/\bt\b/g, String(t));
      const IF = (c: number, a: number, b: number) => (c ? a : b);
      const LT = (a: number, b: number) => (a < b ? 1 : 0);
      const GTE = (a: number, b: number) => (a >= b ? 1 : 0);
      if (new Function('IF', 'LT', 'GTE', `return ${js}`)(IF, LT, GTE)) out.push(Math.round(t * 1000) / 1000);
    }
    return out;
  }
  it('puts 0.5 s keyframes first until 2.5 s, then one every 2 s', () => {
    // Short ones until 2.5 s (a full segment and a short one: the start cushion), then every 2 s.
    expect(keyTimes(keyframeExpr(2, 0.5, 30), 30, 9)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 4.5, 6.5, 8.5]);
  });
  it('without init segments puts one every segment', () => {
    expect(keyTimes(keyframeExpr(2, 0, 15), 15, 7)).toEqual([0, 2, 4, 6]);
  });
});

describe('segment boundaries', () => {
  it('the ramp of short segments, then one every segment: where keyframeExpr forces keyframes', () => {
    // 2 s segments after a ramp of five 0.5 s ones (to 2.5 s).
    expect([0, 0.1, 0.5, 0.7, 2.4, 2.5, 2.6, 4.5, 4.6, 10].map((t) => boundaryAtOrAfter(t, 2, 0.5))).toEqual([0, 0.5, 0.5, 1, 2.5, 2.5, 4.5, 4.5, 6.5, 10.5]);
    expect([0.1, 2, 2.1].map((t) => boundaryAtOrAfter(t, 2, 0))).toEqual([2, 2, 4]);
  });
});
