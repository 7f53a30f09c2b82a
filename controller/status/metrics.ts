// The controller's /metrics: gauges recomputed from the status list at scrape time (level-triggered
// like the rest: a removed spec's series simply vanish), plus the one count nothing else keeps,
// reconcile passes. One registry per instance: prom-client's default registry is a module-level
// singleton.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { SpecStatus } from './types.js';

/** How often the event-loop delay histogram takes a sample. */
const EVENT_LOOP_SAMPLE_MS = 1000;

export interface StatusMetricsOptions {
  /** Process metrics (RSS, CPU, event loop lag), collected on scrape. */
  processMetrics?: boolean;
  /** Streams running now (one per distinct render input), read at scrape; no `pagecast_streams` without it. */
  runningStreams?: () => number;
}

export class StatusMetrics {
  private readonly registry = new Registry();
  private readonly reconciles: Counter;
  private readonly specsByPhase: Gauge<'phase'>;
  private readonly phase: Gauge<'spec' | 'phase'>;
  private readonly condition: Gauge<'spec' | 'type' | 'status'>;
  private readonly restarts: Gauge<'spec'>;
  private readonly suspended: Gauge<'spec'>;
  private readonly fps: Gauge<'spec' | 'stream'>;
  private readonly speed: Gauge<'spec' | 'stream'>;
  private readonly dropped: Gauge<'spec' | 'stream'>;
  private readonly bitrate: Gauge<'spec' | 'stream'>;
  private readonly captureFps: Gauge<'spec' | 'stream' | 'path' | 'frames'>;
  private readonly fetchAge: Gauge<'spec'>;

  constructor(opts: StatusMetricsOptions = {}) {
    const registers = [this.registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> => new Gauge({ name, help, labelNames, registers });
    this.specsByPhase = gauge('pagecast_specs', 'Specs by phase', ['phase']);
    this.phase = gauge('pagecast_spec_phase', '1 for the phase each spec is in', ['spec', 'phase']);
    this.condition = gauge('pagecast_spec_condition', '1 for each condition of each spec, by status', ['spec', 'type', 'status']);
    this.restarts = gauge('pagecast_spec_restarts', 'Restarts in the current restart window (resets when the spec changes)', ['spec']);
    this.suspended = gauge('pagecast_spec_suspended', '1 when suspended through the API', ['spec']);
    this.fps = gauge('pagecast_encoder_fps', 'Encoder frames per second, latest sample', ['spec', 'stream']);
    this.speed = gauge('pagecast_encoder_speed', 'Encoder speed relative to real time, latest sample', ['spec', 'stream']);
    this.dropped = gauge('pagecast_encoder_dropped_frames', 'Frames the encoder dropped since it started', ['spec', 'stream']);
    this.bitrate = gauge('pagecast_encoder_bitrate_kbps', 'Encoder output bitrate, latest sample', ['spec', 'stream']);
    this.captureFps = gauge('pagecast_capture_fps', 'Frames per second taken from the display (frames="captured") and encoded (frames="encoded"), by capture path', ['spec', 'stream', 'path', 'frames']);
    this.fetchAge = gauge('pagecast_device_last_fetch_age_seconds', 'Seconds since the device last fetched its stream', ['spec']);
    this.reconciles = new Counter({ name: 'pagecast_reconciles_total', help: 'Reconcile passes (one device each)', registers });
    const runningStreams = opts.runningStreams;
    if (runningStreams) {
      new Gauge({
        name: 'pagecast_streams',
        help: 'Running streams (one per distinct page and quality)',
        registers,
        collect() {
          this.set(runningStreams());
        },
      });
    }
    // The event-loop delay histogram samples on a timer of its own: prom-client's default 10 ms
    // woke the process 100 times a second (200 of its 217 event-loop turns a second with 3 specs
    // playing, by strace), a fifth of the controller's CPU in bench/e2e's first 25 s of play (3 runs
    // each, back to back: 3.2 % → 2.5 % of a core). A sample a second still shows a loop held up.
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'pagecast_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  /** One reconcile pass completed. */
  countReconcile(): void {
    this.reconciles.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Sets every gauge from `specs` (the whole truth, replacing the last scrape's) and renders. */
  async render(specs: SpecStatus[], now: Date = new Date()): Promise<string> {
    this.update(specs, now);
    return this.registry.metrics();
  }

  private update(specs: SpecStatus[], now: Date): void {
    for (const g of [this.specsByPhase, this.phase, this.condition, this.restarts, this.suspended, this.fps, this.speed, this.dropped, this.bitrate, this.captureFps, this.fetchAge]) {
      (g as Gauge<string>).reset();
    }
    const counts = new Map<string, number>();
    for (const s of specs) {
      counts.set(s.phase, (counts.get(s.phase) ?? 0) + 1);
      this.phase.set({ spec: s.name, phase: s.phase }, 1);
      for (const c of s.conditions) this.condition.set({ spec: s.name, type: c.type, status: c.status }, 1);
      this.restarts.set({ spec: s.name }, s.restarts);
      this.suspended.set({ spec: s.name }, s.suspended ? 1 : 0);
      const f = s.stream?.figures;
      if (f && s.stream) {
        const labels = { spec: s.name, stream: s.stream.id };
        this.fps.set(labels, f.fps);
        this.speed.set(labels, f.speed);
        this.dropped.set(labels, f.droppedFrames);
        this.bitrate.set(labels, f.bitrateKbps);
        if (f.capture) {
          this.captureFps.set({ ...labels, path: f.capture.path, frames: 'captured' }, f.capture.capturedFps);
          this.captureFps.set({ ...labels, path: f.capture.path, frames: 'encoded' }, f.capture.encodedFps);
        }
      }
      const fetched = [s.deviceLastFetch?.playlist, s.deviceLastFetch?.segment].map((t) => (t ? Date.parse(t) : NaN)).filter((t) => !Number.isNaN(t));
      if (fetched.length) this.fetchAge.set({ spec: s.name }, Math.max(0, (now.getTime() - Math.max(...fetched)) / 1000));
    }
    for (const [phase, n] of counts) this.specsByPhase.set({ phase }, n);
  }
}
