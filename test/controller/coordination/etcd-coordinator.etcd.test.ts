// The etcd coordinator against a real 3-member etcd on loopback. In-process instances for
// ownership, capacity, status and a clean handover; instances in child processes for what only a
// process can do: die (SIGKILL), hang (SIGSTOP), lose etcd under it. Every test uses its own site,
// so the keys of one never meet another's. Timing figures are printed (`[coordination] …`).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EtcdCoordinator, type EtcdCoordinatorOptions } from '../../../controller/coordination/etcd-coordinator.js';
import { rankInstances } from '../../../controller/coordination/rendezvous.js';
import { buildCoordination } from '../../fixtures/build-coordination.js';
import { EtcdCluster, freePort } from '../../fixtures/etcd-cluster.js';
import { captureLog, waitUntil } from '../../helpers.js';
import { CoordinatorWorker, describeOwnership, ownedOnce } from './coordinator-workers.js';

const TTL_S = 6; // the default: these tests measure what a site gets
const TTL = TTL_S * 1000;
const FENCE = (TTL * 2) / 3;
const specNames = (n: number, prefix = 'screen') => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
const report = (what: string) => console.log(`[coordination] ${what}`);

describe('EtcdCoordinator on a real 3-member etcd', () => {
  let cluster: EtcdCluster;
  let module: string;
  let site = 0;
  const buildDir = join(import.meta.dirname, `../../fixtures/.build-coord-${process.pid}`);
  const inProcess: EtcdCoordinator[] = [];
  const workers: CoordinatorWorker[] = [];
  let admin: Etcd3 | undefined;
  const logs = captureLog();

  beforeAll(async () => {
    module = buildCoordination(buildDir);
    cluster = await EtcdCluster.start(3);
  });

  afterEach(async () => {
    await Promise.all(inProcess.splice(0).map((c) => c.stop()));
    await Promise.all(workers.splice(0).map((w) => w.kill()));
    admin?.close();
    admin = undefined;
  });

  afterAll(async () => {
    await cluster?.stop();
    rmSync(buildDir, { recursive: true, force: true });
  });

  const newSite = () => `site${++site}`;
  const coordinator = (siteName: string, id: string, more: Partial<EtcdCoordinatorOptions> = {}) => {
    const c = new EtcdCoordinator({ endpoints: cluster.endpoints, site: siteName, instanceId: id, ttlSeconds: TTL_S, log: logs.log, ...more });
    inProcess.push(c);
    return c;
  };
  const worker = (siteName: string, id: string, capacity = 100) => {
    const w = new CoordinatorWorker(module, id, { endpoints: cluster.endpoints, site: siteName, ttlSeconds: TTL_S, capacity });
    workers.push(w);
    return w;
  };
  /** Three workers over `specs`, started together, once every spec is owned exactly once. */
  const steadyWorkers = async (specs: string[]) => {
    const s = newSite();
    const ws = ['a', 'b', 'c'].map((id) => worker(s, id));
    // Candidates once all three see each other, so the first to boot does not take everything.
    await waitUntil(() => ws.every((w) => w.state()?.live?.length === 3), 20_000, () => `three live instances: ${ws.map((w) => w.stderr).join('')}`, { intervalMs: 50 });
    for (const w of ws) w.send({ candidates: specs });
    await waitUntil(() => ownedOnce(ws, specs), 20_000, () => `every spec owned once: ${describeOwnership(ws)} ${ws.map((w) => w.stderr).join('')}`, { intervalMs: 50 });
    return ws;
  };
  const etcdAdmin = () => (admin ??= new Etcd3({ hosts: cluster.endpoints }));
  /** Owner keys of a site as etcd has them: spec → lease. */
  const ownerLeases = async (siteName: string) => {
    const r = await etcdAdmin().getAll().prefix(`/pagecast/${siteName}/owners/`).exec();
    return new Map(r.kvs.map((kv) => [kv.key.toString().split('/').pop()!, String(kv.lease)]));
  };

  it('owns every spec exactly once across three instances, spread as rendezvous hashing says', async () => {
    const s = newSite();
    const specs = specNames(24);
    const cs = ['a', 'b', 'c'].map((id) => coordinator(s, id, { capacity: 24 }));
    await Promise.all(cs.map((c) => c.start()));
    // Candidates only once all three see each other, as instances that boot together would.
    await waitUntil(() => cs.every((c) => c.snapshot().live.length === 3), 10_000, 'three live instances');
    for (const c of cs) c.setCandidates(specs);
    await waitUntil(() => cs.reduce((n, c) => n + c.snapshot().owned.length, 0) === specs.length, 10_000, 'every spec owned');
    // The others learn of a claim from their watch and next read of the site: wait for that too.
    await waitUntil(() => specs.every((spec) => cs.every((c) => c.ownerOf(spec) !== undefined)), 10_000, 'every instance seeing every owner');

    // Exactly once, by etcd's own record: each key on its owner's lease, and no owner twice.
    const leases = await ownerLeases(s);
    expect([...leases.keys()].sort()).toEqual(specs);
    for (const spec of specs) {
      const owners = cs.filter((c) => c.owns(spec));
      expect(owners).toHaveLength(1);
      expect(leases.get(spec)).toBe(owners[0]!.snapshot().leaseId);
      expect(owners[0]!.ownerOf(spec)).toBe(owners[0]!.instanceId);
      for (const other of cs) expect(other.ownerOf(spec)).toBe(owners[0]!.instanceId);
    }
    const counts = cs.map((c) => c.snapshot().owned.length);
    const asHashed = specs.filter((spec) => cs.find((c) => c.owns(spec))!.instanceId === rankInstances(spec, ['a', 'b', 'c'])[0]).length;
    report(`spread of 24 specs over 3 instances: ${counts.join('/')}; ${asHashed}/24 on the instance rendezvous hashing ranks first`);
    for (const n of counts) expect(n).toBeGreaterThanOrEqual(4);
    // Each instance waits 250 ms per rank before it claims: only a claim held up that long goes elsewhere.
    expect(asHashed).toBeGreaterThanOrEqual(22);
  });

  it('claims no more than its capacity, and a spec beyond every capacity stays unowned', async () => {
    const s = newSite();
    const specs = specNames(12);
    const cs = ['a', 'b'].map((id) => coordinator(s, id, { capacity: 5 }));
    await Promise.all(cs.map((c) => c.start()));
    for (const c of cs) c.setCandidates(specs);
    await waitUntil(() => cs.every((c) => c.snapshot().owned.length === 5), 10_000, 'each instance at its capacity of 5');
    expect((await ownerLeases(s)).size).toBe(10);
    // A third instance takes the rest, and nothing moves from the two full ones.
    const before = cs.map((c) => c.snapshot().owned);
    const third = coordinator(s, 'c', { capacity: 5 });
    await third.start();
    third.setCandidates(specs);
    await waitUntil(() => third.snapshot().owned.length === 2, 10_000, 'the third instance owning the two left');
    expect(cs.map((c) => c.snapshot().owned)).toEqual(before);
  });

  it('publishes status under the owner, shows the whole site on any instance, and reports a value it did not write', async () => {
    const s = newSite();
    const specs = specNames(4);
    const [a, b] = ['a', 'b'].map((id) => coordinator(s, id));
    await Promise.all([a!.start(), b!.start()]);
    a!.setCandidates(specs);
    b!.setCandidates(specs);
    await waitUntil(() => a!.snapshot().owned.length + b!.snapshot().owned.length === 4, 10_000, 'every spec owned');
    const mine = a!.snapshot().owned[0] ?? b!.snapshot().owned[0]!;
    const owner = a!.owns(mine) ? a! : b!;
    const other = owner === a ? b! : a!;
    expect(await owner.publishStatus(mine, { phase: 'Playing' })).toBe(true);
    expect(await other.publishStatus(mine, { phase: 'Failed' })).toBe(false);
    const site = await other.siteStatus();
    expect(site.map((e) => e.name)).toEqual(specs);
    expect(site.find((e) => e.name === mine)).toMatchObject({ owner: owner.instanceId, status: { phase: 'Playing' } });

    // A hand-written owner key: no crash, nobody claims it, the error names the key.
    await etcdAdmin().put(`/pagecast/${s}/owners/intruder`).value('not json');
    a!.setCandidates([...specs, 'intruder']);
    b!.setCandidates([...specs, 'intruder']);
    await waitUntil(
      () => logs.lines().some((l) => String(l.msg).includes(`etcd key /pagecast/${s}/owners/intruder: not JSON`)),
      10_000,
      'an error naming the bad key',
    );
    const withIntruder = await a!.siteStatus();
    expect(withIntruder.find((e) => e.name === 'intruder')?.error).toContain(`/pagecast/${s}/owners/intruder`);
    expect(a!.owns('intruder') || b!.owns('intruder')).toBe(false);
    expect(a!.health()).toEqual({ fenced: false });
  });

  it('owns() reads the fencing clock itself: ⅔ TTL after the last answered keepalive it is false, before any timer runs', async () => {
    let offset = 0;
    const c = coordinator(newSite(), 'a', { now: () => performance.timeOrigin + performance.now() + offset });
    c.setCandidates(['kitchen']);
    await c.start();
    await waitUntil(() => c.owns('kitchen'), 10_000, 'owning kitchen');
    // A pause the process did not see: no timer, no I/O between the jump and the question.
    offset = FENCE;
    expect(c.owns('kitchen')).toBe(false);
    expect(c.ownerOf('kitchen')).toBeUndefined();
    expect(c.health().fenced).toBe(true);
    // The lease is still alive in etcd: the next answered keepalive proves it.
    await waitUntil(() => c.owns('kitchen'), 5000, 'owning kitchen again');
    expect(c.health()).toEqual({ fenced: false });
  });

  it('the cluster fixture fails, saying how to install etcd, when there is none', async () => {
    const was = process.env.PAGECAST_ETCD;
    process.env.PAGECAST_ETCD = '/nonexistent/etcd';
    try {
      await expect(EtcdCluster.start(1)).rejects.toThrow('etcd is not installed (/nonexistent/etcd): run scripts/install.sh');
    } finally {
      if (was === undefined) delete process.env.PAGECAST_ETCD;
      else process.env.PAGECAST_ETCD = was;
    }
  });

  it('with no etcd to reach: starts fenced, owns nothing, says why, and stops at once', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const c = new EtcdCoordinator({ endpoints: [nobody], site: newSite(), instanceId: 'lonely', log: logs.log });
    inProcess.push(c);
    c.setCandidates(['kitchen']);
    await c.start();
    expect(c.owns('kitchen')).toBe(false);
    const h = c.health();
    expect(h.fenced).toBe(true);
    expect(h.reason).toContain(`cannot reach etcd at ${nobody}`);
    const t0 = Date.now();
    await c.stop();
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('hands its specs over at once on a clean stop (the lease is revoked, no TTL to wait)', async () => {
    const s = newSite();
    const specs = specNames(6);
    const [a, b] = ['a', 'b'].map((id) => coordinator(s, id));
    await Promise.all([a!.start(), b!.start()]);
    a!.setCandidates(specs);
    b!.setCandidates(specs);
    await waitUntil(() => a!.snapshot().owned.length + b!.snapshot().owned.length === 6 && a!.snapshot().owned.length > 0, 10_000, 'both owning');
    const changes: string[][] = [];
    a!.onChange((names) => changes.push(names));
    const had = a!.snapshot().owned;
    const t0 = Date.now();
    await a!.stop();
    expect(changes).toEqual([had]);
    expect(had.some((n) => a!.owns(n))).toBe(false);
    await waitUntil(() => b!.snapshot().owned.length === 6, TTL / 2, 'the other instance owning everything');
    report(`clean stop: the other instance owned all 6 specs after ${Date.now() - t0} ms`);
  });

  it('a SIGKILLed instance’s specs are owned by the others within TTL + 2 s', async () => {
    const specs = specNames(12);
    const ws = await steadyWorkers(specs);
    const victim = ws.find((w) => w.owned().length > 0)!;
    const survivors = ws.filter((w) => w !== victim);
    const lost = victim.owned();
    const t0 = Date.now();
    await victim.kill();
    await waitUntil(() => ownedOnce(survivors, specs), TTL + 5000, () => `survivors owning everything: ${describeOwnership(ws)}`, { intervalMs: 50 });
    const takeover = Math.max(...lost.map((spec) => Math.min(...survivors.map((w) => w.ownedSince(spec, t0) ?? Infinity)))) - t0;
    report(`takeover after SIGKILL: ${takeover} ms for ${lost.length} specs (TTL ${TTL} ms)`);
    expect(takeover).toBeLessThanOrEqual(TTL + 2000);
  });

  it('a SIGSTOPped instance fences itself by its own clock before anyone takes over, and never casts a spec another holds', async () => {
    const specs = specNames(12);
    const ws = await steadyWorkers(specs);
    const victim = ws.find((w) => w.owned().length > 0)!;
    const survivors = ws.filter((w) => w !== victim);
    const lost = victim.owned();
    const t0 = Date.now();
    victim.signal('SIGSTOP');
    await waitUntil(() => ownedOnce(survivors, specs), TTL + 5000, () => `survivors owning everything: ${describeOwnership(ws)}`, { intervalMs: 50 });
    const firstTakeover = Math.min(...lost.map((spec) => Math.min(...survivors.map((w) => w.ownedSince(spec, t0) ?? Infinity))));
    const t1 = Date.now();
    victim.signal('SIGCONT');
    const resumed = await waitUntil(() => victim.lines.find((l) => l.kind === 'resumed' && l.t >= t1), 5000, () => `the paused worker's first tick: ${victim.stderr}`);

    // What it had cast until the pause, and its fence deadline by its own (monotonic) clock.
    const deadline = resumed.fenceDeadline!;
    report(
      `SIGSTOP: fenced ${Math.round(deadline - t0)} ms after the pause by the paused instance's own clock; first takeover ${firstTakeover - t0} ms after it (margin ${Math.round(firstTakeover - deadline)} ms); resumed ${t1 - t0} ms after it`,
    );
    expect(deadline - t0).toBeLessThanOrEqual(FENCE + 100);
    expect(deadline).toBeLessThan(firstTakeover);
    // Its first act after resuming: owns() false for everything, fenced.
    expect(resumed.owned).toEqual([]);
    expect(resumed.fenced).toBe(true);
    // From then on it never claims to cast a spec the others hold (they hold all of them).
    await waitUntil(() => victim.state()?.fenced === false && victim.state()!.t > t1, TTL + 5000, () => `the resumed worker back on a new lease: ${describeOwnership(ws)}`);
    const afterResume = victim.lines.filter((l) => l.kind === 'state' && l.t >= t1);
    for (const l of afterResume) expect(l.owned).toEqual([]);
    expect(ownedOnce(survivors, specs)).toBe(true);
  });

  it('keeps every owner when one etcd member (the leader) is killed', async () => {
    const specs = specNames(9);
    const ws = await steadyWorkers(specs);
    const before = ws.map((w) => w.owned());
    const leader = await cluster.leader();
    const t0 = Date.now();
    await cluster.kill(leader, 'SIGKILL');
    try {
      // Wait until each instance renewed its lease for a full TTL past the kill: had any lease
      // lapsed, its keys would have gone by then.
      await waitUntil(() => ws.every((w) => (w.fenceDeadline() ?? 0) > t0 + TTL + FENCE), 3 * TTL, () => `renewals past the kill: ${ws.map((w) => (w.fenceDeadline() ?? 0) - t0).join(',')}`, { intervalMs: 100 });
      const changed = ws.flatMap((w) => w.lines.filter((l) => l.kind === 'state' && l.t >= t0));
      expect(changed).toEqual([]);
      expect(ws.map((w) => w.owned())).toEqual(before);
    } finally {
      cluster.restart(leader);
      await cluster.waitHealthy();
    }
  });

  it('fences every instance when quorum is lost, and they own their specs again when it returns', async () => {
    const specs = specNames(9);
    const ws = await steadyWorkers(specs);
    const before = ws.map((w) => w.owned());
    const t0 = Date.now();
    await Promise.all([cluster.kill(1, 'SIGKILL'), cluster.kill(2, 'SIGKILL')]);
    let restarted = false;
    try {
      // A leader left alone answers keepalives until it notices it lost quorum (its election
      // timeout, 1 s by default), so the fence falls ⅔ TTL after that, not after the kill.
      await waitUntil(() => ws.every((w) => w.state()?.fenced), FENCE + 4000, () => `every instance fenced: ${describeOwnership(ws)}`, { intervalMs: 20 });
      const fences = ws.map((w) => w.lines.find((l) => l.kind === 'state' && l.t >= t0 && l.fenced)!);
      const answered = fences.map((l) => Math.round(l.fenceDeadline! - FENCE - t0));
      const fencedAt = fences.map((l) => l.t - t0);
      report(`quorum lost: etcd answered keepalives sent up to ${answered.join(', ')} ms after the kill; instances fenced after ${fencedAt.join(', ')} ms (⅔ TTL = ${FENCE} ms)`);
      for (const w of ws) expect(w.state()!.owned).toEqual([]);
      for (const [i, l] of fences.entries()) {
        // By its own clock: ⅔ TTL after the last answered keepalive was sent it casts nothing (owns()
        // reads the clock, so a late timer cannot stretch it)…
        expect(ws[i]!.lines.filter((x) => x.kind === 'state' && x.t >= l.fenceDeadline! && x.owned!.length > 0)).toEqual([]);
        // …and it says so promptly (its timer may run late on two busy cores).
        expect(l.t).toBeLessThanOrEqual(l.fenceDeadline! + 1000);
        // …and that keepalive no later than the lone member's step-down (its election timeout, 1–2 s).
        expect(l.fenceDeadline! - t0).toBeLessThanOrEqual(FENCE + 2000);
      }

      const t1 = Date.now();
      cluster.restart(1);
      cluster.restart(2);
      restarted = true;
      await cluster.waitHealthy();
      await waitUntil(() => ownedOnce(ws, specs) && ws.every((w) => !w.state()?.fenced), 3 * TTL, () => `every spec owned again: ${describeOwnership(ws)}`, { intervalMs: 50 });
      report(`quorum back: every spec owned again ${Date.now() - t1} ms after the members were restarted`);
      // The leases outlived the outage (etcd cannot expire a lease without a leader): same owners.
      expect(ws.map((w) => w.owned())).toEqual(before);
    } finally {
      if (!restarted) {
        cluster.restart(1);
        cluster.restart(2);
      }
      await cluster.waitHealthy();
    }
  });
});
