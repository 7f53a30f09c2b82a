// The fake device's strict HLS player against real live HLS from FFmpeg (tiny lavfi streams),
// served by a loopback HTTP server whose CORS, files and failures each test controls.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordRequests, waitUntil, type RequestLog } from '../helpers.js';
import { startPlayer } from './hls-player.js';
import type { Player, PlayerLoad, PlayerOptions, PlayerStatus } from './player-types.js';

const ORIGIN = 'https://www.gstatic.com';
const TS_HINTS = { hlsSegmentFormat: 'ts', hlsVideoSegmentFormat: 'mpeg2_ts' };
const FMP4_HINTS = { hlsSegmentFormat: 'fmp4', hlsVideoSegmentFormat: 'fmp4' };
const TARGET_S = 1;

// ---- harness: encoder, server, player recorder ------------------------------------------

interface Encoder {
  dir: string;
  proc: ChildProcess;
  kill(): Promise<void>;
}

// The probes here read files FFmpeg keeps rewriting: no need to look more often.
const POLL = { intervalMs: 50 };

function listedSegments(dir: string): string[] {
  try {
    return readFileSync(join(dir, 'index.m3u8'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  } catch {
    return [];
  }
}

async function startEncoder(o: { audio?: boolean; fmp4?: boolean; event?: boolean } = {}): Promise<Encoder> {
  const dir = mkdtempSync(join(tmpdir(), 'pagecast-player-'));
  const args = ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10'];
  if (o.audio !== false) args.push('-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=mono');
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-level', '3.0', '-pix_fmt', 'yuv420p');
  args.push('-g', '10', '-keyint_min', '10', '-sc_threshold', '0', '-threads', '1');
  if (o.audio !== false) args.push('-c:a', 'aac', '-b:a', '32k');
  args.push('-f', 'hls', '-hls_time', String(TARGET_S), '-master_pl_name', 'master.m3u8');
  if (o.event) args.push('-hls_playlist_type', 'event', '-hls_list_size', '0', '-hls_flags', 'program_date_time');
  else args.push('-hls_list_size', '6', '-hls_flags', 'delete_segments+program_date_time');
  if (o.fmp4) args.push('-hls_segment_type', 'fmp4');
  args.push(join(dir, 'index.m3u8'));
  const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const enc: Encoder = {
    dir,
    proc,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
  encoders.push(enc);
  await waitUntil(() => listedSegments(dir).length >= 4 || (proc.exitCode !== null && new Error(stderr)), 20_000, 'four segments from ffmpeg', POLL).then((v) => {
    if (v instanceof Error) throw new Error(`ffmpeg exited: ${v.message}`);
  });
  return enc;
}

interface ServerControl {
  cors: { playlists: boolean; segments: boolean };
  /** Hand-written files served instead of the encoder's (e.g. a master playlist). */
  files: Map<string, string>;
  /** Requests for these names get 404 although the file may exist. */
  gone: (name: string) => boolean;
  /** Bytes served instead of the file's. */
  replace: (name: string) => Buffer | undefined;
  requests: { name: string; origin?: string; status: number }[];
  /** The same requests seen from the client side (what was started, what was sent, and when). */
  client: RequestLog;
}

interface TestServer extends ServerControl {
  url(name: string): string;
  close(): Promise<void>;
}

async function startServer(dir: string): Promise<TestServer> {
  const ctl: Omit<ServerControl, 'client'> = { cors: { playlists: true, segments: true }, files: new Map(), gone: () => false, replace: () => undefined, requests: [] };
  const server: Server = createServer((req, res) => {
    const name = basename(new URL(req.url ?? '/', 'http://x').pathname);
    const playlist = name.endsWith('.m3u8');
    if (playlist ? ctl.cors.playlists : ctl.cors.segments) res.setHeader('Access-Control-Allow-Origin', '*');
    let body: Buffer | string | undefined = ctl.files.get(name) ?? ctl.replace(name);
    if (body === undefined && !ctl.gone(name)) {
      try {
        body = readFileSync(join(dir, name));
      } catch {
        body = undefined;
      }
    }
    const status = body === undefined ? 404 : 200;
    ctl.requests.push({ name, origin: req.headers.origin, status });
    res.statusCode = status;
    res.setHeader('Content-Type', playlist ? 'application/vnd.apple.mpegurl' : name.endsWith('.ts') ? 'video/mp2t' : 'video/mp4');
    res.end(body ?? 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = recordRequests(`http://127.0.0.1:${port}`);
  const s: TestServer = Object.assign(ctl, {
    client,
    url: (name: string) => `http://127.0.0.1:${port}/${name}`,
    close: () =>
      new Promise<void>((r) => {
        client.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  servers.push(s);
  return s;
}

interface Run {
  player: Player;
  statuses: PlayerStatus[];
  /** Date.now() when each status arrived. */
  times: number[];
  last(): PlayerStatus;
  until(pred: (s: PlayerStatus) => boolean, timeoutMs: number, what: string): Promise<PlayerStatus>;
}

function play(load: PlayerLoad, opts: Partial<PlayerOptions> = {}): Run {
  const statuses: PlayerStatus[] = [];
  const times: number[] = [];
  const player = startPlayer(load, { maxLevel: 41, origin: ORIGIN, ...opts }, (s) => {
    statuses.push(s);
    times.push(Date.now());
  });
  players.push(player);
  return {
    player,
    statuses,
    times,
    last: () => player.status(),
    until: (pred, timeoutMs, what) =>
      waitUntil(
        () => {
          const s = player.status();
          return pred(s) ? s : undefined;
        },
        timeoutMs,
        () => `${what} (last status ${JSON.stringify(player.status())})`,
        POLL,
      ),
  };
}

const encoders: Encoder[] = [];
const servers: TestServer[] = [];
const players: Player[] = [];

afterEach(() => {
  for (const p of players.splice(0)) p.stop();
});

afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const e of encoders.splice(0)) {
    await e.kill();
    rmSync(e.dir, { recursive: true, force: true });
  }
});

const isError = (code: number) => (s: PlayerStatus) => s.playerState === 'IDLE' && s.idleReason === 'ERROR' && s.detailedErrorCode === code;
const segmentRequests = (srv: ServerControl) => srv.requests.filter((r) => /\.(ts|m4s|mp4)$/.test(r.name));

// ---- MPEG-TS with audio: one encoder shared by most cases --------------------------------

describe('MPEG-TS live stream with audio', () => {
  let enc: Encoder;
  beforeAll(async () => {
    enc = await startEncoder();
  });

  it('plays: PLAYING with decoded frames, currentTime following the clock, latency from PDT, Origin sent', async () => {
    const srv = await startServer(enc.dir);
    const listedAtLoad = listedSegments(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    const first = await run.until((s) => s.playerState === 'PLAYING', 10_000, 'PLAYING');
    expect(first.framesDecoded).toBeGreaterThan(0);
    expect(first.beforeFirstFrame).toBe(false);
    expect(run.statuses[0]?.playerState).toBe('BUFFERING');

    const t0 = Date.now();
    const c0 = run.last().currentTime;
    const later = await run.until((s) => s.currentTime >= c0 + 2, 6_000, 'currentTime +2 s');
    const elapsed = (Date.now() - t0) / 1000;
    expect(later.playerState).toBe('PLAYING');
    expect(later.currentTime - c0).toBeLessThanOrEqual(elapsed + 0.3); // no faster than the wall clock
    expect(later.segmentsDecoded).toBeGreaterThan(first.segmentsDecoded); // follows the live playlist
    expect(later.framesDecoded).toBeGreaterThanOrEqual(later.segmentsDecoded * 9); // 10 fps, 1 s segments

    // Latency: about three segments behind the edge, measured from PDT.
    expect(later.latencyMs).toBeGreaterThan(500);
    expect(later.latencyMs).toBeLessThan(8_000);
    console.log(`[fake-player] TS live latency ${later.latencyMs} ms, first PLAYING after ${first.segmentsDecoded} segment(s)`);

    // Started about three segments back from the live edge, not at the first listed segment.
    const firstFetched = listedAtLoad.indexOf(segmentRequests(srv)[0]?.name ?? '');
    expect(listedAtLoad.length).toBeGreaterThanOrEqual(4);
    expect(firstFetched).toBeGreaterThanOrEqual(listedAtLoad.length - 3);
    expect(srv.requests.every((r) => r.origin === ORIGIN)).toBe(true);
    expect(srv.requests.slice(0, 2).map((r) => r.name)).toEqual(['master.m3u8', 'index.m3u8']);
    // ~1 status a second while playing, not one per tick.
    expect(run.statuses.length).toBeLessThan(40);

    // stop(): nothing more is fetched or emitted, even as the encoder goes on. "Fetched after stop"
    // is counted on the client side: a request already sent may still reach the server afterwards.
    run.player.stop();
    const createdAtStop = srv.client.created.length;
    const sentAtStop = srv.client.sent.length;
    const statusesAtStop = run.statuses.length;
    const listed = listedSegments(enc.dir).at(-1);
    await waitUntil(() => listedSegments(enc.dir).at(-1) !== listed && listedSegments(enc.dir).at(-1), 5_000, 'a new segment after stop', POLL);
    expect(srv.client.created.slice(createdAtStop)).toEqual([]);
    expect(srv.requests.length).toBeLessThanOrEqual(sentAtStop);
    expect(run.statuses.length).toBe(statusesAtStop);
  });

  it('fails the LOAD when the master playlist lacks Access-Control-Allow-Origin (311)', async () => {
    const srv = await startServer(enc.dir);
    srv.cors.playlists = false;
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    const s = await run.until((x) => x.playerState === 'IDLE', 5_000, 'IDLE');
    expect(s).toMatchObject({ idleReason: 'ERROR', detailedErrorCode: 311, message: 'no Access-Control-Allow-Origin on master.m3u8', beforeFirstFrame: true });
  });

  it('fails on a media playlist (312) or segments (301) without CORS', async () => {
    const srv = await startServer(enc.dir);
    srv.cors.playlists = false;
    const direct = play({ url: srv.url('index.m3u8'), streamType: 'LIVE' });
    expect(await direct.until((x) => x.playerState === 'IDLE', 5_000, 'IDLE')).toMatchObject({ detailedErrorCode: 312, message: 'no Access-Control-Allow-Origin on index.m3u8' });

    const srv2 = await startServer(enc.dir);
    srv2.cors.segments = false;
    const run = play({ url: srv2.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    const s = await run.until((x) => x.playerState === 'IDLE', 5_000, 'IDLE');
    expect(s.detailedErrorCode).toBe(301);
    expect(s.message).toMatch(/^no Access-Control-Allow-Origin on index\d+\.ts$/);
  });

  it('fails a master playlist without CODECS (411) before fetching any segment', async () => {
    const srv = await startServer(enc.dir);
    srv.files.set('master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x240\nindex.m3u8\n');
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    const s = await run.until((x) => x.playerState === 'IDLE', 5_000, 'IDLE');
    expect(s).toMatchObject({ idleReason: 'ERROR', detailedErrorCode: 411 });
    expect(s.message).toMatch(/no CODECS in master playlist/);
    expect(segmentRequests(srv)).toHaveLength(0);
  });

  it('fails an H.264 level above the advertised one: declared (from CODECS) and actual (from the bytes) (104)', async () => {
    // FFmpeg's own master declares level 3.0; a device advertising 2.0 refuses it without fetching segments.
    const srv = await startServer(enc.dir);
    const declared = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS }, { maxLevel: 20 });
    const s1 = await declared.until((x) => x.playerState === 'IDLE', 5_000, 'IDLE');
    expect(s1).toMatchObject({ detailedErrorCode: 104, message: 'H.264 level 3.0 above 2.0' });
    expect(segmentRequests(srv)).toHaveLength(0);

    // A master that lies (level 1.3) is caught on the first decoded segment.
    const liar = await startServer(enc.dir);
    liar.files.set('master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=300000,CODECS="avc1.64000d,mp4a.40.2"\nindex.m3u8\n');
    const lying = play({ url: liar.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS }, { maxLevel: 20 });
    const s2 = await lying.until((x) => x.playerState === 'IDLE', 8_000, 'IDLE');
    expect(s2.detailedErrorCode).toBe(104);
    expect(s2.message).toMatch(/^H\.264 level 3\.0 above 2\.0 \(index\d+\.ts\)$/);
    expect(s2.framesDecoded).toBe(0);
  });

  it('hangs (BUFFERING, no error) when fMP4 hints are sent for TS segments', async () => {
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...FMP4_HINTS });
    await run.until((s) => s.message !== undefined, 5_000, 'a hang reason');
    const seen = run.statuses.length;
    const segs = listedSegments(enc.dir).at(-1);
    await waitUntil(() => listedSegments(enc.dir).indexOf(segs ?? '') <= 2 && listedSegments(enc.dir).indexOf(segs ?? '') !== -1, 6_000, 'three more segments', POLL);
    expect(run.statuses.every((s) => s.playerState === 'BUFFERING')).toBe(true);
    expect(run.last()).toMatchObject({ playerState: 'BUFFERING', framesDecoded: 0 });
    expect(run.last().message).toMatch(/contradict/);
    expect(run.statuses.length).toBe(seen);
  });

  it('BUFFERED on a live stream freezes: PLAYING, then BUFFERING for good, playlist never refreshed, no error', async () => {
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'BUFFERED', ...TS_HINTS });
    const playing = await run.until((s) => s.playerState === 'PLAYING', 10_000, 'PLAYING');
    const frozen = await run.until((s) => s.playerState === 'BUFFERING', 8_000, 'BUFFERING');
    expect(frozen.segmentsDecoded).toBe(3); // what was listed from the start position at LOAD
    expect(frozen.currentTime).toBeGreaterThan(1.5);
    expect(frozen.currentTime).toBeLessThanOrEqual(3.01);
    console.log(`[fake-player] BUFFERED froze at currentTime ${frozen.currentTime} s (PLAYING at ${playing.currentTime})`);
    // Stays frozen while the encoder produces three more segments.
    const atFreeze = listedSegments(enc.dir).at(-1) ?? '';
    await waitUntil(() => {
      const l = listedSegments(enc.dir);
      return l.includes(atFreeze) && l.indexOf(atFreeze) <= l.length - 4;
    }, 8_000, 'three more segments', POLL);
    expect(run.last()).toMatchObject({ playerState: 'BUFFERING', segmentsDecoded: 3 });
    expect(run.statuses.some((s) => s.playerState === 'IDLE')).toBe(false);
    expect(srv.requests.filter((r) => r.name === 'index.m3u8')).toHaveLength(1);
  });

  it('a segment that 404s after it was listed ends in IDLE/ERROR 315', async () => {
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    await run.until((s) => s.playerState === 'PLAYING', 10_000, 'PLAYING');
    srv.gone = (name) => name.endsWith('.ts'); // deleted before the device fetched them
    const s = await run.until((x) => x.playerState === 'IDLE', 6_000, 'IDLE');
    expect(s).toMatchObject({ idleReason: 'ERROR', detailedErrorCode: 315, beforeFirstFrame: false });
    expect(s.message).toMatch(/^HTTP 404 for segment index\d+\.ts after it was listed$/);
  });

  it('a segment that does not decode ends in IDLE/ERROR 316', async () => {
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    await run.until((s) => s.playerState === 'PLAYING', 10_000, 'PLAYING');
    // MPEG-TS sync bytes (so it looks like TS) around noise.
    const junk = Buffer.alloc(188 * 40, 0x5a);
    for (let i = 0; i < junk.length; i += 188) junk[i] = 0x47;
    srv.replace = (name) => (name.endsWith('.ts') ? junk : undefined);
    const s = await run.until((x) => x.playerState === 'IDLE', 8_000, 'IDLE');
    expect(s).toMatchObject({ idleReason: 'ERROR', detailedErrorCode: 316, beforeFirstFrame: false });
    expect(s.message).toMatch(/^index\d+\.ts(: no video frames decoded| does not decode: ffprobe: .+)$/);
    console.log(`[fake-player] junk segment: ${s.message}`);
  });

  // Last in this group: it kills the shared encoder.
  it('goes BUFFERING when no new segment comes for more than twice the target duration (encoder killed)', async () => {
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    await run.until((s) => s.playerState === 'PLAYING' && s.segmentsDecoded >= 4, 10_000, 'PLAYING on live segments');
    await enc.kill(); // SIGKILL: no ENDLIST is written, the playlist just stops moving
    const s = await run.until((x) => x.playerState === 'BUFFERING', 8_000, 'BUFFERING');
    // Measured from the status that reported the last decoded segment (each decode emits one).
    const i = run.statuses.findIndex((x) => x.segmentsDecoded === s.segmentsDecoded);
    const j = run.statuses.findIndex((x, k) => k > i && x.playerState === 'BUFFERING');
    const after = (run.times[j] as number) - (run.times[i] as number);
    console.log(`[fake-player] encoder killed: BUFFERING ${after} ms after the last decoded segment (${s.message})`);
    expect(after).toBeLessThan(2 * TARGET_S * 1000 + 600); // the player checks four times a second
    // On a busy machine the decoder can fall behind and the buffer run dry first; otherwise the stall rule fires.
    if (s.message === 'buffer ran dry') expect(s.currentTime).toBeGreaterThan(0);
    else {
      expect(s.message).toMatch(/^no new segment for \d\.\d s \(target duration 1 s\)$/);
      expect(after).toBeGreaterThan(2 * TARGET_S * 1000);
    }
    expect(s.idleReason).toBeUndefined();
  });
});

// ---- the other stream shapes -------------------------------------------------------------

describe('video-only MPEG-TS', () => {
  it('fails 411 when loaded as a bare media playlist, plays behind a master declaring CODECS', async () => {
    const enc = await startEncoder({ audio: false });
    const srv = await startServer(enc.dir);
    const bare = play({ url: srv.url('index.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    const s = await bare.until((x) => x.playerState === 'IDLE', 8_000, 'IDLE');
    expect(s).toMatchObject({ idleReason: 'ERROR', detailedErrorCode: 411, beforeFirstFrame: true });
    expect(s.message).toMatch(/no CODECS in master playlist/);

    // FFmpeg 5.1 writes a master with no variant at all for a video-only stream, so write a proper one.
    const own = readFileSync(join(enc.dir, 'master.m3u8'), 'utf8');
    if (!own.includes('CODECS=')) console.log(`[fake-player] FFmpeg's video-only master.m3u8 has no CODECS: ${JSON.stringify(own)}`);
    srv.files.set('master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x240,CODECS="avc1.64001e"\nindex.m3u8\n');
    const withMaster = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    await withMaster.until((x) => x.playerState === 'PLAYING', 10_000, 'PLAYING');
  });
});

describe('fMP4 live stream', () => {
  let enc: Encoder;
  beforeAll(async () => {
    enc = await startEncoder({ fmp4: true });
  });

  it('plays with both segment-format hints set to fmp4 (init section fetched once)', async () => {
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...FMP4_HINTS });
    const s = await run.until((x) => x.playerState === 'PLAYING' && x.segmentsDecoded >= 4, 10_000, 'PLAYING');
    expect(s.framesDecoded).toBeGreaterThan(0);
    expect(s.latencyMs).toBeGreaterThan(0);
    console.log(`[fake-player] fMP4 live latency ${s.latencyMs} ms`);
    expect(srv.requests.filter((r) => r.name === 'init.mp4')).toHaveLength(1);
  });

  it('stays BUFFERING for ever without both hints, with no error and no segment fetched', async () => {
    const srv = await startServer(enc.dir);
    const none = play({ url: srv.url('master.m3u8'), streamType: 'LIVE' });
    const half = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', hlsSegmentFormat: 'fmp4' });
    const tsHints = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    const runs = [none, half, tsHints];
    for (const r of runs) await r.until((s) => s.message !== undefined, 5_000, 'a hang reason');
    // Four target durations: a working player reaches PLAYING within one or two.
    const start = listedSegments(enc.dir).at(-1) ?? '';
    await waitUntil(() => {
      const l = listedSegments(enc.dir);
      return l.includes(start) && l.indexOf(start) <= l.length - 5;
    }, 8_000, 'four more segments', POLL);
    for (const r of runs) {
      expect(r.statuses.every((s) => s.playerState === 'BUFFERING')).toBe(true);
      expect(r.last()).toMatchObject({ playerState: 'BUFFERING', framesDecoded: 0, beforeFirstFrame: true });
      expect(r.last().message).toMatch(/both 'fmp4'/);
    }
    expect(segmentRequests(srv)).toHaveLength(0);
  });

  // Last in this group: it stops the shared encoder.
  it('an encoder that ends cleanly (ENDLIST) is played to the end, then IDLE/FINISHED', async () => {
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...FMP4_HINTS });
    await run.until((x) => x.playerState === 'PLAYING', 10_000, 'PLAYING');
    enc.proc.kill('SIGTERM'); // FFmpeg finishes the segment and writes #EXT-X-ENDLIST
    await waitUntil(() => enc.proc.exitCode !== null || enc.proc.signalCode !== null, 5_000, 'ffmpeg to exit', POLL);
    expect(readFileSync(join(enc.dir, 'index.m3u8'), 'utf8')).toContain('#EXT-X-ENDLIST');
    const s = await run.until((x) => x.playerState === 'IDLE', 10_000, 'IDLE');
    expect(s).toMatchObject({ idleReason: 'FINISHED' });
    expect(s.detailedErrorCode).toBeUndefined();
    expect(run.statuses.filter((x) => x.playerState === 'BUFFERING' && x.segmentsDecoded > 0)).toHaveLength(0); // no stall on the way
  });
});

describe('EVENT playlist', () => {
  it('starts at its beginning even when LOADed as LIVE', async () => {
    const enc = await startEncoder({ event: true });
    await waitUntil(() => listedSegments(enc.dir).length >= 6, 10_000, 'six segments', POLL);
    const srv = await startServer(enc.dir);
    const run = play({ url: srv.url('master.m3u8'), streamType: 'LIVE', ...TS_HINTS });
    await run.until((s) => s.playerState === 'PLAYING', 10_000, 'PLAYING');
    expect(segmentRequests(srv)[0]?.name).toBe(listedSegments(enc.dir)[0]);
    expect(segmentRequests(srv)[0]?.name).toBe('index0.ts');
  });
});
