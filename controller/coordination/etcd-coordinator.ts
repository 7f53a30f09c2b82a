// Sharing a site's specs between instances on etcd leases (the Kubernetes way, in a real consensus
// store). One lease per instance; the instance key, every owner key and every status key it writes
// hang on it, so when the instance dies they all vanish together after one TTL and the others see
// the owner keys deleted and claim them. A claim is a create-if-absent transaction, so a spec has
// at most one owner key; the owner stops acting on its own when it cannot renew (fencing.ts), since
// etcd cannot stop a paused process from casting.
//
// Level-triggered like the reconciler: watch events, candidate changes and a periodic resync all
// just ask for a sync, which reads the whole site and plans claims from it (claims.ts). Syncs run
// one at a time.
import { availableParallelism, hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
// Types only here: the client (gRPC, protobufjs: about 0.4 s to load) is imported in start(), so
// the single-box default never loads it.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../../machines/log.js';
import { defaultCapacity } from './capacity.js';
import { planClaims } from './claims.js';
import { OwnershipListeners, type CoordinationHealth, type Coordinator, type LastWillRequest, type SiteSpecStatus } from './coordinator.js';
import { fenceDeadline, isFenced, keepaliveInterval } from './fencing.js';
import { checkKeyName, InstanceRecord, OwnerRecord, parseRecord, SiteKeys, StatusRecord } from './records.js';

export interface EtcdCoordinatorOptions {
  /** Client URLs of the site's etcd members, e.g. http://10.0.0.2:2379. */
  endpoints: string[];
  site: string;
  /** This instance's id in the site (default: the host name, so a restarted box wants the same specs). */
  instanceId?: string;
  /** Key prefix (default /pagecast). */
  prefix?: string;
  /** Lease TTL in seconds (default 6). */
  ttlSeconds?: number;
  /** Most specs this instance owns at once (default from the cores, capacity.ts). */
  capacity?: number;
  /** Wait per rendezvous rank before claiming a spec that became free (default 250 ms). */
  staggerMs?: number;
  /** Read the whole site at least this often, whatever the watches say (default: the TTL). */
  resyncMs?: number;
  log: Logger;
  /** A monotonic clock in ms (default: performance.timeOrigin + performance.now()). */
  now?: () => number;
}

/**
 * Default TTL: 6 s. A takeover after a crash takes about one TTL, and the fence falls at ⅔ TTL = 4 s
 * without an answered keepalive. etcd's own leader election (1 s election timeout by default, up
 * to about 2 s with its randomisation) must fit well inside those 4 s, or losing the etcd leader
 * would darken every screen of the site for a moment; and the fence leaves 2 s to stop pipelines
 * before anyone else can claim.
 */
export const DEFAULT_TTL_SECONDS = 6;
const DEFAULT_PREFIX = '/pagecast';

const monotonic = () => performance.timeOrigin + performance.now();

export class EtcdCoordinator implements Coordinator {
  readonly instanceId: string;
  readonly capacity: number;
  readonly ttlMs: number;
  private readonly endpoints: string[];
  /** One client per member for keepalives, and the member the next one goes to (see start()). */
  private keepaliveClients: Etcd3[] = [];
  private keepaliveMember = 0;
  private readonly willListeners = new Set<(requests: LastWillRequest[]) => void>();

  /** A crash of this instance revokes its lease at once (etcd's JSON gateway), so its specs move now, not after a TTL. */
  onLastWill(listener: (requests: LastWillRequest[]) => void): () => void {
    this.willListeners.add(listener);
    listener(this.lastWill());
    return () => this.willListeners.delete(listener);
  }

  private lastWill(): LastWillRequest[] {
    const id = this.leaseId;
    if (!id || this.stopped) return [];
    return this.endpoints.map((e) => ({ url: `${e.replace(/\/+$/, '')}/v3/lease/revoke`, body: JSON.stringify({ ID: id }) }));
  }

  private tellLastWill(): void {
    const will = this.lastWill();
    for (const l of [...this.willListeners]) l(will);
  }
  private readonly keys: SiteKeys;
  private readonly ttlSeconds: number;
  private readonly staggerMs: number;
  private readonly resyncMs: number;
  private readonly log: Logger;
  private readonly now: () => number;

  private client?: Etcd3;
  private leaseId?: string;
  /** Send time of the last keepalive (or grant) that etcd answered with the lease alive. */
  private keepaliveSentAt?: number;
  /** Owner keys we hold under `leaseId`, as last proven by a read or a claim. */
  private held = new Set<string>();
  private owners = new Map<string, string | undefined>();
  private live = new Set<string>();
  private candidates = new Set<string>();
  private freeSince = new Map<string, number>();
  private fenceReason: string | undefined = 'not started';
  private readonly listeners = new OwnershipListeners();
  private readonly badKeys = new Map<string, string>();

  private started = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private watchers: Watcher[] = [];
  private fenceTimer?: NodeJS.Timeout;
  private recheckTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private syncing = false;
  private dirty = false;
  private syncFailures = 0;
  private keepaliveLoop?: Promise<void>;

  constructor(opts: EtcdCoordinatorOptions) {
    if (opts.endpoints.length === 0) throw new Error('etcd coordinator: no --etcd-endpoints');
    checkKeyName('--site', opts.site);
    this.instanceId = opts.instanceId ?? hostname();
    checkKeyName('instance id', this.instanceId);
    this.keys = new SiteKeys(opts.prefix ?? DEFAULT_PREFIX, opts.site);
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 2) throw new Error(`etcd coordinator: TTL ${this.ttlSeconds} s: expected whole seconds, at least 2 (etcd's minimum lease)`);
    this.ttlMs = this.ttlSeconds * 1000;
    this.capacity = opts.capacity ?? defaultCapacity(availableParallelism());
    this.staggerMs = opts.staggerMs ?? 250;
    this.resyncMs = opts.resyncMs ?? this.ttlMs;
    this.log = opts.log.child({ component: 'coordination', site: opts.site, instance: this.instanceId });
    this.now = opts.now ?? monotonic;
    this.endpoints = opts.endpoints;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const callTimeoutMs = Math.round(this.ttlMs / 3);
    const [{ Etcd3, isRecoverableError }, { circuitBreaker, ConsecutiveBreaker, handleWhen }] = await Promise.all([import('etcd3'), import('cockatiel')]);
    if (this.stopped) return;
    this.client = new Etcd3({
      hosts: this.endpoints,
      // Unary calls must not hang past the point where the fence makes them moot; streams (the
      // watches) live on.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      faultHandling: {
        // etcd3's default sets a member aside for 5 s after three failures: after an outage every
        // member would be set aside and the site would stay fenced for 5 s after etcd is back.
        // Try a failed member again after one keepalive interval instead.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: keepaliveInterval(this.ttlMs), breaker: new ConsecutiveBreaker(3) }),
      },
    });
    // Keepalives go to one member at a time through a client of their own, and move to the next
    // member after a failure: the main client's pool picks members at random and learns nothing
    // from a keepalive stream that hangs, so after a member died it could send the next keepalives
    // to it again and again until the fence fell (seen: fenced 4 s after the leader was killed).
    const memberBreaker = () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: keepaliveInterval(this.ttlMs), breaker: new ConsecutiveBreaker(3) });
    this.keepaliveClients = this.endpoints.map((host) => new Etcd3({ hosts: host, faultHandling: { host: memberBreaker } }));
    this.log.info({ endpoints: this.endpoints, capacity: this.capacity, ttlSeconds: this.ttlSeconds }, 'coordination: joining the site on etcd');
    this.watch(this.keys.owners, (name) => {
      this.freeSince.set(name, this.now());
    });
    this.watch(this.keys.instances);
    this.resyncTimer = setInterval(() => this.requestSync(), this.resyncMs);
    this.keepaliveLoop = this.runKeepalives();
    await this.sync();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const t of [this.fenceTimer, this.recheckTimer, this.retryTimer]) clearTimeout(t);
    clearInterval(this.resyncTimer);
    const client = this.client;
    const leaseId = this.leaseId;
    this.leaseId = undefined;
    this.tellLastWill();
    this.held.clear();
    this.fenceReason = 'stopped';
    this.notify();
    await Promise.all(this.watchers.splice(0).map((w) => w.cancel().catch(() => undefined)));
    await this.keepaliveLoop;
    // Revoking deletes every key on the lease at once: the others take over now, not a TTL later.
    if (client && leaseId) {
      try {
        await client.leaseClient.leaseRevoke({ ID: leaseId }, { deadline: Date.now() + 2000 });
        this.log.info('coordination: left the site (lease revoked)');
      } catch (err) {
        this.log.warn({ err: String(err) }, `coordination: could not revoke the lease; the others take over within ${this.ttlSeconds} s`);
      }
    }
    client?.close();
    for (const c of this.keepaliveClients) c.close();
    this.listeners.clear();
  }

  setCandidates(names: Iterable<string>): void {
    const next = new Set<string>();
    for (const n of names) {
      try {
        checkKeyName('spec name', n);
        next.add(n);
      } catch (err) {
        // The schema allows no such name; should one get here, it is skipped, not fatal.
        this.log.error(`coordination: ${errorText(err)}; not claiming it`);
      }
    }
    this.candidates = next;
    this.requestSync();
  }

  owns(name: string): boolean {
    return !this.stopped && this.held.has(name) && !isFenced(this.now(), this.keepaliveSentAt, this.ttlMs);
  }

  ownerOf(name: string): string | undefined {
    if (this.owns(name)) return this.instanceId;
    const o = this.owners.get(name);
    return o === this.instanceId ? undefined : o;
  }

  onChange(listener: (names: string[]) => void): () => void {
    return this.listeners.add(listener);
  }

  health(): CoordinationHealth {
    if (this.fenceReason !== undefined) return { fenced: true, reason: this.fenceReason };
    if (isFenced(this.now(), this.keepaliveSentAt, this.ttlMs)) return { fenced: true, reason: this.silenceReason() };
    return { fenced: false };
  }

  /** What this instance believes, for tests and `pagecast status`. */
  snapshot(): { owned: string[]; live: string[]; leaseId?: string; fenced: boolean; fenceDeadline?: number } {
    const deadline = this.keepaliveSentAt === undefined ? undefined : fenceDeadline(this.keepaliveSentAt, this.ttlMs);
    return { owned: [...this.held].filter((n) => this.owns(n)).sort(), live: [...this.live].sort(), leaseId: this.leaseId, fenced: this.health().fenced, fenceDeadline: deadline };
  }

  async publishStatus(name: string, status: unknown): Promise<boolean> {
    const client = this.client;
    const leaseId = this.leaseId;
    if (!client || !leaseId || !this.owns(name)) return false;
    const record: StatusRecord = { owner: this.instanceId, at: new Date().toISOString(), status };
    try {
      // Only while the owner key is ours: a status never outlives or overrides the owner's.
      const r = await client
        .if(this.keys.owner(name), 'Lease', '==', leaseId)
        .then(client.put(this.keys.statusOf(name)).value(JSON.stringify(record)).lease(leaseId))
        .commit();
      return r.succeeded;
    } catch (err) {
      this.log.debug({ spec: name, err: String(err) }, 'coordination: status not published');
      return false;
    }
  }

  async siteStatus(): Promise<SiteSpecStatus[]> {
    const client = this.requireClient();
    const [owners, statuses] = await Promise.all([this.range(client, this.keys.owners), this.range(client, this.keys.status)]);
    const out = new Map<string, SiteSpecStatus>();
    const entry = (name: string) => out.get(name) ?? out.set(name, { name }).get(name)!;
    for (const kv of owners) {
      const { name, key, raw } = this.decode(kv, this.keys.owners);
      const r = parseRecord(OwnerRecord, key, raw);
      if (r.ok) entry(name).owner = r.value.instance;
      else entry(name).error = r.error;
    }
    for (const kv of statuses) {
      const { name, key, raw } = this.decode(kv, this.keys.status);
      const r = parseRecord(StatusRecord, key, raw);
      const e = entry(name);
      if (r.ok) {
        e.owner ??= r.value.owner;
        e.at = r.value.at;
        e.status = r.value.status;
      } else e.error = r.error;
    }
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  // ---- the sync: read the site, plan, claim, release ----

  private requestSync(): void {
    if (this.stopped || !this.client) return; // start() syncs once the client is there
    this.dirty = true;
    if (!this.syncing) void this.sync();
  }

  private async sync(): Promise<void> {
    if (this.syncing) {
      this.dirty = true;
      return;
    }
    this.syncing = true;
    try {
      do {
        this.dirty = false;
        if (this.stopped) return;
        try {
          await this.syncOnce();
          if (this.syncFailures > 0) this.log.info('coordination: etcd answers again');
          this.syncFailures = 0;
        } catch (err) {
          if (this.stopped) return;
          this.syncFailures++;
          const why = `cannot reach etcd at ${this.endpoints.join(',')}: ${errorText(err)}`;
          const msg = `coordination: ${why}`;
          if (!this.leaseId) this.fenceReason = `no lease: ${why}`;
          if (this.syncFailures === 1) this.log.warn(msg);
          else this.log.debug(msg);
          // Back off: 250 ms, doubling to the TTL.
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.requestSync(), Math.min(this.ttlMs, 250 * 2 ** Math.min(this.syncFailures - 1, 8)));
          return;
        }
      } while (this.dirty);
    } finally {
      this.syncing = false;
    }
  }

  private async syncOnce(): Promise<void> {
    const client = this.requireClient();
    if (!this.leaseId) await this.acquireLease(client);
    const leaseId = this.leaseId!;

    const [instances, owners] = await Promise.all([this.range(client, this.keys.instances), this.range(client, this.keys.owners)]);
    if (this.stopped || this.leaseId !== leaseId) return; // the lease changed under us: the next sync decides

    const live = new Set<string>();
    for (const kv of instances) {
      const { key, raw } = this.decode(kv, this.keys.instances);
      const r = parseRecord(InstanceRecord, key, raw);
      if (r.ok) live.add(r.value.id);
      else this.reportBadKey(key, r.error);
    }
    const ownerMap = new Map<string, string | undefined>();
    const held = new Set<string>();
    for (const kv of owners) {
      const { name, key, raw } = this.decode(kv, this.keys.owners);
      // The lease on the key is the proof; the value only names the owner for status.
      if (String(kv.lease) === leaseId) held.add(name);
      const r = parseRecord(OwnerRecord, key, raw);
      if (r.ok) ownerMap.set(name, r.value.instance);
      else {
        ownerMap.set(name, undefined);
        this.reportBadKey(key, r.error);
      }
    }
    this.live = live;
    this.owners = ownerMap;
    this.held = held;

    const now = this.now();
    for (const name of this.candidates) {
      if (ownerMap.has(name)) this.freeSince.delete(name);
      else if (!this.freeSince.has(name)) this.freeSince.set(name, now);
    }
    for (const name of this.freeSince.keys()) if (!this.candidates.has(name) || ownerMap.has(name)) this.freeSince.delete(name);

    if (isFenced(now, this.keepaliveSentAt, this.ttlMs)) {
      this.notify();
      return; // nothing to claim while we cannot prove we are alive
    }
    const plan = planClaims({ self: this.instanceId, candidates: this.candidates, owners: ownerMap, held, live, capacity: this.capacity, freeSince: this.freeSince, now, staggerMs: this.staggerMs });

    for (const name of plan.release) {
      await client
        .if(this.keys.owner(name), 'Lease', '==', leaseId)
        .then(client.delete().key(this.keys.owner(name)), client.delete().key(this.keys.statusOf(name)))
        .commit();
      this.held.delete(name);
      this.owners.delete(name);
      this.log.info({ spec: name }, 'coordination: released (no longer ours to run)');
    }
    // All at once: one after another, the last claims of a large site would come later than the
    // next-ranked instance's stagger, and it would take specs the hash gave us.
    const claimed = await Promise.all(
      plan.claim.map(async (name) => {
        const record: OwnerRecord = { instance: this.instanceId, since: new Date().toISOString() };
        const r = await client
          .if(this.keys.owner(name), 'Create', '==', 0)
          .then(client.put(this.keys.owner(name)).value(JSON.stringify(record)).lease(leaseId))
          .commit();
        return { name, ok: r.succeeded };
      }),
    );
    if (this.leaseId !== leaseId) return;
    for (const { name, ok } of claimed) {
      if (ok) {
        this.held.add(name);
        this.owners.set(name, this.instanceId);
        this.freeSince.delete(name);
        this.log.info({ spec: name }, 'coordination: claimed');
      } else this.dirty = true; // someone was faster: read again to learn who
    }

    clearTimeout(this.recheckTimer);
    if (plan.recheckAt !== undefined) this.recheckTimer = setTimeout(() => this.requestSync(), Math.max(0, plan.recheckAt - this.now()));
    this.notify();
  }

  private async acquireLease(client: Etcd3): Promise<void> {
    const sentAt = this.now();
    const granted = await client.leaseClient.leaseGrant({ TTL: this.ttlSeconds });
    const id = String(granted.ID);
    const record: InstanceRecord = { id: this.instanceId, capacity: this.capacity, host: hostname(), pid: process.pid, startedAt: new Date().toISOString() };
    try {
      const prev = await client.put(this.keys.instance(this.instanceId)).value(JSON.stringify(record)).lease(id).getPrevious();
      if (prev && String(prev.lease) !== '0' && String(prev.lease) !== id)
        this.log.warn(`coordination: instance id ${this.instanceId} was registered under another lease (a previous run of this instance, or another instance with the same --instance id)`);
    } catch (err) {
      await client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      await client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
      return;
    }
    this.leaseId = id;
    this.tellLastWill();
    this.keepaliveAnswered(sentAt);
    this.log.info({ lease: id }, 'coordination: lease granted, instance registered');
  }

  // ---- keepalives and the fence ----

  private async runKeepalives(): Promise<void> {
    const interval = keepaliveInterval(this.ttlMs);
    while (!this.stopped) {
      const id = this.leaseId;
      let ok = false;
      if (id) {
        const sentAt = this.now();
        try {
          const ttl = await this.keepaliveOnce(id, interval);
          if (this.stopped) return;
          if (this.leaseId === id) {
            if (ttl > 0) {
              ok = true;
              this.keepaliveAnswered(sentAt);
            } else this.leaseLost('etcd says our lease expired');
          }
        } catch (err) {
          if (this.stopped) return;
          this.log.debug({ err: errorText(err), member: this.endpoints[this.keepaliveMember] }, 'coordination: keepalive failed; the next goes to another member');
          this.keepaliveMember = (this.keepaliveMember + 1) % this.keepaliveClients.length;
        }
      }
      // A failed keepalive is retried soon, through another member: the fence allows only a few.
      try {
        await sleep(ok || !id ? interval : Math.min(interval, 200), undefined, { signal: this.abort.signal });
      } catch {
        return;
      }
    }
  }

  /** One keepalive on its own stream, to the member whose turn it is: resolves the TTL etcd answered. */
  private async keepaliveOnce(id: string, timeoutMs: number): Promise<number> {
    const client = this.keepaliveClients[this.keepaliveMember] ?? this.requireClient();
    const stream = await client.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
    // A late error after end() (the member died meanwhile) must not be unhandled.
    stream.on('error', () => undefined);
    try {
      return await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        stream.on('data', (res: { TTL: string }) => {
          clearTimeout(timer);
          resolve(Number(res.TTL));
        });
        stream.on('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
        stream.write({ ID: id });
      });
    } finally {
      stream.end();
    }
  }

  private keepaliveAnswered(sentAt: number): void {
    this.keepaliveSentAt = Math.max(this.keepaliveSentAt ?? -Infinity, sentAt);
    clearTimeout(this.fenceTimer);
    const deadline = fenceDeadline(this.keepaliveSentAt, this.ttlMs);
    this.fenceTimer = setTimeout(() => this.checkFence(), Math.max(0, deadline - this.now()) + 1);
    if (this.fenceReason !== undefined && !this.stopped) {
      const was = this.fenceReason;
      this.fenceReason = undefined;
      if (was !== 'not started') this.log.info('coordination: etcd answers again; re-reading what we own');
      // Held keys were dropped at the fence: the sync reads them back from etcd before we own anything.
      this.requestSync();
    }
  }

  private checkFence(): void {
    if (this.stopped) return;
    if (isFenced(this.now(), this.keepaliveSentAt, this.ttlMs)) this.fence(this.silenceReason());
  }

  private silenceReason(): string {
    return this.keepaliveSentAt === undefined
      ? 'no lease from etcd yet'
      : `no keepalive answered by etcd for ${((this.now() - this.keepaliveSentAt) / 1000).toFixed(1)} s (members unreachable or quorum lost)`;
  }

  private fence(reason: string): void {
    const first = this.fenceReason === undefined;
    this.fenceReason = reason;
    // Keep nothing we cannot prove: what we hold is read back from etcd once it answers again.
    const had = this.held.size;
    this.held.clear();
    if (first) this.log.error({ held: had }, `coordination: fenced, stopping every spec: ${reason}`);
    this.notify();
  }

  private leaseLost(reason: string): void {
    this.leaseId = undefined;
    this.tellLastWill();
    this.keepaliveSentAt = undefined;
    this.fence(reason);
    this.requestSync();
  }

  // ---- helpers ----

  private notify(): void {
    const owned = new Set([...this.held].filter((n) => this.owns(n)));
    try {
      this.listeners.update(owned);
    } catch (err) {
      // A listener's fault is not an etcd fault: keep the sync's error handling for etcd.
      this.log.error({ err: errorText(err) }, 'coordination: an ownership listener failed');
    }
  }

  private watch(prefix: string, onDelete?: (name: string) => void): void {
    const client = this.requireClient();
    const w = client.watch().prefix(prefix).watcher();
    this.watchers.push(w);
    w.on('put', () => this.requestSync());
    w.on('delete', (kv: IKeyValue) => {
      onDelete?.(kv.key.toString().slice(prefix.length));
      this.requestSync();
    });
    // After a reconnect the watch resumes, but a resync costs little and proves the state.
    w.on('connected', () => this.requestSync());
    w.on('error', (err: Error) => this.log.debug({ err: errorText(err), prefix }, 'coordination: watch error'));
  }

  private async range(client: Etcd3, prefix: string): Promise<IKeyValue[]> {
    const r = await client.getAll().prefix(prefix).exec();
    return r.kvs;
  }

  private decode(kv: IKeyValue, prefix: string): { name: string; key: string; raw: string } {
    const key = kv.key.toString();
    return { name: key.slice(prefix.length), key, raw: kv.value.toString() };
  }

  private reportBadKey(key: string, error: string): void {
    if (this.badKeys.get(key) === error) return;
    this.badKeys.set(key, error);
    this.log.error(`coordination: ${error}`);
  }

  private requireClient(): Etcd3 {
    if (!this.client) throw new Error('etcd coordinator: start() first');
    return this.client;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
