// The player's HTTP and clock behaviour against hand-written playlists on a loopback server,
// with the ffprobe step swapped for a stand-in (real decoding is in hls-player.real.test.ts).
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { recordRequests, waitUntil, type RequestLog } from '../helpers.js';
import { createHlsPlayer } from './hls-player.js';
import type { Player, PlayerLoad, PlayerStatus } from './player-types.js';
import type { SegmentProbe } from './probe.js';
import type { GridDecode, GridDecodeOptions, SampleError, SampledFrame } from './frame-sampler.js';

const ORIGIN = 'https://www.gstatic.com';
const GOOD: SegmentProbe = { video: { codec: 'h264', level: 30, frames: 5 }, audio: { codec: 'aac', frames: 20 } };
const TS_BYTES = Buffer.alloc(376, 0);
TS_BYTES[0] = 0x47;
TS_BYTES[188] = 0x47;

type Reply = { status?: number; body: string | Buffer; cors?: boolean } | undefined;
/** May return a promise: the request is then held, in flight, until it settles. */
type Route = (name: string) => Reply | Promise<Reply>;

const closers: (() => Promise<void> | void)[] = [];
const players: Player[] = [];
afterEach(async () => {
  for (const p of players.splice(0)) p.stop();
  for (const c of closers.splice(0)) await c();
});

async function serve(route: Route): Promise<{ url: (n: string) => string; hits: string[]; answered: string[]; requests: RequestLog }> {
  const hits: string[] = [];
  const answered: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const name = (req.url ?? '/').slice(1);
    hits.push(name);
    const r = await route(name);
    if (r?.cors !== false) res.setHeader('Access-Control-Allow-Origin', '*');
    res.statusCode = r ? (r.status ?? 200) : 404;
    res.end(r?.body ?? 'nope');
    answered.push(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const requests = recordRequests(`http://127.0.0.1:${port}`);
  closers.push(() => new Promise<void>((r) => { requests.close(); server.closeAllConnections(); server.close(() => r()); }));
  return { url: (n) => `http://127.0.0.1:${port}/${n}`, hits, answered, requests };
}

function play(load: PlayerLoad, probe: (b: Uint8Array) => Promise<SegmentProbe> = async () => GOOD) {
  const statuses: PlayerStatus[] = [];
  const player = createHlsPlayer(load, { maxLevel: 41, origin: ORIGIN }, (s) => statuses.push(s), { probe: (b) => probe(b) });
  players.push(player);
  const until = (pred: (s: PlayerStatus) => boolean, ms = 5_000): Promise<PlayerStatus> =>
    waitUntil(() => pred(player.status()) && player.status(), ms, () => `the player (last ${JSON.stringify(player.status())})`);
  return { player, statuses, until };
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const mediaText = (first: number, n: number, o: { td?: number; dur?: number; end?: boolean } = {}): string =>
  [
    '#EXTM3U',
    `#EXT-X-TARGETDURATION:${o.td ?? 1}`,
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
    ...Array.from({ length: n }, (_, i) => `#EXTINF:${o.dur ?? 0.2},\ns${first + i}.ts`),
    o.end ? '#EXT-X-ENDLIST' : '',
  ].join('\n');

/** A live playlist of three 0.3 s segments that never moves, and its segments. */
const live: Route = (n) => (n === 'live.m3u8' ? { body: mediaText(0, 3, { td: 0.3, dur: 0.3 }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined);

/** Lets the time of `loads` playlist loads pass, shown by a control player on its own server (no fixed sleep). */
async function refreshesPass(loads: number): Promise<void> {
  const srv = await serve(live);
  const control = play({ url: srv.url('live.m3u8') });
  await control.until(() => srv.hits.filter((h) => h === 'live.m3u8').length >= loads);
}

describe('hls-player (stand-in decoder)', () => {
  it('refuses a non-loopback URL without touching the network', async () => {
    const run = play({ url: 'http://192.0.2.1/live/master.m3u8' });
    const s = await run.until((x) => x.playerState === 'IDLE');
    expect(s).toMatchObject({ idleReason: 'ERROR', detailedErrorCode: 311 });
    expect(s.message).toMatch(/only fetches from loopback/);
  });

  it('refuses a non-HLS contentType (104) before fetching', async () => {
    const srv = await serve(() => ({ body: mediaText(0, 3) }));
    const s = await play({ url: srv.url('live.m3u8'), contentType: 'video/mp4' }).until((x) => x.playerState === 'IDLE');
    expect(s).toMatchObject({ detailedErrorCode: 104, message: 'contentType video/mp4 is not an HLS type' });
    expect(srv.hits).toHaveLength(0);
  });

  it('reports an unreachable server as a master playlist network error (311)', async () => {
    const srv = await serve(() => undefined);
    const url = srv.url('master.m3u8');
    await closers.pop()?.();
    const s = await play({ url }).until((x) => x.playerState === 'IDLE');
    expect(s.detailedErrorCode).toBe(311);
    expect(s.message).toMatch(/^fetching master\.m3u8: /);
  });

  it('reports a 404 playlist (311) and an HTML page (412) with the file name', async () => {
    const srv = await serve((n) => (n === 'page.m3u8' ? { body: '<html>hello</html>' } : undefined));
    expect(await play({ url: srv.url('missing.m3u8') }).until((x) => x.playerState === 'IDLE')).toMatchObject({ detailedErrorCode: 311, message: 'HTTP 404 for missing.m3u8' });
    expect(await play({ url: srv.url('page.m3u8') }).until((x) => x.playerState === 'IDLE')).toMatchObject({
      detailedErrorCode: 412,
      message: 'page.m3u8: missing #EXTM3U on the first line',
    });
  });

  it('plays a finished playlist from its start to the end, then IDLE/FINISHED with currentTime at the total', async () => {
    const srv = await serve((n) => (n === 'vod.m3u8' ? { body: mediaText(0, 3, { end: true }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined));
    const run = play({ url: srv.url('vod.m3u8'), streamType: 'BUFFERED' });
    const s = await run.until((x) => x.playerState === 'IDLE');
    expect(s).toMatchObject({ idleReason: 'FINISHED', segmentsDecoded: 3, framesDecoded: 15, currentTime: 0.6 });
    expect(s.detailedErrorCode).toBeUndefined();
    expect(run.statuses.map((x) => x.playerState)).toContain('PLAYING');
    // BUFFERING first, although the stand-in decodes the first segment long before the first tick.
    expect(run.statuses[0]?.playerState).toBe('BUFFERING');
    expect(srv.hits.filter((h) => h.endsWith('.ts'))).toEqual(['s0.ts', 's1.ts', 's2.ts']);
  });

  it('a segment that does not decode ends in 316; one with no frames too', async () => {
    const srv = await serve((n) => (n === 'a.m3u8' ? { body: mediaText(0, 3, { end: true }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined));
    const bad = play({ url: srv.url('a.m3u8') }, async () => {
      throw new Error('Invalid data found when processing input');
    });
    expect(await bad.until((x) => x.playerState === 'IDLE')).toMatchObject({ detailedErrorCode: 316, message: 's0.ts does not decode: Error: Invalid data found when processing input' });
    const empty = play({ url: srv.url('a.m3u8') }, async () => ({ audio: { codec: 'aac', frames: 3 } }));
    expect(await empty.until((x) => x.playerState === 'IDLE')).toMatchObject({ detailedErrorCode: 316, message: 's0.ts: no video frames decoded' });
  });

  it('tolerates two failed playlist refreshes, gives up with 312 on the third', async () => {
    let playlistDown = false;
    const srv = await serve((n) =>
      n === 'live.m3u8' ? (playlistDown ? { status: 503, body: 'restarting' } : { body: mediaText(0, 3, { td: 0.3, dur: 0.3 }) }) : n.endsWith('.ts') ? { body: TS_BYTES } : undefined,
    );
    const run = play({ url: srv.url('live.m3u8'), streamType: 'LIVE' });
    await run.until((x) => x.playerState === 'PLAYING');
    playlistDown = true;
    const downAt = srv.hits.length;
    const s = await run.until((x) => x.playerState === 'IDLE');
    expect(s).toMatchObject({ idleReason: 'ERROR', detailedErrorCode: 312, message: 'HTTP 503 for live.m3u8' });
    expect(srv.hits.slice(downAt).filter((h) => h === 'live.m3u8')).toHaveLength(3);
  });

  it('refreshes an unchanged live playlist every half target duration (RFC 8216 §6.3.4)', async () => {
    const srv = await serve((n) => (n === 'live.m3u8' ? { body: mediaText(0, 3, { td: 0.4, dur: 0.4 }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined));
    const run = play({ url: srv.url('live.m3u8'), streamType: 'LIVE' });
    await run.until((x) => x.playerState === 'PLAYING');
    const t0 = Date.now();
    const n0 = srv.hits.filter((h) => h === 'live.m3u8').length;
    // Unchanged, so the stall rule fires after 2 × 0.4 s without a new segment.
    await run.until((x) => x.playerState === 'BUFFERING' && x.message !== undefined);
    await run.until(() => srv.hits.filter((h) => h === 'live.m3u8').length >= n0 + 4);
    const perRefresh = (Date.now() - t0) / 4;
    expect(perRefresh).toBeGreaterThan(150);
    expect(perRefresh).toBeLessThan(350);
    expect(run.player.status().message).toMatch(/^no new segment for \d\.\d s \(target duration 0\.4 s\)$/);
  });

  it('survives a listener that throws, and emits nothing after stop()', async () => {
    const srv = await serve(live);
    let calls = 0;
    const player = createHlsPlayer({ url: srv.url('live.m3u8') }, { maxLevel: 41, origin: ORIGIN }, () => {
      calls += 1;
      throw new Error('listener bug');
    }, { probe: async () => GOOD });
    players.push(player);
    await waitUntil(() => player.status().playerState === 'PLAYING', 5_000, () => `PLAYING (last ${JSON.stringify(player.status())})`);
    player.stop();
    const frozen = player.status();
    const at = calls;
    const sent = srv.requests.sent.length;
    const created = srv.requests.created.length;
    await refreshesPass(3);
    expect(calls).toBe(at);
    expect(player.status()).toEqual(frozen); // currentTime no longer runs
    // Nothing is requested after stop(). Counted where the player makes requests: one it had already
    // sent may still reach the server after stop(), so the server's count cannot say "after".
    expect(srv.requests.created.slice(created)).toEqual([]);
    expect(srv.hits.length).toBeLessThanOrEqual(sent);
  });

  // stop() while work is in flight: whatever that work brings back afterwards must change nothing.
  it('stopped while a segment fetch is in flight: the late response is ignored', async () => {
    const gate = deferred();
    const srv = await serve(async (n) => {
      if (n === 's1.ts') await gate.promise;
      return live(n);
    });
    let probes = 0;
    const run = play({ url: srv.url('live.m3u8'), streamType: 'LIVE' }, async () => {
      probes += 1;
      return GOOD;
    });
    await run.until((x) => x.segmentsDecoded === 1);
    await waitUntil(() => srv.hits.includes('s1.ts'), 5_000, 's1.ts requested (and held)');
    run.player.stop();
    const frozen = run.player.status();
    const at = { statuses: run.statuses.length, probes, created: srv.requests.created.length };
    gate.resolve();
    await waitUntil(() => srv.answered.includes('s1.ts'), 5_000, 's1.ts answered');
    await refreshesPass(3);
    expect(run.statuses.length).toBe(at.statuses);
    expect(run.player.status()).toEqual(frozen);
    expect(probes).toBe(at.probes);
    expect(srv.requests.created.slice(at.created)).toEqual([]);
  });

  it('stopped while a segment is being decoded: the late probe result is ignored', async () => {
    const srv = await serve(live);
    const decoding = deferred<SegmentProbe>();
    let probes = 0;
    const run = play({ url: srv.url('live.m3u8'), streamType: 'LIVE' }, () => (++probes === 2 ? decoding.promise : Promise.resolve(GOOD)));
    await run.until((x) => x.segmentsDecoded === 1);
    await waitUntil(() => probes === 2, 5_000, 'the second segment in the decoder');
    run.player.stop();
    const frozen = run.player.status();
    const at = { statuses: run.statuses.length, created: srv.requests.created.length };
    decoding.resolve(GOOD);
    await refreshesPass(3);
    expect(run.statuses.length).toBe(at.statuses);
    expect(run.player.status()).toEqual(frozen); // still one segment decoded
    expect(srv.requests.created.slice(at.created)).toEqual([]);
    expect(probes).toBe(2);
  });

  it('stopped while a playlist refresh is in flight: the segments it lists are never fetched', async () => {
    const gate = deferred();
    let loads = 0;
    const srv = await serve(async (n) => {
      if (n !== 'live.m3u8') return live(n);
      if (++loads === 1) return { body: mediaText(0, 3, { td: 0.3, dur: 0.3 }) };
      await gate.promise;
      return { body: mediaText(0, 6, { td: 0.3, dur: 0.3 }) }; // three new segments
    });
    const run = play({ url: srv.url('live.m3u8'), streamType: 'LIVE' });
    await run.until((x) => x.segmentsDecoded === 3);
    await waitUntil(() => loads === 2, 5_000, 'a refresh requested (and held)');
    run.player.stop();
    const frozen = run.player.status();
    const at = { statuses: run.statuses.length, created: srv.requests.created.length };
    gate.resolve();
    await waitUntil(() => srv.answered.filter((h) => h === 'live.m3u8').length === 2, 5_000, 'the refresh answered');
    await refreshesPass(3);
    expect(run.statuses.length).toBe(at.statuses);
    expect(run.player.status()).toEqual(frozen);
    expect(srv.requests.created.slice(at.created)).toEqual([]);
    expect(srv.hits.filter((h) => /^s[345]\.ts$/.test(h))).toEqual([]);
  });
});

describe('hls-player frame sampling (stand-in decoders)', () => {
  const RED: GridDecode['frames'][number] = [[255, 0, 0], [255, 0, 0], [255, 0, 0], [255, 0, 0]];

  function sampled(load: PlayerLoad, decode: (bytes: Uint8Array, o: GridDecodeOptions) => Promise<GridDecode>, probe: () => Promise<SegmentProbe> = async () => GOOD) {
    const frames: SampledFrame[] = [];
    const errors: SampleError[] = [];
    const statuses: PlayerStatus[] = [];
    const player = createHlsPlayer(
      load,
      { maxLevel: 41, origin: ORIGIN, sampleFrames: { grid: 2, onFrames: (f) => frames.push(...f), onError: (e) => errors.push(e) } },
      (s) => statuses.push(s),
      { probe, sampleDecode: decode },
    );
    players.push(player);
    return { player, frames, errors, statuses };
  }

  it('samples every accepted segment once, in playback order, with the bytes the probe checked', async () => {
    const srv = await serve((n) => (n === 'vod.m3u8' ? { body: mediaText(4, 3, { end: true }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined));
    const seen: Array<{ bytes: number; container?: string }> = [];
    const run = sampled({ url: srv.url('vod.m3u8') }, async (bytes, o) => {
      seen.push({ bytes: bytes.length, container: o.container });
      return { frames: [RED, RED], pts: [0, 0.1] };
    });
    await waitUntil(() => run.frames.length === 6, 5_000, () => `six frames (have ${run.frames.length})`);
    expect(run.frames.map((f) => `${f.sequence}.${f.index}`)).toEqual(['4.0', '4.1', '5.0', '5.1', '6.0', '6.1']);
    expect(seen).toEqual([1, 2, 3].map(() => ({ bytes: TS_BYTES.length, container: 'ts' })));
    expect(run.errors).toEqual([]);
  });

  it('does not sample a segment the probe rejects', async () => {
    const srv = await serve((n) => (n === 'a.m3u8' ? { body: mediaText(0, 3, { end: true }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined));
    let decodes = 0;
    const run = sampled({ url: srv.url('a.m3u8') }, async () => {
      decodes += 1;
      return { frames: [RED] };
    }, async () => ({ video: { codec: 'h264', frames: 0 } }));
    await waitUntil(() => run.player.status().playerState === 'IDLE');
    expect(decodes).toBe(0);
    expect(run.frames).toEqual([]);
  });

  it('stop() while a sample decode is in flight: its frames never arrive, and closed() waits for the decoder', async () => {
    const srv = await serve(live);
    const held = deferred<GridDecode>();
    let signal: AbortSignal | undefined;
    const run = sampled({ url: srv.url('live.m3u8'), streamType: 'LIVE' }, (_b, o) => {
      if (signal) return Promise.resolve({ frames: [RED] });
      signal = o.signal;
      return held.promise;
    });
    await waitUntil(() => signal !== undefined, 5_000, 'the first sample decode');
    run.player.stop();
    expect(signal?.aborted).toBe(true);
    let closed = false;
    const closing = run.player.closed!().then(() => (closed = true));
    await refreshesPass(1);
    expect(closed).toBe(false);
    held.resolve({ frames: [RED] }); // a decoder that finished anyway
    await closing;
    await refreshesPass(2);
    expect(run.frames).toEqual([]);
  });
});
