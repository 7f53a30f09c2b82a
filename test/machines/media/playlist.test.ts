import { describe, expect, it } from 'vitest';
import { codecsString, h264Level, masterPlaylist, parseMasterPlaylist, parseMediaPlaylist, withSteadyTargetDuration } from '../../../machines/media/playlist.js';

describe('h264Level and codecsString', () => {
  it.each([
    [{ width: 854, height: 480, fps: 15 }, 0, '3.0', 'avc1.64001e,mp4a.40.2'],
    [{ width: 1280, height: 720, fps: 30 }, 3000, '3.1', 'avc1.64001f,mp4a.40.2'],
    [{ width: 1280, height: 720, fps: 60 }, 3000, '3.2', 'avc1.640020,mp4a.40.2'],
    [{ width: 1920, height: 1080, fps: 30 }, 6000, '4.0', 'avc1.640028,mp4a.40.2'],
    [{ width: 1920, height: 1080, fps: 30 }, 30000, '4.1', 'avc1.640029,mp4a.40.2'],
    [{ width: 1920, height: 1080, fps: 60 }, 8000, '4.2', 'avc1.64002a,mp4a.40.2'],
  ])('%o at %i kbps → level %s, %s', (q, kbps, level, codecs) => {
    const l = h264Level(q, kbps);
    expect(l.level).toBe(level);
    expect(codecsString(l)).toBe(codecs);
  });
});

describe('master playlist', () => {
  it('declares CODECS, RESOLUTION and BANDWIDTH and round-trips through the parser', () => {
    const text = masterPlaylist({ bandwidth: 3_300_000, width: 1280, height: 720, fps: 30, codecs: 'avc1.64001f,mp4a.40.2', media: 'index.m3u8' });
    const m = parseMasterPlaylist(text);
    expect(m.uri).toBe('index.m3u8');
    expect(m.attrs).toMatchObject({ BANDWIDTH: '3300000', RESOLUTION: '1280x720', CODECS: 'avc1.64001f,mp4a.40.2', 'FRAME-RATE': '30.000' });
  });
  it('rejects text that is not a playlist, naming the source', () => {
    expect(() => parseMasterPlaylist('<html>', 'http://x/master.m3u8')).toThrow(/http:\/\/x\/master.m3u8: not an HLS playlist/);
  });
});

describe('parseMediaPlaylist', () => {
  const text = [
    '#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:40', '#EXT-X-MAP:URI="init-r1.mp4"',
    '#EXTINF:2.000000,', '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000+0000', 'r1-40.m4s',
    '#EXT-X-DISCONTINUITY', '#EXTINF:1.966,', 'r2-41.m4s', '',
  ].join('\n');
  it('numbers segments from the media sequence and marks discontinuities', () => {
    const pl = parseMediaPlaylist(text);
    expect(pl.targetDuration).toBe(2);
    expect(pl.endList).toBe(false);
    expect(pl.segments).toEqual([
      { uri: 'r1-40.m4s', duration: 2, sequence: 40, discontinuity: false, programDateTime: '2026-01-01T00:00:00.000+0000', map: 'init-r1.mp4' },
      { uri: 'r2-41.m4s', duration: 1.966, sequence: 41, discontinuity: true, map: 'init-r1.mp4' },
    ]);
  });
  it.each([
    ['no header', 'seg.ts\n', /not an HLS playlist/],
    ['segment without EXTINF', '#EXTM3U\nseg.ts\n', /has no EXTINF/],
    ['bad EXTINF', '#EXTM3U\n#EXTINF:abc,\nseg.ts\n', /bad EXTINF/],
  ])('%s is an error naming the source', (_n, bad, re) => {
    expect(() => parseMediaPlaylist(bad, 'dir/index.m3u8')).toThrow(re);
    expect(() => parseMediaPlaylist(bad, 'dir/index.m3u8')).toThrow(/dir\/index.m3u8/);
  });
});

describe('withSteadyTargetDuration', () => {
  const media = (td: string, ...durations: string[]): string =>
    ['#EXTM3U', '#EXT-X-VERSION:6', `#EXT-X-TARGETDURATION:${td}`, '#EXT-X-MEDIA-SEQUENCE:7', ...durations.flatMap((d, i) => [`#EXTINF:${d},`, `r-${7 + i}.ts`]), ''].join('\n');
  const served = (text: string): number | undefined => parseMediaPlaylist(withSteadyTargetDuration(text, 2)).targetDuration;

  it("serves the segment length where FFmpeg wrote 0 or 1 for a stream's first 0.5 s segments", () => {
    // What FFmpeg 5.1 writes for four 0.5 s segments (lrint(0.5) is 0), and for one of 0.51 s.
    expect(served(media('0', '0.500000', '0.500000', '0.500000', '0.500000'))).toBe(2);
    expect(served(media('1', '0.510000', '0.495000'))).toBe(2);
  });
  it('keeps the value steady while the ramp gives way to full segments', () => {
    expect(served(media('1', '0.500000', '0.510000', '2.000000'))).toBe(2);
    expect(served(media('2', '2.000000', '2.000000'))).toBe(2);
  });
  it('goes above the segment length when a listed segment, rounded to the nearest second, is longer', () => {
    expect(served(media('2', '2.000000', '2.499000'))).toBe(2);
    expect(served(media('3', '2.000000', '2.600000'))).toBe(3);
    // FFmpeg rounds half to even (2.5 → 2); the nearest second, rounded up at the half, is 3.
    expect(served(media('2', '2.500000'))).toBe(3);
  });
  it('changes nothing else, and returns a right playlist or a master playlist as it is', () => {
    const fixed = media('0', '0.500000', '0.500000');
    expect(withSteadyTargetDuration(fixed, 2)).toBe(fixed.replace('TARGETDURATION:0', 'TARGETDURATION:2'));
    const right = media('2', '2.000000');
    expect(withSteadyTargetDuration(right, 2)).toBe(right);
    const master = masterPlaylist({ bandwidth: 1, width: 2, height: 2, fps: 1, codecs: 'x', media: 'index.m3u8' });
    expect(withSteadyTargetDuration(master, 2)).toBe(master);
  });
  it('serves at least 1 s whatever the segment length, and keeps CRLF lines', () => {
    expect(served(media('0', '0.2'))).toBe(2);
    expect(parseMediaPlaylist(withSteadyTargetDuration(media('0', '0.2'), 0.5)).targetDuration).toBe(1);
    expect(withSteadyTargetDuration('#EXTM3U\r\n#EXT-X-TARGETDURATION:0\r\n#EXTINF:0.5,\r\na.ts\r\n', 2)).toBe('#EXTM3U\r\n#EXT-X-TARGETDURATION:2\r\n#EXTINF:0.5,\r\na.ts\r\n');
  });
});
