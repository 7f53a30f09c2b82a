// Thumbnails from real segments: FFmpeg writes a short HLS stream (MPEG-TS, and fMP4 with its init
// segment), the thumbnailer decodes the newest segment's first frame.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Thumbnailer, jpegSize } from '../../../controller/http/console/thumbnail.js';

let root: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'pc-thumb-'));
  for (const [sub, extra] of [
    ['ts', []],
    ['mp4', ['-hls_segment_type', 'fmp4']],
  ] as const) {
    mkdirSync(join(root, sub));
    await execa('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=10', '-t', '3'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0', ...extra],
      join(root, sub, 'index.m3u8'),
    ]);
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Thumbnailer', () => {
  it('decodes the newest segment to a JPEG of the stream size, once per segment and cache time', async () => {
    let now = 1_000_000;
    const t = new Thumbnailer({ now: () => now, cacheMs: 5000 });
    const files = { streamId: 's1', dir: join(root, 'ts'), mode: 'hls' as const, width: 320, height: 180, entry: 'master.m3u8' };
    const [a, b] = await Promise.all([t.thumbnail(files), t.thumbnail(files)]);
    expect(a).toBe(b);
    expect(jpegSize(a!.jpeg)).toEqual({ width: 320, height: 180 });
    expect(a!.segment).toMatch(/\.ts$/);
    now += 10_000;
    // The newest segment is the same: no new decode.
    expect(await t.thumbnail(files)).toBe(a);
  });

  it('decodes an fMP4 segment with its init segment', async () => {
    const t = new Thumbnailer();
    const thumb = await t.thumbnail({ streamId: 's2', dir: join(root, 'mp4'), mode: 'fmp4', width: 320, height: 180, entry: 'master.m3u8' });
    expect(jpegSize(thumb!.jpeg)).toEqual({ width: 320, height: 180 });
  });

  it('answers undefined for a stream with no segment yet, and fails (not cached) when FFmpeg does', async () => {
    const t = new Thumbnailer();
    expect(await t.thumbnail({ streamId: 's3', dir: join(root, 'none'), mode: 'hls', width: 1, height: 1, entry: 'master.m3u8' })).toBeUndefined();
    const broken = new Thumbnailer({ ffmpegPath: '/bin/false' });
    const files = { streamId: 's4', dir: join(root, 'ts'), mode: 'hls' as const, width: 320, height: 180, entry: 'master.m3u8' };
    await expect(broken.thumbnail(files)).rejects.toThrow();
    await expect(broken.thumbnail(files)).rejects.toThrow();
  });
});
