// Pure HLS playlist parsing (RFC 8216) for the fake device's strict player: text in, data out.
// No I/O here, so every rule the player enforces can be unit-tested with text fixtures.

export class PlaylistError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlaylistError';
  }
}

export interface Variant {
  uri: string; // resolved against the master's URL
  bandwidth?: number;
  /** CODECS split on commas, e.g. ["avc1.64001e", "mp4a.40.2"]; undefined when absent. */
  codecs?: string[];
  resolution?: { width: number; height: number };
}

export interface MasterPlaylist {
  kind: 'master';
  variants: Variant[];
}

export interface InitSection {
  uri: string;
}

export interface Segment {
  uri: string;
  /** EXTINF seconds. */
  duration: number;
  /** Media sequence number (EXT-X-MEDIA-SEQUENCE + position). */
  sequence: number;
  discontinuity: boolean;
  /** Epoch ms of the segment's first sample, from EXT-X-PROGRAM-DATE-TIME or extrapolated from the previous one. */
  programDateTime?: number;
  map?: InitSection;
}

export interface MediaPlaylist {
  kind: 'media';
  targetDuration: number;
  mediaSequence: number;
  playlistType?: 'EVENT' | 'VOD';
  endList: boolean;
  segments: Segment[];
}

export type Playlist = MasterPlaylist | MediaPlaylist;

/** Parses an attribute list (`A=1,B="x,y",C=0x1F`) into a map with quotes removed. */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([A-Z0-9-]+)=("[^"]*"|[^,"]*)\s*(,|$)/y;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw new PlaylistError(`bad attribute list at "${text.slice(pos, pos + 30)}"`);
    const raw = (m[2] as string).trim();
    out[m[1] as string] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
    pos = re.lastIndex;
    if (m[3] === '') break;
  }
  return out;
}

/** Epoch ms from an ISO 8601 date; FFmpeg writes `+0000`, which is normalised to `+00:00`. */
export function parseProgramDateTime(text: string): number {
  const normal = text.trim().replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(normal);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(normal) || Number.isNaN(ms)) throw new PlaylistError(`bad EXT-X-PROGRAM-DATE-TIME "${text}"`);
  return ms;
}

function resolveUri(uri: string, base: string): string {
  try {
    return new URL(uri, base).toString();
  } catch {
    throw new PlaylistError(`bad URI "${uri}"`);
  }
}

function tagValue(line: string): string {
  const i = line.indexOf(':');
  return i < 0 ? '' : line.slice(i + 1);
}

function decimal(text: string, what: string): number {
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new PlaylistError(`bad ${what} "${text}"`);
  return n;
}

function playlistLines(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines[0] !== '#EXTM3U') throw new PlaylistError('missing #EXTM3U on the first line');
  return lines;
}

/** Parses either kind of playlist; `baseUrl` is where it was fetched from, for relative URIs. */
export function parsePlaylist(text: string, baseUrl: string): Playlist {
  const lines = playlistLines(text);
  const isMaster = lines.some((l) => l.startsWith('#EXT-X-STREAM-INF'));
  const isMedia = lines.some((l) => l.startsWith('#EXTINF') || l.startsWith('#EXT-X-TARGETDURATION'));
  if (isMaster && isMedia) throw new PlaylistError('playlist mixes master (EXT-X-STREAM-INF) and media (EXTINF) tags');
  return isMaster ? parseMaster(lines, baseUrl) : parseMedia(lines, baseUrl);
}

function parseMaster(lines: string[], baseUrl: string): MasterPlaylist {
  const variants: Variant[] = [];
  let pending: Record<string, string> | undefined;
  for (const line of lines.slice(1)) {
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      pending = parseAttributes(tagValue(line));
    } else if (line.startsWith('#')) {
      continue;
    } else if (pending) {
      variants.push(variantOf(pending, resolveUri(line, baseUrl)));
      pending = undefined;
    }
  }
  if (pending) throw new PlaylistError('EXT-X-STREAM-INF without a URI line');
  if (variants.length === 0) throw new PlaylistError('master playlist has no variants');
  return { kind: 'master', variants };
}

function variantOf(attrs: Record<string, string>, uri: string): Variant {
  const v: Variant = { uri };
  if (attrs.BANDWIDTH !== undefined) v.bandwidth = decimal(attrs.BANDWIDTH, 'BANDWIDTH');
  if (attrs.CODECS !== undefined) {
    const codecs = attrs.CODECS.split(',').map((c) => c.trim()).filter((c) => c !== '');
    if (codecs.length > 0) v.codecs = codecs;
  }
  if (attrs.RESOLUTION !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(attrs.RESOLUTION);
    if (!m) throw new PlaylistError(`bad RESOLUTION "${attrs.RESOLUTION}"`);
    v.resolution = { width: Number(m[1]), height: Number(m[2]) };
  }
  return v;
}

function parseMedia(lines: string[], baseUrl: string): MediaPlaylist {
  let targetDuration: number | undefined;
  let mediaSequence = 0;
  let playlistType: 'EVENT' | 'VOD' | undefined;
  let endList = false;
  const segments: Segment[] = [];
  // Tags that apply to the next URI line.
  let duration: number | undefined;
  let discontinuity = false;
  let pdt: number | undefined;
  let map: InitSection | undefined;
  // PDT carried forward: the previous segment's start plus its duration (RFC 8216 §4.3.2.6).
  let nextPdt: number | undefined;

  for (const line of lines.slice(1)) {
    if (!line.startsWith('#')) {
      if (duration === undefined) throw new PlaylistError(`segment "${line}" has no #EXTINF`);
      if (segments.length === 0 && mediaSequence < 0) throw new PlaylistError('negative media sequence');
      const start = pdt ?? (discontinuity ? undefined : nextPdt);
      const seg: Segment = { uri: resolveUri(line, baseUrl), duration, sequence: mediaSequence + segments.length, discontinuity };
      if (start !== undefined) seg.programDateTime = start;
      if (map) seg.map = map;
      segments.push(seg);
      nextPdt = start === undefined ? undefined : start + duration * 1000;
      duration = undefined;
      discontinuity = false;
      pdt = undefined;
    } else if (line.startsWith('#EXTINF:')) {
      duration = decimal(tagValue(line).split(',')[0] ?? '', 'EXTINF duration');
    } else if (line.startsWith('#EXT-X-TARGETDURATION:')) {
      targetDuration = decimal(tagValue(line), 'EXT-X-TARGETDURATION');
      if (targetDuration === 0) throw new PlaylistError('EXT-X-TARGETDURATION is 0');
    } else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) {
      if (segments.length > 0) throw new PlaylistError('EXT-X-MEDIA-SEQUENCE after the first segment');
      mediaSequence = decimal(tagValue(line), 'EXT-X-MEDIA-SEQUENCE');
      if (!Number.isInteger(mediaSequence)) throw new PlaylistError(`bad EXT-X-MEDIA-SEQUENCE "${tagValue(line)}"`);
    } else if (line.startsWith('#EXT-X-PLAYLIST-TYPE:')) {
      const t = tagValue(line).trim();
      if (t !== 'EVENT' && t !== 'VOD') throw new PlaylistError(`bad EXT-X-PLAYLIST-TYPE "${t}"`);
      playlistType = t;
    } else if (line === '#EXT-X-ENDLIST') {
      endList = true;
    } else if (line === '#EXT-X-DISCONTINUITY') {
      discontinuity = true;
    } else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      pdt = parseProgramDateTime(tagValue(line));
    } else if (line.startsWith('#EXT-X-MAP:')) {
      const attrs = parseAttributes(tagValue(line));
      if (!attrs.URI) throw new PlaylistError('EXT-X-MAP without URI');
      if (attrs.BYTERANGE !== undefined) throw new PlaylistError('EXT-X-MAP BYTERANGE is not supported by the fake device');
      map = { uri: resolveUri(attrs.URI, baseUrl) };
    } else if (line.startsWith('#EXT-X-BYTERANGE')) {
      throw new PlaylistError('EXT-X-BYTERANGE is not supported by the fake device');
    } else if (line.startsWith('#EXT-X-KEY:')) {
      const method = parseAttributes(tagValue(line)).METHOD;
      if (method !== 'NONE') throw new PlaylistError(`encrypted segments (METHOD=${method}) are not supported by the fake device`);
    }
    // Other tags (VERSION, INDEPENDENT-SEGMENTS, DISCONTINUITY-SEQUENCE, ...) do not change playback here.
  }
  if (duration !== undefined) throw new PlaylistError('#EXTINF without a segment URI');
  if (targetDuration === undefined) throw new PlaylistError('media playlist has no #EXT-X-TARGETDURATION');
  // RFC 8216 §4.3.3.1: every EXTINF, rounded to the nearest integer, at most the target duration.
  const over = segments.find((s) => Math.floor(s.duration + 0.5) > targetDuration!);
  if (over) throw new PlaylistError(`EXTINF ${over.duration} of ${over.uri.slice(over.uri.lastIndexOf('/') + 1)} is over EXT-X-TARGETDURATION ${targetDuration}`);
  const out: MediaPlaylist = { kind: 'media', targetDuration, mediaSequence, endList, segments };
  if (playlistType) out.playlistType = playlistType;
  return out;
}

export interface Avc1 {
  profileIdc: number;
  constraintFlags: number;
  /** level_idc: level × 10 (31 = level 3.1). */
  levelIdc: number;
}

/** Reads `avc1.PPCCLL` (hex) or the legacy `avc1.PPP.LL` (decimal); undefined when not AVC. */
export function parseAvc1(codec: string): Avc1 | undefined {
  const hex = /^avc[13]\.([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(codec);
  if (hex) return { profileIdc: parseInt(hex[1] as string, 16), constraintFlags: parseInt(hex[2] as string, 16), levelIdc: parseInt(hex[3] as string, 16) };
  const legacy = /^avc[13]\.(\d+)\.(\d+)$/i.exec(codec);
  if (legacy) return { profileIdc: Number(legacy[1]), constraintFlags: 0, levelIdc: Number(legacy[2]) };
  return undefined;
}

/** 41 → "4.1" */
export function levelName(levelIdc: number): string {
  return (levelIdc / 10).toFixed(1);
}

export type CodecKind = 'video' | 'audio' | 'unsupported';

export function codecKind(codec: string): CodecKind {
  if (/^avc[13]\./i.test(codec)) return parseAvc1(codec) ? 'video' : 'unsupported';
  if (/^mp4a\./i.test(codec)) return 'audio';
  return 'unsupported';
}

/**
 * Where a player starts in a freshly loaded media playlist, as an index into `segments`:
 * an EVENT or a finished (VOD/ENDLIST) playlist from its beginning, a sliding live one
 * `fromEdge` segments back from the newest.
 */
export function startIndex(p: MediaPlaylist, fromEdge: number): number {
  if (p.playlistType === 'EVENT' || p.playlistType === 'VOD' || p.endList) return 0;
  return Math.max(0, p.segments.length - Math.max(1, fromEdge));
}

/** Segments listed after sequence number `lastSequence`, in order. */
export function segmentsAfter(p: MediaPlaylist, lastSequence: number): Segment[] {
  return p.segments.filter((s) => s.sequence > lastSequence);
}

/** The container a playlist promises for a segment: fMP4 when it has an init section or an fMP4 extension. */
export function listedContainer(seg: Segment): 'fmp4' | 'ts' {
  if (seg.map) return 'fmp4';
  const path = new URL(seg.uri).pathname.toLowerCase();
  return path.endsWith('.m4s') || path.endsWith('.mp4') || path.endsWith('.cmfv') ? 'fmp4' : 'ts';
}

/** The container the bytes actually are (MPEG-TS sync bytes or an ISO BMFF box), if recognisable. */
export function sniffContainer(bytes: Uint8Array): 'fmp4' | 'ts' | undefined {
  if (bytes.length >= 189 && bytes[0] === 0x47 && bytes[188] === 0x47) return 'ts';
  if (bytes.length >= 1 && bytes.length < 189 && bytes[0] === 0x47) return 'ts';
  if (bytes.length >= 8) {
    const box = String.fromCharCode(bytes[4] as number, bytes[5] as number, bytes[6] as number, bytes[7] as number);
    if (['ftyp', 'styp', 'moof', 'sidx', 'moov', 'emsg', 'prft'].includes(box)) return 'fmp4';
  }
  return undefined;
}

/** Whether an `Access-Control-Allow-Origin` header value lets `origin` read the response. */
export function corsAllows(header: string | string[] | undefined, origin: string): boolean {
  if (header === undefined) return false;
  // Browsers reject a repeated header outright.
  if (Array.isArray(header)) return header.length === 1 && corsAllows(header[0], origin);
  const v = header.trim();
  return v === '*' || v === origin;
}
