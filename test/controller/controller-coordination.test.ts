// The controller under a coordinator that says which specs are ours: it runs exactly those, stops
// one the moment it is no longer ours, stops everything when fenced, publishes the status of what
// it owns and shows another instance's specs as their owner published them. The coordinator here
// is a hand-driven stand-in; the etcd one is tested against a real etcd cluster.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { OwnershipListeners, type CoordinationHealth, type Coordinator, type SiteSpecStatus } from '../../controller/coordination/coordinator.js';
import type { SpecStatus } from '../../controller/status/types.js';
import { silentLogger } from '../../machines/log.js';
import { standInComponents, type StandIns } from '../stand-ins/components.js';
import { waitUntil } from '../helpers.js';

/** A coordinator whose ownership the test sets: `own` gives specs, `fence` takes them all. */
class HandCoordinator implements Coordinator {
  readonly instanceId = 'box-a';
  private mine = new Set<string>();
  private fenced?: string;
  candidates: string[] = [];
  readonly published = new Map<string, SpecStatus>();
  readonly site = new Map<string, SiteSpecStatus>();
  private readonly listeners = new OwnershipListeners();
  started = false;
  stopped = false;

  async start() {
    this.started = true;
  }
  async stop() {
    this.stopped = true;
  }
  setCandidates(names: Iterable<string>) {
    this.candidates = [...names].sort();
  }
  owns(name: string) {
    return !this.fenced && this.mine.has(name);
  }
  ownerOf(name: string) {
    return this.owns(name) ? this.instanceId : this.site.get(name)?.owner;
  }
  onChange(l: (names: string[]) => void) {
    return this.listeners.add(l);
  }
  health(): CoordinationHealth {
    return this.fenced ? { fenced: true, reason: this.fenced } : { fenced: false };
  }
  async publishStatus(name: string, status: unknown) {
    if (!this.owns(name)) return false;
    this.published.set(name, status as SpecStatus);
    return true;
  }
  async siteStatus() {
    return [...this.site.values()];
  }
  own(...names: string[]) {
    this.mine = new Set(names);
    this.tell();
  }
  fence(reason: string | undefined) {
    this.fenced = reason;
    this.tell();
  }
  private tell() {
    this.listeners.update(new Set([...this.mine].filter((n) => this.owns(n))));
  }
}

const spec = (name: string, device: string) => `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${name}
spec:
  device: ${device}
  url: https://dash.example/${name}?token=s3cret
`;

describe('controller under a coordinator', () => {
  let dir: string;
  let state: string;
  let streams: string;
  let c: StandIns;
  let ctl: Controller;
  let co: HandCoordinator;
  const phase = (n: string) => ctl.get(n)?.phase;
  const condition = (n: string) => ctl.get(n)?.conditions.find((x) => x.type === 'Coordination');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-specs-'));
    state = mkdtempSync(join(tmpdir(), 'pc-state-'));
    streams = mkdtempSync(join(tmpdir(), 'pc-streams-'));
    c = standInComponents(streams);
    for (const [n, d] of [['a', 'TV A'], ['b', 'TV B'], ['c', 'TV C']]) writeFileSync(join(dir, `${n}.yaml`), spec(n!, d!));
    co = new HandCoordinator();
    co.own('a', 'b');
    ctl = new Controller({ specsDir: dir, stateDir: state, components: c, log: silentLogger(), resyncMs: 60_000, coordinator: co });
    await ctl.start();
  });
  afterEach(async () => {
    await ctl?.stop();
    for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  });

  it('runs only the specs it owns, and is told every spec its selector matches', async () => {
    expect(co.started).toBe(true);
    expect(co.candidates).toEqual(['a', 'b', 'c']);
    await waitUntil(() => phase('a') === 'Playing' && phase('b') === 'Playing', 5000, 'a and b Playing');
    expect(ctl.actor('c')).toBeUndefined();
    expect(c.castDriver.allLoads.map((l) => l.device)).not.toContain('tv-c');
    expect(condition('a')).toMatchObject({ status: 'True', reason: 'Owned', message: 'owned by box-a' });
    expect(ctl.get('a')?.owner).toBe('box-a');
    // Nobody holds c yet: it shows as such, and an action on it says where it runs.
    expect(condition('c')).toMatchObject({ status: 'False', reason: 'Unowned' });
    expect(await ctl.recast('c')).toMatchObject({ ok: false, message: 'c is owned by no instance of the site now: nothing to re-cast here' });
  });

  it('a spec no longer ours is stopped, one given to us is started', async () => {
    await waitUntil(() => phase('a') === 'Playing' && phase('b') === 'Playing', 5000, 'a and b Playing');
    co.own('a', 'c');
    await waitUntil(() => phase('c') === 'Playing' && ctl.actor('b') === undefined, 5000, 'c Playing, b stopped');
    expect(c.castDriver.stops).toContain('tv-b');
    expect(phase('a')).toBe('Playing');
  });

  it('fenced, it stops every pipeline and says why on every spec; unfenced, it plays again', async () => {
    await waitUntil(() => phase('a') === 'Playing' && phase('b') === 'Playing', 5000, 'a and b Playing');
    co.fence('no keepalive answered for 4.0 s');
    await waitUntil(() => ctl.actor('a') === undefined && ctl.actor('b') === undefined && c.log.running('display').length === 0, 5000, 'everything stopped');
    for (const n of ['a', 'b', 'c']) expect(condition(n)).toMatchObject({ status: 'False', reason: 'Fenced', message: 'this instance runs nothing it cannot prove it owns: no keepalive answered for 4.0 s' });
    co.fence(undefined);
    await waitUntil(() => phase('a') === 'Playing' && phase('b') === 'Playing', 5000, 'a and b Playing again');
  });

  it('publishes the status of what it owns, redacted, and shows another instance’s spec as published', async () => {
    await waitUntil(() => co.published.get('a')?.phase === 'Playing' && co.published.get('b')?.phase === 'Playing', 5000, 'a and b published as Playing');
    expect(co.published.has('c')).toBe(false);
    expect(JSON.stringify([...co.published.values()])).not.toContain('s3cret');
    const theirs = { ...ctl.get('c')!, phase: 'Playing' as const, restarts: 3 };
    co.site.set('c', { name: 'c', owner: 'box-b', at: new Date().toISOString(), status: theirs });
    // A value that is not a status of ours is not shown as one.
    co.site.set('b', { name: 'b', owner: 'box-a', status: { name: 'x' } });
    await (ctl as unknown as { site: { refresh(): Promise<void> } }).site.refresh();
    expect(ctl.get('c')).toMatchObject({ phase: 'Playing', restarts: 3, owner: 'box-b' });
    expect(condition('c')).toMatchObject({ status: 'True', reason: 'OwnedElsewhere', message: 'owned by box-b' });
    expect(await ctl.reloadPage('c')).toMatchObject({ ok: false, message: 'c is owned by instance box-b: nothing to reload here' });
    expect(ctl.get('b')?.phase).toBe('Playing');
  });

  it('stops its coordinator last, after its own casts', async () => {
    await waitUntil(() => phase('a') === 'Playing', 5000, 'a Playing');
    await ctl.stop();
    expect(co.stopped).toBe(true);
    expect(c.castDriver.stops.sort()).toEqual(['tv-a', 'tv-b']);
  });
});
