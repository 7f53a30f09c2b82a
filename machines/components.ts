// The small interfaces each real component sits behind. The machines only see these; the real
// implementations live next to them in machines/, the stand-ins in test/stand-ins/.
import type { DeviceRef, StreamMode } from '../specs/schema.js';
import type { StreamInput } from '../specs/identity.js';
import type { Logger } from './log.js';
import { PagecastError } from './errors.js';

export type { StreamInput };

/** How a process or connection ended. `reason` is one short machine-readable word. */
export interface ExitInfo {
  reason: string; // e.g. 'exited', 'killed', 'crashed', 'disconnected', 'hung', 'stopped'
  code?: number | null;
  signal?: string | null;
  message?: string; // human text, e.g. the last stderr lines
}

/** A started long-lived resource. `exited` settles once, whether it died or was stopped. */
export interface Running {
  readonly exited: Promise<ExitInfo>;
  /** Graceful, then forceful; resolves when the resource is gone. Safe to call twice. */
  stop(): Promise<void>;
}

/** A status condition fragment a component reports while it runs (e.g. a navigation retry). */
export interface ComponentReport {
  type: string; // condition type: DisplayReady, BrowserReady, EncoderRunning, ...
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message?: string;
}

export interface StartContext {
  signal: AbortSignal; // aborted when the state that started the component is left
  log: Logger;
  report(r: ComponentReport): void;
}

// ── display ────────────────────────────────────────────────────────────────────────────────
export interface DisplayHandle extends Running {
  readonly display: string; // ":12"
}
export interface DisplayDriver {
  start(opts: { width: number; height: number }, ctx: StartContext): Promise<DisplayHandle>;
}

// ── browser ────────────────────────────────────────────────────────────────────────────────
/** One page of a rotation as status shows it. `url` is the page's URL as given: redact before showing it. */
export interface RotationPage {
  index: number;
  url: string;
  state: 'loading' | 'ready' | 'failed';
  /** Why the page could not be shown (HTTP 500, net::ERR_…), while it is failed. */
  error?: string;
  /** Whether the page's schedule puts it in the rotation now. */
  inRotation: boolean;
}

/** Where a rotation stands: the page on screen, since when, and when the next switch is due. */
export interface RotationState {
  /** The page on screen (index into the spec's pages), undefined before the first one shows. */
  showing?: number;
  /** When it came on screen, ISO. */
  since?: string;
  /** When the next switch is due, ISO; undefined when nothing else is to show. */
  nextSwitchAt?: string;
  pages: RotationPage[];
}

/** What `showPage` answers: shown, or why not. */
export type ShowPageResult = { ok: true } | { ok: false; reason: 'range' | 'not-ready'; message: string };

/** `exited` settles on page crash, browser disconnect, renderer hang or process exit. */
export interface BrowserHandle extends Running {
  readonly reloads: number;
  /** Bytes held by the browser's processes now, where the driver can tell. */
  memoryBytes?(): number | undefined;
  /** The rotation of a spec with `pages` (a single-URL spec has none). */
  rotation?(): RotationState | undefined;
  /** Brings page `index` to the front now and restarts its turn. */
  showPage?(index: number): ShowPageResult;
  /**
   * Takes a new rotation live (order, durations, windows, pages added or removed): pages whose
   * render input is unchanged keep their loaded window; only new or changed pages are loaded.
   */
  updatePages?(input: StreamInput): Promise<void>;
  /** Loads the page again now (in a rotation, each page once it is off screen). */
  reloadPages?(): void;
  /**
   * Where the stream's segments end (see EncoderHandle.nextSegmentEnd): a turn then ends just
   * before a segment does, so the new page is in a segment the TV can fetch a moment later.
   */
  alignSwitches?(segmentEnd: (after: number) => number | undefined): void;
}
export interface BrowserDriver {
  start(opts: { display: string; input: StreamInput }, ctx: StartContext): Promise<BrowserHandle>;
}

// ── encoder ────────────────────────────────────────────────────────────────────────────────
/**
 * How the encoder gets its frames: 'x11grab' is FFmpeg grabbing the whole display at a fixed rate;
 * 'damage' grabs it only when the X server reports that something was drawn (machines/media/damage-grab.py).
 */
export type CapturePath = 'x11grab' | 'damage';

/** What the capture costs: frames taken from the display, and how many of them were encoded. */
export interface CaptureFigures {
  path: CapturePath;
  /** Frames captured per second (x11grab: its rate, whether anything changed or not; damage: grabs of changed frames). */
  capturedFps: number;
  /** Frames encoded per second over the last few seconds (a still page in adaptive mode: a few). */
  encodedFps: number;
}

export interface EncoderFigures {
  /** FFmpeg's own figure: frames encoded per second, averaged since this FFmpeg started. */
  fps: number;
  speed: number;
  droppedFrames: number;
  duplicatedFrames: number;
  bitrateKbps: number;
  frame: number;
  at: string; // ISO time of the sample
  capture?: CaptureFigures;
}
export interface EncoderHandle extends Running {
  readonly encoder: string; // what is in use, e.g. 'libx264' after a hardware fallback
  readonly fallbackReason?: string;
  /** Latest -progress sample, if any. */
  figures(): EncoderFigures | undefined;
  /** Resolves once the stream is servable (three segments exist). */
  servable(): Promise<void>;
  /** When the segment being written at wall time `after` (ms) ends, on the wall clock; undefined until known. */
  nextSegmentEnd?(after: number): number | undefined;
}
export interface EncoderDriver {
  /** `dir` is the stream's directory; it outlives one encoder so a restart continues the playlist. */
  start(opts: { display: string; input: StreamInput; dir: string }, ctx: StartContext): Promise<EncoderHandle>;
}

// ── stream server ──────────────────────────────────────────────────────────────────────────
export interface StreamFetchStats {
  client: string; // remote address
  lastPlaylistAt?: string;
  lastSegmentAt?: string;
  bytes: number;
}
export interface StreamPublisher {
  /** Makes `dir` servable under an unguessable path; returns the path token. */
  publish(streamId: string, dir: string, mode: StreamMode): { token: string; entry: string /* e.g. master.m3u8 */ };
  unpublish(streamId: string): void;
  /** Absolute URL the device should fetch, using the local address that routes to `deviceHost`. */
  urlFor(streamId: string, deviceHost: string): string;
  fetches(streamId: string): StreamFetchStats[];
}

// ── cast ───────────────────────────────────────────────────────────────────────────────────
export interface ResolvedDevice {
  host: string;
  port: number;
  id?: string; // mDNS `id` TXT value
  name?: string; // friendly name
  model?: string;
}

/** Something the device did that differs from the spec. The cast machine turns these into policy. */
export type CastDrift =
  | { type: 'IDLE'; idleReason: 'CANCELLED' | 'INTERRUPTED' | 'FINISHED' | 'ERROR' | 'UNKNOWN'; detailedErrorCode?: number }
  | { type: 'LOAD_FAILED'; detailedErrorCode?: number; message?: string }
  | { type: 'APP_GONE' } // our session vanished from RECEIVER_STATUS (stop casting)
  | { type: 'OTHER_APP'; appId: string; displayName?: string } // another app took the device
  | { type: 'IDLE_SCREEN' } // ambient/backdrop
  | { type: 'STANDBY'; standby: boolean } // isStandBy / isActiveInput:false, and back
  | { type: 'STALLED'; message: string } // PLAYING but currentTime or fetches not advancing
  | { type: 'CONNECTION_LOST'; message: string }; // socket closed or heartbeat silence

export interface MediaState {
  playerState: 'IDLE' | 'BUFFERING' | 'PLAYING' | 'PAUSED' | 'LOADING' | 'UNKNOWN';
  currentTime?: number;
  mediaSessionId?: number;
  contentId?: string;
}

export interface CastLoad {
  url: string;
  mode: StreamMode;
  title: string;
}

/** An app of another sender on the device: neither the Default Media Receiver nor the ambient screen. */
export interface OtherApp {
  appId: string;
  displayName?: string;
}

/** One TLS connection to a device, with our Default Media Receiver session on it. */
export interface CastConnection {
  readonly device: ResolvedDevice;
  /** The app running on the device right now, as last reported. */
  receiver(): { appId?: string; sessionId?: string; isIdleScreen: boolean; isStandBy: boolean; isActiveInput: boolean };
  /** Another sender's app holding the device, as last reported: the one test of "device busy". */
  otherApp(): OtherApp | undefined;
  media(): MediaState | undefined;
  /**
   * Launch the DMR, or join our session if it still runs. Returns true when it joined a session
   * already playing `url`. With the device busy and `takeover: false` it launches nothing and
   * rejects with deviceBusyError() (see otherAppOf()).
   */
  launch(opts: { takeover: boolean; expectUrl?: string }): Promise<{ joined: boolean }>;
  load(media: CastLoad): Promise<void>;
  /** Media STOP, receiver STOP of our session, then close. Calling it again returns the same stop. */
  stop(): Promise<void>;
  /** Close the socket, leaving whatever plays playing. */
  close(): void;
  onDrift(listener: (d: CastDrift) => void): () => void;
}

/** Fields that classify a failed cast request, on the PagecastError it rejects with. */
export interface CastFailure {
  /** The device's error reply type, e.g. LOAD_FAILED, or OTHER_APP when launch found the device busy. */
  replyType?: string;
  reason?: string;
  detailedErrorCode?: number;
  /** Set when launch() refused to take the device from another app (takeover: false). */
  otherApp?: OtherApp;
}

export type CastRequestError = PagecastError & CastFailure;

/** What launch() rejects with when another app holds the device and takeover is off. */
export function deviceBusyError(app: OtherApp, source: string): CastRequestError {
  return Object.assign(new PagecastError('CAST_REQUEST_FAILED', `${source} is busy: ${app.displayName ?? app.appId} is running`, { source }), {
    replyType: 'OTHER_APP',
    otherApp: { appId: app.appId, displayName: app.displayName },
  });
}

/** The other app, when a launch() rejection says the device is busy. */
export function otherAppOf(err: unknown): OtherApp | undefined {
  return err instanceof PagecastError ? (err as CastRequestError).otherApp : undefined;
}

export interface CastDriver {
  resolve(device: DeviceRef, ctx: StartContext): Promise<ResolvedDevice>;
  connect(device: ResolvedDevice, ctx: StartContext): Promise<CastConnection>;
  /** Forget a cached resolution (the address may have changed). */
  forget(device: DeviceRef): void;
}

/** Everything the machines need from the outside world, passed in (no module singletons). */
export interface Components {
  display: DisplayDriver;
  browser: BrowserDriver;
  encoder: EncoderDriver;
  cast: CastDriver;
  streams: StreamPublisher;
  /** Where stream directories are created. */
  streamRoot: string;
}
