// Whole instances (bench/failover-instance.ts: the real controller, etcd coordinator and dead-man
// switch, with stand-in components whose browser runs one registered `sleep` per stream) on a real
// 3-member etcd, paused and killed as boxes are. What matters is what runs, so it is read from
// outside: /proc is polled every 10 ms for each instance's pipeline processes (PipelineWatch), and
// a process killed while its parent is paused (a zombie) counts as gone. Figures are printed
// (`[instances] …`). Needs `npm run build` (the instances run from dist/).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Instance, PipelineWatch, describeOwnership, failovers, instanceScript, ownedOnce, settled, specNames, writeSpecs } from '../../../bench/failover-fleet.js';
import { EtcdCluster } from '../../fixtures/etcd-cluster.js';
import { waitUntil } from '../../helpers.js';

const TTL_S = 3;
const TTL = TTL_S * 1000;
const report = (what: string) => console.log(`[instances] ${what}`);

describe('instances with pipelines on a real 3-member etcd', () => {
  let cluster: EtcdCluster;
  let root: string;
  let site = 0;
  let instances: Instance[] = [];
  let watch: PipelineWatch | undefined;
  const running = () => instances.filter((i) => i.running);
  const stderrs = () => instances.map((i) => `${i.id}: ${i.stderr}`).join('\n');

  beforeAll(async () => {
    if (!existsSync(instanceScript())) throw new Error(`${instanceScript()} is missing: run npm run build`);
    root = mkdtempSync(join(tmpdir(), 'pc-instances-'));
    cluster = await EtcdCluster.start(3);
  });

  afterEach(async () => {
    const w = watch;
    watch = undefined;
    await Promise.all(instances.map((i) => i.terminate()));
    instances = [];
    if (!w) return;
    w.stop();
    // Each instance stops its own pipelines, and its dead-man those of a dead one: any left is a fault.
    const left = w.killAlive();
    expect(left.map((p) => `${p.instance}:${p.spec} (pid ${p.pid})`), 'pipeline processes left running').toEqual([]);
  });

  afterAll(async () => {
    await cluster?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Three instances of a new site, then `specs` written, once each spec runs exactly once. */
  const fleet = async (specs: string[]) => {
    const name = `site${++site}`;
    const specsDir = join(root, name, 'specs');
    mkdirSync(specsDir, { recursive: true });
    instances = ['a', 'b', 'c'].map((id) => {
      const stateDir = join(root, name, id);
      mkdirSync(stateDir);
      return new Instance({ id, site: name, endpoints: cluster.endpoints, specsDir, stateDir, ttlSeconds: TTL_S, capacity: specs.length });
    });
    watch = new PipelineWatch(() => running().map((i) => i.pid));
    // Specs only once all three see each other, as boxes that boot together, so the load spreads.
    await waitUntil(() => instances.every((i) => i.ready() && i.state()?.live?.length === 3), 30_000, () => `three instances ready: ${stderrs()}`, { intervalMs: 50 });
    watch.start(10);
    writeSpecs(specsDir, specs);
    // Settled too: each spawn returned, so its dead-man switch knows every pipeline process. (A
    // SIGKILL inside spawnRegistered can leave one it was never told of: the guard is sent only
    // after the registry's state file is written and fsync'd, tens of ms under etcd's disk load.)
    await waitUntil(() => ownedOnce(instances, specs) && watch!.oncePerSpec(specs) && settled(instances), 20_000, () => `each spec owned and running once: ${describeOwnership(instances)}\n${stderrs()}`, { intervalMs: 20 });
    return watch;
  };
  /** `victim`'s specs run on the others, once each, and nothing of the victim's runs. */
  const movedOff = (w: PipelineWatch, victim: Instance, specs: string[]) =>
    ownedOnce(instances.filter((i) => i !== victim), specs) && w.oncePerSpec(specs) && w.alive().every((p) => p.instance !== victim.id);
  /** The instance that owns the most (so that a failover moves something). */
  const busiest = () => [...running()].sort((x, y) => y.owned().length - x.owned().length)[0]!;

  it('owns every spec exactly once, and runs exactly one pipeline process per spec, on its owner', async () => {
    const specs = specNames(9);
    const w = await fleet(specs);
    const alive = w.alive();
    expect(alive.map((p) => p.spec).sort()).toEqual(specs);
    for (const p of alive) expect(instances.find((i) => i.id === p.instance)!.owned()).toContain(p.spec);
    // What each instance believes it runs is what runs.
    for (const i of instances) expect(i.state()!.pipelines).toEqual(i.owned());
    // Not asserted: how evenly they spread depends on when each instance's watch sees the files.
    report(`spread of ${specs.length} specs: ${instances.map((i) => `${i.id} ${i.owned().length}`).join(', ')}`);
  });

  it('SIGSTOP: the paused instance’s pipelines are gone before another’s start; after SIGCONT it fences itself, re-joins and starts none of them again', async () => {
    const specs = specNames(9);
    const w = await fleet(specs);
    const victim = busiest();
    const others = instances.filter((i) => i !== victim);
    const s0 = Date.now();
    victim.signal('SIGSTOP');
    await waitUntil(() => movedOff(w, victim, specs), TTL + 5000, () => `the others running everything: ${describeOwnership(instances)}`, { intervalMs: 20 });
    const fs = failovers(w, victim.id, s0);
    expect(fs.map((f) => f.spec).sort()).toEqual(victim.state()!.owned!.slice().sort());
    for (const f of fs) {
      // Killed by its dead-man while it was paused, at ⅔ TTL of silence…
      expect(f.before!.endMs, `${f.spec}: the paused instance's pipeline ended`).toBeDefined();
      expect(f.after, `${f.spec}: taken over`).toBeDefined();
      // …before the new owner's started: never two at once.
      expect(f.overlapMs, `${f.spec}: both pipelines alive`).toBe(0);
      expect(f.before!.endMs!).toBeLessThanOrEqual(f.after!.startMs);
    }
    const killedBy = Math.max(...fs.map((f) => f.stoppedMs!));
    const firstTakeover = Math.min(...fs.map((f) => f.takeoverMs!));
    report(`SIGSTOP of ${victim.id} (${fs.length} specs): its pipelines gone within ${killedBy} ms, the first taken over after ${firstTakeover} ms (margin ${firstTakeover - killedBy} ms), the last after ${Math.max(...fs.map((f) => f.takeoverMs!))} ms; TTL ${TTL} ms`);
    expect(killedBy).toBeLessThanOrEqual((TTL * 2) / 3 + 500);

    const c0 = Date.now();
    victim.signal('SIGCONT');
    // Its first act: it knows by its own clock that it is fenced, and owns nothing.
    const resumed = await waitUntil(() => victim.lines.find((l) => l.kind === 'resumed' && l.t >= c0), 5000, () => `the paused instance's first tick: ${victim.stderr}`);
    expect(resumed.fenced).toBe(true);
    expect(resumed.owned).toEqual([]);
    // Then back on a new lease, owning only what nobody else does: here nothing is free.
    await waitUntil(() => victim.lines.some((l) => l.kind === 'state' && l.t >= c0 && l.fenced === false), TTL + 5000, () => `back on a lease: ${describeOwnership(instances)} ${victim.stderr}`, { intervalMs: 20 });
    // A window of one TTL (its resync period) for anything it would restart on a stale belief.
    await waitUntil(() => Date.now() >= c0 + TTL, TTL + 1000, 'one TTL after the resume');
    // What it believes (its lines) and what runs (/proc): nothing of the others'.
    for (const l of victim.lines.filter((x) => x.t >= c0)) expect(l.owned ?? []).toEqual([]);
    expect(victim.state()!.pipelines).toEqual([]);
    const restarted = w.processes.filter((p) => p.instance === victim.id && p.startMs > s0);
    expect(restarted).toEqual([]);
    expect(ownedOnce(running(), specs)).toBe(true);
    expect(w.oncePerSpec(specs)).toBe(true);
    report(`SIGCONT: fenced at its first tick, back on a lease ${victim.lines.find((l) => l.kind === 'state' && l.t >= c0 && l.fenced === false)!.t - c0} ms later owning nothing; no pipeline of its own started again`);
  });

  it('SIGKILL: the dead instance’s specs run elsewhere within TTL + 2 s (its dead-man revokes its lease)', async () => {
    const specs = specNames(9);
    const w = await fleet(specs);
    const victim = busiest();
    const survivors = instances.filter((i) => i !== victim);
    const k0 = Date.now();
    await victim.kill();
    await waitUntil(() => movedOff(w, victim, specs), TTL + 5000, () => `the survivors running everything: ${describeOwnership(instances)}`, { intervalMs: 20 });
    const fs = failovers(w, victim.id, k0);
    expect(fs.length).toBeGreaterThan(0);
    for (const f of fs) {
      expect(f.after, `${f.spec}: taken over`).toBeDefined();
      expect(f.takeoverMs!).toBeLessThanOrEqual(TTL + 2000);
      expect(f.overlapMs, `${f.spec}: both pipelines alive`).toBe(0);
    }
    const takeovers = fs.map((f) => f.takeoverMs!).sort((a, b) => a - b);
    report(`SIGKILL of ${victim.id} (${fs.length} specs): its pipelines gone within ${Math.max(...fs.map((f) => f.stoppedMs!))} ms; running elsewhere after ${takeovers[0]}–${takeovers.at(-1)} ms (TTL ${TTL} ms: the last will revoked the lease)`);
  });
});
