import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  PlaylistError,
  codecKind,
  corsAllows,
  listedContainer,
  parseAttributes,
  parseAvc1,
  parsePlaylist,
  parseProgramDateTime,
  segmentsAfter,
  sniffContainer,
  startIndex,
  type MediaPlaylist,
} from './hls-parse.js';
import { parseProbeJson } from './probe.js';
import { chooseVariant, contentTypeProblem, hintsMismatch, isLoopbackUrl, nextPlayhead, playheadTime, type Playhead } from './hls-player.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/hls/${name}`, import.meta.url), 'utf8');
const BASE = 'http://127.0.0.1:8080/live/index.m3u8';

function media(text: string): MediaPlaylist {
  const p = parsePlaylist(text, BASE);
  if (p.kind !== 'media') throw new Error('expected media playlist');
  return p;
}

const sliding = (n: number, extra = ''): string =>
  ['#EXTM3U', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:10', extra, ...Array.from({ length: n }, (_, i) => `#EXTINF:2.0,\ns${10 + i}.ts`)]
    .filter((l) => l !== '')
    .join('\n');

describe('parseAttributes', () => {
  it('keeps commas inside quoted values and strips quotes', () => {
    expect(parseAttributes('BANDWIDTH=35200,RESOLUTION=320x240,CODECS="avc1.64001e,mp4a.40.2"')).toEqual({
      BANDWIDTH: '35200',
      RESOLUTION: '320x240',
      CODECS: 'avc1.64001e,mp4a.40.2',
    });
  });
  it('rejects garbage', () => {
    expect(() => parseAttributes('BANDWIDTH=1,,??')).toThrow(PlaylistError);
  });
});

describe('parsePlaylist: master', () => {
  it('reads FFmpeg 5.1 master with CODECS, RESOLUTION, BANDWIDTH and resolves the URI', () => {
    const p = parsePlaylist(fixture('ffmpeg51-ts-master.m3u8'), 'http://127.0.0.1:8080/live/master.m3u8');
    expect(p).toEqual({
      kind: 'master',
      variants: [{ uri: BASE, bandwidth: 35200, codecs: ['avc1.42c01e', 'mp4a.40.2'], resolution: { width: 320, height: 240 } }],
    });
  });
  it('leaves codecs undefined when absent', () => {
    const p = parsePlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\na/index.m3u8\n', BASE);
    expect(p.kind === 'master' && p.variants[0]).toEqual({ uri: 'http://127.0.0.1:8080/live/a/index.m3u8', bandwidth: 1000 });
  });
  it('rejects a STREAM-INF without URI and a missing #EXTM3U', () => {
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n', BASE)).toThrow(/without a URI/);
    expect(() => parsePlaylist('<html>not found</html>', BASE)).toThrow(/#EXTM3U/);
  });
});

describe('parsePlaylist: media', () => {
  it('reads sequence numbers, discontinuities and PDT (given, extrapolated, reset by discontinuity)', () => {
    const p = media(fixture('ffmpeg51-ts-live.m3u8'));
    expect(p.targetDuration).toBe(1);
    expect(p.mediaSequence).toBe(17);
    expect(p.endList).toBe(false);
    expect(p.playlistType).toBeUndefined();
    expect(p.segments.map((s) => s.sequence)).toEqual([17, 18, 19, 20, 21, 22]);
    expect(p.segments.map((s) => s.discontinuity)).toEqual([false, false, false, true, false, false]);
    const t0 = Date.UTC(2026, 10, 25, 11, 50, 58, 802);
    expect(p.segments[0]?.programDateTime).toBe(t0);
    expect(p.segments[2]?.programDateTime).toBe(t0 + 2000);
    expect(p.segments[3]?.programDateTime).toBeUndefined(); // after a discontinuity without its own PDT
    expect(p.segments[4]?.programDateTime).toBe(Date.UTC(2026, 10, 25, 11, 51, 5));
    expect(p.segments[5]?.programDateTime).toBe(Date.UTC(2026, 10, 25, 11, 51, 6)); // extrapolated
    expect(p.segments[5]?.duration).toBe(0.9);
    expect(p.segments[5]?.uri).toBe('http://127.0.0.1:8080/live/index22.ts');
  });
  it('reads EXT-X-MAP for every following segment and ENDLIST', () => {
    const p = media(fixture('ffmpeg51-fmp4-vod.m3u8'));
    expect(p.endList).toBe(true);
    expect(p.segments).toHaveLength(4);
    expect(p.segments.every((s) => s.map?.uri === 'http://127.0.0.1:8080/live/init.mp4')).toBe(true);
    expect(listedContainer(p.segments[0]!)).toBe('fmp4');
  });
  it('reads PLAYLIST-TYPE', () => {
    expect(media(sliding(3, '#EXT-X-PLAYLIST-TYPE:EVENT')).playlistType).toBe('EVENT');
    expect(() => media(sliding(3, '#EXT-X-PLAYLIST-TYPE:LIVE'))).toThrow(/PLAYLIST-TYPE/);
  });
  it('rejects malformed media playlists with a message naming the problem', () => {
    expect(() => parsePlaylist('#EXTM3U\n#EXTINF:1,\nseg.ts\n', BASE)).toThrow(/TARGETDURATION/);
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:1\nseg.ts\n', BASE)).toThrow(/no #EXTINF/);
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:abc,\nseg.ts\n', BASE)).toThrow(/EXTINF duration/);
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n#EXT-X-PROGRAM-DATE-TIME:yesterday\ns.ts', BASE)).toThrow(/PROGRAM-DATE-TIME/);
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:1,\ns.ts', BASE)).toThrow(/encrypted/);
    // What FFmpeg writes for a playlist of 0.5 s segments, and a segment longer than the target.
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:0\n#EXTINF:0.5,\ns.ts', BASE)).toThrow(/TARGETDURATION is 0/);
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:0.51,\nr.ts\n#EXTINF:1.5,\ns.ts', BASE)).toThrow(/EXTINF 1.5 of s.ts is over EXT-X-TARGETDURATION 1/);
    expect(media('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.499,\ns.ts').segments).toHaveLength(1);
  });
  it('accepts CRLF line endings', () => {
    expect(media(sliding(2).replace(/\n/g, '\r\n')).segments).toHaveLength(2);
  });
});

describe('start position and following', () => {
  it('starts a sliding live playlist N segments back from the edge', () => {
    const p = media(sliding(6));
    expect(startIndex(p, 3)).toBe(3);
    expect(startIndex(media(sliding(2)), 3)).toBe(0);
  });
  it('starts an EVENT playlist at its beginning even when live', () => {
    expect(startIndex(media(sliding(6, '#EXT-X-PLAYLIST-TYPE:EVENT')), 3)).toBe(0);
  });
  it('starts a finished (ENDLIST) playlist at its beginning', () => {
    expect(startIndex(media(`${sliding(6)}\n#EXT-X-ENDLIST`), 3)).toBe(0);
  });
  it('lists only segments after the last one queued', () => {
    expect(segmentsAfter(media(sliding(6)), 13).map((s) => s.sequence)).toEqual([14, 15]);
  });
});

describe('codecs', () => {
  it('reads avc1 profile/level in both notations', () => {
    expect(parseAvc1('avc1.640033')).toEqual({ profileIdc: 100, constraintFlags: 0, levelIdc: 51 });
    expect(parseAvc1('avc1.42c01e')).toEqual({ profileIdc: 66, constraintFlags: 0xc0, levelIdc: 30 });
    expect(parseAvc1('avc1.100.41')).toEqual({ profileIdc: 100, constraintFlags: 0, levelIdc: 41 });
    expect(parseAvc1('mp4a.40.2')).toBeUndefined();
    expect(codecKind('hvc1.1.6.L93.B0')).toBe('unsupported');
    expect(codecKind('avc1.64')).toBe('unsupported');
  });
  it('chooseVariant: CODECS required on every variant (411)', () => {
    const master = { kind: 'master' as const, variants: [{ uri: 'http://127.0.0.1/a.m3u8', bandwidth: 1 }] };
    expect(() => chooseVariant(master, 41)).toThrow(expect.objectContaining({ code: 411, message: expect.stringMatching(/no CODECS in master playlist/) }));
  });
  it('chooseVariant: drops variants above the level, fails 104 when none remain, picks the highest bandwidth', () => {
    const hi = { uri: 'http://127.0.0.1/hi.m3u8', bandwidth: 9e6, codecs: ['avc1.640033', 'mp4a.40.2'] };
    const lo = { uri: 'http://127.0.0.1/lo.m3u8', bandwidth: 2e6, codecs: ['avc1.640028'] };
    const mid = { uri: 'http://127.0.0.1/mid.m3u8', bandwidth: 1e6, codecs: ['avc1.64001e', 'mp4a.40.2'] };
    expect(chooseVariant({ kind: 'master', variants: [hi, mid, lo] }, 41)).toEqual({ variant: lo, declaresAudio: false });
    expect(chooseVariant({ kind: 'master', variants: [mid, lo] }, 30)).toEqual({ variant: mid, declaresAudio: true });
    expect(() => chooseVariant({ kind: 'master', variants: [hi] }, 41)).toThrow(expect.objectContaining({ code: 104, message: 'H.264 level 5.1 above 4.1' }));
  });
});

describe('segment formats, CORS, URLs', () => {
  it('fMP4 needs both hints; TS tolerates missing hints but not contradicting ones', () => {
    expect(hintsMismatch({ hlsSegmentFormat: 'fmp4', hlsVideoSegmentFormat: 'fmp4' }, 'fmp4')).toBeUndefined();
    expect(hintsMismatch({ hlsSegmentFormat: 'fmp4' }, 'fmp4')).toMatch(/both 'fmp4'/);
    expect(hintsMismatch({}, 'fmp4')).toMatch(/both 'fmp4'/);
    expect(hintsMismatch({}, 'ts')).toBeUndefined();
    expect(hintsMismatch({ hlsSegmentFormat: 'ts', hlsVideoSegmentFormat: 'mpeg2_ts' }, 'ts')).toBeUndefined();
    expect(hintsMismatch({ hlsSegmentFormat: 'fmp4', hlsVideoSegmentFormat: 'fmp4' }, 'ts')).toMatch(/contradict/);
  });
  it('sniffs TS and ISO BMFF bytes', () => {
    const ts = new Uint8Array(376);
    ts[0] = 0x47;
    ts[188] = 0x47;
    expect(sniffContainer(ts)).toBe('ts');
    expect(sniffContainer(Buffer.from('\0\0\0\x18ftypiso5', 'latin1'))).toBe('fmp4');
    expect(sniffContainer(Buffer.from('<html>'))).toBeUndefined();
  });
  it('CORS: * or the exact origin, one header only', () => {
    const origin = 'https://www.gstatic.com';
    expect(corsAllows('*', origin)).toBe(true);
    expect(corsAllows(origin, origin)).toBe(true);
    expect(corsAllows('https://evil.example', origin)).toBe(false);
    expect(corsAllows(undefined, origin)).toBe(false);
    expect(corsAllows(['*', '*'], origin)).toBe(false);
  });
  it('contentType: HLS types in any case, or none; anything else is refused', () => {
    expect(contentTypeProblem('application/x-mpegURL')).toBeUndefined();
    expect(contentTypeProblem('application/vnd.apple.mpegurl; charset=utf-8')).toBeUndefined();
    expect(contentTypeProblem(undefined)).toBeUndefined();
    expect(contentTypeProblem('video/mp4')).toBe('contentType video/mp4 is not an HLS type');
  });
  it('fetches only from loopback', () => {
    expect(isLoopbackUrl('http://127.0.0.1:8080/a.m3u8')).toBe(true);
    expect(isLoopbackUrl('http://localhost/a.m3u8')).toBe(true);
    expect(isLoopbackUrl('http://192.168.1.20/a.m3u8')).toBe(false);
    expect(isLoopbackUrl('file:///etc/passwd')).toBe(false);
    expect(parseProgramDateTime('2026-11-25T11:50:41.802+0000')).toBe(Date.UTC(2026, 10, 25, 11, 50, 41, 802));
  });
});

describe('playhead', () => {
  const h0: Playhead = { state: 'BUFFERING', played: 0, since: 0, buffered: 0 };
  it('plays while media is buffered, never past it, and buffers when it runs dry', () => {
    let h = nextPlayhead({ ...h0, buffered: 3 }, 1000, false);
    expect(h.state).toBe('PLAYING');
    expect(playheadTime(h, 2500)).toBe(1.5);
    expect(playheadTime(h, 9000)).toBe(3);
    h = nextPlayhead(h, 9000, false);
    expect(h).toEqual({ state: 'BUFFERING', played: 3, since: 9000, buffered: 3 });
    expect(playheadTime(h, 20000)).toBe(3);
  });
  it('a stall stops the clock even with media buffered', () => {
    const playing = nextPlayhead({ ...h0, buffered: 3 }, 0, false);
    const stalled = nextPlayhead(playing, 1000, true);
    expect(stalled.state).toBe('BUFFERING');
    expect(playheadTime(stalled, 5000)).toBe(1);
  });
});

describe('parseProbeJson', () => {
  it('reads video and audio from ffprobe output', () => {
    const out = JSON.stringify({
      programs: [],
      streams: [
        { codec_name: 'h264', profile: 'High', codec_type: 'video', width: 320, height: 240, level: 30, nb_read_frames: '10' },
        { codec_name: 'aac', profile: 'LC', codec_type: 'audio', nb_read_frames: '43' },
      ],
    });
    expect(parseProbeJson(out)).toEqual({
      video: { codec: 'h264', profile: 'High', level: 30, width: 320, height: 240, frames: 10 },
      audio: { codec: 'aac', frames: 43 },
    });
  });
  it('gives a clear error naming ffprobe for bad output', () => {
    expect(() => parseProbeJson('{\n\n}')).toThrow(/ffprobe found no streams/);
    expect(() => parseProbeJson('garbage')).toThrow(/ffprobe printed invalid JSON/);
    expect(parseProbeJson('{"streams":[null,{"codec_type":"video"}]}')).toEqual({ video: { codec: 'unknown', frames: 0 } });
  });
});
