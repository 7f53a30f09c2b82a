// The whole media path on loopback: page server → Xvfb → Chromium → FFmpeg → stream server →
// undici / ffprobe / an independent ffmpeg reader. Then the faults: FFmpeg SIGKILL and restart
// (the playlist continues and a following reader goes on), Xvfb killed.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { ProcessRegistry, groupMembers } from '../../../machines/processes/registry.js';
import { StreamServer } from '../../../controller/http/stream-server.js';
import type { BrowserHandle, ComponentReport, DisplayHandle, EncoderHandle, StartContext, StreamInput } from '../../../machines/components.js';
import { createMediaDrivers } from '../../../machines/media/drivers.js';
import { parseMasterPlaylist, parseMediaPlaylist, type MediaPlaylist } from '../../../machines/media/playlist.js';
import { BrowserOptions } from '../../../specs/schema.js';
import { startPageServer, type PageServer } from '../../fixtures/media/page-server.js';
import { waitUntil } from '../../helpers.js';

const W = 640;
const H = 360;
const FPS = 15;
const root = mkdtempSync(join(tmpdir(), 'pagecast-pipe-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
const drivers = createMediaDrivers({ registry, browser: { profileRoot: root }, encoder: { args: { listSize: 4, deleteThreshold: 2 } } });
const streams = new StreamServer({ host: '127.0.0.1', port: 0, advertiseHost: '127.0.0.1', log: silentLogger() });
let pages: PageServer;
let display: DisplayHandle;
let browser: BrowserHandle;
const reports: ComponentReport[] = [];
const ctx = (): StartContext => ({ signal: new AbortController().signal, log: silentLogger(), report: (r) => reports.push(r) });
const input = (mode: 'hls' | 'fmp4'): StreamInput => ({ url: pages.url('/animated'), quality: { width: W, height: H, fps: FPS, bitrateKbps: 800 }, mode, hwAccel: 'off', browser: BrowserOptions.parse({}) });

async function get(url: string): Promise<Buffer> {
  const r = await request(url);
  const body = Buffer.from(await r.body.arrayBuffer());
  if (r.statusCode !== 200) throw new Error(`${url}: HTTP ${r.statusCode}`);
  expect(r.headers['access-control-allow-origin']).toBe('*');
  return body;
}
// Each probe below is an HTTP request or reads a progress counter that moves a few times a second.
const POLL = { intervalMs: 200 };
async function ffprobe(file: string, entries: string, extra: string[] = []): Promise<Record<string, unknown>[]> {
  const r = await execa('ffprobe', ['-v', 'error', ...extra, '-show_entries', entries, '-of', 'json', file]);
  const j = JSON.parse(r.stdout) as { streams?: Record<string, unknown>[]; frames?: Record<string, unknown>[]; packets?: Record<string, unknown>[] };
  return j.streams ?? j.frames ?? j.packets ?? [];
}

beforeAll(async () => {
  pages = await startPageServer();
  await streams.start();
  display = await drivers.display.start({ width: W, height: H }, ctx());
  browser = await drivers.browser.start({ display: display.display, input: input('hls') }, ctx());
});
afterAll(async () => {
  await browser?.stop();
  await display?.stop();
  await registry.stopAll();
  await streams.stop();
  await pages.close();
  rmSync(root, { recursive: true, force: true });
});

describe.each(['hls', 'fmp4'] as const)('a real %s stream through the stream server', (mode) => {
  it('is Cast-safe: H.264 High at size, rate and level, AAC, CODECS, keyframes at every segment start, sliding window', async () => {
    const dir = join(root, `s-${mode}`);
    const t0 = Date.now();
    const enc = await drivers.encoder.start({ display: display.display, input: input(mode), dir }, ctx());
    // A failed assertion must not leave this encoder running into the next test (it would be the
    // FFmpeg the fault test finds and kills).
    try {
      await enc.servable();
      expect(Date.now() - t0).toBeLessThan(3500);
      const { token } = streams.publish(`s-${mode}`, dir, mode);
      const base = `http://127.0.0.1:${streams.port}/s/${token}/`;
      const master = parseMasterPlaylist((await get(base + 'master.m3u8')).toString());
      expect(master.attrs).toMatchObject({ CODECS: 'avc1.64001e,mp4a.40.2', RESOLUTION: `${W}x${H}` });
      expect(Number(master.attrs.BANDWIDTH)).toBeGreaterThan(800_000);

      // Past the window (4 listed + 2 kept): the list stays at 4 and old segments 404.
      let pl: MediaPlaylist = parseMediaPlaylist((await get(base + master.uri)).toString());
      const first = pl.segments[0]!;
      // The first playlist lists the ramp's 0.5 s segments, for which FFmpeg writes 0 or 1: served
      // is the segment length, as later.
      expect(pl.segments.every((s) => s.duration < 1), 'only the ramp is listed yet').toBe(true);
      expect(pl.targetDuration).toBe(2);
      pl = await waitUntil(async () => {
        const p = parseMediaPlaylist((await get(base + master.uri)).toString());
        return p.segments[0]!.sequence >= first.sequence + 8 && p;
      }, 40_000, 'the window to slide', POLL);
      expect(pl.segments).toHaveLength(4);
      expect(pl.playlistType).toBeUndefined();
      expect(pl.targetDuration).toBe(2);
      expect((await request(base + first.uri)).statusCode).toBe(404);
      expect(streams.fetches(`s-${mode}`)[0]).toMatchObject({ client: '127.0.0.1' });

      // Decode the newest full segments (with the init segment in fMP4).
      const init = mode === 'fmp4' ? await get(base + pl.segments[0]!.map!) : Buffer.alloc(0);
      for (const seg of pl.segments.slice(1, 3)) {
        // x11grab stamps a frame when it grabs it, and a grab that runs late on a busy machine can
        // put the boundary's keyframe one frame early or late: 2 s within one frame.
        expect(Math.abs(seg.duration - 2)).toBeLessThanOrEqual(1 / FPS + 0.005);
        const file = join(root, `probe-${mode}-${seg.sequence}.${mode === 'fmp4' ? 'mp4' : 'ts'}`);
        const { writeFileSync } = await import('node:fs');
        writeFileSync(file, Buffer.concat([init, await get(base + seg.uri)]));
        const st = await ffprobe(file, 'stream=codec_type,codec_name,profile,level,width,height,avg_frame_rate');
        expect(st.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', profile: 'High', level: 30, width: W, height: H });
        expect(st.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
        const frames = await ffprobe(file, 'frame=key_frame,pts_time', ['-select_streams', 'v']);
        expect(frames[0]).toMatchObject({ key_frame: 1 });
        expect(frames.slice(1).every((f) => f.key_frame === 0)).toBe(true);
        // An animated page gets every frame: about FPS per second of segment.
        expect(frames.length).toBeGreaterThanOrEqual(Math.floor(FPS * seg.duration * 0.8));
      }
      const f = enc.figures()!;
      // A moving page: damage capture grabs every frame, and every grabbed frame is encoded.
      expect(f.capture!.path).toBe('damage');
      expect(f.capture!.capturedFps).toBeGreaterThanOrEqual(FPS * 0.8);
      expect(f.capture!.encodedFps).toBeGreaterThanOrEqual(FPS * 0.8);
      expect(f.speed).toBeGreaterThan(0.9);
      expect(f.bitrateKbps).toBeGreaterThan(0);
    } finally {
      await enc.stop();
      streams.unpublish(`s-${mode}`);
    }
  });
});

describe('faults', () => {
  it('SIGKILLed FFmpeg: exited says killed; a restart continues the playlist with a discontinuity and a following reader goes on', async () => {
    const dir = join(root, 'restart');
    let enc: EncoderHandle = await drivers.encoder.start({ display: display.display, input: input('hls'), dir }, ctx());
    await enc.servable();
    const { token } = streams.publish('restart', dir, 'hls');
    const url = `http://127.0.0.1:${streams.port}/s/${token}/master.m3u8`;
    const reader = execa('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-i', url, '-f', 'null', '-'], { reject: false, buffer: false });
    let readerFrames = 0;
    reader.stdout!.on('data', (d: Buffer) => {
      for (const m of String(d).matchAll(/^frame=(\d+)/gm)) readerFrames = Number(m[1]);
    });
    try {
      await waitUntil(() => readerFrames > FPS * 2, 20_000, 'the reader to play', POLL);
      const before = parseMediaPlaylist((await get(url.replace('master.m3u8', 'index.m3u8'))).toString());
      const ffmpegs = registry.list().filter((r) => r.name === 'ffmpeg');
      expect(ffmpegs, 'only this test\'s FFmpeg runs').toHaveLength(1);
      const ffmpegPid = ffmpegs[0]!.pid;
      const helper = registry.list().find((r) => r.name === 'damage-grab')!;
      expect(helper, 'the capture helper of this FFmpeg').toBeDefined();
      process.kill(ffmpegPid, 'SIGKILL');
      const e = await enc.exited;
      expect(e).toMatchObject({ reason: 'killed', signal: 'SIGKILL' });
      expect(e.message).toContain('FFmpeg killed by SIGKILL');
      expect(reports.some((r) => r.type === 'EncoderRunning' && r.status === 'False' && r.reason === 'Killed')).toBe(true);
      // Its capture helper was writing into it: it ends with it.
      await waitUntil(() => !existsSync(`/proc/${helper.pid}`) && !registry.list().some((r) => r.pid === helper.pid), 5000, 'the damage-grab helper gone with its FFmpeg');

      enc = await drivers.encoder.start({ display: display.display, input: input('hls'), dir }, ctx());
      await enc.servable();
      const framesAtRestart = readerFrames;
      // Served target durations until the restarted run's ramp fills the window (4 listed): FFmpeg
      // writes 0 or 1 for a window of 0.5 s segments, and a following reader that is told 0 reloads
      // without pause and gives the stream up (FFmpeg's own HLS reader did, in CI).
      const targets = new Set<number | undefined>();
      let rampOnly = false;
      const after = await waitUntil(async () => {
        const p = parseMediaPlaylist((await get(url.replace('master.m3u8', 'index.m3u8'))).toString());
        targets.add(p.targetDuration);
        rampOnly ||= p.segments.every((s) => s.duration < 1);
        const join = p.segments.findIndex((x) => x.discontinuity);
        return rampOnly && join >= 0 && p.segments.length - join - 1 >= 2 && p;
      }, 20_000, 'the window to hold only the new run\'s ramp, and two segments after the join', { intervalMs: 100 });
      expect([...targets]).toEqual([2]);
      const join_ = after.segments.find((s) => s.discontinuity)!;
      expect(join_).toBeDefined();
      // Sequence numbers are consecutive across the join: nothing lost, nothing reused.
      const seqs = after.segments.map((s) => s.sequence);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(join_.sequence).toBeGreaterThan(before.segments.at(-1)!.sequence);
      // New names carry the new run's prefix: none of the old run's names is written again.
      const prefix = (u: string) => u.slice(0, u.lastIndexOf('-'));
      const joinIndex = after.segments.indexOf(join_);
      expect(new Set(after.segments.slice(joinIndex).map((s) => prefix(s.uri))).size).toBe(1);
      expect(before.segments.map((s) => prefix(s.uri))).not.toContain(prefix(join_.uri));
      const names = after.segments.map((s) => s.uri);
      expect(new Set(names).size).toBe(names.length);
      // The reader that followed the stream goes on past the restart.
      await waitUntil(() => readerFrames > framesAtRestart + FPS * 3, 30_000, 'the reader to go on after the restart', POLL);
      expect(reader.exitCode).toBeNull();
    } finally {
      reader.kill('SIGKILL');
      await reader;
      await enc.stop();
      streams.unpublish('restart');
    }
  });

  it('a killed Xvfb settles the display exited (and takes the browser with it)', async () => {
    const xvfb = registry.list().find((r) => r.name === 'Xvfb')!;
    process.kill(xvfb.pid, 'SIGKILL');
    expect(await display.exited).toMatchObject({ reason: 'killed', signal: 'SIGKILL' });
    expect(reports.some((r) => r.type === 'DisplayReady' && r.status === 'False')).toBe(true);
    const b = await Promise.race([browser.exited, new Promise<undefined>((r) => setTimeout(r, 15_000))]);
    expect(b?.reason).toMatch(/disconnected|exited|crashed|hung/);
    await browser.stop();
    await display.stop();
    expect(groupMembers(xvfb.pgid)).toHaveLength(0);
  });
});
