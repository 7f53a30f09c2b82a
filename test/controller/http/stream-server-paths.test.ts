// The pure parts of the stream server: request-target parsing, file types, ranges, tokens.
import { describe, expect, it } from 'vitest';
import { clientAddress, newStreamToken, parseRange, parseStreamPath, PLAYLIST_MIME, streamFileType } from '../../../controller/http/stream-server.js';

const T = 'abcdefghijklmnopqrstuvwx'; // 24 chars, the shape of a real token

describe('parseStreamPath', () => {
  it('accepts /s/<token>/<file>, ignoring a query', () => {
    expect(parseStreamPath(`/s/${T}/master.m3u8`)).toEqual({ token: T, file: 'master.m3u8' });
    expect(parseStreamPath(`/s/${T}/seg_00012.ts?_=1`)).toEqual({ token: T, file: 'seg_00012.ts' });
  });

  it.each([
    ['', 'empty'],
    ['/', 'root'],
    [`/s/${T}`, 'no file'],
    [`/s/${T}/`, 'listing'],
    [`/s/${T}/../x`, 'dot segment'],
    [`/s/${T}/..`, 'parent'],
    [`/s/${T}/.`, 'self'],
    [`/s/${T}/%2e%2e/x`, 'encoded dots'],
    [`/s/${T}/%2E%2E%2Fx.ts`, 'encoded dots and slash'],
    [`/s/${T}/%252e%252e/x`, 'double-encoded dots'],
    [`/s/${T}/..%2fsecret`, 'encoded slash'],
    [`/s/${T}/..%5csecret.ts`, 'encoded backslash'],
    [`/s/${T}/..\\secret.ts`, 'backslash'],
    [`/s/${T}/a%00.ts`, 'encoded NUL'],
    [`/s/${T}/a\0.ts`, 'raw NUL'],
    [`/s/${T}/.hidden.ts`, 'dot file'],
    [`/s/${T}/seg..ts`, 'double dot inside'],
    [`/s/${T}//etc/passwd`, 'absolute after token'],
    [`/s/${T}/sub/seg.ts`, 'subdirectory'],
    ['/etc/passwd', 'absolute path'],
    [`http://x/s/${T}/master.m3u8`, 'absolute-form target'],
    [`/s/short/master.m3u8`, 'token too short'],
    [`/s/${T}!/master.m3u8`, 'token with bad char'],
    [`/S/${T}/master.m3u8`, 'wrong prefix'],
    [`/s/${T}/${'a'.repeat(200)}.ts`, 'overlong name'],
  ])('rejects %j (%s)', (target) => {
    expect(parseStreamPath(target)).toBeUndefined();
  });
});

describe('streamFileType', () => {
  it('gives MIME and cache policy per file kind', () => {
    expect(streamFileType('master.m3u8', 'hls')).toEqual({ kind: 'playlist', mime: PLAYLIST_MIME, cacheControl: 'no-cache, no-store' });
    expect(streamFileType('stream_0.m3u8', 'fmp4')?.mime).toBe('application/vnd.apple.mpegurl');
    expect(streamFileType('seg_1.ts', 'hls')).toMatchObject({ kind: 'segment', mime: 'video/mp2t' });
    expect(streamFileType('seg_1.ts', 'hls')?.cacheControl).toMatch(/immutable/);
    expect(streamFileType('seg_1.m4s', 'fmp4')).toMatchObject({ kind: 'segment', mime: 'video/iso.segment' });
    expect(streamFileType('init.mp4', 'fmp4')).toMatchObject({ kind: 'segment', mime: 'video/mp4', cacheControl: 'no-cache, no-store' });
  });

  it('serves only the segment type of the stream mode and nothing else', () => {
    expect(streamFileType('seg_1.m4s', 'hls')).toBeUndefined();
    expect(streamFileType('init.mp4', 'hls')).toBeUndefined();
    expect(streamFileType('seg_1.ts', 'fmp4')).toBeUndefined();
    for (const name of ['secret.txt', 'master.m3u8.tmp', 'seg.ts.tmp', 'm3u8', '.m3u8', 'x.M3U8', 'index.html', 'a/b.ts']) {
      expect(streamFileType(name, 'hls'), name).toBeUndefined();
    }
  });
});

describe('parseRange', () => {
  it.each([
    [undefined, 100, undefined],
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=90-500', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-500', 100, { start: 0, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=9-3', 100, undefined],
    ['bytes=0-1,5-6', 100, undefined],
    ['items=0-1', 100, undefined],
    ['bytes=-', 100, undefined],
  ] as const)('%j of %d bytes → %j', (header, size, want) => {
    expect(parseRange(header, size)).toEqual(want);
  });
});

describe('tokens and client addresses', () => {
  it('makes tokens of at least 128 random bits, URL-safe and unique', () => {
    const tokens = new Set(Array.from({ length: 200 }, () => newStreamToken()));
    expect(tokens.size).toBe(200);
    for (const t of tokens) {
      expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(t, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
      expect(parseStreamPath(`/s/${t}/master.m3u8`)?.token).toBe(t);
    }
  });

  it('shows IPv4-mapped addresses as IPv4', () => {
    expect(clientAddress('::ffff:192.168.1.20')).toBe('192.168.1.20');
    expect(clientAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(clientAddress('fe80::1')).toBe('fe80::1');
    expect(clientAddress(undefined)).toBe('unknown');
  });
});
