// Real Xvfb + FFmpeg: the stream is Cast-safe (ffprobe), the window slides, a SIGKILLed FFmpeg
// restarted on the same directory continues the playlist and a following reader keeps going.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { ProcessRegistry, groupMembers } from '../../../machines/processes/registry.js';
import type { DisplayHandle, StartContext, StreamInput, ComponentReport } from '../../../machines/components.js';
import { XvfbDisplayDriver } from '../../../machines/media/display.js';
import { FfmpegEncoderDriver, readMediaPlaylist } from '../../../machines/media/encoder.js';
import { parseMasterPlaylist } from '../../../machines/media/playlist.js';
import { BrowserOptions } from '../../../specs/schema.js';
import { waitUntil } from '../../helpers.js';

const root = mkdtempSync(join(tmpdir(), 'pagecast-enc-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
const reports: ComponentReport[] = [];
function ctx(signal = new AbortController().signal): StartContext {
  return { signal, log: silentLogger(), report: (r) => reports.push(r) };
}
const quality = { width: 640, height: 360, fps: 15, bitrateKbps: 800 };
function input(mode: 'hls' | 'fmp4'): StreamInput {
  return { url: 'about:blank', quality, mode, hwAccel: 'off', browser: BrowserOptions.parse({}) };
}

let display: DisplayHandle;
beforeAll(async () => {
  display = await new XvfbDisplayDriver({ registry }).start({ width: quality.width, height: quality.height }, ctx());
});
afterAll(async () => {
  await registry.stopAll();
  rmSync(root, { recursive: true, force: true });
});

describe('FFmpeg encoder on Xvfb', () => {
  it.each([
    // Nothing moves on this display. x11grab takes 15 frames a second, and adaptive mode encodes
    // only the floor's 2 a second of them; damage capture grabs only to refresh its floor frame
    // (every 2 s) and writes the floor's 2 a second. Status shows both, so the cost can be read.
    ['x11grab', (fps: number) => expect(fps).toBe(15)],
    ['damage', (fps: number) => expect(fps).toBeLessThan(1.5)],
  ] as const)('%s: produces a Cast-safe TS stream, servable quickly, with keyframes at every segment start', async (path, capturedFps) => {
    const dir = join(root, `ts-${path}`);
    const enc = new FfmpegEncoderDriver({ registry, capture: path, args: { listSize: 4, deleteThreshold: 2 } });
    const t0 = Date.now();
    const h = await enc.start({ display: display.display, input: input('hls'), dir }, ctx());
    await h.servable();
    const servableMs = Date.now() - t0;
    expect(servableMs).toBeLessThan(3500);
    expect(h.encoder).toBe('libx264');
    const master = parseMasterPlaylist(readFileSync(join(dir, 'master.m3u8'), 'utf8'));
    expect(master.attrs.CODECS).toMatch(/^avc1\.6400[0-9a-f]{2},mp4a\.40\.2$/);
    expect(master.attrs.RESOLUTION).toBe('640x360');
    expect(Number(master.attrs.BANDWIDTH)).toBeGreaterThan(800_000);
    // Run past the window: 4 listed + 2 kept, so at least 7 segments must have been made.
    await waitUntil(() => (readMediaPlaylist(dir)?.segments.at(-1)?.sequence ?? 0) >= 8, 30_000, 'nine segments', { intervalMs: 100 });
    const pl = readMediaPlaylist(dir)!;
    expect(pl.playlistType).toBeUndefined();
    expect(pl.endList).toBe(false);
    expect(pl.segments.length).toBe(4);
    expect(pl.mediaSequence).toBeGreaterThan(0);
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeLessThanOrEqual(4 + 2 + 1); // listed + threshold + the one being written
    expect(h.figures()?.fps).toBeGreaterThan(0);
    const capture = h.figures()!.capture!;
    expect(capture.path).toBe(path);
    // What FFmpeg really reads: the display, or the helper's frames on fd 3.
    const ffmpeg = registry.list().find((p) => p.name === 'ffmpeg')!;
    const argv = readFileSync(`/proc/${ffmpeg.pid}/cmdline`, 'utf8').split('\0');
    expect(argv[argv.indexOf('-i') + 1]).toBe(path === 'damage' ? 'pipe:3' : display.display);
    // 640x360 at 15 fps starts x264 on one thread (startsSingleThreaded).
    expect(argv[argv.indexOf('-threads:v') + 1]).toBe('1');
    capturedFps(capture.capturedFps);
    expect(capture.encodedFps).toBeGreaterThan(1.5);
    expect(capture.encodedFps).toBeLessThan(3);

    const seg = join(dir, pl.segments[1]!.uri);
    const probe = await execa('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,profile,level,width,height,codec_type', '-of', 'json', seg]);
    const streams = (JSON.parse(probe.stdout) as { streams: Array<Record<string, unknown>> }).streams;
    const v = streams.find((s) => s.codec_type === 'video')!;
    expect(v).toMatchObject({ codec_name: 'h264', profile: 'High', width: 640, height: 360 });
    expect(Number(v.level)).toBeLessThanOrEqual(41);
    expect(streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
    const frames = await execa('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=key_frame', '-of', 'csv=p=0', seg]);
    expect(frames.stdout.split('\n')[0]?.trim()).toBe('1');
    await h.stop();
    expect((await h.exited).reason).toBe('stopped');
    // A graceful stop (q) finishes the playlist without #EXT-X-ENDLIST: the next FFmpeg of a pace
    // step or a restart appends to it, and a TV reading it in between must not think it is over.
    const left = readMediaPlaylist(dir)!;
    expect(left.segments.length).toBeGreaterThan(0);
    expect(left.endList).toBeFalsy();
    expect(groupMembers(registry.list().find((p) => p.name === 'ffmpeg')?.pgid ?? -1)).toHaveLength(0);
    expect(registry.list().filter((p) => p.name === 'damage-grab')).toEqual([]);
  });

  it('a SIGKILLed FFmpeg restarted on the same directory continues the playlist and leaves none of its files behind', async () => {
    const dir = join(root, 'restart');
    const enc = new FfmpegEncoderDriver({ registry, args: { segmentSeconds: 1, initSegmentSeconds: 0.5, listSize: 3, deleteThreshold: 2 } });
    const first = await enc.start({ display: display.display, input: input('hls'), dir }, ctx());
    // Past the window, so that segments wait for deletion when it dies.
    await waitUntil(() => (readMediaPlaylist(dir)?.segments.at(-1)?.sequence ?? 0) >= 7, 30_000, 'eight segments', { intervalMs: 100 });
    const runOf = (uri: string) => uri.split('_')[0]!;
    const oldRun = runOf(readMediaPlaylist(dir)!.segments.at(-1)!.uri);
    const ff = registry.list().find((p) => p.name === 'ffmpeg')!;
    process.kill(ff.pid, 'SIGKILL');
    expect((await first.exited).reason).not.toBe('stopped');
    const lastSeq = readMediaPlaylist(dir)!.segments.at(-1)!.sequence;

    const second = await enc.start({ display: display.display, input: input('hls'), dir }, ctx());
    // Once the new run has made a full window and its threshold, nothing of the old run is listed
    // or on disk: FFmpeg deletes what it saw leave the list, the driver what the killed one left.
    await waitUntil(() => readMediaPlaylist(dir)!.segments.every((s) => runOf(s.uri) !== oldRun) && readMediaPlaylist(dir)!.segments.length === 3, 30_000, 'a window of the new run', { intervalMs: 100 });
    await waitUntil(() => (readMediaPlaylist(dir)?.segments.at(-1)?.sequence ?? 0) >= lastSeq + 8, 30_000, 'the threshold passed too', { intervalMs: 100 });
    const pl = readMediaPlaylist(dir)!;
    expect(pl.segments[0]!.sequence).toBeGreaterThan(lastSeq); // the sequence went on
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.filter((f) => runOf(f) === oldRun)).toEqual([]);
    expect(files.length).toBeLessThanOrEqual(3 + 2 + 1);
    await second.stop();
  });
});
