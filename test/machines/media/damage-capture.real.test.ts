// Damage-driven capture on the real path: page server → Xvfb → Chromium → damage-grab.py →
// FFmpeg. A still dashboard costs the frames that changed plus the floor, a page that alternates
// motion and stillness gets every frame while it moves, and every segment keeps the stream's rules
// (2 s, a keyframe first and only there, High profile, AAC) across both.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { ProcessRegistry } from '../../../machines/processes/registry.js';
import type { BrowserHandle, DisplayHandle, EncoderHandle, StartContext, StreamInput } from '../../../machines/components.js';
import { createMediaDrivers } from '../../../machines/media/drivers.js';
import { readMediaPlaylist } from '../../../machines/media/encoder.js';
import type { MediaSegment } from '../../../machines/media/playlist.js';
import { BrowserOptions } from '../../../specs/schema.js';
import { startPageServer, type PageServer } from '../../fixtures/media/page-server.js';
import { waitUntil } from '../../helpers.js';

const W = 640;
const H = 360;
const FPS = 15;
const root = mkdtempSync(join(tmpdir(), 'pagecast-damage-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
const drivers = createMediaDrivers({ registry, browser: { profileRoot: root }, encoder: { capture: 'damage', args: { listSize: 12, deleteThreshold: 2 } } });
let pages: PageServer;
let display: DisplayHandle;
const ctx = (): StartContext => ({ signal: new AbortController().signal, log: silentLogger(), report: () => undefined });
const input = (path: string): StreamInput => ({ url: pages.url(path), quality: { width: W, height: H, fps: FPS, bitrateKbps: 800 }, mode: 'hls', hwAccel: 'off', browser: BrowserOptions.parse({}) });

beforeAll(async () => {
  pages = await startPageServer();
  display = await drivers.display.start({ width: W, height: H }, ctx());
});
afterAll(async () => {
  await display?.stop();
  await registry.stopAll();
  await pages.close();
  rmSync(root, { recursive: true, force: true });
});

interface Probed {
  duration: number;
  frames: number;
  keyFrames: number[];
  video: Record<string, unknown> | undefined;
  audio: Record<string, unknown> | undefined;
}

async function probe(dir: string, seg: MediaSegment): Promise<Probed> {
  const file = join(dir, seg.uri);
  const st = JSON.parse((await execa('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,profile,width,height', '-of', 'json', file])).stdout) as { streams: Record<string, unknown>[] };
  const fr = (await execa('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=key_frame', '-of', 'csv=p=0', file])).stdout.split('\n').filter((l) => l.trim() !== '');
  return {
    duration: seg.duration,
    frames: fr.length,
    keyFrames: fr.flatMap((l, i) => (l.trim().startsWith('1') ? [i] : [])),
    video: st.streams.find((s) => s.codec_type === 'video'),
    audio: st.streams.find((s) => s.codec_type === 'audio'),
  };
}

/** Every full segment of the run: 2 s within a frame, one keyframe and it first, High profile, AAC. */
function expectStreamRules(segs: Probed[]): void {
  for (const s of segs) {
    expect(Math.abs(s.duration - 2), `segment of ${s.duration} s`).toBeLessThanOrEqual(1 / FPS + 0.005);
    expect(s.keyFrames).toEqual([0]);
    expect(s.video).toMatchObject({ codec_name: 'h264', profile: 'High', width: W, height: H });
    expect(s.audio).toMatchObject({ codec_name: 'aac' });
  }
}

/** The full-length segments listed now (past the ramp of short ones), probed. */
async function fullSegments(dir: string, count: number): Promise<Probed[]> {
  const pl = await waitUntil(() => {
    const p = readMediaPlaylist(dir);
    return p && p.segments.filter((s) => s.duration > 1).length >= count + 1 && p;
  }, 60_000, `${count + 1} full segments`, { intervalMs: 200 });
  // The newest full one may be the one after a ramp: leave out the first full segment.
  const full = pl.segments.filter((s) => s.duration > 1).slice(1, count + 1);
  return Promise.all(full.map((s) => probe(dir, s)));
}

describe('damage-driven capture, real Chromium on Xvfb', () => {
  it('a still dashboard: grabs what changed (a number a second), writes the floor, keeps every stream rule', async () => {
    const browser: BrowserHandle = await drivers.browser.start({ display: display.display, input: input('/static') }, ctx());
    const dir = join(root, 'still');
    let enc: EncoderHandle | undefined;
    try {
      enc = await drivers.encoder.start({ display: display.display, input: input('/static'), dir }, ctx());
      await enc.servable();
      const segs = await fullSegments(dir, 4);
      expectStreamRules(segs);
      // The floor is 2 frames a second (4 a segment), and the number changing each second adds two.
      for (const s of segs) expect(s.frames).toBeGreaterThanOrEqual(4);
      for (const s of segs) expect(s.frames).toBeLessThanOrEqual(8);
      const f = enc.figures()!;
      expect(f.capture!.path).toBe('damage');
      // One change a second, plus a fresh grab for the floor every 2 s at most.
      expect(f.capture!.capturedFps).toBeGreaterThan(0.5);
      expect(f.capture!.capturedFps).toBeLessThan(2.5);
      expect(f.capture!.encodedFps).toBeGreaterThan(1.5);
      expect(f.capture!.encodedFps).toBeLessThan(4.5);
    } finally {
      await enc?.stop();
      await browser.stop();
    }
  });

  it('a page that alternates motion and stillness: every frame while it moves, the floor while it is still', async () => {
    const path = '/animated?moving=4&still=4';
    const browser: BrowserHandle = await drivers.browser.start({ display: display.display, input: input(path) }, ctx());
    const dir = join(root, 'alternating');
    let enc: EncoderHandle | undefined;
    try {
      enc = await drivers.encoder.start({ display: display.display, input: input(path), dir }, ctx());
      await enc.servable();
      // 16 s: two whole cycles, so at least one segment falls wholly in motion and one wholly still.
      const segs = await fullSegments(dir, 8);
      expectStreamRules(segs);
      const counts = segs.map((s) => s.frames);
      expect(Math.max(...counts), `frames per segment ${counts.join(' ')}`).toBeGreaterThanOrEqual(Math.floor(FPS * 2 * 0.9));
      expect(Math.min(...counts), `frames per segment ${counts.join(' ')}`).toBeLessThanOrEqual(6);
      expect(enc.figures()!.speed).toBeGreaterThan(0.9);
    } finally {
      await enc?.stop();
      await browser.stop();
    }
    expect(registry.list().filter((p) => p.name === 'damage-grab' || p.name === 'ffmpeg')).toEqual([]);
  });

  it('a killed capture helper ends its run: the encoder exits naming it, and nothing is left', async () => {
    const dir = join(root, 'helper-killed');
    const enc = await drivers.encoder.start({ display: display.display, input: input('/static'), dir }, ctx());
    try {
      await enc.servable();
      const helper = registry.list().find((p) => p.name === 'damage-grab')!;
      const ffmpeg = registry.list().find((p) => p.name === 'ffmpeg')!;
      process.kill(helper.pid, 'SIGKILL');
      const e = await enc.exited;
      expect(e).toMatchObject({ reason: 'killed', signal: 'SIGKILL' });
      expect(e.message).toContain('damage-grab killed by SIGKILL');
      await waitUntil(() => !existsSync(`/proc/${ffmpeg.pid}`) && !existsSync(`/proc/${helper.pid}`), 10_000, 'FFmpeg and its helper gone');
    } finally {
      await enc.stop();
    }
    expect(registry.list().filter((p) => p.name === 'damage-grab' || p.name === 'ffmpeg')).toEqual([]);
  });
});
