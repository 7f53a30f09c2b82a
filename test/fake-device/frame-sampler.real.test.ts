// The frame sampler on real FFmpeg output: a stream whose picture goes red → green → blue (lavfi
// colour sources, encoded like the product's libx264 stream), played by the fake device's strict
// player and by the device itself after a real LOAD. The frames must come back as those colours,
// in that order, every one of them, with no frame in between; and no decoder may outlive stop().
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connectCast } from '../../machines/cast/connection.js';
import { silentLogger } from '../../machines/log.js';
import { tempDirs, waitUntil } from '../helpers.js';
import { serveHlsDir } from '../fixtures/media/hls-dir-server.js';
import { FakeCastDevice } from './device.js';
import { MIXED, describeRuns, meanColour, nameFrames, runsOf, type Palette } from './frame-colours.js';
import type { SampledFrame } from './frame-sampler.js';
import { startPlayer } from './hls-player.js';
import type { Player } from './player-types.js';

const ORIGIN = 'https://www.gstatic.com';
const FPS = 30;
const PALETTE: Palette = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255], white: [255, 255, 255], black: [0, 0, 0] };
const SEQUENCE = ['red', 'green', 'blue'] as const;
const POLL = { intervalMs: 50 };

/** A stretch of the test picture: one flat colour, or (`bottom`) the top half one colour and the bottom half another. */
interface Part {
  top: string; // FFmpeg colour, e.g. 0xFF0000 (FFmpeg's own "green" is 0x008000)
  bottom?: string;
  seconds: number;
}
const RED = '0xFF0000';
const GREEN = '0x00FF00';
const BLUE = '0x0000FF';
const WHITE = '0xFFFFFF';
/** Red, green, blue for 1.5 s each: with 1 s segments, green starts inside one. */
const RGB_PARTS: Part[] = [RED, GREEN, BLUE].map((top) => ({ top, seconds: 1.5 }));
const framesIn = (parts: Part[]) => parts.reduce((n, p) => n + Math.ceil(p.seconds * FPS - 1e-9), 0);
const TOTAL_FRAMES = framesIn(RGB_PARTS);

const dirs = tempDirs();
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});
afterAll(() => dirs.removeAll());

interface ColourStream {
  url: string;
  close(): Promise<void>;
}

/**
 * A finished HLS stream of 1 s segments showing `parts` in turn. Video as the product encodes it
 * (RGB source → yuv420p, libx264 veryfast zerolatency High, capped CRF, keyframes on segment
 * boundaries) plus silent AAC.
 */
async function colourStream(mode: 'ts' | 'fmp4', parts: Part[] = RGB_PARTS, size = { w: 640, h: 360 }): Promise<ColourStream> {
  const dir = dirs.make('pagecast-colours-');
  const source = (p: Part, i: number) =>
    p.bottom === undefined
      ? `color=c=${p.top}:s=${size.w}x${size.h}:r=${FPS}:d=${p.seconds}[v${i}]`
      : `color=c=${p.top}:s=${size.w}x${size.h / 2}:r=${FPS}:d=${p.seconds},pad=${size.w}:${size.h}:0:0:${p.bottom}[v${i}]`;
  const graph = `${parts.map(source).join(';')};${parts.map((_, i) => `[v${i}]`).join('')}concat=n=${parts.length}:v=1:a=0,format=bgr0`;
  const seconds = parts.reduce((t, p) => t + p.seconds, 0);
  const args = [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', graph,
    '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=mono',
    '-map', '0:v', '-map', '1:a', '-t', String(seconds),
    '-vf', 'format=yuv420p', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-level:v', '3.1',
    '-crf', '23', '-maxrate', '800k', '-bufsize', '1600k',
    '-g', String(FPS * 2), '-keyint_min', String(FPS), '-sc_threshold', '0', '-force_key_frames', 'expr:gte(t,n_forced*1)',
    '-c:a', 'aac', '-b:a', '48k', '-ar', '48000', '-ac', '1',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0', '-hls_playlist_type', 'vod',
    '-hls_flags', 'independent_segments+program_date_time', '-hls_segment_type', mode === 'fmp4' ? 'fmp4' : 'mpegts',
    '-master_pl_name', 'master.m3u8', join(dir, 'index.m3u8'),
  ];
  const ff = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  ff.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => ff.once('exit', (c) => r(c)));
  if (code !== 0) throw new Error(`ffmpeg exited ${code}: ${stderr}`);

  const served = await serveHlsDir(dir);
  const stream: ColourStream = { url: served.url, close: served.close };
  cleanup.push(() => stream.close());
  return stream;
}

/** FFmpeg and ffprobe processes this test process started that are still there. */
function decoderChildren(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid && /^ff(mpeg|probe)$/.test(comm)) out.push(`${comm} ${pid}`);
  }
  return out;
}

/** The frames as colour runs; on a mismatch, what the odd frames looked like. */
function judge(frames: SampledFrame[]): { runs: string[]; summary: string; odd: string[] } {
  const named = nameFrames(frames, PALETTE);
  const runs = runsOf(named);
  const odd = named.filter((f) => !(SEQUENCE as readonly string[]).includes(f.name)).map((f) => `${f.sequence}.${f.index} ${f.name} mean ${meanColour(f.cells).join(',')}`);
  return { runs: runs.map((r) => r.name), summary: describeRuns(runs), odd };
}

function perSegmentMs(frames: SampledFrame[]): number[] {
  const seen = new Map<number, number>();
  for (const f of frames) seen.set(f.sequence, f.decodedAt - f.queuedAt);
  return [...seen.values()].sort((a, b) => a - b);
}

/** The strict player with sampling on, until it has sampled `count` frames. */
async function sampleAll(stream: ColourStream, mode: 'ts' | 'fmp4', count: number): Promise<SampledFrame[]> {
  const frames: SampledFrame[] = [];
  const hints = mode === 'fmp4' ? { hlsSegmentFormat: 'fmp4', hlsVideoSegmentFormat: 'fmp4' } : { hlsSegmentFormat: 'ts', hlsVideoSegmentFormat: 'mpeg2_ts' };
  const player: Player = startPlayer(
    { url: stream.url, streamType: 'BUFFERED', ...hints },
    { maxLevel: 41, origin: ORIGIN, sampleFrames: { grid: 4, onFrames: (f) => frames.push(...f) } },
    () => {},
  );
  cleanup.push(async () => {
    player.stop();
    await player.closed?.();
  });
  await waitUntil(() => frames.length >= count, 20_000, () => `${count} frames (have ${frames.length}; player ${JSON.stringify(player.status())})`, POLL);
  return frames;
}

describe('frame sampler on real FFmpeg output', () => {
  it.each(['ts', 'fmp4'] as const)('%s: every frame comes back red, green, blue in order, with no frame in between', async (mode) => {
    const stream = await colourStream(mode);
    const frames = await sampleAll(stream, mode, TOTAL_FRAMES);

    const { runs, summary, odd } = judge(frames);
    console.log(`[frame-sampler] ${mode}: ${summary}; per-segment queue+decode ${perSegmentMs(frames).join(', ')} ms`);
    expect(odd, summary).toEqual([]);
    expect(runs).toEqual([...SEQUENCE]);
    expect(frames).toHaveLength(TOTAL_FRAMES);
    expect(frames.every((f) => f.cells.length === 16)).toBe(true);
    // Playback order: by segment, then by position; pts rising within a segment; capture time from PDT.
    const keys = frames.map((f) => f.sequence * 1000 + f.index);
    expect(keys).toEqual([...keys].sort((a, b) => a - b));
    for (const [a, b] of frames.slice(1).map((f, i) => [frames[i]!, f] as const)) {
      if (a.sequence === b.sequence) expect(b.pts!).toBeGreaterThan(a.pts!);
    }
    expect(frames.every((f) => f.programDateTime !== undefined && f.decodedAt >= f.queuedAt)).toBe(true);
    expect(new Set(frames.map((f) => f.sequence)).size).toBe(Math.ceil(TOTAL_FRAMES / FPS));
  });

  it('catches a single white frame and a single half-painted frame between two pages', async () => {
    const parts: Part[] = [
      { top: RED, seconds: 1.5 },
      { top: WHITE, seconds: 1 / FPS - 0.001 }, // one frame
      { top: RED, bottom: WHITE, seconds: 1 / FPS - 0.001 }, // one frame, painted half-way
      { top: BLUE, seconds: 1.5 },
    ];
    const stream = await colourStream('ts', parts);
    const frames = await sampleAll(stream, 'ts', framesIn(parts));
    const runs = runsOf(nameFrames(frames, PALETTE));
    console.log(`[frame-sampler] flash: ${describeRuns(runs)}`);
    expect(runs.map((r) => [r.name, r.frames])).toEqual([['red', 45], ['white', 1], [MIXED, 1], ['blue', 45]]);
  });

  it('a device with sampleFrames records what it shows after a real LOAD; stop() leaves no decoder running and records nothing more', async () => {
    const stream = await colourStream('ts');
    expect(decoderChildren()).toEqual([]);
    const device = new FakeCastDevice({ name: 'Sampling TV', sampleFrames: { grid: 4 } });
    await device.start();
    cleanup.push(() => device.stop());
    const conn = await connectCast({ device: { host: '127.0.0.1', port: device.port }, log: silentLogger(), ownedSessions: new Set() });
    cleanup.push(() => conn.close());
    await conn.launch({ takeover: false, expectUrl: stream.url });
    await conn.load({ url: stream.url, mode: 'hls', title: 'colours' });
    await device.waitFor(() => device.frames().length >= TOTAL_FRAMES, 20_000, `${TOTAL_FRAMES} sampled frames`);
    const { runs, summary, odd } = judge(device.frames());
    console.log(`[frame-sampler] device after LOAD: ${summary}`);
    expect(odd, summary).toEqual([]);
    expect(runs).toEqual([...SEQUENCE]);
    expect(new Set(device.frames().map((f) => f.mediaSessionId))).toEqual(new Set([1])); // the first LOAD's session
    expect(device.frameErrors()).toEqual([]);

    // Again, and stop the device while its player still has segments to check and sample.
    await conn.load({ url: stream.url, mode: 'hls', title: 'colours again' });
    const before = device.frames().length;
    await device.waitFor(() => device.frames().length > before, 10_000, 'the first frames of the second LOAD');
    await device.stop();
    const atStop = device.frames().length;
    expect(decoderChildren()).toEqual([]);
    expect(atStop).toBeLessThan(2 * TOTAL_FRAMES); // stopped part-way through the second playback
    // Settle the event loop a few times: nothing late may land.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(device.frames()).toHaveLength(atStop);
    const second = device.frames().slice(before);
    expect(second.every((f) => f.mediaSessionId === 2)).toBe(true);
    expect(second.every((f) => nameFrames([f], PALETTE)[0]!.name !== MIXED)).toBe(true);
  });
});
