import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeUnlistedSegments } from '../../../machines/media/encoder.js';
import { tempDirs } from '../../helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.removeAll());

describe('removeUnlistedSegments', () => {
  it('removes what a killed FFmpeg left: segments out of the playlist and the one it was writing', () => {
    const dir = dirs.make('pc-enc-files-');
    writeFileSync(
      join(dir, 'stream.m3u8'),
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\nra_7.ts\n#EXTINF:2.0,\nra_8.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.0,\nrb_0.ts\n',
    );
    for (const f of ['ra_3.ts', 'ra_6.ts', 'ra_7.ts', 'ra_8.ts', 'ra_9.ts', 'rb_0.ts', 'master.m3u8']) writeFileSync(join(dir, f), 'x');
    expect(removeUnlistedSegments(dir, 'stream.m3u8').sort()).toEqual(['ra_3.ts', 'ra_6.ts', 'ra_9.ts']);
    expect(readdirSync(dir).sort()).toEqual(['master.m3u8', 'ra_7.ts', 'ra_8.ts', 'rb_0.ts', 'stream.m3u8']);
  });

  it('keeps the init segments the listed fMP4 segments need', () => {
    const dir = dirs.make('pc-enc-files-');
    writeFileSync(
      join(dir, 'stream.m3u8'),
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="ra_init.mp4"\n#EXTINF:2.0,\nra_1.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="rb_init.mp4"\n#EXTINF:2.0,\nrb_0.m4s\n',
    );
    for (const f of ['rz_init.mp4', 'rz_9.m4s', 'ra_init.mp4', 'ra_1.m4s', 'rb_init.mp4', 'rb_0.m4s']) writeFileSync(join(dir, f), 'x');
    expect(removeUnlistedSegments(dir, 'stream.m3u8').sort()).toEqual(['rz_9.m4s', 'rz_init.mp4']);
    for (const f of ['ra_init.mp4', 'ra_1.m4s', 'rb_init.mp4', 'rb_0.m4s']) expect(existsSync(join(dir, f))).toBe(true);
  });

  it('leaves a directory with no readable playlist alone', () => {
    const dir = dirs.make('pc-enc-files-');
    writeFileSync(join(dir, 'ra_0.ts'), 'x');
    expect(removeUnlistedSegments(dir, 'stream.m3u8')).toEqual([]);
    writeFileSync(join(dir, 'stream.m3u8'), 'not a playlist');
    expect(removeUnlistedSegments(dir, 'stream.m3u8')).toEqual([]);
    expect(existsSync(join(dir, 'ra_0.ts'))).toBe(true);
  });
});
