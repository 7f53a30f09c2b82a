// The contract between the fake device's Cast protocol side (device.ts) and its strict HLS
// player (hls-player.ts). The player is what makes "PLAYING" mean "frames arrived".
import type { SampleError, SampleFramesOptions, SampledFrame } from './frame-sampler.js';

/** The parts of a LOAD's `media` the player cares about, as received on the wire. */
export interface PlayerLoad {
  url: string; // contentUrl ?? contentId
  contentType?: string;
  streamType?: string; // 'LIVE' | 'BUFFERED' | 'NONE' | anything a sender sent
  hlsSegmentFormat?: string; // 'ts' | 'fmp4' | ...
  hlsVideoSegmentFormat?: string; // 'mpeg2_ts' | 'fmp4'
}

export interface PlayerOptions {
  /** Highest H.264 level the fake advertises, times ten (41 = level 4.1). */
  maxLevel: number;
  /** Origin sent on every request, as the receiver web app would; responses must allow it (CORS). */
  origin: string;
  /** Live-edge distance at start, in segments (the real receiver starts about three back). */
  startSegmentsFromEdge?: number;
  log?: (msg: string) => void;
  /** Also decode every accepted segment to a small colour grid (frame-sampler.ts); off when absent. */
  sampleFrames?: SampleFramesOptions & {
    /** Each sampled segment's frames, in playback order; never called after stop() or an end. */
    onFrames: (frames: SampledFrame[]) => void;
    onError?: (e: SampleError) => void;
  };
}

export type PlayerState = 'BUFFERING' | 'PLAYING' | 'IDLE';

export interface PlayerStatus {
  playerState: PlayerState;
  idleReason?: 'ERROR' | 'FINISHED';
  /** Cast detailed error code for IDLE/ERROR (e.g. 311, 315, 104). */
  detailedErrorCode?: number;
  /** Human reason for an error or a stall, e.g. "no Access-Control-Allow-Origin on master.m3u8". */
  message?: string;
  /** Seconds of media played since LOAD; advances only while PLAYING. */
  currentTime: number;
  segmentsDecoded: number;
  framesDecoded: number;
  /** now − EXT-X-PROGRAM-DATE-TIME of the newest decoded frame, when the playlist carries PDT. */
  latencyMs?: number;
  /** True until the first frame is decoded: an error now is a LOAD failure rather than a playback error. */
  beforeFirstFrame: boolean;
}

export interface Player {
  status(): PlayerStatus;
  /** Stops fetching; emits nothing afterwards. */
  stop(): void;
  /** Resolves once every process the player started (decoders) has exited; meaningful after stop(). */
  closed?(): Promise<void>;
}

export type StartPlayer = (load: PlayerLoad, opts: PlayerOptions, onStatus: (s: PlayerStatus) => void) => Player;
