// The controller: desired state from spec files, the state directory and the API; a work queue;
// plan() on the whole world; an executor that turns actions into events for the spec actors.
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { relative, resolve as resolvePath } from 'node:path';
import { createActor, type Actor } from 'xstate';
import { Registry, Gauge, Counter } from 'prom-client';
import { CastSpecSchema, type CastSpec } from '../specs/schema.js';
import { listSpecFiles, loadSpecFile, type Diagnostic } from '../specs/load.js';
import { formatDiagnostic } from '../specs/diagnostics.js';
import { resolveStorageState, resolveUrl } from '../specs/resolve.js';
import { parseDuration } from '../specs/duration.js';
import type { Components } from '../machines/components.js';
import { specMachine } from '../machines/spec-machine.js';
import { stopAndWait } from '../machines/teardown.js';
import { generationOf } from '../specs/identity.js';
import { plan, type DesiredSpec, type ObservedSpec } from './reconcile/plan.js';
import { WorkQueue } from './reconcile/queue.js';
import { StreamRegistry } from './reconcile/stream-registry.js';
import { StateDir, type StoredCast } from './sources/state-dir.js';
import { buildStatus, phaseOf, TransitionClock } from './status/status.js';
import { PagecastError } from '../machines/errors.js';
import type { Logger } from '../machines/log.js';
import type { ControlPlane, EphemeralCastRequest, HealthReport, SpecSource, SpecStatus } from './status/types.js';

type SpecActor = Actor<typeof specMachine>;

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
  /** Stream fetch stats, from the stream server. */
  fetches?: (streamId: string) => import('../machines/components.js').StreamFetchStats[];
}

interface FileState {
  contentKey: string;
  names: string[]; // names of good specs from this file
  diagnostics: Diagnostic[];
}

interface GoodSpec {
  spec: CastSpec; // url resolved
  source: SpecSource;
  generation: string;
  ephemeral: boolean;
  expiresAt?: number;
}

const ALL = 'all';
const SCAN = 'scan';

export class Controller implements ControlPlane {
  private readonly log: Logger;
  private readonly queue: WorkQueue<string>;
  readonly streams: StreamRegistry;
  private readonly state: StateDir;
  private readonly files = new Map<string, FileState>();
  /** The spec version each name runs (file specs, last good versions and ephemeral casts). */
  private readonly good = new Map<string, GoodSpec>();
  /** A spec file's current error, by spec name, while its last good version keeps running. */
  private readonly errors = new Map<string, string>();
  private readonly actors = new Map<string, SpecActor>();
  private readonly running = new Map<string, CastSpec>();
  private readonly clock = new TransitionClock();
  private watcher?: { close(): Promise<void> };
  private resyncTimer?: NodeJS.Timeout;
  private readonly startedAt = new Date();
  private stopped = false;
  /** While the first scan runs, file loads do not each ask for a whole-world reconcile. */
  private initializing = false;
  private readonly metricsRegistry = new Registry();
  private readonly reconciles: Counter;
  /** Resolves after each completed reconcile of the whole world (for tests and benches). */
  private reconcileListeners: Array<() => void> = [];

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log;
    this.queue = new WorkQueue<string>((key) => this.reconcileKey(key), {
      workers: 4,
      onError: (key, err, retry) =>
        this.log.warn({ key, err: err instanceof Error ? err.message : String(err), retryInMs: retry }, 'reconcile failed'),
    });
    this.streams = new StreamRegistry({ components: opts.components, log: opts.log.child({ component: 'streams' }) });
    this.state = new StateDir({ dir: opts.stateDir, log: opts.log.child({ component: 'state' }) });
    this.reconciles = new Counter({ name: 'pagecast_reconciles_total', help: 'Whole-world reconcile passes', registers: [this.metricsRegistry] });
    const self = this;
    new Gauge({
      name: 'pagecast_specs',
      help: 'Specs by phase',
      labelNames: ['phase'],
      registers: [this.metricsRegistry],
      collect() {
        this.reset();
        for (const s of self.list()) this.inc({ phase: s.phase });
      },
    });
    new Gauge({
      name: 'pagecast_streams',
      help: 'Running streams (one per distinct page and quality)',
      registers: [this.metricsRegistry],
      collect() {
        this.set(self.streams.size);
      },
    });
    new Gauge({
      name: 'pagecast_restarts',
      help: 'Restarts per spec',
      labelNames: ['spec'],
      registers: [this.metricsRegistry],
      collect() {
        this.reset();
        for (const s of self.list()) this.set({ spec: s.name }, s.restarts);
      },
    });
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async start(): Promise<void> {
    const snap = await this.state.open();
    for (const p of snap.problems) this.log.warn({ problem: p }, 'state directory');
    const now = this.now().getTime();
    for (const c of snap.casts) await this.admitCast(c, now).catch((err) => this.log.warn({ cast: c.name, err: String(err) }, 'stored cast dropped'));
    // The watcher's initial crawl runs alongside the first scan and reconcile: convergence does
    // not wait for it, only start()'s return does (so no later edit can be missed).
    const watching = this.opts.specsDir && this.opts.watch !== false ? this.watch() : Promise.resolve();
    if (this.opts.specsDir) {
      this.initializing = true;
      const t0 = performance.now();
      await this.scan();
      this.initializing = false;
      this.log.debug({ files: this.files.size, ms: Math.round(performance.now() - t0) }, 'initial scan');
    }
    this.queue.add(ALL);
    await watching;
    const resync = this.opts.resyncMs ?? 300_000;
    this.resyncTimer = setInterval(() => {
      if (this.opts.specsDir) this.queue.add(SCAN);
      this.queue.add(ALL);
    }, resync).unref();
    await this.queue.idle();
  }

  /** Stops every pipeline in order (casts first, then streams) and the watcher. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.queue.stop();
    await this.watcher?.close();
    await Promise.all([...this.actors.keys()].map((name) => this.stopActor(name)));
    await this.streams.stopAll();
    await this.state.flush();
  }

  /** Resolves when queued work is done (file loads and reconciles). */
  async settled(): Promise<void> {
    await this.queue.idle();
  }

  /** Resolves after the next whole-world reconcile completes. */
  nextReconcile(): Promise<void> {
    return new Promise((resolve) => this.reconcileListeners.push(resolve));
  }

  actor(name: string): SpecActor | undefined {
    return this.actors.get(name);
  }

  // ── files ──────────────────────────────────────────────────────────────────────────────────

  private async watch(): Promise<void> {
    const { watch } = await import('chokidar');
    const dir = this.opts.specsDir!;
    const w = watch(dir, {
      ignoreInitial: true,
      followSymlinks: true,
      atomic: true,
      awaitWriteFinish: false,
      // Dot entries are editors' temp files and ConfigMap internals; their swaps reach us as a scan.
      ignored: (p: string) => {
        const rel = relative(dir, p);
        return rel !== '' && rel.split('/').some((part) => part.startsWith('.') && part !== '..data');
      },
    });
    const onFile = (p: string) => {
      if (/\.ya?ml$/i.test(p) && !relative(dir, p).split('/').some((x) => x.startsWith('.'))) {
        this.queue.add(`file:${p}`);
        // File events can coalesce (two saves in one watcher tick): look once more a little later.
        this.queue.addAfter(`file:${p}`, 300);
      } else this.queue.add(SCAN);
    };
    w.on('add', onFile).on('change', onFile).on('unlink', onFile);
    w.on('addDir', () => this.queue.add(SCAN)).on('unlinkDir', () => this.queue.add(SCAN));
    w.on('error', (err) => this.log.warn({ err: String(err) }, 'watcher error'));
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
    this.watcher = w;
  }

  /** Lists spec files (following symlinks, skipping dot entries) and reloads what changed. */
  private async scan(): Promise<void> {
    const found = new Set(await listSpecFiles(this.opts.specsDir!));
    for (const f of this.files.keys()) if (!found.has(f)) await this.loadFile(f);
    await Promise.all([...found].map((f) => this.loadFile(f)));
  }

  private async loadFile(path: string): Promise<void> {
    const exists = await stat(path).then((s) => s.isFile(), () => false);
    const prev = this.files.get(path);
    if (!exists) {
      if (!prev) return;
      this.files.delete(path);
      for (const name of prev.names) this.dropFileSpec(name, path);
      this.queue.add(ALL);
      return;
    }
    const result = await loadSpecFile(path);
    const relFile = this.displayPath(path);
    const diagnostics = result.diagnostics.map((d) => ({ ...d, file: relFile }));
    const contentKey = result.specs.map((s) => `${s.spec.metadata.name}:${s.hash}`).join('|') + `#${diagnostics.map(formatDiagnostic).join('|')}`;
    if (prev && prev.contentKey === contentKey && !this.hasUrlFromErrors(prev)) return;

    const names: string[] = [];
    const newErrors = new Map<string, string>();
    for (const loaded of result.specs) {
      if (!this.selected(loaded.spec)) continue;
      const name = loaded.spec.metadata.name;
      const owner = this.good.get(name);
      if (owner && !owner.ephemeral && owner.source.file !== relFile && this.files.get(this.absPath(owner.source.file))?.names.includes(name)) {
        newErrors.set(name, `${relFile}:${loaded.line}:${loaded.column} metadata.name: ${name} is also used at ${owner.source.file}:${owner.source.line}:${owner.source.column}`);
        continue;
      }
      const url = await resolveUrl(loaded.spec, path, this.opts.env ?? process.env);
      const storage = await resolveStorageState(loaded.spec, path);
      if (url.error || storage.error) {
        const problem = (url.error ?? storage.error)!;
        newErrors.set(name, `${relFile}:${loaded.line}:${loaded.column} ${problem.path}: ${problem.message}`);
        if (this.good.has(name)) names.push(name);
        continue;
      }
      const spec: CastSpec = {
        ...loaded.spec,
        spec: { ...loaded.spec.spec, url: url.url!, browser: { ...loaded.spec.spec.browser, storageState: storage.path } },
      };
      names.push(name);
      this.errors.delete(name);
      const generation = generationOf(spec);
      this.good.set(name, { spec, source: { file: relFile, line: loaded.line, column: loaded.column }, generation, ephemeral: false });
      void this.state.saveLastGood(name, { file: relFile, line: loaded.line, column: loaded.column, hash: generation, spec: loaded.spec });
    }
    // A spec whose document is now invalid keeps its last good version, with the error shown.
    // On the first load after a restart, the last good versions come from the state directory.
    const invalid = new Set(result.invalidNames);
    const unreadable = diagnostics.length > 0 && result.specs.length === 0 && invalid.size === 0;
    const before = prev?.names ?? (diagnostics.length ? await this.restoreLastGood(relFile, path) : []);
    for (const name of before) {
      if (names.includes(name)) continue;
      const keep = invalid.has(name) || unreadable || diagnostics.some((d) => d.spec === name);
      if (keep && this.good.has(name)) {
        names.push(name);
        const ds = diagnostics.filter((d) => d.spec === name || d.spec === undefined);
        newErrors.set(name, (ds.length ? ds : diagnostics).map(formatDiagnostic).join('\n'));
      } else {
        this.dropFileSpec(name, relFile);
      }
    }
    // Invalid documents naming a spec we have never run: report it (no actor to attach to).
    for (const d of diagnostics) this.log.warn({ file: relFile }, formatDiagnostic(d));
    for (const [name, msg] of newErrors) this.errors.set(name, msg);
    this.files.set(path, { contentKey, names, diagnostics });
    this.queue.forget(`file:${path}`);
    if (!this.initializing) this.queue.add(ALL);
  }

  /** Brings back, from the state directory, the last good specs a file held before a restart. */
  private async restoreLastGood(relFile: string, path: string): Promise<string[]> {
    const names: string[] = [];
    for (const [name, entry] of Object.entries(this.state.snapshot().lastGood)) {
      if (entry.file !== relFile || this.good.has(name)) continue;
      const spec = entry.spec as CastSpec;
      if (!spec?.spec || !this.selected(spec)) continue;
      const url = await resolveUrl(spec, path, this.opts.env ?? process.env);
      const storage = await resolveStorageState(spec, path);
      if (url.error || storage.error) continue;
      const resolved: CastSpec = { ...spec, spec: { ...spec.spec, url: url.url!, browser: { ...spec.spec.browser, storageState: storage.path } } };
      this.good.set(name, { spec: resolved, source: { file: relFile, line: entry.line, column: entry.column }, generation: generationOf(resolved), ephemeral: false });
      this.log.info({ spec: name, file: relFile }, 'file is invalid: running the last good version from the state directory');
      names.push(name);
    }
    return names;
  }

  private hasUrlFromErrors(f: FileState): boolean {
    return f.names.some((n) => /spec\.(urlFrom|browser\.storageState)/.test(this.errors.get(n) ?? ''));
  }

  private dropFileSpec(name: string, file: string): void {
    const g = this.good.get(name);
    if (!g || g.ephemeral) return;
    if (g.source.file !== this.displayPath(file) && g.source.file !== file) return;
    this.good.delete(name);
    this.errors.delete(name);
    void this.state.dropLastGood(name);
  }

  private selected(spec: CastSpec): boolean {
    const sel = this.opts.selector;
    if (!sel) return true;
    return Object.entries(sel).every(([k, v]) => spec.metadata.labels[k] === v);
  }

  private displayPath(path: string): string {
    return this.opts.specsDir ? relative(this.opts.specsDir, path) || path : path;
  }

  private absPath(file: string | undefined): string {
    return this.opts.specsDir && file ? resolvePath(this.opts.specsDir, file) : (file ?? '');
  }

  // ── reconcile ──────────────────────────────────────────────────────────────────────────────

  private async reconcileKey(key: string): Promise<{ requeueAfter?: number } | void> {
    if (this.stopped) return;
    if (key === SCAN) return void (await this.scan());
    if (key.startsWith('file:')) return void (await this.loadFile(key.slice(5)));
    return this.reconcileAll();
  }

  private async reconcileAll(): Promise<{ requeueAfter?: number } | void> {
    const now = this.now();
    this.expireCasts(now.getTime());
    const desired = new Map<string, DesiredSpec>();
    for (const [name, g] of this.good) {
      desired.set(name, {
        name,
        spec: g.spec,
        generation: g.generation,
        suspended: g.spec.spec.suspend || this.state.isSuspended(name),
        ephemeral: g.ephemeral,
      });
    }
    const observed = new Map<string, ObservedSpec>();
    for (const [name, actor] of this.actors) {
      const snap = actor.getSnapshot();
      const cast = snap.children.cast?.getSnapshot() as import('xstate').SnapshotFrom<typeof import('../machines/cast-machine.js').castMachine> | undefined;
      const phase = phaseOf(snap, cast);
      observed.set(name, {
        name,
        generation: snap.context.generation,
        assignment: snap.context.assignment,
        holdsDevice: snap.matches('active') && phase !== 'Failed' && phase !== 'Stopped',
        failed: phase === 'Failed',
      });
    }
    const p = plan(desired, observed, now, this.running);
    const stops: Promise<void>[] = [];
    for (const a of p.actions) {
      switch (a.type) {
        case 'stop':
          stops.push(this.stopActor(a.name));
          break;
        case 'start': {
          const actor = createActor(specMachine, {
            input: {
              name: a.name,
              spec: a.desired.spec,
              generation: a.desired.generation,
              assignment: a.assignment,
              components: this.opts.components,
              leases: this.streams,
              log: this.log.child({ spec: a.name }),
              now: () => Date.now(),
            },
          });
          this.actors.set(a.name, actor);
          this.running.set(a.name, a.desired.spec);
          actor.start();
          break;
        }
        case 'update':
          this.actors.get(a.name)!.send({ type: 'UPDATE', spec: a.desired.spec, generation: a.desired.generation, assignment: a.assignment, changes: a.changes });
          this.running.set(a.name, a.desired.spec);
          break;
        case 'assign':
          this.actors.get(a.name)!.send({ type: 'ASSIGN', assignment: a.assignment });
          break;
      }
    }
    // Stops are awaited in the background: a slow device must not hold up the others.
    if (stops.length) void Promise.all(stops).then(() => this.queue.add(ALL));
    this.reconciles.inc();
    for (const l of this.reconcileListeners.splice(0)) l();
    const wakes = [p.wakeAt?.getTime(), this.nextCastExpiry()].filter((x): x is number => x !== undefined);
    if (wakes.length) return { requeueAfter: Math.max(0, Math.min(...wakes) - now.getTime()) + 5 };
  }

  private async stopActor(name: string): Promise<void> {
    const actor = this.actors.get(name);
    if (!actor) return;
    await stopAndWait(actor);
    actor.stop();
    if (this.actors.get(name) === actor) {
      this.actors.delete(name);
      this.running.delete(name);
      this.clock.forget(name);
    }
  }

  // ── ephemeral casts ───────────────────────────────────────────────────────────────────────

  private async admitCast(c: StoredCast, now: number): Promise<void> {
    const expiresAt = c.expiresAt ? Date.parse(c.expiresAt) : undefined;
    if (expiresAt !== undefined && expiresAt <= now) {
      await this.state.deleteCast(c.name);
      return;
    }
    const spec = castRequestToSpec(c.name, c.request, this.opts.castPriority ?? 100);
    this.good.set(c.name, { spec, source: { ephemeral: true, expiresAt: c.expiresAt }, generation: generationOf(spec), ephemeral: true, expiresAt });
  }

  private expireCasts(now: number): void {
    for (const [name, g] of this.good) {
      if (g.ephemeral && g.expiresAt !== undefined && g.expiresAt <= now) {
        this.good.delete(name);
        void this.state.deleteCast(name);
        this.log.info({ spec: name }, 'ephemeral cast expired');
      }
    }
  }

  private nextCastExpiry(): number | undefined {
    let min: number | undefined;
    for (const g of this.good.values()) if (g.ephemeral && g.expiresAt !== undefined && (min === undefined || g.expiresAt < min)) min = g.expiresAt;
    return min;
  }

  // ── ControlPlane ──────────────────────────────────────────────────────────────────────────

  list(): SpecStatus[] {
    return [...this.good.keys()].sort().map((n) => this.get(n)!);
  }

  get(name: string): SpecStatus | undefined {
    const g = this.good.get(name);
    if (!g) return undefined;
    const actor = this.actors.get(name);
    const spec$ = actor?.getSnapshot();
    const cast$ = spec$?.children.cast?.getSnapshot() as Parameters<typeof buildStatus>[0]['cast$'];
    const lease = cast$?.context.lease ?? spec$?.context.lease;
    const entry = lease ? this.streams.get(lease.streamId) : undefined;
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
        error: this.errors.get(name),
        suspended: g.spec.spec.suspend || this.state.isSuspended(name),
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
    if (!this.good.has(name)) return false;
    await this.state.setSuspended(name, suspended);
    this.queue.add(ALL);
    await this.queue.idle();
    return true;
  }

  async createCast(req: EphemeralCastRequest): Promise<{ name: string; expiresAt?: string }> {
    const name = typeof req.name === 'string' && req.name ? req.name : `cast-${randomBytes(3).toString('hex')}`;
    if (this.good.has(name) && !this.good.get(name)!.ephemeral) {
      throw new PagecastError('SPEC_INVALID', `body.name: ${name} is already a spec from ${this.good.get(name)!.source.file}`);
    }
    let expiresAt: string | undefined;
    if (req.duration !== undefined) {
      const ms = typeof req.duration === 'string' ? parseDuration(req.duration) : undefined;
      if (ms === undefined || ms <= 0) throw new PagecastError('SPEC_INVALID', `body.duration: expected a duration like 30s, 10m or 1h`);
      expiresAt = new Date(this.now().getTime() + ms).toISOString();
    }
    castRequestToSpec(name, req, this.opts.castPriority ?? 100); // validates; throws SPEC_INVALID
    const stored: StoredCast = { name, request: { ...req, name }, createdAt: this.now().toISOString(), expiresAt };
    await this.state.putCast(stored);
    await this.admitCast(stored, this.now().getTime());
    this.queue.add(ALL);
    await this.queue.idle();
    return { name, expiresAt };
  }

  async deleteCast(name: string): Promise<boolean> {
    const g = this.good.get(name);
    if (!g?.ephemeral) return false;
    this.good.delete(name);
    await this.state.deleteCast(name);
    this.queue.add(ALL);
    await this.queue.idle();
    return true;
  }

  health(): HealthReport {
    const all = this.list();
    return {
      ok: !this.stopped,
      specs: all.length,
      playing: all.filter((s) => s.phase === 'Playing').length,
      failed: all.filter((s) => s.phase === 'Failed').length,
      startedAt: this.startedAt.toISOString(),
    };
  }

  metrics(): Promise<string> {
    return this.metricsRegistry.metrics();
  }
}

/** Builds and validates the spec behind an API cast; field errors are named `body.<field>`. */
export function castRequestToSpec(name: string, req: EphemeralCastRequest, defaultPriority: number): CastSpec {
  const input = {
    apiVersion: 'pagecast/v1',
    kind: 'CastSpec',
    metadata: { name, labels: { 'pagecast/ephemeral': 'true' } },
    spec: {
      device: req.device,
      url: req.url,
      ...(req.quality !== undefined ? { quality: req.quality } : {}),
      ...(req.mode !== undefined ? { mode: req.mode } : {}),
      priority: req.priority ?? defaultPriority,
      policy: { onOtherApp: 'takeover' },
    },
  };
  const r = CastSpecSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const path = i.path.map(String);
      const field = path[0] === 'spec' ? ['body', ...path.slice(1)] : path[0] === 'metadata' ? ['body', 'name'] : ['body', ...path];
      return `${field.join('.')}: ${i.message}`;
    });
    throw new PagecastError('SPEC_INVALID', lines.join('\n'));
  }
  return r.data;
}
