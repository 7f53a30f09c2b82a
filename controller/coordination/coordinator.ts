// Who runs which spec. The controller asks a Coordinator before it starts a pipeline and stops any
// pipeline whose spec it no longer owns. `StaticCoordinator` (the default) owns every spec the
// selector matches, as a single box always has; `EtcdCoordinator` shares a site's specs between
// instances on etcd leases.
import type { WillRequest } from '../../machines/processes/dead-man-rules.js';

export interface CoordinationHealth {
  /** True when this instance cannot prove it owns anything (etcd unreachable, quorum lost, lease gone). */
  fenced: boolean;
  /** Why, for a `Coordination` condition and the log. */
  reason?: string;
}

export interface SiteSpecStatus {
  name: string;
  /** The instance that owns it; absent when nobody does (or its key could not be read). */
  owner?: string;
  /** When the owner last published its status (ISO time). */
  at?: string;
  /** The status as the owner published it (the controller's own shape: check it before use). */
  status?: unknown;
  /** A value that could not be read, naming its key. */
  error?: string;
}

export interface Coordinator {
  /** This instance's id in the site. */
  readonly instanceId: string;
  start(): Promise<void>;
  /** Releases every claim at once, so that another instance takes over without waiting for a TTL. */
  stop(): Promise<void>;
  /** The specs this instance may run (its selector's matches), each time they change. */
  setCandidates(names: Iterable<string>): void;
  /** True only while this instance holds the spec under its current lease and is not fenced. */
  owns(name: string): boolean;
  /** The instance that owns `name` as last seen, for status. */
  ownerOf(name: string): string | undefined;
  /** `owns()` changed for these names: reconcile them. Returns the unsubscribe. */
  onChange(listener: (names: string[]) => void): () => void;
  health(): CoordinationHealth;
  /** Publishes a spec's status for the whole site, only while we own it. Resolves false when not written. */
  publishStatus(name: string, status: unknown): Promise<boolean>;
  /** Every spec of the site, with its owner and published status. */
  siteStatus(): Promise<SiteSpecStatus[]>;
  /**
   * Requests that end this instance's claims at once, for whoever outlives a crash of it (the
   * dead-man switch): told again whenever they change (a new lease), and [] once there is nothing
   * to end. Absent when there is nothing to end (static).
   */
  onLastWill?(listener: (requests: LastWillRequest[]) => void): () => void;
}

/** An HTTP POST, one of several alternatives (see Coordinator.onLastWill): what the dead-man switch makes. */
export type LastWillRequest = WillRequest;

/** Listeners and change detection shared by the implementations. */
export class OwnershipListeners {
  private readonly listeners = new Set<(names: string[]) => void>();
  private reported = new Set<string>();

  add(listener: (names: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells listeners which names differ between `owned` and what they were last told; returns them. */
  update(owned: ReadonlySet<string>): string[] {
    const changed = [...owned].filter((n) => !this.reported.has(n));
    for (const n of this.reported) if (!owned.has(n)) changed.push(n);
    this.reported = new Set(owned);
    if (changed.length === 0) return changed;
    changed.sort();
    for (const l of [...this.listeners]) l(changed);
    return changed;
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** Every candidate is ours: one box, or sites split by selector alone. */
export class StaticCoordinator implements Coordinator {
  private candidates = new Set<string>();
  private readonly statuses = new Map<string, { at: string; status: unknown }>();
  private readonly listeners = new OwnershipListeners();

  constructor(readonly instanceId = 'local') {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.candidates = new Set();
    this.statuses.clear();
    this.listeners.update(this.candidates);
    this.listeners.clear();
  }

  setCandidates(names: Iterable<string>): void {
    this.candidates = new Set(names);
    for (const n of this.statuses.keys()) if (!this.candidates.has(n)) this.statuses.delete(n);
    this.listeners.update(this.candidates);
  }

  owns(name: string): boolean {
    return this.candidates.has(name);
  }

  ownerOf(name: string): string | undefined {
    return this.candidates.has(name) ? this.instanceId : undefined;
  }

  onChange(listener: (names: string[]) => void): () => void {
    return this.listeners.add(listener);
  }

  health(): CoordinationHealth {
    return { fenced: false };
  }

  async publishStatus(name: string, status: unknown): Promise<boolean> {
    if (!this.candidates.has(name)) return false;
    this.statuses.set(name, { at: new Date().toISOString(), status });
    return true;
  }

  async siteStatus(): Promise<SiteSpecStatus[]> {
    return [...this.candidates].sort().map((name) => {
      const s = this.statuses.get(name);
      return s ? { name, owner: this.instanceId, at: s.at, status: s.status } : { name, owner: this.instanceId };
    });
  }
}
