// The frame sampler without FFmpeg: its parsers on recorded output, its queue with a stand-in
// decoder, and its process handling with small fixture executables in place of FFmpeg
// (real decoding is in frame-sampler.real.test.ts).
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { alive, tempDirs, waitUntil } from '../helpers.js';
import { FrameSampler, decodeGrid, gridArgs, parseGridFrames, parseShowinfoPts, type GridDecode, type GridDecodeOptions, type SampleError, type SampledFrame } from './frame-sampler.js';

const dirs = tempDirs();
const samplers: FrameSampler[] = [];
afterEach(async () => {
  for (const s of samplers.splice(0)) await s.stop();
  dirs.removeAll();
});

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

// What FFmpeg 5.1 prints for the first frames of a 30 fps segment (trimmed).
const STDERR = `Input #0, mpegts, from 'pipe:0':
  Duration: N/A, start: 3.421333, bitrate: N/A
[Parsed_showinfo_1 @ 0x5583f1101a80] config in time_base: 1/90000, frame_rate: 30/1
[Parsed_showinfo_1 @ 0x5583f1101a80] config out time_base: 0/0, frame_rate: 0/0
[Parsed_showinfo_1 @ 0x5583f1101a80] n:   0 pts:      0 pts_time:0       pos:      564 fmt:rgb24 sar:16/9 s:4x4 i:P iskey:1 type:I checksum:2E1C177C plane_checksum:[2E1C177C] mean:[125] stdev:[78.6]
[Parsed_showinfo_1 @ 0x5583f1101a80] color_range:pc color_space:gbr color_primaries:unknown color_trc:unknown
[Parsed_showinfo_1 @ 0x5583f1101a80] n:   1 pts:   3000 pts_time:0.0333333 pos:     2444 fmt:rgb24 sar:16/9 s:4x4 i:P iskey:0 type:P checksum:0C3F1A2B plane_checksum:[0C3F1A2B] mean:[124] stdev:[78.2]
[Parsed_showinfo_1 @ 0x5583f1101a80] n:  59 pts: 177000 pts_time:1.96667 pos:   314000 fmt:rgb24 sar:16/9 s:4x4 i:P iskey:0 type:B checksum:0C3F1A2B plane_checksum:[0C3F1A2B] mean:[124] stdev:[78.2]
Output #0, rawvideo, to 'pipe:1':
`;

describe('parsers', () => {
  it('gridArgs: stdin in the named container, the first video stream, one thread, rgb24 cells on stdout', () => {
    const ts = gridArgs(4, 'ts');
    expect(ts.slice(ts.indexOf('-f'), ts.indexOf('-f') + 2)).toEqual(['-f', 'mpegts']);
    expect(ts).toContain('scale=4:4:flags=area,showinfo');
    expect(ts.join(' ')).toContain('-threads 1 -f mpegts -i pipe:0 -map 0:v:0');
    expect(ts.slice(-5)).toEqual(['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
    expect(gridArgs(3, 'fmp4').join(' ')).toContain('-f mp4 -i pipe:0');
    expect(gridArgs(3).join(' ')).toContain('-threads 1 -i pipe:0');
  });

  it('parseGridFrames: rgb24 bytes into frames of cells; a partial frame is an error', () => {
    const raw = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0]);
    expect(parseGridFrames(raw, 2)).toEqual([
      [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]],
      [[255, 0, 0], [255, 0, 0], [255, 0, 0], [255, 0, 0]],
    ]);
    expect(parseGridFrames(new Uint8Array(0), 4)).toEqual([]);
    expect(() => parseGridFrames(raw.subarray(0, 20), 2)).toThrow(/not a whole number of 2×2 frames/);
  });

  it('parseShowinfoPts: one pts_time per frame line, nothing from the config lines', () => {
    expect(parseShowinfoPts(STDERR)).toEqual([0, 0.0333333, 1.96667]);
    expect(parseShowinfoPts('')).toEqual([]);
  });
});

describe('FrameSampler (stand-in decoder)', () => {
  function sampler(decode: (bytes: Uint8Array, o: GridDecodeOptions) => Promise<GridDecode>, clock = { t: 1_000 }) {
    const frames: SampledFrame[] = [];
    const errors: SampleError[] = [];
    const s = new FrameSampler({ grid: 2, decode, now: () => clock.t, onFrames: (f) => frames.push(...f), onError: (e) => errors.push(e) });
    samplers.push(s);
    return { s, frames, errors, clock };
  }
  const red: GridDecode['frames'][number] = [[255, 0, 0], [255, 0, 0], [255, 0, 0], [255, 0, 0]];
  const blue: GridDecode['frames'][number] = [[0, 0, 255], [0, 0, 255], [0, 0, 255], [0, 0, 255]];

  it('decodes one segment at a time, in the order added, stamping queue and decode times, pts and capture time', async () => {
    const pending: Array<{ bytes: Uint8Array; done: ReturnType<typeof deferred<GridDecode>>; opts: GridDecodeOptions }> = [];
    let running = 0;
    let most = 0;
    const { s, frames, clock } = sampler((bytes, opts) => {
      running += 1;
      most = Math.max(most, running);
      const done = deferred<GridDecode>();
      pending.push({ bytes, done, opts });
      return done.promise.finally(() => (running -= 1));
    });
    s.add({ sequence: 7, bytes: Uint8Array.of(7), container: 'ts', programDateTime: 50_000 });
    clock.t = 1_100;
    s.add({ sequence: 8, bytes: Uint8Array.of(8), container: 'ts' });
    expect(s.backlog).toBe(2);
    await waitUntil(() => pending.length === 1);
    expect(pending[0]!.opts).toMatchObject({ grid: 2, container: 'ts' });
    clock.t = 1_300;
    pending[0]!.done.resolve({ frames: [red, red, blue], pts: [0, 0.5, 1.25] });
    await waitUntil(() => pending.length === 2);
    clock.t = 1_500;
    pending[1]!.done.resolve({ frames: [blue] }); // FFmpeg printed no pts this time
    await waitUntil(() => frames.length === 4);
    expect(most).toBe(1);
    expect(pending.map((p) => p.bytes[0])).toEqual([7, 8]);
    expect(frames).toEqual([
      { decodedAt: 1_300, queuedAt: 1_000, sequence: 7, index: 0, pts: 0, programDateTime: 50_000, cells: red },
      { decodedAt: 1_300, queuedAt: 1_000, sequence: 7, index: 1, pts: 0.5, programDateTime: 50_500, cells: red },
      { decodedAt: 1_300, queuedAt: 1_000, sequence: 7, index: 2, pts: 1.25, programDateTime: 51_250, cells: blue },
      { decodedAt: 1_500, queuedAt: 1_100, sequence: 8, index: 0, cells: blue },
    ]);
    await waitUntil(() => s.backlog === 0);

    // Idle, then more: a new loop starts.
    s.add({ sequence: 9, bytes: Uint8Array.of(9) });
    await waitUntil(() => pending.length === 3);
    pending[2]!.done.resolve({ frames: [red] });
    await waitUntil(() => frames.length === 5);
  });

  it('a segment that fails to decode is reported and skipped; the next one is still sampled', async () => {
    let n = 0;
    const { s, frames, errors } = sampler(async () => {
      n += 1;
      if (n === 1) throw new Error('ffmpeg: Invalid data found when processing input');
      return { frames: [red] };
    });
    s.add({ sequence: 1, bytes: Uint8Array.of(1) });
    s.add({ sequence: 2, bytes: Uint8Array.of(2) });
    await waitUntil(() => frames.length === 1);
    expect(errors).toEqual([{ sequence: 1, message: 'ffmpeg: Invalid data found when processing input' }]);
    expect(frames[0]?.sequence).toBe(2);
  });

  it('a listener that throws does not stop the sampling', async () => {
    let calls = 0;
    const s = new FrameSampler({ decode: async () => ({ frames: [red] }), onFrames: () => {
      calls += 1;
      throw new Error('listener bug');
    } });
    samplers.push(s);
    s.add({ sequence: 1, bytes: Uint8Array.of(1) });
    s.add({ sequence: 2, bytes: Uint8Array.of(2) });
    await waitUntil(() => calls === 2);
  });

  it('stop(): the decode in flight is cancelled and its frames never reported, the queue is dropped, add() is ignored', async () => {
    const inFlight = deferred<GridDecode>();
    let signal: AbortSignal | undefined;
    let calls = 0;
    const { s, frames, errors } = sampler((_b, o) => {
      calls += 1;
      signal = o.signal;
      return inFlight.promise;
    });
    s.add({ sequence: 1, bytes: Uint8Array.of(1) });
    s.add({ sequence: 2, bytes: Uint8Array.of(2) });
    await waitUntil(() => signal !== undefined);
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    expect(signal?.aborted).toBe(true);
    await Promise.resolve();
    expect(stopped).toBe(false); // waits for the decoder to finish
    inFlight.resolve({ frames: [red] }); // a decoder that finished anyway: still not reported
    await stopping;
    s.add({ sequence: 3, bytes: Uint8Array.of(3) });
    expect(s.backlog).toBe(0);
    expect(calls).toBe(1);
    expect(frames).toEqual([]);
    expect(errors).toEqual([]);
  });
});

// ---- the process: fixture executables standing in for FFmpeg --------------------------------

/** A script at a temp path; it writes its pid next to itself, so the test can look for it afterwards. */
function fixture(name: string, body: string): { path: string; pid: () => number | undefined } {
  const path = join(dirs.make('pagecast-sampler-'), name);
  writeFileSync(path, `#!/usr/bin/env node\nrequire('fs').writeFileSync(process.argv[1] + '.pid', String(process.pid));\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, pid: () => (existsSync(`${path}.pid`) ? Number(readFileSync(`${path}.pid`, 'utf8')) : undefined) };
}

describe('decodeGrid and stop() with a real process', () => {
  it('a decoder that ignores SIGTERM is killed on stop(); stop() resolves only once it is gone, and nothing is reported', async () => {
    const stubborn = fixture('ffmpeg-stubborn', "process.on('SIGTERM', () => {});\nsetInterval(() => {}, 1000);");
    const frames: SampledFrame[] = [];
    const errors: SampleError[] = [];
    const s = new FrameSampler({ grid: 4, ffmpegPath: stubborn.path, onFrames: (f) => frames.push(...f), onError: (e) => errors.push(e) });
    samplers.push(s);
    s.add({ sequence: 1, bytes: Buffer.alloc(1000, 0x47), container: 'ts' });
    const pid = await waitUntil(() => stubborn.pid(), 10_000, 'the fixture decoder to start');
    expect(alive(pid)).toBe(true);
    const t0 = Date.now();
    await s.stop();
    console.log(`[frame-sampler] stop() with a decoder ignoring SIGTERM: ${Date.now() - t0} ms`);
    expect(alive(pid)).toBe(false);
    expect(frames).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('a decoder that fails says why (its last stderr line); one that writes a partial frame is an error too', async () => {
    const failing = fixture('ffmpeg-failing', "process.stderr.write('[mpegts @ 0x1] Invalid data found when processing input\\n'); process.exit(1);");
    await expect(decodeGrid(Buffer.alloc(10), { grid: 4, ffmpegPath: failing.path })).rejects.toMatchObject({
      code: 'PROCESS_FAILED',
      exitCode: 1,
      message: 'ffmpeg: [mpegts @ 0x1] Invalid data found when processing input',
    });
    const partial = fixture('ffmpeg-partial', 'process.stdin.resume(); process.stdin.on(\'end\', () => process.stdout.write(Buffer.alloc(47)));');
    await expect(decodeGrid(Buffer.alloc(10), { grid: 4, ffmpegPath: partial.path })).rejects.toThrow(/47 bytes, not a whole number of 4×4 frames/);
  });

  it('a decoder that is not there is an error, not a crash', async () => {
    await expect(decodeGrid(Buffer.alloc(10), { grid: 4, ffmpegPath: '/nonexistent/ffmpeg' })).rejects.toMatchObject({ code: 'PROCESS_FAILED' });
  });
});
