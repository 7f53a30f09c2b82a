// A small in-memory ControlPlane for the API tests: records calls, validates like the real one would.
import { PagecastError } from '../../../machines/errors.js';
import type {
  ActionOutcome,
  ControlPlane,
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
} from '../../../controller/status/types.js';

export function specStatus(name: string, over: Partial<SpecStatus> = {}): SpecStatus {
  return {
    name,
    source: { file: `${name}.yaml`, line: 3, column: 1 },
    device: 'Kitchen TV',
    url: 'https://ha.example/lovelace/kitchen?[redacted]',
    priority: 0,
    phase: 'Playing',
    conditions: [{ type: 'Valid', status: 'True', reason: 'Parsed', message: '', lastTransitionTime: '2025-01-01T10:00:00.000Z' }],
    restarts: 0,
    suspended: false,
    generation: 'abc123',
    ...over,
  };
}

export class FakeControl implements ControlPlane {
  specs = new Map<string, SpecStatus>([['kitchen', specStatus('kitchen')]]);
  casts = new Set<string>();
  calls: string[] = [];
  healthy = true;
  isReady = true;
  lastCast: EphemeralCastRequest | undefined;
  /** Field errors the next createCast answers with, as the real control plane would. */
  invalid: string[] | undefined;

  list(): SpecStatus[] {
    return [...this.specs.values()];
  }
  get(name: string): SpecStatus | undefined {
    return this.specs.get(name);
  }
  async suspend(name: string): Promise<boolean> {
    this.calls.push(`suspend ${name}`);
    const s = this.specs.get(name);
    if (!s) return false;
    s.suspended = true;
    return true;
  }
  async resume(name: string): Promise<boolean> {
    this.calls.push(`resume ${name}`);
    const s = this.specs.get(name);
    if (!s) return false;
    s.suspended = false;
    return true;
  }
  async createCast(req: EphemeralCastRequest): Promise<{ name: string; expiresAt?: string }> {
    this.calls.push('createCast');
    this.lastCast = req;
    const errors: string[] = [...(this.invalid ?? [])];
    if (typeof req.url !== 'string' || !/^(https?|file):/.test(req.url)) errors.push('body.url: expected an http, https or file URL');
    if (req.device === undefined) errors.push('body.device: expected a device name or {host, port}');
    if (errors.length) throw new PagecastError('SPEC_INVALID', errors.join('\n'));
    if (req.url.includes('boom')) throw new Error(`internal failure at ${req.url}`);
    const name = req.name ?? `cast-${this.casts.size + 1}`;
    this.casts.add(name);
    this.specs.set(name, specStatus(name, { source: { ephemeral: true }, priority: 100 }));
    return req.duration ? { name, expiresAt: '2025-01-01T10:10:00.000Z' } : { name };
  }
  async deleteCast(name: string): Promise<boolean> {
    this.calls.push(`deleteCast ${name}`);
    if (!this.casts.delete(name)) return false;
    this.specs.delete(name);
    return true;
  }
  /** A spec with `page` in its status rotates; a jump moves it there (the real one is tested with the controller). */
  async showPage(name: string, index: number): Promise<ShowPageOutcome> {
    this.calls.push(`showPage ${name} ${index}`);
    const s = this.specs.get(name);
    if (!s) return { ok: false, reason: 'unknown', message: `no spec named "${name}"` };
    if (!s.page) return { ok: false, reason: 'no-pages', message: `${name} shows one URL, not pages: nothing to jump to` };
    if (index < 0 || index >= s.page.count) return { ok: false, reason: 'range', message: `no page ${index} in ${name}: pages are numbered from 0, so 0 to ${s.page.count - 1}` };
    s.page = { ...s.page, index, since: '2025-01-01T10:00:00.000Z' };
    return { ok: true, page: s.page };
  }
  /** Each action answers ok for a known spec and records the call. */
  private act(what: string, name: string): Promise<ActionOutcome> {
    this.calls.push(`${what} ${name}`);
    return Promise.resolve(this.specs.has(name) ? { ok: true, message: `${what} ${name}` } : { ok: false, reason: 'unknown', message: `no spec named "${name}"` });
  }
  recast(name: string): Promise<ActionOutcome> {
    return this.act('recast', name);
  }
  reloadPage(name: string): Promise<ActionOutcome> {
    return this.act('reloadPage', name);
  }
  restartStream(name: string): Promise<ActionOutcome> {
    return this.act('restartStream', name);
  }
  readonly listeners = new Set<(names: string[]) => void>();
  subscribe(listener: (names: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  /** Test hook: tell the subscribers these specs changed. */
  changed(...names: string[]): void {
    for (const l of this.listeners) l(names);
  }
  ready(): boolean {
    return this.isReady;
  }

  // What the console shows beside status: set by a test, answered as set.
  devicesView: DevicesView = {
    devices: [{ name: 'Kitchen TV', model: 'Chromecast', address: '192.168.1.20:8009', id: 'a'.repeat(32), discovered: true, app: 'Default Media Receiver', specs: [{ name: 'kitchen', phase: 'Playing', casting: true }] }],
    at: '2025-01-01T10:00:00.000Z',
  };
  sources = new Map<string, SpecSourceView>();
  drifts = new Map<string, DriftRecord[]>();
  logs = new Map<string, LogLine[]>();
  streams = new Map<string, StreamFiles>();
  spans: PlaySpan[] = [];
  async devices(): Promise<DevicesView> {
    this.calls.push('devices');
    return this.devicesView;
  }
  async specSource(name: string): Promise<SpecSourceView | undefined> {
    if (!this.specs.has(name)) return undefined;
    return this.sources.get(name) ?? { file: `${name}.yaml`, text: `apiVersion: pagecast/v1\nkind: CastSpec\nmetadata:\n  name: ${name}\n`, line: 1, errors: [] };
  }
  driftHistory(name: string): DriftRecord[] {
    return this.drifts.get(name) ?? [];
  }
  logLines(name: string): LogLine[] {
    return this.logs.get(name) ?? [];
  }
  streamFiles(name: string): StreamFiles | undefined {
    return this.streams.get(name);
  }
  async playSpans(since: number): Promise<PlaySpan[]> {
    return this.spans.filter((s) => s.end >= since);
  }

  health(): HealthReport {
    return { ok: this.healthy, specs: this.specs.size, playing: 1, failed: this.healthy ? 0 : 1, startedAt: '2025-01-01T09:00:00.000Z' };
  }
  async metrics(): Promise<string> {
    return '# HELP pagecast_specs Specs known\n# TYPE pagecast_specs gauge\npagecast_specs 1\n';
  }
}
