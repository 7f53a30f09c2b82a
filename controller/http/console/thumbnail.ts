// Thumbnails made on request: FFmpeg decodes the first frame (a keyframe: segments start on one)
// of the newest segment the encoder listed and writes it as a JPEG of the stream's size. Nothing
// runs while nobody asks; an answer is kept for a few seconds, and the one FFmpeg at a time is
// shared by everyone asking for the same stream.
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { readMediaPlaylist } from '../../../machines/media/encoder.js';
import type { StreamFiles } from '../../status/types.js';

export interface ThumbnailerOptions {
  ffmpegPath?: string;
  /** How long a thumbnail is served again before a newer segment is decoded (default 5 s). */
  cacheMs?: number;
  /** An FFmpeg that has not answered by then is killed (default 5 s). */
  timeoutMs?: number;
  now?: () => number;
}

export interface Thumbnail {
  jpeg: Buffer;
  /** The segment it was decoded from. */
  segment: string;
  /** When it was made, ms since the epoch. */
  at: number;
}

interface Cached {
  checkedAt: number;
  segment: string;
  made: Promise<Thumbnail>;
}

/** Streams whose last thumbnail is kept; more go oldest first. */
const MAX_CACHED = 64;

export class Thumbnailer {
  private readonly cache = new Map<string, Cached>();
  /** One FFmpeg at a time: two cores also run the encoders. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ThumbnailerOptions = {}) {}

  /** A JPEG of the stream's newest segment; undefined when it has no segment yet. */
  async thumbnail(files: StreamFiles): Promise<Thumbnail | undefined> {
    const now = (this.opts.now ?? Date.now)();
    const cached = this.cache.get(files.streamId);
    if (cached && now - cached.checkedAt < (this.opts.cacheMs ?? 5000)) return cached.made;
    const playlist = readMediaPlaylist(files.dir);
    const newest = playlist?.segments[playlist.segments.length - 1];
    if (!newest) return undefined;
    // A name from the playlist, used only inside the stream's directory.
    const segment = basename(newest.uri);
    if (cached && cached.segment === segment) {
      cached.checkedAt = now;
      return cached.made;
    }
    const map = newest.map === undefined ? undefined : basename(newest.map);
    const made = this.queue(() => this.decode(files, segment, map)).then((jpeg) => ({ jpeg, segment, at: (this.opts.now ?? Date.now)() }));
    const entry: Cached = { checkedAt: now, segment, made };
    this.cache.delete(files.streamId);
    this.cache.set(files.streamId, entry);
    if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    // A failure is not kept: the next request tries again.
    made.catch(() => {
      if (this.cache.get(files.streamId) === entry) this.cache.delete(files.streamId);
    });
    return made;
  }

  private queue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job, job);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async decode(files: StreamFiles, segment: string, map: string | undefined): Promise<Buffer> {
    // An fMP4 segment decodes only after its init segment: both go in through stdin.
    const input = map === undefined ? undefined : Buffer.concat([await readFile(join(files.dir, map)), await readFile(join(files.dir, segment))]);
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      ...(input ? [] : ['-nostdin']),
      '-threads',
      '1',
      // Only the keyframe the segment begins with is decoded.
      '-skip_frame',
      'nokey',
      '-i',
      input ? 'pipe:0' : join(files.dir, segment),
      '-frames:v',
      '1',
      '-an',
      '-c:v',
      'mjpeg',
      '-q:v',
      '5',
      '-f',
      'image2pipe',
      'pipe:1',
    ];
    const r = await execa(this.opts.ffmpegPath ?? 'ffmpeg', args, {
      encoding: 'buffer',
      timeout: this.opts.timeoutMs ?? 5000,
      ...(input ? { input } : {}),
      stripFinalNewline: false,
    });
    const jpeg = Buffer.from(r.stdout);
    if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error(`ffmpeg wrote no JPEG for ${segment}`);
    return jpeg;
  }
}

/** Width and height from a JPEG's first SOF marker; undefined when there is none. */
export function jpegSize(jpeg: Uint8Array): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 9 < jpeg.length) {
    if (jpeg[i] !== 0xff) return undefined;
    const marker = jpeg[i + 1]!;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (jpeg[i + 5]! << 8) | jpeg[i + 6]!, width: (jpeg[i + 7]! << 8) | jpeg[i + 8]! };
    }
    i += 2 + length;
  }
  return undefined;
}
