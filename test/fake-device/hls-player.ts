// The fake Cast device's strict HLS player: it fetches what a LOAD names the way the Default
// Media Receiver would (CORS, CODECS, H.264 level, segment-format hints, EVENT start, live
// refresh) and decodes every segment, so that PLAYING means frames really arrived.
// Rules it enforces are CAST.md §10; error codes are the Cast detailed error codes.
import { request } from 'undici';
import type { Player, PlayerLoad, PlayerOptions, PlayerState, PlayerStatus, StartPlayer } from './player-types.js';
import {
  PlaylistError,
  codecKind,
  corsAllows,
  levelName,
  listedContainer,
  parseAvc1,
  parsePlaylist,
  segmentsAfter,
  sniffContainer,
  startIndex,
  type MasterPlaylist,
  type MediaPlaylist,
  type Segment,
  type Variant,
} from './hls-parse.js';
import { probeSegment, type SegmentProbe } from './probe.js';
import { FrameSampler, type FrameSamplerOptions } from './frame-sampler.js';
import { PagecastError } from '../../machines/errors.js';

/** Cast detailed error codes the player reports. */
export const ErrorCodes = {
  MEDIA_SRC_NOT_SUPPORTED: 104,
  NETWORK_UNKNOWN: 300,
  SEGMENT_NETWORK: 301,
  HLS_NETWORK_MASTER_PLAYLIST: 311,
  HLS_NETWORK_PLAYLIST: 312,
  HLS_NETWORK_INVALID_SEGMENT: 315,
  HLS_SEGMENT_PARSING: 316,
  HLS_MANIFEST_MASTER: 411,
  HLS_MANIFEST_PLAYLIST: 412,
} as const;

const PLAYLIST_MAX_BYTES = 1_000_000;
const SEGMENT_MAX_BYTES = 64_000_000;
const HTTP_TIMEOUT_MS = 10_000;
const TICK_MS = 250;
const CURRENT_TIME_EMIT_MS = 1_000;
/** Consecutive failed playlist refreshes tolerated before the player gives up (a server restarting). */
const REFRESH_FAILURES_TOLERATED = 3;

/** Ends playback with IDLE/ERROR and a detailed error code. */
class Failure extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** What the real receiver does silently: stays BUFFERING for ever, with no error. */
class Hang extends Error {}

export interface PlayerDeps {
  probe?: (bytes: Uint8Array, signal: AbortSignal, container?: 'ts' | 'fmp4') => Promise<SegmentProbe>;
  /** The frame sampler's decoder (FFmpeg when absent). */
  sampleDecode?: FrameSamplerOptions['decode'];
  now?: () => number;
}

// ---- pure rules -------------------------------------------------------------------------

/**
 * Why the receiver would hang on these segment-format hints, or undefined when it plays.
 * fMP4 needs both hints set to fmp4; TS plays without hints but not with contradicting ones.
 */
export function hintsMismatch(load: Pick<PlayerLoad, 'hlsSegmentFormat' | 'hlsVideoSegmentFormat'>, container: 'ts' | 'fmp4'): string | undefined {
  const a = load.hlsSegmentFormat;
  const v = load.hlsVideoSegmentFormat;
  const shown = `hlsSegmentFormat=${a ?? '(none)'}, hlsVideoSegmentFormat=${v ?? '(none)'}`;
  if (container === 'fmp4') {
    return a === 'fmp4' && v === 'fmp4' ? undefined : `fMP4 segments need hlsSegmentFormat and hlsVideoSegmentFormat both 'fmp4' (got ${shown})`;
  }
  const audioOk = a === undefined || a === 'ts' || a === 'ts_aac';
  const videoOk = v === undefined || v === 'mpeg2_ts';
  return audioOk && videoOk ? undefined : `MPEG-TS segments contradict the declared segment formats (${shown})`;
}

export interface VariantChoice {
  variant: Variant;
  declaresAudio: boolean;
}

/** Picks the variant to play: every variant must declare CODECS, unplayable ones are dropped, then the highest bandwidth. */
export function chooseVariant(master: MasterPlaylist, maxLevel: number): VariantChoice {
  const bare = master.variants.find((v) => !v.codecs);
  if (bare) throw new Failure(ErrorCodes.HLS_MANIFEST_MASTER, `no CODECS in master playlist (variant ${fileName(bare.uri)})`);
  const reasons: string[] = [];
  const playable = master.variants.filter((v) => {
    for (const c of v.codecs ?? []) {
      const kind = codecKind(c);
      if (kind === 'unsupported') {
        reasons.push(`codec ${c} not supported`);
        return false;
      }
      const avc = parseAvc1(c);
      if (avc && avc.levelIdc > maxLevel) {
        reasons.push(`H.264 level ${levelName(avc.levelIdc)} above ${levelName(maxLevel)}`);
        return false;
      }
    }
    return true;
  });
  if (playable.length === 0) throw new Failure(ErrorCodes.MEDIA_SRC_NOT_SUPPORTED, [...new Set(reasons)].join('; '));
  const variant = playable.reduce((best, v) => ((v.bandwidth ?? 0) > (best.bandwidth ?? 0) ? v : best));
  return { variant, declaresAudio: (variant.codecs ?? []).some((c) => codecKind(c) === 'audio') };
}

/** Where the playhead is: `played` seconds at wall time `since`, running while PLAYING, never past `buffered`. */
export interface Playhead {
  state: 'BUFFERING' | 'PLAYING';
  played: number;
  since: number;
  buffered: number;
}

export function playheadTime(h: Playhead, now: number): number {
  if (h.state !== 'PLAYING') return h.played;
  return Math.min(h.buffered, h.played + Math.max(0, now - h.since) / 1000);
}

/** The playhead's next state: PLAYING while there is decoded media ahead and the stream is not stalled. */
export function nextPlayhead(h: Playhead, now: number, stalled: boolean): Playhead {
  const t = playheadTime(h, now);
  const state = !stalled && h.buffered - t > 1e-3 ? 'PLAYING' : 'BUFFERING';
  return state === h.state ? h : { state, played: t, since: now, buffered: h.buffered };
}

function fileName(url: string): string {
  try {
    const path = new URL(url).pathname;
    return path.slice(path.lastIndexOf('/') + 1) || path;
  } catch {
    return url;
  }
}

const HLS_CONTENT_TYPES = ['application/x-mpegurl', 'application/vnd.apple.mpegurl', 'audio/mpegurl', 'audio/x-mpegurl'];

/** A contentType that sends the receiver to another parser than HLS's, or undefined when it is fine (or absent). */
export function contentTypeProblem(contentType: string | undefined): string | undefined {
  if (contentType === undefined || contentType === '') return undefined;
  const base = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return HLS_CONTENT_TYPES.includes(base) ? undefined : `contentType ${contentType} is not an HLS type`;
}

/** The fake device fetches only from this machine: tests and the demo never reach out. */
export function isLoopbackUrl(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    return u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
  } catch {
    return false;
  }
}

// ---- the player -------------------------------------------------------------------------

interface Fetched {
  status: number;
  cors: boolean;
  body: Buffer;
}

export const startPlayer: StartPlayer = (load, opts, onStatus) => createHlsPlayer(load, opts, onStatus);

export function createHlsPlayer(load: PlayerLoad, opts: PlayerOptions, onStatus: (s: PlayerStatus) => void, deps: PlayerDeps = {}): Player {
  const player = new HlsPlayer(load, opts, onStatus, deps);
  player.start();
  return player;
}

class HlsPlayer implements Player {
  private readonly ac = new AbortController();
  private readonly now: () => number;
  private readonly probe: (bytes: Uint8Array, signal: AbortSignal, container?: 'ts' | 'fmp4') => Promise<SegmentProbe>;
  /** Terminal: stopped by the owner or ended (ERROR/FINISHED). Nothing is emitted after. */
  private done = false;
  private doneAt?: number;
  private stopped = false;
  private idle?: { reason: 'ERROR' | 'FINISHED'; code?: number };
  private message?: string;
  private hung = false;
  private head: Playhead;
  private segmentsDecoded = 0;
  private framesDecoded = 0;
  private newestPdtEnd?: number;
  private lastSegmentAt?: number;
  private lastEmitAt = 0;
  private lastEmitted?: string;

  private mediaUrl = '';
  private targetDuration = 0;
  /** Audio declared by the master's CODECS; undefined when the URL was a media playlist. */
  private declaredAudio?: boolean;
  private positioned = false;
  private lastQueued = -1;
  private readonly queue: Segment[] = [];
  private working = false;
  private listEnded = false;
  private lastPlaylistText = '';
  private refreshFailures = 0;
  private refreshStartedAt = 0;
  private playlistChanged = true;
  private containerChecked = false;
  private readonly inits = new Map<string, Buffer>();
  private refreshTimer?: NodeJS.Timeout;
  private tickTimer?: NodeJS.Timeout;
  private readonly sampler?: FrameSampler;
  /** Probes still running: closed() waits for their processes. */
  private readonly probing = new Set<Promise<unknown>>();
  private samplerStopped: Promise<void> = Promise.resolve();

  constructor(
    private readonly load: PlayerLoad,
    private readonly opts: PlayerOptions,
    private readonly onStatus: (s: PlayerStatus) => void,
    deps: PlayerDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.probe = deps.probe ?? ((bytes, signal, container) => probeSegment(bytes, { signal, container }));
    this.head = { state: 'BUFFERING', played: 0, since: this.now(), buffered: 0 };
    const sample = opts.sampleFrames;
    if (sample) {
      this.sampler = new FrameSampler({
        ...sample,
        now: this.now,
        decode: deps.sampleDecode,
        onError: (e) => {
          this.log(`frame sampler: segment ${e.sequence}: ${e.message}`);
          sample.onError?.(e);
        },
      });
    }
  }

  start(): void {
    // BUFFERING is the first status, as on the receiver; not left to the first tick, which a fast
    // first segment can beat. A microtask, so the listener is never called from inside start().
    queueMicrotask(() => this.guard(() => this.evaluate()));
    this.tickTimer = setInterval(() => this.guard(() => this.evaluate()), TICK_MS);
    this.guardAsync(() => this.begin());
  }

  status(): PlayerStatus {
    // Once stopped or ended, the clock (currentTime, latency) stays where it was.
    const now = this.doneAt ?? this.now();
    const playerState: PlayerState = this.idle ? 'IDLE' : this.head.state;
    const s: PlayerStatus = {
      playerState,
      currentTime: Math.round(playheadTime(this.head, now) * 1000) / 1000,
      segmentsDecoded: this.segmentsDecoded,
      framesDecoded: this.framesDecoded,
      beforeFirstFrame: this.framesDecoded === 0,
    };
    if (this.idle) s.idleReason = this.idle.reason;
    if (this.idle?.code !== undefined) s.detailedErrorCode = this.idle.code;
    if (this.message !== undefined) s.message = this.message;
    if (this.newestPdtEnd !== undefined) s.latencyMs = Math.round(now - this.newestPdtEnd);
    return s;
  }

  stop(): void {
    this.stopped = true;
    this.halt();
  }

  async closed(): Promise<void> {
    await Promise.allSettled([this.samplerStopped, ...this.probing]);
  }

  // ---- lifecycle ----

  private halt(): void {
    this.done = true;
    this.doneAt ??= this.now();
    this.ac.abort();
    clearTimeout(this.refreshTimer);
    clearInterval(this.tickTimer);
    if (this.sampler) this.samplerStopped = this.sampler.stop();
  }

  private log(msg: string): void {
    try {
      this.opts.log?.(msg);
    } catch {
      // a logger must not break playback
    }
  }

  private emit(force = false): void {
    if (this.stopped) return;
    const s = this.status();
    const key = `${s.playerState}|${s.idleReason}|${s.detailedErrorCode}|${s.message}|${s.segmentsDecoded}`;
    const now = this.now();
    const tick = s.playerState === 'PLAYING' && now - this.lastEmitAt >= CURRENT_TIME_EMIT_MS;
    if (!force && key === this.lastEmitted && !tick) return;
    this.lastEmitted = key;
    this.lastEmitAt = now;
    try {
      this.onStatus(s);
    } catch (err) {
      this.log(`onStatus listener threw: ${(err as Error).message}`);
    }
  }

  private fail(code: number, message: string): void {
    if (this.done) return;
    this.head = { ...this.head, state: 'BUFFERING', played: playheadTime(this.head, this.now()), since: this.now() };
    this.idle = { reason: 'ERROR', code };
    this.message = message;
    this.log(`IDLE/ERROR ${code}: ${message}`);
    this.halt();
    this.emit(true);
  }

  private finish(): void {
    if (this.done) return;
    this.head = { ...this.head, state: 'BUFFERING', played: playheadTime(this.head, this.now()), since: this.now() };
    this.idle = { reason: 'FINISHED' };
    this.message = undefined;
    this.log('IDLE/FINISHED: played to the end of the list');
    this.halt();
    this.emit(true);
  }

  /** The real receiver's silent hang: stop fetching, let the buffer run dry, never report an error. */
  private hang(message: string): void {
    if (this.done || this.hung) return;
    this.hung = true;
    this.message = message;
    this.log(`hangs (BUFFERING, no error): ${message}`);
    this.ac.abort();
    clearTimeout(this.refreshTimer);
    this.queue.length = 0;
    this.evaluate();
    this.emit();
  }

  private handle(err: unknown): void {
    if (this.done) return;
    if (err instanceof Failure) return this.fail(err.code, err.message);
    if (err instanceof Hang) return this.hang(err.message);
    if (this.ac.signal.aborted) return; // stop() or a hang cancelled this work
    this.fail(ErrorCodes.NETWORK_UNKNOWN, `player error: ${(err as Error)?.message ?? String(err)}`);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.handle(err);
    }
  }

  private guardAsync(fn: () => Promise<void>): void {
    fn().catch((err: unknown) => this.handle(err));
  }

  // ---- HTTP ----

  private async get(url: string, maxBytes: number, failCode: number): Promise<Fetched> {
    if (!isLoopbackUrl(url)) throw new Failure(failCode, `refusing to fetch ${url}: the fake device only fetches from loopback`);
    const name = fileName(url);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { origin: this.opts.origin },
        signal: this.ac.signal,
        headersTimeout: HTTP_TIMEOUT_MS,
        bodyTimeout: HTTP_TIMEOUT_MS,
      });
    } catch (err) {
      if (this.ac.signal.aborted) throw err;
      throw new Failure(failCode, `fetching ${name}: ${(err as Error).message}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          res.body.destroy();
          throw new Failure(failCode, `${name} is larger than ${maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof Failure || this.ac.signal.aborted) throw err;
      throw new Failure(failCode, `reading ${name}: ${(err as Error).message}`);
    }
    return { status: res.statusCode, cors: corsAllows(res.headers['access-control-allow-origin'], this.opts.origin), body: Buffer.concat(chunks) };
  }

  // ---- loading ----

  private async begin(): Promise<void> {
    const url = this.load.url;
    const C = ErrorCodes;
    const typeProblem = contentTypeProblem(this.load.contentType);
    if (typeProblem) throw new Failure(C.MEDIA_SRC_NOT_SUPPORTED, typeProblem);
    this.refreshStartedAt = this.now();
    const top = await this.get(url, PLAYLIST_MAX_BYTES, C.HLS_NETWORK_MASTER_PLAYLIST);
    const text = top.body.toString('utf8');
    // The code says which file failed, so classify the body before judging the response.
    const looksMaster = text.includes('#EXT-X-STREAM-INF');
    if (!top.cors) {
      throw new Failure(looksMaster || !text.includes('#EXTINF') ? C.HLS_NETWORK_MASTER_PLAYLIST : C.HLS_NETWORK_PLAYLIST, `no Access-Control-Allow-Origin on ${fileName(url)}`);
    }
    if (top.status < 200 || top.status > 299) throw new Failure(C.HLS_NETWORK_MASTER_PLAYLIST, `HTTP ${top.status} for ${fileName(url)}`);
    const playlist = this.parse(text, url, looksMaster ? C.HLS_MANIFEST_MASTER : C.HLS_MANIFEST_PLAYLIST);
    if (playlist.kind === 'master') {
      const choice = chooseVariant(playlist, this.opts.maxLevel);
      this.declaredAudio = choice.declaresAudio;
      this.mediaUrl = choice.variant.uri;
      this.log(`variant ${fileName(choice.variant.uri)} CODECS=${choice.variant.codecs?.join(',')}`);
      const media = await this.fetchMedia();
      this.accept(media);
    } else {
      this.mediaUrl = url;
      this.lastPlaylistText = text;
      this.accept(playlist);
    }
  }

  private parse(text: string, url: string, code: number): MasterPlaylist | MediaPlaylist {
    try {
      return parsePlaylist(text, url);
    } catch (err) {
      if (err instanceof PlaylistError) throw new Failure(code, `${fileName(url)}: ${err.message}`);
      throw err;
    }
  }

  /** Fetches the media playlist; every problem is a Failure with code 312/412. */
  private async fetchMedia(): Promise<MediaPlaylist> {
    const C = ErrorCodes;
    const name = fileName(this.mediaUrl);
    this.refreshStartedAt = this.now();
    const r = await this.get(this.mediaUrl, PLAYLIST_MAX_BYTES, C.HLS_NETWORK_PLAYLIST);
    if (!r.cors) throw new Failure(C.HLS_NETWORK_PLAYLIST, `no Access-Control-Allow-Origin on ${name}`);
    if (r.status < 200 || r.status > 299) throw new Failure(C.HLS_NETWORK_PLAYLIST, `HTTP ${r.status} for ${name}`);
    const text = r.body.toString('utf8');
    const p = this.parse(text, this.mediaUrl, C.HLS_MANIFEST_PLAYLIST);
    if (p.kind !== 'media') throw new Failure(C.HLS_MANIFEST_PLAYLIST, `${name}: expected a media playlist, got a master playlist`);
    this.lastPlaylistText = text;
    return p;
  }

  /** Takes in a (re)loaded media playlist: queue what is new, decide whether to keep refreshing. */
  private accept(p: MediaPlaylist): void {
    if (this.done || this.hung) return;
    this.targetDuration = p.targetDuration;
    if (p.endList) this.listEnded = true;
    if (!this.positioned && p.segments.length > 0) {
      const first = p.segments[0] as Segment;
      const hint = hintsMismatch(this.load, listedContainer(first));
      if (hint) throw new Hang(hint);
      const from = startIndex(p, this.opts.startSegmentsFromEdge ?? 3);
      this.positioned = true;
      this.lastQueued = (p.segments[from] as Segment).sequence - 1;
      this.log(`start at sequence ${this.lastQueued + 1} (${p.segments.length} listed, ${p.playlistType ?? 'sliding'}${p.endList ? ', ENDLIST' : ''})`);
    }
    if (this.positioned) {
      const fresh = segmentsAfter(p, this.lastQueued);
      const newest = p.segments[p.segments.length - 1];
      if (fresh.length === 0 && newest && newest.sequence < this.lastQueued) {
        this.log(`media sequence went back (newest ${newest.sequence}, played up to ${this.lastQueued}): waiting for higher numbers`);
      }
      if (fresh.length > 0 && (fresh[0] as Segment).sequence > this.lastQueued + 1 && this.lastQueued >= 0) {
        this.log(`segments ${this.lastQueued + 1}..${(fresh[0] as Segment).sequence - 1} left the playlist before they were fetched: skipping`);
      }
      for (const s of fresh) {
        this.queue.push(s);
        this.lastQueued = s.sequence;
      }
    }
    // A live stream LOADed as BUFFERED never refreshes: it plays what was listed, then freezes.
    const frozen = this.load.streamType === 'BUFFERED';
    if (frozen && !this.listEnded) this.log('streamType BUFFERED: not following the live playlist');
    if (!this.listEnded && !frozen) this.scheduleRefresh();
    this.pump();
  }

  private scheduleRefresh(): void {
    // RFC 8216 §6.3.4: wait a target duration after a changed playlist, half of one after an unchanged
    // one, counted from when the last load began.
    const wait = (this.playlistChanged || this.refreshFailures > 0 ? 1 : 0.5) * this.targetDuration * 1000;
    const delay = Math.max(50, this.refreshStartedAt + wait - this.now());
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.guardAsync(() => this.refresh()), delay);
  }

  private async refresh(): Promise<void> {
    if (this.done || this.hung) return;
    const before = this.lastPlaylistText;
    let p: MediaPlaylist;
    try {
      p = await this.fetchMedia();
    } catch (err) {
      if (!(err instanceof Failure) || this.done) throw err;
      // A server restarting is tolerated for a few refreshes; a missing CORS header is not.
      if (err.message.startsWith('no Access-Control-Allow-Origin')) throw err;
      this.refreshFailures += 1;
      this.log(`playlist refresh failed (${this.refreshFailures}/${REFRESH_FAILURES_TOLERATED}): ${err.message}`);
      if (this.refreshFailures >= REFRESH_FAILURES_TOLERATED) throw err;
      this.scheduleRefresh();
      return;
    }
    this.refreshFailures = 0;
    this.playlistChanged = this.lastPlaylistText !== before;
    this.accept(p);
  }

  // ---- segments ----

  private pump(): void {
    if (this.working || this.done || this.hung) return;
    this.working = true;
    this.guardAsync(async () => {
      try {
        while (this.queue.length > 0 && !this.done && !this.hung) {
          await this.playSegment(this.queue.shift() as Segment);
        }
      } finally {
        this.working = false;
      }
      this.evaluate();
    });
  }

  private async fetchSegmentBytes(url: string, what: string): Promise<Buffer> {
    const C = ErrorCodes;
    const r = await this.get(url, SEGMENT_MAX_BYTES, C.SEGMENT_NETWORK);
    if (!r.cors) throw new Failure(C.SEGMENT_NETWORK, `no Access-Control-Allow-Origin on ${fileName(url)}`);
    if (r.status < 200 || r.status > 299) throw new Failure(C.HLS_NETWORK_INVALID_SEGMENT, `HTTP ${r.status} for ${what} ${fileName(url)} after it was listed`);
    return r.body;
  }

  private async initSection(url: string): Promise<Buffer> {
    const cached = this.inits.get(url);
    if (cached) return cached;
    const bytes = await this.fetchSegmentBytes(url, 'init section');
    this.inits.set(url, bytes);
    return bytes;
  }

  private async playSegment(seg: Segment): Promise<void> {
    const C = ErrorCodes;
    const name = fileName(seg.uri);
    const init = seg.map ? await this.initSection(seg.map.uri) : undefined;
    const body = await this.fetchSegmentBytes(seg.uri, 'segment');
    if (!this.containerChecked) {
      // The receiver trusts the hints; bytes that are not what the hints promise hang its parser.
      const actual = sniffContainer(init ?? body);
      if (actual) {
        const hint = hintsMismatch(this.load, actual);
        if (hint) throw new Hang(hint);
      }
      this.containerChecked = true;
    }
    const bytes = init ? Buffer.concat([init, body]) : body;
    const container = seg.map ? 'fmp4' : sniffContainer(body);
    let probe: SegmentProbe;
    try {
      const probing = this.probe(bytes, this.ac.signal, container);
      this.probing.add(probing);
      probe = await probing.finally(() => this.probing.delete(probing));
    } catch (err) {
      if (this.ac.signal.aborted) throw err;
      const why = err instanceof PagecastError ? err.message : String(err);
      throw new Failure(C.HLS_SEGMENT_PARSING, `${name} does not decode: ${why}`);
    }
    if (this.done || this.hung) return;
    const v = probe.video;
    if (!v || v.frames === 0) throw new Failure(C.HLS_SEGMENT_PARSING, `${name}: no video frames decoded`);
    if (v.codec !== 'h264') throw new Failure(C.MEDIA_SRC_NOT_SUPPORTED, `${name}: video codec ${v.codec} not supported`);
    if (v.level !== undefined && v.level > this.opts.maxLevel) {
      throw new Failure(C.MEDIA_SRC_NOT_SUPPORTED, `H.264 level ${levelName(v.level)} above ${levelName(this.opts.maxLevel)} (${name})`);
    }
    if (!probe.audio && this.declaredAudio === undefined) {
      throw new Failure(C.HLS_MANIFEST_MASTER, `no CODECS in master playlist: video-only HLS (${name} has no audio) needs a master playlist declaring CODECS`);
    }
    if (!probe.audio && this.declaredAudio) throw new Hang(`master playlist declares mp4a but ${name} has no audio`);

    this.segmentsDecoded += 1;
    this.framesDecoded += v.frames;
    this.lastSegmentAt = this.now();
    this.head = { ...this.head, buffered: this.head.buffered + seg.duration };
    if (seg.programDateTime !== undefined) this.newestPdtEnd = seg.programDateTime + seg.duration * 1000;
    this.sampler?.add({ sequence: seg.sequence, bytes, container, programDateTime: seg.programDateTime });
    this.evaluate();
    this.emit();
  }

  // ---- clock ----

  private evaluate(): void {
    if (this.done) return;
    const now = this.now();
    if (this.listEnded && this.queue.length === 0 && !this.working && this.framesDecoded > 0 && playheadTime(this.head, now) >= this.head.buffered - 1e-3) {
      return this.finish();
    }
    const silentMs = this.lastSegmentAt === undefined ? 0 : now - this.lastSegmentAt;
    const stalled = !this.listEnded && silentMs > 2 * this.targetDuration * 1000;
    const before = this.head.state;
    this.head = nextPlayhead(this.head, now, stalled);
    if (!this.hung) {
      if (this.head.state === 'PLAYING') this.message = undefined;
      else if (before === 'PLAYING' && stalled) this.message = `no new segment for ${(silentMs / 1000).toFixed(1)} s (target duration ${this.targetDuration} s)`;
      else if (before === 'PLAYING') this.message = 'buffer ran dry';
    }
    this.emit();
  }
}
