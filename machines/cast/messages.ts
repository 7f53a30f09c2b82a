// Pure Cast v2 message shapes and status reading (CAST.md §2–4). No sockets here.
import type { CastLoad, MediaState } from '../components.js';

export const NS = {
  connection: 'urn:x-cast:com.google.cast.tp.connection',
  heartbeat: 'urn:x-cast:com.google.cast.tp.heartbeat',
  receiver: 'urn:x-cast:com.google.cast.receiver',
  media: 'urn:x-cast:com.google.cast.media',
} as const;

export const DEFAULT_MEDIA_RECEIVER = 'CC1AD845';
export const BACKDROP_APP = 'E8C28D3C';

/** Reply types that mean the request failed (CAST.md §3.3). */
export const ERROR_REPLY_TYPES = new Set(['LAUNCH_ERROR', 'LOAD_FAILED', 'LOAD_CANCELLED', 'INVALID_REQUEST', 'INVALID_PLAYER_STATE']);

export type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a payload; undefined for anything that is not a JSON object with a string `type`. */
export function parseCastJson(data: string): Json | undefined {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return undefined;
  }
  return isRecord(v) && typeof v.type === 'string' ? v : undefined;
}

export interface CastApp {
  appId: string;
  sessionId?: string;
  transportId?: string;
  displayName?: string;
  isIdleScreen: boolean;
}

export interface ReceiverState {
  applications: CastApp[];
  isStandBy: boolean;
  isActiveInput: boolean;
}

/** Reads a RECEIVER_STATUS `status`, keeping fields the update omits from `prev`. */
export function mergeReceiverStatus(prev: ReceiverState, status: unknown): ReceiverState {
  if (!isRecord(status)) return prev;
  const apps = Array.isArray(status.applications)
    ? status.applications.filter(isRecord).flatMap((a): CastApp[] =>
        typeof a.appId === 'string'
          ? [{
              appId: a.appId,
              sessionId: str(a.sessionId),
              transportId: str(a.transportId),
              displayName: str(a.displayName),
              isIdleScreen: a.isIdleScreen === true || a.appId === BACKDROP_APP,
            }]
          : [],
      )
    : // A status without `applications` means nothing runs (CAST.md §2.3).
      [];
  return {
    applications: apps,
    isStandBy: typeof status.isStandBy === 'boolean' ? status.isStandBy : prev.isStandBy,
    isActiveInput: typeof status.isActiveInput === 'boolean' ? status.isActiveInput : prev.isActiveInput,
  };
}

export interface MediaEntry extends MediaState {
  idleReason?: string;
  detailedErrorCode?: number;
}

const PLAYER_STATES = new Set(['IDLE', 'BUFFERING', 'PLAYING', 'PAUSED', 'LOADING']);

/** Reads one MEDIA_STATUS entry and merges it over the last known entry of the same session. */
export function mergeMediaEntry(prev: MediaEntry | undefined, entry: Json): MediaEntry {
  const sameSession = prev !== undefined && (entry.mediaSessionId === undefined || entry.mediaSessionId === prev.mediaSessionId);
  const base: MediaEntry = sameSession ? { ...prev } : { playerState: 'UNKNOWN' };
  if (typeof entry.mediaSessionId === 'number') base.mediaSessionId = entry.mediaSessionId;
  if (typeof entry.playerState === 'string') {
    base.playerState = (PLAYER_STATES.has(entry.playerState) ? entry.playerState : 'UNKNOWN') as MediaState['playerState'];
    // idleReason only accompanies IDLE; a later state without it clears it (as pychromecast does).
    base.idleReason = str(entry.idleReason);
    base.detailedErrorCode = undefined;
  }
  if (typeof entry.currentTime === 'number') base.currentTime = entry.currentTime;
  const media = isRecord(entry.media) ? entry.media : undefined;
  const contentId = media ? (str(media.contentUrl) ?? str(media.contentId)) : undefined;
  if (contentId !== undefined) base.contentId = contentId;
  const code = typeof entry.detailedErrorCode === 'number' ? entry.detailedErrorCode : isRecord(entry.extendedStatus) && typeof entry.extendedStatus.detailedErrorCode === 'number' ? entry.extendedStatus.detailedErrorCode : undefined;
  if (code !== undefined) base.detailedErrorCode = code;
  return base;
}

/** The LOAD for a live stream (CAST.md §3.2): LIVE, explicit segment formats, autoplay, no currentTime. */
export function liveLoadRequest(load: CastLoad, requestId: number, sessionId: string | undefined): Json {
  const hints = load.mode === 'fmp4' ? { hlsSegmentFormat: 'fmp4', hlsVideoSegmentFormat: 'fmp4' } : { hlsSegmentFormat: 'ts', hlsVideoSegmentFormat: 'mpeg2_ts' };
  return {
    type: 'LOAD',
    requestId,
    ...(sessionId ? { sessionId } : {}),
    autoplay: true,
    media: {
      contentId: load.url,
      contentUrl: load.url,
      contentType: 'application/x-mpegURL',
      streamType: 'LIVE',
      ...hints,
      metadata: { metadataType: 0, title: load.title },
    },
  };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
