// Stand-in components for fast controller tests and the reconcile benchmark: no processes, no
// sockets. Each records what it was asked and can be told to fail, exit or drift.
import { EventEmitter } from 'node:events';
import type {
  BrowserDriver,
  BrowserHandle,
  CastConnection,
  CastDrift,
  CastDriver,
  CastLoad,
  ComponentReport,
  Components,
  DisplayDriver,
  DisplayHandle,
  EncoderDriver,
  EncoderHandle,
  ExitInfo,
  MediaState,
  OtherApp,
  ResolvedDevice,
  RotationPage,
  RotationState,
  ShowPageResult,
  StartContext,
  StreamFetchStats,
  StreamInput,
  StreamPublisher,
} from '../../machines/components.js';
import { deviceBusyError } from '../../machines/components.js';
import type { DeviceRef, StreamMode } from '../../specs/schema.js';
import type { PageInput } from '../../specs/identity.js';

const DMR = 'CC1AD845'; // the Default Media Receiver

/** A running stand-in: exits when told, or when stopped. */
class Handle {
  private resolveExit!: (i: ExitInfo) => void;
  readonly exited: Promise<ExitInfo> = new Promise((r) => (this.resolveExit = r));
  stopped = false;
  constructor(readonly log: StandInLog, readonly kind: string, readonly id: number) {
    log.started(kind, id);
  }
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log.stopped(this.kind, this.id);
    this.resolveExit({ reason: 'stopped' });
  }
  /** Simulate a crash. */
  die(info: ExitInfo = { reason: 'killed', signal: 'SIGKILL' }): void {
    if (this.stopped) return;
    this.stopped = true;
    this.log.stopped(this.kind, this.id);
    this.resolveExit(info);
  }
}

/**
 * A stand-in browser's rotation, for a spec with pages: every page loaded at start and page 0 on
 * screen; it switches only when asked (showPage, or the test's show()). A jump shows on the next
 * tick and is reported, as the real browser's raise completes after showPage returns. Its refusals
 * quote the page's URL as given, as a real browser's error would: the controller must redact.
 */
export class StandInRotation {
  readonly pages: RotationPage[];
  showing?: number;
  since?: string;
  nextSwitchAt?: string;
  /** Pages shown on request, in order. */
  readonly jumps: number[] = [];
  /** Test hook: the next showPage answers this (a page that failed between status and jump). */
  refuseNext?: ShowPageResult;
  constructor(
    private readonly input: PageInput[],
    private readonly report: (r: ComponentReport) => void,
  ) {
    this.pages = input.map((p, index) => ({ index, url: p.url, state: 'ready', inRotation: true }));
    this.show(0, 'Started');
  }
  rotation(): RotationState {
    return { showing: this.showing, since: this.since, nextSwitchAt: this.nextSwitchAt, pages: this.pages.map((p) => ({ ...p })) };
  }
  showPage(index: number): ShowPageResult {
    const refused = this.refuseNext;
    this.refuseNext = undefined;
    if (refused) return refused;
    const page = this.pages[index];
    if (!page) return { ok: false, reason: 'range', message: `no page ${index}: ${this.pages.length} pages` };
    if (page.state !== 'ready') return { ok: false, reason: 'not-ready', message: `page ${index} (${page.url}) is ${page.state}${page.error ? `: ${page.error}` : ''}` };
    setImmediate(() => {
      this.jumps.push(index);
      this.show(index, 'Jumped');
    });
    return { ok: true };
  }
  /** The page lists taken live (updatePages), in order. */
  readonly updates: PageInput[][] = [];
  /** Takes a new page list live: the page on screen keeps its place by URL, or page 0 shows. */
  updatePages(input: PageInput[]): void {
    const url = this.showing === undefined ? undefined : this.pages[this.showing]?.url;
    this.updates.push(input);
    this.input.splice(0, this.input.length, ...input);
    this.pages.splice(0, this.pages.length, ...input.map((p, index) => ({ index, url: p.url, state: 'ready' as const, inRotation: true })));
    const kept = this.pages.findIndex((p) => p.url === url);
    this.show(kept === -1 ? 0 : kept, 'Rotated');
  }
  /** Test hook: brings a page to the front, its turn starting now. */
  show(index: number, reason = 'Rotated'): void {
    const now = Date.now();
    this.showing = index;
    this.since = new Date(now).toISOString();
    const others = this.pages.some((p) => p.index !== index && p.state === 'ready' && p.inRotation);
    this.nextSwitchAt = others ? new Date(now + this.input[index]!.for).toISOString() : undefined;
    this.report({ type: 'PageShown', status: 'True', reason, message: `page ${index}: ${this.pages[index]!.url}` });
  }
  /** Test hook: a page failed to load (it stays failed until set otherwise). */
  fail(index: number, error: string): void {
    Object.assign(this.pages[index]!, { state: 'failed', error });
    this.report({ type: 'PageReady', status: 'False', reason: 'NavigationFailed', message: `page ${index}: ${error}` });
  }
  /** Test hook: a page is (re)loading, or loaded again. */
  set(index: number, state: 'loading' | 'ready', inRotation = true): void {
    Object.assign(this.pages[index]!, { state, error: undefined, inRotation });
    this.report({ type: 'PageReady', status: state === 'ready' ? 'True' : 'Unknown', reason: state === 'ready' ? 'Loaded' : 'Loading', message: `page ${index}` });
  }
}

export class StandInLog {
  readonly events: string[] = [];
  readonly live = new Map<string, Handle>();
  private n = 0;
  next(): number {
    return ++this.n;
  }
  started(kind: string, id: number): void {
    this.events.push(`start ${kind}#${id}`);
  }
  stopped(kind: string, id: number): void {
    this.events.push(`stop ${kind}#${id}`);
    this.live.delete(`${kind}#${id}`);
  }
  running(kind: string): Handle[] {
    return [...this.live.values()].filter((h) => h.kind === kind && !h.stopped);
  }
  track(h: Handle): void {
    this.live.set(`${h.kind}#${h.id}`, h);
  }
  /** The rotations of the running stand-in browsers (specs with pages). */
  rotations(): StandInRotation[] {
    return this.running('browser').flatMap((h) => {
      const r = (h as Handle & { stand?: StandInRotation }).stand;
      return r ? [r] : [];
    });
  }
}

export interface StandInOptions {
  /** ms before a component reports ready (0 = next tick). */
  startDelayMs?: number;
  log?: StandInLog;
}

export class FakeConnection implements CastConnection {
  readonly drifts = new EventEmitter();
  loads: CastLoad[] = [];
  launches = 0;
  stops = 0;
  closed = false;
  app: { appId?: string; sessionId?: string; isIdleScreen: boolean; isStandBy: boolean; isActiveInput: boolean } = {
    isIdleScreen: true,
    isStandBy: false,
    isActiveInput: true,
  };
  private state: MediaState | undefined;
  private stopping?: Promise<void>;
  constructor(readonly device: ResolvedDevice, private readonly owner: FakeCastDriver) {
    const busy = owner.deviceState(device).otherApp;
    if (busy) this.app = { appId: busy, sessionId: 'other', isIdleScreen: false, isStandBy: false, isActiveInput: true };
  }
  receiver() {
    return this.app;
  }
  otherApp(): OtherApp | undefined {
    const { appId, isIdleScreen } = this.app;
    return appId && appId !== DMR && !isIdleScreen ? { appId } : undefined;
  }
  media() {
    return this.state;
  }
  async launch(opts: { takeover: boolean; expectUrl?: string }): Promise<{ joined: boolean }> {
    this.launches++;
    const other = this.otherApp();
    if (other && !opts.takeover) throw deviceBusyError(other, `cast device ${this.device.host}`);
    const dev = this.owner.deviceState(this.device);
    if (dev.playingUrl && dev.playingUrl === opts.expectUrl && dev.ours) {
      this.app = { appId: DMR, sessionId: 's', isIdleScreen: false, isStandBy: false, isActiveInput: true };
      this.state = { playerState: 'PLAYING' };
      return { joined: true };
    }
    this.app = { appId: DMR, sessionId: `s${this.launches}`, isIdleScreen: false, isStandBy: false, isActiveInput: true };
    dev.ours = true;
    return { joined: false };
  }
  async load(media: CastLoad): Promise<void> {
    if (this.owner.failLoads > 0) {
      this.owner.failLoads--;
      throw new Error('LOAD_FAILED (error 104)');
    }
    this.loads.push(media);
    this.owner.allLoads.push({ device: this.device.host, ...media });
    this.state = { playerState: 'PLAYING', contentId: media.url };
    const dev = this.owner.deviceState(this.device);
    dev.playingUrl = media.url;
  }
  stop(): Promise<void> {
    // As the real connection: a closed socket can no longer tell the device to stop.
    if (this.closed && !this.stopping) return Promise.resolve();
    this.stopping ??= (async () => {
      this.stops++;
      this.owner.stops.push(this.device.host);
      const dev = this.owner.deviceState(this.device);
      dev.playingUrl = undefined;
      dev.ours = false;
      this.close();
    })();
    return this.stopping;
  }
  close(): void {
    this.closed = true;
    this.owner.connections.delete(this);
  }
  onDrift(listener: (d: CastDrift) => void): () => void {
    this.drifts.on('drift', listener);
    return () => this.drifts.off('drift', listener);
  }
  /** Test hook: the device did something. */
  drift(d: CastDrift): void {
    const dev = this.owner.deviceState(this.device);
    if (d.type === 'IDLE' || d.type === 'APP_GONE' || d.type === 'IDLE_SCREEN') dev.playingUrl = undefined;
    if (d.type === 'OTHER_APP') {
      dev.playingUrl = undefined;
      dev.ours = false;
      this.app = { appId: d.appId, sessionId: 'other', isIdleScreen: false, isStandBy: false, isActiveInput: true };
    }
    if (d.type === 'CONNECTION_LOST') this.close();
    this.drifts.emit('drift', d);
  }
}

export class FakeCastDriver implements CastDriver {
  readonly connections = new Set<FakeConnection>();
  readonly allLoads: Array<CastLoad & { device: string }> = [];
  readonly stops: string[] = [];
  /** Per device host; `otherApp` is what a new connection finds running there. */
  readonly devices = new Map<string, { playingUrl?: string; ours: boolean; otherApp?: string }>();
  failLoads = 0;
  unreachable = new Set<string>();
  resolves = 0;
  connects = 0;
  forgets = 0;
  constructor(private readonly delayMs = 0) {}
  deviceState(d: ResolvedDevice) {
    let s = this.devices.get(d.host);
    if (!s) this.devices.set(d.host, (s = { ours: false }));
    return s;
  }
  async resolve(device: DeviceRef): Promise<ResolvedDevice> {
    this.resolves++;
    await tick(this.delayMs);
    if (typeof device === 'string') {
      if (this.unreachable.has(device)) throw new Error(`device "${device}" not found on the network`);
      return { host: device.toLowerCase().replace(/\s+/g, '-'), port: 8009, name: device };
    }
    if ('id' in device) return { host: device.id, port: 8009, id: device.id };
    return { host: device.host, port: device.port };
  }
  async connect(device: ResolvedDevice, ctx?: StartContext): Promise<CastConnection> {
    this.connects++;
    await tick(this.delayMs);
    if (this.unreachable.has(device.host)) throw new Error(`connect ECONNREFUSED ${device.host}:${device.port}`);
    if (ctx?.signal.aborted) throw new Error('connect aborted');
    const c = new FakeConnection(device, this);
    this.connections.add(c);
    return c;
  }
  forget(): void {
    this.forgets++;
  }
  connectionTo(host: string): FakeConnection | undefined {
    return [...this.connections].find((c) => c.device.host === host && !c.closed);
  }
}

export class FakePublisher implements StreamPublisher {
  readonly published = new Map<string, { dir: string; mode: StreamMode; token: string }>();
  publish(streamId: string, dir: string, mode: StreamMode) {
    const token = `tok-${streamId}`;
    this.published.set(streamId, { dir, mode, token });
    return { token, entry: 'master.m3u8' };
  }
  unpublish(streamId: string): void {
    this.published.delete(streamId);
  }
  urlFor(streamId: string, deviceHost: string): string {
    return `http://127.0.0.1:8181/s/tok-${streamId}/master.m3u8#for=${deviceHost}`;
  }
  fetches(): StreamFetchStats[] {
    return [];
  }
}

function tick(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : new Promise((r) => setImmediate(r));
}

export interface StandIns extends Components {
  log: StandInLog;
  castDriver: FakeCastDriver;
  publisher: FakePublisher;
}

export function standInComponents(streamRoot: string, opts: StandInOptions = {}): StandIns {
  const log = opts.log ?? new StandInLog();
  const delay = opts.startDelayMs ?? 0;
  const make = (kind: string) => {
    const h = new Handle(log, kind, log.next());
    log.track(h);
    return h;
  };
  const display: DisplayDriver = {
    async start(_o, ctx) {
      await tick(delay);
      if (ctx.signal.aborted) throw new Error('aborted');
      const h = make('display') as Handle & { display: string };
      return Object.assign(h, { display: `:${h.id}` }) as unknown as DisplayHandle;
    },
  };
  const browser: BrowserDriver = {
    async start(o, ctx) {
      await tick(delay);
      if (ctx.signal.aborted) throw new Error('aborted');
      const h = make('browser');
      // reloadPages counts, as the real browser's reloads do.
      const base: Handle & { reloads: number; reloadPages(): void } = Object.assign(h, { reloads: 0, reloadPages: () => void base.reloads++ });
      if (!o.input.pages) return base as unknown as BrowserHandle;
      const stand = new StandInRotation(o.input.pages, (r) => ctx.report(r));
      return Object.assign(base, { stand, rotation: () => stand.rotation(), showPage: (i: number) => stand.showPage(i), updatePages: async (next: StreamInput) => stand.updatePages(next.pages ?? []) }) as unknown as BrowserHandle;
    },
  };
  const encoder: EncoderDriver = {
    async start(_o, ctx) {
      await tick(delay);
      if (ctx.signal.aborted) throw new Error('aborted');
      const h = make('encoder');
      return Object.assign(h, {
        encoder: 'libx264',
        figures: () => ({ fps: 30, speed: 1, droppedFrames: 0, duplicatedFrames: 0, bitrateKbps: 3000, frame: 1, at: new Date().toISOString() }),
        servable: () => tick(delay),
      }) as unknown as EncoderHandle;
    },
  };
  const castDriver = new FakeCastDriver(delay);
  const publisher = new FakePublisher();
  return { display, browser, encoder, cast: castDriver, streams: publisher, streamRoot, log, castDriver, publisher };
}
