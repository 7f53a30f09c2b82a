// The player's HTTP and clock behaviour against hand-written playlists on a loopback server,
// with the ffprobe step swapped for a stand-in (real decoding is in test/real/fake-player.test.ts).
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createHlsPlayer } from './hls-player.js';
import type { Player, PlayerLoad, PlayerStatus } from './player-types.js';
import type { SegmentProbe } from './probe.js';

const ORIGIN = 'https://www.gstatic.com';
const GOOD: SegmentProbe = { video: { codec: 'h264', level: 30, frames: 5 }, audio: { codec: 'aac', frames: 20 } };
const TS_BYTES = Buffer.alloc(376, 0);
TS_BYTES[0] = 0x47;
TS_BYTES[188] = 0x47;

type Route = (name: string) => { status?: number; body: string | Buffer; cors?: boolean } | undefined;

const closers: (() => Promise<void>)[] = [];
const players: Player[] = [];
afterEach(async () => {
  for (const p of players.splice(0)) p.stop();
  for (const c of closers.splice(0)) await c();
});

async function serve(route: Route): Promise<{ url: (n: string) => string; hits: string[] }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    hits.push(name);
    const r = route(name);
    if (r?.cors !== false) res.setHeader('Access-Control-Allow-Origin', '*');
    res.statusCode = r ? (r.status ?? 200) : 404;
    res.end(r?.body ?? 'nope');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  closers.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: (n) => `http://127.0.0.1:${port}/${n}`, hits };
}

function play(load: PlayerLoad, probe: (b: Uint8Array) => Promise<SegmentProbe> = async () => GOOD) {
  const statuses: PlayerStatus[] = [];
  const player = createHlsPlayer(load, { maxLevel: 41, origin: ORIGIN }, (s) => statuses.push(s), { probe: (b) => probe(b) });
  players.push(player);
  const until = async (pred: (s: PlayerStatus) => boolean, ms = 5_000): Promise<PlayerStatus> => {
    const end = Date.now() + ms;
    while (!pred(player.status())) {
      if (Date.now() > end) throw new Error(`timed out; last ${JSON.stringify(player.status())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return player.status();
  };
  return { player, statuses, until };
}

const mediaText = (first: number, n: number, o: { td?: number; dur?: number; end?: boolean } = {}): string =>
  [
    '#EXTM3U',
    `#EXT-X-TARGETDURATION:${o.td ?? 1}`,
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
    ...Array.from({ length: n }, (_, i) => `#EXTINF:${o.dur ?? 0.2},\ns${first + i}.ts`),
    o.end ? '#EXT-X-ENDLIST' : '',
  ].join('\n');

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
    const srv = await serve((n) => (n === 'live.m3u8' ? { body: mediaText(0, 3, { td: 0.3, dur: 0.3 }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined));
    let calls = 0;
    const player = createHlsPlayer({ url: srv.url('live.m3u8') }, { maxLevel: 41, origin: ORIGIN }, () => {
      calls += 1;
      throw new Error('listener bug');
    }, { probe: async () => GOOD });
    players.push(player);
    const end = Date.now() + 5_000;
    while (player.status().playerState !== 'PLAYING' && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(player.status().playerState).toBe('PLAYING');
    player.stop();
    const frozen = player.status();
    const at = calls;
    const hits = srv.hits.length;
    // A control player on its own server shows time for two more refreshes has passed.
    const srv2 = await serve((n) => (n === 'live.m3u8' ? { body: mediaText(0, 3, { td: 0.3, dur: 0.3 }) } : n.endsWith('.ts') ? { body: TS_BYTES } : undefined));
    const control = play({ url: srv2.url('live.m3u8') });
    await control.until(() => srv2.hits.filter((h) => h === 'live.m3u8').length >= 3);
    expect(calls).toBe(at);
    expect(player.status()).toEqual(frozen); // currentTime no longer runs
    expect(srv.hits.length).toBe(hits);
  });
});
