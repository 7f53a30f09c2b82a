// The controller composes the parts; it decides nothing itself.
//   sources   (./sources/)   what is wanted: spec files, ephemeral casts, suspends (state dir)
//   reconcile (./reconcile/) per device: observe → plan → execute (reconcile.ts is the contract)
//   status    (./status/)    recomputed from the actors on every read; metrics from status
//   coordination (./coordination/) which specs are ours: all the selector matches (static), or
//             those this instance holds on etcd leases (a site of several machines)
// The HTTP API and the CLI reach it through the ControlPlane interface.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeDevice, deviceKeyOf } from '../specs/identity.js';
import type { DeviceRef } from '../specs/schema.js';
import { discover, type DiscoveredDevice } from '../machines/cast/discovery.js';
import { DEFAULT_MEDIA_RECEIVER } from '../machines/cast/messages.js';
import { MASTER_PLAYLIST } from '../machines/media/encoder.js';
import type { Components, RotationState, StreamFetchStats } from '../machines/components.js';
import type { Logger } from '../machines/log.js';
import type { Role } from '../machines/spec-machine.js';
import { RepeatedWarning } from '../machines/repeated-warning.js';
import type { DesiredSpec } from './reconcile/plan.js';
import { WorkQueue } from './reconcile/queue.js';
import { loopLiveness } from './service/liveness.js';
import { deviceKey, keyId, reconcile, type ReconcileKey, type ReconcileWorld } from './reconcile/reconcile.js';
import { SpecActors, type SpecActor } from './reconcile/spec-actors.js';
import { StreamRegistry } from './reconcile/stream-registry.js';
import { EphemeralCasts } from './sources/ephemeral-casts.js';
import { SpecFiles } from './sources/spec-files.js';
import type { SourcedSpec } from './sources/sourced-spec.js';
import { StateDir } from './sources/state-dir.js';
import { StatusMetrics } from './status/metrics.js';
import { buildStatus, pageStatusOf, phaseOf, TransitionClock } from './status/status.js';
import { PlayLogWriter, PlayTracker, playIntervals, readPlayLog, type PlayObservation } from './status/play-log.js';
import { redactText, redactUrl } from './status/redact.js';
import { DriftHistory } from './status/drift-history.js';
import { StaticCoordinator, type Coordinator } from './coordination/coordinator.js';
import { SiteStatus } from './coordination/site-status.js';
import type { LogTail } from './status/log-tail.js';
import { errorsIn, redactSpecYaml, specAsYaml } from './status/spec-source.js';
import type {
  ActionOutcome,
  ControlPlane,
  DeviceView,
  DevicesView,
  DriftRecord,
  EphemeralCastRequest,
  HealthReport,
  LogLine,
  PlaySpan,
  ShowPageOutcome,
  SpecSourceView,
  SpecStatus,
  StreamFiles,
} from './status/types.js';

export interface ControllerOptions {
  /** Directory of spec files; absent = API-only (ephemeral casts). */
  specsDir?: string;
  stateDir: string;
  components: Components;
  log: Logger;
  /** Label equality, e.g. { site: 'home' }: this instance runs only matching specs. */
  selector?: Record<string, string>;
  /** Periodic full resync, ms (default 5 min). */
  resyncMs?: number;
  /** Watch the specs dir for changes (default true). */
  watch?: boolean;
  /** Default priority of ephemeral casts (above file specs). */
  castPriority?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
  /** Process metrics (RSS, CPU, event-loop lag) on /metrics. */
  processMetrics?: boolean;
  /** Stream fetch stats, from the stream server. */
  fetches?: (streamId: string) => StreamFetchStats[];
  /**
   * Proof of play: how often, while a spec may play, confirmed play is checked and written to
   * <stateDir>/play.jsonl (ms, default 2000; 0 = off).
   */
  playCheckMs?: number;
  /** Recent log lines per spec for the console: a tee on the logger's destination (LogTail.attach). */
  logTail?: LogTail;
  /** How devices() asks mDNS; default: the network's mDNS for 2 s. */
  discover?: () => Promise<DiscoveredDevice[]>;
  /**
   * Which of the selector's specs this instance runs (default: all of them, StaticCoordinator).
   * The controller starts it before its first scan and stops it last, after its own pipelines.
   */
  coordinator?: Coordinator;
}

type CastSnapshot = Parameters<typeof buildStatus>[0]['cast$'];

/** How long a jump to a page may take to show before the API answers with the rotation as it stands. */
const PAGE_SHOWN_WAIT_MS = 2000;

/** mDNS is asked again for devices() when its last answer is older than this. */
const DEVICES_FRESH_MS = 10_000;
/** The proof-of-play file is read again for playSpans() when the last read is older than this. */
const PLAY_SPANS_FRESH_MS = 10_000;
/** A spec file larger than this is not shown (the loader refuses far smaller ones). */
const MAX_SOURCE_BYTES = 1024 * 1024;

/** Why a spec is not meant to play, by the reconciler's assignment (proof of play). */
const NOT_PLAYING: Partial<Record<Role, PlayObservation['off']>> = { suspended: 'Suspended', scheduled: 'Scheduled', preempted: 'Preempted', conflict: 'Preempted' };

export class Controller implements ControlPlane {
  private readonly log: Logger;
  private readonly state: StateDir;
  private readonly files?: SpecFiles;
  private readonly casts: EphemeralCasts;
  readonly streams: StreamRegistry;
  private readonly actors: SpecActors;
  private readonly queue: WorkQueue<ReconcileKey>;
  private readonly world: ReconcileWorld;
  private readonly clock = new TransitionClock();
  /** Desired spec names by device key; rebuilt after a source changes. */
  private byDevice?: Map<string, string[]>;
  private resyncTimer?: NodeJS.Timeout;
  private readonly startedAt: Date;
  private stopped = false;
  private started = false;
  private readonly statusMetrics: StatusMetrics;
  /** 'reconcile failed' per device: logged when it starts, at each backoff step, when it ends. */
  private readonly reconcileWarnings = new Map<string, RepeatedWarning>();
  private readonly play = new PlayTracker();
  private readonly playLog: PlayLogWriter;
  private playTimer?: NodeJS.Timeout;
  private readonly drifts = new DriftHistory();
  private discovery?: { at: number; found: Promise<{ devices: DiscoveredDevice[]; error?: string }> };
  private spans?: { at: number; read: Promise<PlaySpan[]> };
  readonly coordinator: Coordinator;
  /** Other instances' specs, for status; absent with the static coordinator (one box). */
  private readonly site?: SiteStatus;

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log;
    this.coordinator = opts.coordinator ?? new StaticCoordinator();
    if (!(this.coordinator instanceof StaticCoordinator)) this.site = new SiteStatus({ coordinator: this.coordinator, log: opts.log.child({ component: 'site-status' }) });
    // Ownership moved (claimed, lost, fenced): reconcile those specs like any other change.
    this.coordinator.onChange((names) => this.touched(names));
    this.startedAt = this.now();
    this.state = new StateDir({ dir: opts.stateDir, log: opts.log.child({ component: 'state' }) });
    this.casts = new EphemeralCasts({ state: this.state, log: opts.log, priority: opts.castPriority });
    if (opts.specsDir) {
      this.files = new SpecFiles({
        dir: opts.specsDir,
        state: this.state,
        log: opts.log,
        selector: opts.selector,
        env: opts.env,
        watch: opts.watch,
        onChange: (names) => {
          this.coordinator.setCandidates(this.files!.specs.keys());
          this.touched(names);
        },
      });
    }
    this.streams = new StreamRegistry({ components: opts.components, log: opts.log.child({ component: 'streams' }), now: () => this.now().getTime(), onChanged: (holders) => this.changed(holders) });
    this.actors = new SpecActors({
      components: opts.components,
      leases: this.streams,
      log: opts.log,
      now: () => this.now().getTime(),
      onStopped: (_name, device) => this.queue.add(deviceKey(device)),
      onChange: (name) => this.changed([name]),
    });
    this.queue = new WorkQueue<ReconcileKey>(async (key) => (this.stopped ? {} : this.reconcileOnce(key)), {
      idOf: keyId,
      workers: 4,
      onError: (key, err, retry) => this.reconcileWarning(key).failed(retry, { device: key.device, err: err instanceof Error ? err.message : String(err) }),
    });
    this.playLog = new PlayLogWriter({ dir: opts.stateDir, log: opts.log.child({ component: 'play-log' }) });
    this.world = {
      now: () => this.now(),
      desiredOn: (device, now) => this.desiredOn(device, now),
      observeOn: (device, desired) => this.actors.observe(this.observedNames(device, desired)),
      running: this.actors.running,
      execute: (actions) => this.actors.execute(actions),
      expiryOn: (desired) => {
        let min: number | undefined;
        for (const d of desired.values()) {
          // Only casts that run: a file spec of the same name shadows a cast.
          const at = d.ephemeral ? this.casts.specs.get(d.name)?.expiresAt : undefined;
          if (at !== undefined && (min === undefined || at < min)) min = at;
        }
        return min;
      },
    };
    this.statusMetrics = new StatusMetrics({ processMetrics: opts.processMetrics, runningStreams: () => this.streams.size });
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async start(): Promise<void> {
    const snap = await this.state.open();
    for (const p of snap.problems) this.log.warn({ problem: p }, 'state directory');
    const now = this.now().getTime();
    for (const c of snap.casts) await this.casts.admit(c, now).catch((err) => this.log.warn({ cast: c.name, err: String(err) }, 'stored cast dropped'));
    await this.coordinator.start();
    if (this.files) {
      const t0 = performance.now();
      await this.files.start();
      this.log.debug({ specs: this.files.specs.size, ms: Math.round(performance.now() - t0) }, 'initial scan');
      this.coordinator.setCandidates(this.files.specs.keys());
    }
    this.site?.start();
    this.byDevice = undefined;
    this.enqueueAll();
    const resync = this.opts.resyncMs ?? 300_000;
    this.resyncTimer = setInterval(() => {
      this.files?.rescan();
      this.enqueueAll();
    }, resync).unref();
    await this.queue.idle();
    this.started = true;
    this.watchPlay();
  }

  ready(): boolean {
    return this.started && !this.stopped;
  }

  /** Stops every pipeline in order (casts first, then streams) and the watcher. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.queue.stop();
    // Play that ends now ends by this stop, unless something else ended it first.
    this.checkPlay();
    this.stopWatchingPlay();
    await this.playLog.append(this.play.closeAll('Shutdown', this.now().getTime()));
    await this.files?.stop();
    await this.actors.stopAll();
    await this.streams.stopAll();
    // Only now, with our casts stopped, may another instance claim our specs: a STOP of ours
    // reaching a TV after its LOAD would darken it.
    this.site?.stop();
    await this.coordinator.stop().catch((err: unknown) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'coordination did not stop cleanly'));
    await this.state.flush();
  }

  actor(name: string): SpecActor | undefined {
    return this.actors.get(name);
  }

  // ── desired state ─────────────────────────────────────────────────────────────────────────

  /** The spec a name runs: a file's wins over an ephemeral cast of the same name. */
  private desired(name: string): SourcedSpec | undefined {
    return this.files?.specs.get(name) ?? this.casts.specs.get(name);
  }

  private desiredNames(): Set<string> {
    return new Set([...(this.files?.specs.keys() ?? []), ...this.casts.specs.keys()]);
  }

  /**
   * The spec this instance runs under a name: a file spec only while the coordinator says it is
   * ours (an ephemeral cast was asked of this instance, so it is ours).
   */
  private desiredHere(name: string): SourcedSpec | undefined {
    const file = this.files?.specs.get(name);
    if (file) return this.coordinator.owns(name) ? file : undefined;
    return this.casts.specs.get(name);
  }

  private desiredHereNames(): string[] {
    return [...this.desiredNames()].filter((n) => this.desiredHere(n));
  }

  private isSuspended(name: string, g: SourcedSpec): boolean {
    return g.spec.spec.suspend || this.state.isSuspended(name);
  }

  private desiredOn(device: string, now: Date): Map<string, DesiredSpec> {
    const expired = this.casts.expire(now.getTime());
    if (expired.length) this.touched(expired);
    if (!this.byDevice) {
      this.byDevice = new Map();
      for (const name of this.desiredHereNames()) {
        const key = deviceKeyOf(this.desiredHere(name)!.spec.spec.device);
        const list = this.byDevice.get(key);
        if (list) list.push(name);
        else this.byDevice.set(key, [name]);
      }
    }
    const desired = new Map<string, DesiredSpec>();
    for (const name of this.byDevice.get(device) ?? []) {
      const g = this.desiredHere(name);
      if (!g) continue;
      desired.set(name, { name, spec: g.spec, generation: g.generation, suspended: this.isSuspended(name, g), ephemeral: g.ephemeral });
    }
    return desired;
  }

  /** This device's desired specs, and the specs that ran on it and are desired nowhere now. */
  private observedNames(device: string, desired: ReadonlyMap<string, DesiredSpec>): string[] {
    const names = [...desired.keys()];
    for (const name of this.actors.onDevice(device)) if (!desired.has(name) && !this.desiredHere(name)) names.push(name);
    return names;
  }

  /** Sources changed these specs: reconcile the devices they name now and the ones they ran on. */
  private readonly listeners = new Set<(names: string[]) => void>();
  private pendingChanges?: Set<string>;
  /** Tells the subscribers, once per turn of the event loop, which specs may read differently. */
  private changed(names: Iterable<string>): void {
    if (this.stopped) return;
    const first = !this.pendingChanges;
    this.pendingChanges ??= new Set();
    for (const n of names) this.pendingChanges.add(n);
    if (!first) return;
    setImmediate(() => {
      const all = [...(this.pendingChanges ?? [])];
      this.pendingChanges = undefined;
      // The drift history sees every lastDrift, whether or not anyone listens: read from the cast
      // itself, not from a whole status built for each change.
      for (const n of all) {
        const drift = this.streamOf(n).cast$?.context.lastDrift;
        if (drift) this.drifts.observe(n, { ...drift, message: drift.message === undefined ? undefined : redactText(drift.message) });
      }
      if (this.site) this.site.publish(all.filter((n) => this.coordinator.owns(n)).map((n) => this.get(n)!));
      for (const l of [...this.listeners]) {
        try {
          l(all);
        } catch (err) {
          this.log.warn({ err }, 'a status subscriber failed');
        }
      }
    });
  }

  subscribe(listener: (names: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private touched(names: Iterable<string>): void {
    this.changed(names);
    this.byDevice = undefined;
    for (const name of names) {
      const g = this.desired(name);
      if (g) this.queue.add(deviceKey(deviceKeyOf(g.spec.spec.device)));
      const running = this.actors.deviceOf(name);
      if (running) this.queue.add(deviceKey(running));
    }
  }

  private enqueueAll(): void {
    const devices = new Set<string>(this.actors.devices());
    for (const name of this.desiredNames()) devices.add(deviceKeyOf(this.desired(name)!.spec.spec.device));
    for (const d of devices) this.queue.add(deviceKey(d));
  }

  private async reconcileOnce(key: ReconcileKey): Promise<{ requeueAfter?: number }> {
    const result = reconcile(key, this.world);
    this.statusMetrics.countReconcile();
    const id = keyId(key);
    const warning = this.reconcileWarnings.get(id);
    if (warning) {
      warning.recovered('reconcile recovered', { device: key.device });
      this.reconcileWarnings.delete(id);
    }
    // A spec may have started: watch for its play.
    this.watchPlay();
    return result;
  }

  private reconcileWarning(key: ReconcileKey): RepeatedWarning {
    const id = keyId(key);
    let w = this.reconcileWarnings.get(id);
    if (!w) this.reconcileWarnings.set(id, (w = new RepeatedWarning(this.log, 'reconcile failed', () => this.now().getTime())));
    return w;
  }

  // ── proof of play ─────────────────────────────────────────────────────────────────────────
  // A light periodic check, running only while some spec may play (an actor in its active states)
  // or an interval is open; a reconcile starts it again. No fetch is waited on: the stream
  // server's stats are read as they stand.

  private watchPlay(): void {
    if (this.stopped || this.playTimer || this.opts.playCheckMs === 0) return;
    this.playTimer = setInterval(() => this.checkPlay(), this.opts.playCheckMs ?? 2000);
    this.playTimer.unref();
  }

  private stopWatchingPlay(): void {
    clearInterval(this.playTimer);
    this.playTimer = undefined;
  }

  private checkPlay(): void {
    if (this.opts.playCheckMs === 0) return;
    const now = this.now().getTime();
    const fetches = new Map<string, StreamFetchStats[]>();
    const observations: PlayObservation[] = [];
    let mayPlay = false;
    for (const name of new Set([...this.actors.names(), ...this.play.openSpecs()])) {
      const o = this.observePlay(name, fetches);
      if (!o) continue;
      observations.push(o);
      if (o.mayPlay) mayPlay = true;
    }
    void this.playLog.append(this.play.observe(observations, now));
    if (!mayPlay && this.play.openCount === 0) this.stopWatchingPlay();
  }

  /** What a spec's actors hold now, as proof of play needs it; undefined when the spec is gone. */
  private observePlay(name: string, fetches: Map<string, StreamFetchStats[]>): (PlayObservation & { mayPlay: boolean }) | undefined {
    const g = this.desiredHere(name);
    const running = this.actors.running.get(name) ?? g?.spec;
    if (!running) return undefined;
    const device = describeDevice(running.spec.device);
    const spec$ = this.actors.get(name)?.getSnapshot();
    const cast$ = spec$?.children.cast?.getSnapshot() as CastSnapshot;
    const phase = phaseOf(spec$, cast$);
    const role = spec$?.context.assignment.role;
    const off: PlayObservation['off'] = !g ? 'SpecRemoved' : this.isSuspended(name, g) ? 'Suspended' : ((role && NOT_PLAYING[role]) ?? (phase === 'Parked' ? 'Parked' : undefined));
    const c = cast$?.context;
    const streamId = c?.lease.streamId;
    let lastSegmentAt: number | undefined;
    const host = c?.device?.host;
    if (streamId !== undefined && host !== undefined && this.opts.fetches) {
      let list = fetches.get(streamId);
      if (!list) fetches.set(streamId, (list = this.opts.fetches(streamId)));
      const seen = list.find((f) => f.client === host || f.client === `::ffff:${host}`)?.lastSegmentAt;
      const t = seen === undefined ? NaN : Date.parse(seen);
      if (Number.isFinite(t)) lastSegmentAt = t;
    }
    // The newest drift: the device's, or a component of the stream that exited.
    let drift: PlayObservation['drift'];
    const castDrift = c?.lastDrift;
    if (castDrift) drift = { reason: castDrift.reason, at: Date.parse(castDrift.at) };
    const exit = streamId !== undefined ? this.streams.get(streamId)?.actor.getSnapshot().context.lastExit : undefined;
    if (exit && (!drift || Date.parse(exit.at) > drift.at)) drift = { reason: `${exit.component.charAt(0).toUpperCase()}${exit.component.slice(1)}Exited`, at: Date.parse(exit.at) };
    const mayPlay = !!spec$?.matches('active') && phase !== 'Failed' && phase !== 'Stopped';
    return { spec: name, device, phase, playingSince: c?.playingSince, lastSegmentAt, streamId, drift, off, mayPlay };
  }

  // ── ControlPlane ──────────────────────────────────────────────────────────────────────────

  list(): SpecStatus[] {
    return [...this.desiredNames()].sort().map((n) => this.get(n)!);
  }

  /** The stream a spec holds now, if any. */
  private streamOf(name: string) {
    const spec$ = this.actors.get(name)?.getSnapshot();
    const cast$ = spec$?.children.cast?.getSnapshot() as CastSnapshot;
    const lease = cast$?.context.lease ?? spec$?.context.lease;
    return { spec$, cast$, lease, entry: lease ? this.streams.get(lease.streamId) : undefined };
  }

  get(name: string): SpecStatus | undefined {
    const g = this.desired(name);
    if (!g) return undefined;
    if (!this.site) return this.localStatus(name, g);
    // A site of several instances: ours as we see it, another's as its owner last published it.
    const ours = this.desiredHere(name) !== undefined;
    const { owner, status } = ours ? { owner: this.coordinator.instanceId, status: undefined } : this.site.of(name);
    const s = status && owner !== this.coordinator.instanceId ? status : this.localStatus(name, g);
    return this.withCoordination({ ...s, ...(owner ? { owner } : {}) }, ours);
  }

  /** The Coordination condition: True while an instance of the site holds the spec (this one or another), else why not. */
  private withCoordination(s: SpecStatus, ours: boolean): SpecStatus {
    const health = this.coordinator.health();
    const at = this.now().toISOString();
    const c = ours
      ? { type: 'Coordination', status: 'True' as const, reason: 'Owned', message: `owned by ${this.coordinator.instanceId}`, lastTransitionTime: at }
      : health.fenced
        ? { type: 'Coordination', status: 'False' as const, reason: 'Fenced', message: `this instance runs nothing it cannot prove it owns: ${health.reason ?? 'fenced'}`, lastTransitionTime: at }
        : s.owner
          ? { type: 'Coordination', status: 'True' as const, reason: 'OwnedElsewhere', message: `owned by ${s.owner}`, lastTransitionTime: at }
          : { type: 'Coordination', status: 'False' as const, reason: 'Unowned', message: 'no instance of the site holds it now', lastTransitionTime: at };
    return { ...s, conditions: [...s.conditions.filter((x) => x.type !== 'Coordination'), c] };
  }

  private localStatus(name: string, g: SourcedSpec): SpecStatus {
    const { spec$, cast$, lease, entry } = this.streamOf(name);
    return buildStatus(
      {
        name,
        spec: g.spec,
        source: g.source,
        generation: g.generation,
        spec$,
        cast$,
        stream$: entry?.actor.getSnapshot(),
        streamHolders: entry?.holders,
        fetches: lease ? this.opts.fetches?.(lease.streamId) : undefined,
        rotation: entry && lease ? this.streams.rotation(lease.streamId) : undefined,
        error: this.files?.errors.get(name),
        suspended: this.isSuspended(name, g),
      },
      this.clock,
      this.now(),
    );
  }

  suspend(name: string): Promise<boolean> {
    return this.setSuspended(name, true);
  }

  resume(name: string): Promise<boolean> {
    return this.setSuspended(name, false);
  }

  private async setSuspended(name: string, suspended: boolean): Promise<boolean> {
    if (!this.desired(name)) return false;
    await this.state.setSuspended(name, suspended);
    this.touched([name]);
    await this.queue.idle();
    return true;
  }

  async createCast(req: EphemeralCastRequest): Promise<{ name: string; expiresAt?: string }> {
    const created = await this.casts.create(req, this.now().getTime(), (name) => this.files?.specs.get(name)?.source.file);
    this.touched([created.name]);
    await this.queue.idle();
    return created;
  }

  async deleteCast(name: string): Promise<boolean> {
    if (!(await this.casts.delete(name))) return false;
    this.touched([name]);
    await this.queue.idle();
    return true;
  }

  /**
   * Brings page `index` (0-based) of a spec with pages to the front; the browser restarts its turn.
   * Answers once the page shows (or after PAGE_SHOWN_WAIT_MS, with the rotation as it stands).
   * A shared stream switches for every spec casting it.
   */
  async showPage(name: string, index: number): Promise<ShowPageOutcome> {
    const g = this.desired(name);
    if (!g) return { ok: false, reason: 'unknown', message: `no spec named "${name}"` };
    if (!g.spec.spec.pages) return { ok: false, reason: 'no-pages', message: `${name} shows one URL, not pages: nothing to jump to` };
    const elsewhere = this.elsewhere(name);
    if (elsewhere) return { ok: false, reason: 'not-playing', message: `${elsewhere}: no page to jump to here` };
    const { spec$, cast$, lease, entry } = this.streamOf(name);
    const rotation = entry && lease ? this.streams.rotation(lease.streamId) : undefined;
    if (!lease || !entry || !rotation) {
      const phase = phaseOf(spec$, cast$);
      const why = entry ? 'its browser is still starting' : 'its stream is not running';
      return { ok: false, reason: 'not-playing', message: `${name} is not playing (phase ${phase}; ${why}): no page to jump to` };
    }
    const count = rotation.pages.length;
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      return { ok: false, reason: 'range', message: `no page ${index} in ${name}: pages are numbered from 0, so 0 to ${count - 1}` };
    }
    const target = rotation.pages[index]!;
    if (target.state !== 'ready') {
      const what = target.state === 'failed' ? `failed to load: ${redactText(target.error ?? 'unknown error')}` : 'is still loading';
      return { ok: false, reason: 'not-ready', message: `page ${index} of ${name} (${redactUrl(target.url)}) ${what}` };
    }
    const before = { since: rotation.since, report: entry.actor.getSnapshot().context.reports.PageShown };
    const shown = this.streams.showPage(lease.streamId, index);
    if (!shown.ok) return { ok: false, reason: shown.reason, message: redactText(shown.message) };
    this.log.info({ spec: name, page: index }, 'page shown on request');
    return { ok: true, page: pageStatusOf((await this.turnStarted(lease.streamId, index, before)) ?? rotation) };
  }

  /**
   * The stream's rotation once page `index` is on screen with its turn restarted since `before`,
   * or as it stands after PAGE_SHOWN_WAIT_MS. The browser brings the page to the front after
   * showPage answers and reports the switch, which makes the stream emit `changed`; a jump to the
   * page on screen changes only when its turn began.
   */
  private turnStarted(streamId: string, index: number, before: { since?: string; report?: unknown }): Promise<RotationState | undefined> {
    const actor = this.streams.get(streamId)?.actor;
    const started = () => {
      const r = this.streams.rotation(streamId);
      const restarted = r?.since !== before.since || actor?.getSnapshot().context.reports.PageShown !== before.report;
      return r?.showing === index && restarted ? r : undefined;
    };
    const now = started();
    if (now || !actor) return Promise.resolve(now ?? this.streams.rotation(streamId));
    return new Promise((resolve) => {
      const done = (r: RotationState | undefined) => {
        sub.unsubscribe();
        clearTimeout(timer);
        resolve(r);
      };
      const sub = actor.on('changed', () => {
        const r = started();
        if (r) done(r);
      });
      const timer = setTimeout(() => done(this.streams.rotation(streamId)), PAGE_SHOWN_WAIT_MS);
    });
  }

  /** The spec's running stream, or why there is none (an ActionOutcome refusal). */
  private runningStream(name: string, what: string): { streamId: string; spec: SpecActor } | ActionOutcome {
    if (!this.desired(name)) return { ok: false, reason: 'unknown', message: `no spec named "${name}"` };
    const elsewhere = this.elsewhere(name);
    if (elsewhere) return { ok: false, reason: 'not-playing', message: `${elsewhere}: nothing to ${what} here` };
    const { spec$, cast$, lease } = this.streamOf(name);
    const actor = this.actors.get(name);
    if (!lease || !actor) return { ok: false, reason: 'not-playing', message: `${name} is not playing (phase ${phaseOf(spec$, cast$)}): nothing to ${what}` };
    return { streamId: lease.streamId, spec: actor };
  }

  /** Why a spec of this site runs on another instance (or none), for a refused action; undefined when it is ours. */
  private elsewhere(name: string): string | undefined {
    if (!this.site || this.desiredHere(name)) return undefined;
    const owner = this.site.of(name).owner;
    return owner ? `${name} is owned by instance ${owner}` : `${name} is owned by no instance of the site now`;
  }

  async recast(name: string): Promise<ActionOutcome> {
    const s = this.runningStream(name, 're-cast');
    if ('ok' in s) return s;
    s.spec.send({ type: 'RECAST' });
    this.log.info({ spec: name }, 're-cast on request');
    return { ok: true, message: `${name}: the device is given a new LOAD` };
  }

  async reloadPage(name: string): Promise<ActionOutcome> {
    const s = this.runningStream(name, 'reload');
    if ('ok' in s) return s;
    if (!this.streams.reloadPages(s.streamId)) return { ok: false, reason: 'not-playing', message: `${name}: its browser is not running: nothing to reload` };
    this.log.info({ spec: name }, 'page reload on request');
    return { ok: true, message: `${name}: the page is loaded again` };
  }

  async restartStream(name: string): Promise<ActionOutcome> {
    const s = this.runningStream(name, 'restart');
    if ('ok' in s) return s;
    if (!this.streams.restart(s.streamId)) return { ok: false, reason: 'not-playing', message: `${name}: its stream is parked (the device is away): nothing to restart` };
    this.log.info({ spec: name }, 'stream restart on request');
    return { ok: true, message: `${name}: display, browser and encoder restart; the TV keeps its URL` };
  }

  // ── what the console shows beside status ──────────────────────────────────────────────────

  async devices(): Promise<DevicesView> {
    const now = Date.now();
    if (!this.discovery || now - this.discovery.at > DEVICES_FRESH_MS) {
      const ask = this.opts.discover ?? (() => discover({ timeoutMs: 2000 }));
      this.discovery = {
        at: now,
        found: ask().then(
          (devices) => ({ devices }),
          (err: unknown) => ({ devices: [], error: redactText(err instanceof Error ? err.message : String(err)) }),
        ),
      };
    }
    const { at } = this.discovery;
    const { devices, error } = await this.discovery.found;
    return { devices: this.deviceViews(devices), at: new Date(at).toISOString(), ...(error ? { error } : {}) };
  }

  /** The devices mDNS found, then the ones specs name that it did not, each with the specs naming it. */
  private deviceViews(found: readonly DiscoveredDevice[]): DeviceView[] {
    const views: DeviceView[] = found.map((d) => ({
      name: d.name,
      ...(d.model ? { model: d.model } : {}),
      address: `${d.host}:${d.port}`,
      id: d.id,
      discovered: true,
      app: d.runningApp ?? (d.busy ? 'an app' : ''),
      specs: [],
    }));
    const unseen = new Map<string, DeviceView>();
    for (const name of [...this.desiredNames()].sort()) {
      const g = this.desired(name)!;
      const ref = g.spec.spec.device;
      const { spec$, cast$ } = this.streamOf(name);
      const c = cast$?.context;
      const casting = !!c?.conn;
      const entry = { name, phase: phaseOf(spec$, cast$), casting };
      const i = found.findIndex((d) => sameDevice(d, ref, c?.device));
      let view = i >= 0 ? views[i]! : undefined;
      if (!view) {
        const key = c?.device ? `${c.device.host}:${c.device.port}` : deviceKeyOf(ref);
        view = unseen.get(key);
        if (!view) {
          unseen.set(key, (view = { name: c?.device?.name ?? describeDevice(ref), discovered: false, specs: [] }));
          if (c?.device) view.address = `${c.device.host}:${c.device.port}`;
          if (c?.device?.id) view.id = c.device.id;
          if (c?.device?.model) view.model = c.device.model;
        }
      }
      view.specs.push(entry);
      // Our own connection knows best what the device runs now.
      if (casting && c?.conn) {
        const appId = c.conn.receiver().appId;
        const other = c.conn.otherApp();
        if (other) view.app = other.displayName ?? other.appId;
        else if (appId === DEFAULT_MEDIA_RECEIVER) view.app = 'Default Media Receiver';
        else if (appId) view.app = appId;
      }
    }
    return [...views, ...unseen.values()];
  }

  async specSource(name: string): Promise<SpecSourceView | undefined> {
    const g = this.desired(name);
    if (!g) return undefined;
    const error = this.files?.errors.get(name);
    const file = g.ephemeral ? undefined : g.source.file;
    if (!file || !this.opts.specsDir) return { text: specAsYaml({ apiVersion: g.spec.apiVersion, kind: g.spec.kind, metadata: g.spec.metadata, spec: g.spec.spec }), errors: errorsIn(error, undefined) };
    let text: string;
    try {
      const raw = await readFile(join(this.opts.specsDir, file));
      text = raw.length > MAX_SOURCE_BYTES ? `# ${file} is larger than ${MAX_SOURCE_BYTES} bytes: not shown` : raw.toString('utf8');
    } catch (err) {
      text = `# ${file} cannot be read now: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
    }
    return { file, text: redactSpecYaml(text), ...(g.source.line ? { line: g.source.line } : {}), errors: errorsIn(error, file) };
  }

  driftHistory(name: string): DriftRecord[] {
    return this.drifts.of(name);
  }

  logLines(name: string): LogLine[] {
    return this.opts.logTail?.lines(name, this.streamOf(name).lease?.streamId) ?? [];
  }

  streamFiles(name: string): StreamFiles | undefined {
    const { lease, entry } = this.streamOf(name);
    if (!lease || !entry) return undefined;
    const ctx = entry.actor.getSnapshot().context;
    return { streamId: lease.streamId, dir: ctx.dir, mode: ctx.input.mode, width: ctx.input.quality.width, height: ctx.input.quality.height, entry: MASTER_PLAYLIST };
  }

  playSpans(since: number): Promise<PlaySpan[]> {
    const now = Date.now();
    if (!this.spans || now - this.spans.at > PLAY_SPANS_FRESH_MS) {
      this.spans = {
        at: now,
        // A play log that cannot be read or made sense of draws an empty timeline, never a failed page.
        read: readPlayLog(this.opts.stateDir)
          .then((r) => playIntervals(r.records, { now: this.now().getTime(), live: !this.stopped }))
          .catch(() => []),
      };
    }
    return this.spans.read.then((all) => all.filter((s) => s.end >= since));
  }

  health(): HealthReport {
    const all = this.list();
    // The queue's own clock (Date.now): how long its oldest key has waited for a pass.
    const loop = loopLiveness({ now: Date.now(), oldestPendingSince: this.queue.oldestPendingSince() });
    return {
      ok: !this.stopped && loop.ok,
      ...(loop.ok ? {} : { reason: loop.reason }),
      specs: all.length,
      playing: all.filter((s) => s.phase === 'Playing').length,
      failed: all.filter((s) => s.phase === 'Failed').length,
      startedAt: this.startedAt.toISOString(),
    };
  }

  metrics(): Promise<string> {
    return this.statusMetrics.render(this.list(), this.now());
  }
}

/** Whether mDNS's `d` is the device a spec names (`ref`) or its cast resolved (`resolved`). */
function sameDevice(d: DiscoveredDevice, ref: DeviceRef, resolved: { host: string; port: number; id?: string } | undefined): boolean {
  if (resolved) return (resolved.id !== undefined && resolved.id.toLowerCase() === d.id.toLowerCase()) || (resolved.host === d.host && resolved.port === d.port);
  if (typeof ref === 'string') return ref.trim().toLowerCase() === d.name.trim().toLowerCase();
  if ('id' in ref) return ref.id.toLowerCase() === d.id.toLowerCase();
  return ref.host === d.host && ref.port === d.port;
}
