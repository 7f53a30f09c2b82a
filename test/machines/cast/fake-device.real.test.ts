// Our Cast sender against the fake device with its real strict player, on a tiny live HLS
// stream from FFmpeg (lavfi, no display/browser): PLAYING here means frames were decoded.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../machines/log.js';
import type { CastDrift } from '../../../machines/components.js';
import type { StreamMode } from '../../../specs/schema.js';
import { connectCast } from '../../../machines/cast/connection.js';
import { FakeCastDevice } from '../../fake-device/device.js';
import { waitUntil } from '../../helpers.js';
import { serveHlsDir } from '../../fixtures/media/hls-dir-server.js';

interface Stream {
  dir: string;
  url: string;
  stop(): Promise<void>;
}

const live: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (live.length) await live.pop()!();
});
afterAll(async () => {
  while (live.length) await live.pop()!();
});

/** FFmpeg live HLS (video + silent AAC, master playlist with CODECS) behind a CORS HTTP server. */
async function liveStream(mode: StreamMode): Promise<Stream> {
  const dir = mkdtempSync(join(tmpdir(), 'pagecast-cast-'));
  const args = ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=mono'];
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-level', '3.0', '-pix_fmt', 'yuv420p', '-g', '10', '-keyint_min', '10', '-sc_threshold', '0', '-threads', '1');
  args.push('-c:a', 'aac', '-b:a', '32k', '-f', 'hls', '-hls_time', '1', '-master_pl_name', 'master.m3u8', '-hls_list_size', '6', '-hls_flags', 'delete_segments+program_date_time');
  if (mode === 'fmp4') args.push('-hls_segment_type', 'fmp4');
  args.push(join(dir, 'index.m3u8'));
  const proc: ChildProcess = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const served = await serveHlsDir(dir);
  const stream: Stream = {
    dir,
    url: served.url,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      await served.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.push(() => stream.stop());
  const segments = () => {
    try {
      return readFileSync(join(dir, 'index.m3u8'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).length;
    } catch {
      return 0;
    }
  };
  // The controller LOADs once three segments exist; so do we.
  await waitUntil(() => segments() >= 3 || (proc.exitCode !== null && new Error(stderr)), 20_000, 'three segments', { intervalMs: 50 }).then((v) => {
    if (v instanceof Error) throw new Error(`ffmpeg exited: ${v.message}`);
  });
  return stream;
}

async function fakeDevice(): Promise<FakeCastDevice> {
  const d = new FakeCastDevice({ name: 'Fake TV' });
  await d.start();
  live.push(() => d.stop());
  return d;
}

describe('sender → fake device → strict player, real live HLS', () => {
  it.each(['hls', 'fmp4'] as const)('%s: LOAD reaches PLAYING with decoded frames; a reconnect rejoins with no new LOAD; stop() ends it', async (mode) => {
    const stream = await liveStream(mode);
    const device = await fakeDevice();
    const owned = new Set<string>();
    const drifts: CastDrift[] = [];
    const conn = await connectCast({ device: { host: '127.0.0.1', port: device.port }, log: silentLogger(), ownedSessions: owned });
    live.push(() => conn.close());
    conn.onDrift((d) => drifts.push(d));
    await conn.launch({ takeover: false, expectUrl: stream.url });
    const t0 = Date.now();
    await conn.load({ url: stream.url, mode, title: `pagecast: ${mode}` });
    await waitUntil(() => conn.media()?.playerState === 'PLAYING', 15_000, () => `sender sees PLAYING (device: ${JSON.stringify(device.status())})`);
    const loadToPlayingMs = Date.now() - t0;
    const player = device.status().player!;
    expect(player.framesDecoded).toBeGreaterThan(0);
    console.log(`[cast-real] ${mode}: LOAD → PLAYING ${loadToPlayingMs} ms, latency ${player.latencyMs} ms`);

    // Drop the link; a new connection joins the session that still plays.
    conn.close();
    const again = await connectCast({ device: { host: '127.0.0.1', port: device.port }, log: silentLogger(), ownedSessions: owned });
    live.push(() => again.close());
    const t1 = Date.now();
    expect(await again.launch({ takeover: false, expectUrl: stream.url })).toEqual({ joined: true });
    console.log(`[cast-real] ${mode}: reconnect → joined PLAYING ${Date.now() - t1} ms`);
    expect(device.loads()).toHaveLength(1);
    const frames = device.status().player!.framesDecoded;
    await device.waitFor(() => (device.status().player?.framesDecoded ?? 0) > frames, 5_000, 'more frames after the rejoin');

    await again.stop();
    expect(device.count('STOP')).toBe(2); // media STOP, receiver STOP
    expect(device.status().app).toBeUndefined();
    expect(drifts).toEqual([]);
  });
});
