// An independent HLS client (FFmpeg's own demuxer) plays streams FFmpeg wrote, through the
// server: the file names FFmpeg chooses (master, media playlists, .ts, init.mp4, .m4s) are served.
// Tiny synthetic input (lavfi), a few frames: this stays cheap on a shared machine.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import { StreamServer } from '../../../controller/http/stream-server.js';
import type { StreamMode } from '../../../specs/schema.js';

let root: string;
let server: StreamServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pagecast-ssff-'));
  server = new StreamServer({ host: '127.0.0.1', port: 0, log: silentLogger() });
  await server.start();
});
afterAll(async () => {
  await server.stop();
  await rm(root, { recursive: true, force: true });
});

async function writeStream(dir: string, mode: StreamMode): Promise<void> {
  const segType = mode === 'fmp4' ? ['-hls_segment_type', 'fmp4', '-hls_segment_filename', join(dir, 'seg_%05d.m4s')] : ['-hls_segment_filename', join(dir, 'seg_%05d.ts')];
  await execa(
    'ffmpeg',
    [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-f', 'lavfi', '-i', 'testsrc=size=160x90:rate=10:duration=4',
      '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo',
      '-t', '4', '-map', '0:v', '-map', '1:a',
      '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10',
      '-c:a', 'aac', '-b:a', '32k',
      '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0', ...segType,
      '-master_pl_name', 'master.m3u8',
      join(dir, 'stream.m3u8'),
    ],
    { timeout: 30_000 },
  );
}

describe.each(['hls', 'fmp4'] as const)('an FFmpeg reader on a %s stream', (mode) => {
  it('plays every frame through the stream server, and the fetches are recorded', async () => {
    const dir = await mkdtemp(join(root, `${mode}-`));
    await writeStream(dir, mode);
    const { token, entry } = server.publish(`ff-${mode}`, dir, mode);
    const url = server.urlFor(`ff-${mode}`, '127.0.0.1');
    expect(url.endsWith(`/s/${token}/${entry}`)).toBe(true);

    const probe = await execa('ffmpeg', ['-hide_banner', '-nostdin', '-i', url, '-map', '0:v', '-f', 'null', '-'], { timeout: 30_000, reject: false });
    expect(probe.exitCode, probe.stderr).toBe(0);
    expect(probe.stderr).toMatch(/Video: h264/);
    expect(probe.stderr).toMatch(/frame=\s*40\b/); // 4 s at 10 fps, all of it

    const files = await readdir(dir);
    if (mode === 'fmp4') expect(files).toContain('init.mp4');
    const [stats] = server.fetches(`ff-${mode}`);
    expect(stats?.client).toBe('127.0.0.1');
    expect(stats?.lastPlaylistAt).toBeDefined();
    expect(stats?.lastSegmentAt).toBeDefined();
    expect(stats?.bytes).toBeGreaterThan(10_000);
  });
});
