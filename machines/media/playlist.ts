// Pure helpers for the HLS playlists: H.264 level and CODECS strings, the master playlist we
// write ourselves (FFmpeg's own master leaves BANDWIDTH at the audio rate when video uses CRF),
// and a small media-playlist parser used for servability, figures and tests.
import type { Resolution } from '../../specs/schema.js';

/** H.264 levels a Cast device accepts, with their limits (ITU-T H.264 Table A-1, High profile). */
const LEVELS = [
  { level: '3.0', idc: 30, maxMbps: 40_500, maxFs: 1_620, maxKbps: 12_500 },
  { level: '3.1', idc: 31, maxMbps: 108_000, maxFs: 3_600, maxKbps: 17_500 },
  { level: '3.2', idc: 32, maxMbps: 216_000, maxFs: 5_120, maxKbps: 25_000 },
  { level: '4.0', idc: 40, maxMbps: 245_760, maxFs: 8_192, maxKbps: 25_000 },
  { level: '4.1', idc: 41, maxMbps: 245_760, maxFs: 8_192, maxKbps: 62_500 },
  { level: '4.2', idc: 42, maxMbps: 522_240, maxFs: 8_704, maxKbps: 62_500 },
] as const;

export interface H264Level {
  level: string; // '4.1'
  idc: number; // 41
}

/** 16×16 macroblocks in one frame. */
export function macroblocksPerFrame(q: Pick<Resolution, 'width' | 'height'>): number {
  return Math.ceil(q.width / 16) * Math.ceil(q.height / 16);
}

/** The lowest level that fits the frame size, macroblock rate and peak bitrate (≤ 4.1 up to 1080p30). */
export function h264Level(q: Pick<Resolution, 'width' | 'height' | 'fps'>, peakKbps = 0): H264Level {
  const mbs = macroblocksPerFrame(q);
  const fit = LEVELS.find((l) => mbs <= l.maxFs && mbs * q.fps <= l.maxMbps && peakKbps <= l.maxKbps);
  const chosen = fit ?? LEVELS[LEVELS.length - 1]!;
  return { level: chosen.level, idc: chosen.idc };
}

/** RFC 6381 codec string for H.264 High (profile_idc 100 = 0x64, no constraint flags) plus AAC-LC. */
export function codecsString(level: H264Level): string {
  return `avc1.6400${level.idc.toString(16).padStart(2, '0')},mp4a.40.2`;
}

export interface MasterInfo {
  bandwidth: number; // bits/s, peak
  averageBandwidth?: number;
  width: number;
  height: number;
  fps: number;
  codecs: string;
  media: string; // media playlist URI, relative
}

/** A master playlist with the attributes the Default Media Receiver needs (CAST.md §10). */
export function masterPlaylist(m: MasterInfo): string {
  const attrs = [
    `BANDWIDTH=${Math.round(m.bandwidth)}`,
    ...(m.averageBandwidth === undefined ? [] : [`AVERAGE-BANDWIDTH=${Math.round(m.averageBandwidth)}`]),
    `RESOLUTION=${m.width}x${m.height}`,
    `FRAME-RATE=${m.fps.toFixed(3)}`,
    `CODECS="${m.codecs}"`,
  ];
  return `#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:${attrs.join(',')}\n${m.media}\n`;
}

export interface MediaSegment {
  uri: string;
  duration: number;
  sequence: number; // media sequence number of this segment
  discontinuity: boolean; // an EXT-X-DISCONTINUITY precedes it
  programDateTime?: string;
  map?: string; // EXT-X-MAP URI in effect (fMP4)
}

export interface MediaPlaylist {
  targetDuration?: number;
  mediaSequence: number;
  playlistType?: string;
  endList: boolean;
  segments: MediaSegment[];
}

/** Parses a media playlist. Throws an Error naming `source` on text that is not one. */
export function parseMediaPlaylist(text: string, source = 'playlist'): MediaPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error(`${source}: not an HLS playlist (no #EXTM3U on the first line)`);
  const out: MediaPlaylist = { mediaSequence: 0, endList: false, segments: [] };
  let duration: number | undefined;
  let discontinuity = false;
  let pdt: string | undefined;
  let map: string | undefined;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    if (line.startsWith('#EXT-X-TARGETDURATION:')) out.targetDuration = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) out.mediaSequence = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-PLAYLIST-TYPE:')) out.playlistType = line.slice(21);
    else if (line === '#EXT-X-ENDLIST') out.endList = true;
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = line.slice(25);
    else if (line.startsWith('#EXT-X-MAP:')) map = /URI="([^"]*)"/.exec(line)?.[1];
    else if (line.startsWith('#EXTINF:')) {
      duration = Number.parseFloat(line.slice(8));
      if (!Number.isFinite(duration)) throw new Error(`${source}: bad EXTINF line "${line}"`);
    } else if (!line.startsWith('#')) {
      if (duration === undefined) throw new Error(`${source}: segment "${line}" has no EXTINF`);
      out.segments.push({
        uri: line,
        duration,
        sequence: out.mediaSequence + out.segments.length,
        discontinuity,
        ...(pdt === undefined ? {} : { programDateTime: pdt }),
        ...(map === undefined ? {} : { map }),
      });
      duration = undefined;
      discontinuity = false;
      pdt = undefined;
    }
  }
  if (!Number.isFinite(out.mediaSequence)) throw new Error(`${source}: bad EXT-X-MEDIA-SEQUENCE`);
  return out;
}

/**
 * The media playlist as served, with an EXT-X-TARGETDURATION a player can trust. FFmpeg writes
 * the longest listed segment's duration rounded half to even, so a playlist that lists only the
 * 0.5 s segments of a stream's first seconds, or of a restart, says 0: invalid (RFC 8216
 * §4.3.3.1), and a player reloads it without pause (FFmpeg's own HLS reader, seen here: some 300
 * reloads in a burst, then it fetched the next segments without decoding them, and its output
 * stopped). Its value also moves as the ramp's segments come and go,
 * which a server must not do (§6.2.1). Served instead: `floorSeconds` (the encoder's segment
 * length), or more if a listed segment, rounded to the nearest second, is longer. Text without
 * the tag (a master playlist), or with the right value already, comes back unchanged.
 */
export function withSteadyTargetDuration(text: string, floorSeconds: number): string {
  const tag = /^#EXT-X-TARGETDURATION:[^\r\n]*$/m.exec(text);
  if (!tag) return text;
  let target = Math.max(1, Math.ceil(floorSeconds));
  for (const m of text.matchAll(/^#EXTINF:([^,\r\n]*)/gm)) {
    const d = Number.parseFloat(m[1]!);
    if (Number.isFinite(d)) target = Math.max(target, Math.floor(d + 0.5));
  }
  const line = `#EXT-X-TARGETDURATION:${target}`;
  return tag[0] === line ? text : text.slice(0, tag.index) + line + text.slice(tag.index + tag[0].length);
}

/** Attributes of the first EXT-X-STREAM-INF of a master playlist (quoted values unquoted). */
export function parseMasterPlaylist(text: string, source = 'master playlist'): { attrs: Record<string, string>; uri: string } {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error(`${source}: not an HLS playlist (no #EXTM3U on the first line)`);
  const i = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  const uri = i < 0 ? undefined : lines.slice(i + 1).find((l) => l !== '' && !l.startsWith('#'));
  if (i < 0 || uri === undefined) throw new Error(`${source}: no EXT-X-STREAM-INF with a URI`);
  const attrs: Record<string, string> = {};
  for (const m of lines[i]!.slice(18).matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) attrs[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  return { attrs, uri };
}
