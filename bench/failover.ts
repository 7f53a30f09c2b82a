// bench/failover: a 3-member etcd on loopback, 3 instances (failover-instance.ts: the real
// controller, etcd coordinator and dead-man switch, stand-in components whose browser runs one
// `sleep` per stream) and 60 specs. Measured from outside, by polling /proc every 10 ms for the
// instances' pipeline processes:
// - the spread of specs over the instances;
// - etcd traffic per spec per minute at steady state, from the members' /metrics;
// - takeover after SIGKILL of one instance: per spec, from the kill to that spec's pipeline
//   process running on another instance (median, worst);
// - after SIGSTOP of another: the double-cast window (per spec, how long the paused instance's and
//   the new owner's pipeline processes were both alive; the goal is 0, the dead-man's job), the
//   takeover, and after SIGCONT whether the paused instance started any pipeline again.
// Ends with one JSON line. Flags: --specs 60 --instances 3 --ttl 3 --steady-s 20.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EtcdCluster } from '../test/fixtures/etcd-cluster.js';
import { waitUntil } from '../test/helpers.js';
import { Instance, PipelineWatch, describeOwnership, etcdCounters, failovers, ownedOnce, percentile, settled, specNames, writeSpecs, type SpecFailover } from './failover-fleet.js';

const { values } = parseArgs({
  options: {
    specs: { type: 'string', default: '60' },
    instances: { type: 'string', default: '3' },
    ttl: { type: 'string', default: '3' },
    'steady-s': { type: 'string', default: '20' },
  },
});
const SPECS = Number(values.specs);
const INSTANCES = Number(values.instances);
const TTL_S = Number(values.ttl);
const TTL = TTL_S * 1000;
const STEADY_S = Number(values['steady-s']);
const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].slice(0, INSTANCES);
if (ids.length < 2 || ids.length !== INSTANCES) throw new Error('--instances: 2 to 8');


function summary(fs: SpecFailover[]) {
  const takeovers = fs.map((f) => f.takeoverMs ?? Infinity);
  const stopped = fs.map((f) => f.stoppedMs ?? Infinity);
  const overlaps = fs.map((f) => f.overlapMs);
  return {
    specs: fs.length,
    takeoverMedianMs: Math.round(percentile(takeovers, 50)),
    takeoverWorstMs: Math.round(Math.max(...takeovers)),
    stoppedWorstMs: Math.round(Math.max(...stopped)),
    overlapMaxMs: Math.round(Math.max(0, ...overlaps)),
    overlapSpecs: overlaps.filter((o) => o > 0).length,
  };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'pc-failover-'));
  const specsDir = join(root, 'specs');
  mkdirSync(specsDir);
  const specs = specNames(SPECS);
  let cluster: EtcdCluster | undefined;
  const instances: Instance[] = [];
  const watch = new PipelineWatch(() => instances.filter((i) => i.running).map((i) => i.pid));
  let started = 0;
  const startInstance = (id: string) => {
    const stateDir = join(root, `${id}-${++started}`);
    mkdirSync(stateDir);
    const i = new Instance({ id, site: 'bench', endpoints: cluster!.endpoints, specsDir, stateDir, ttlSeconds: TTL_S, capacity: SPECS });
    instances.push(i);
    return i;
  };
  const running = () => instances.filter((i) => i.running);
  const stderrs = () => instances.map((i) => i.stderr).join('');
  /** `victim`'s specs run on the others, once each, and nothing of the victim's runs. */
  const movedOff = (victim: Instance) => ownedOnce(running().filter((i) => i !== victim), specs) && watch.oncePerSpec(specs) && watch.alive().every((p) => p.instance !== victim.id);

  try {
    cluster = await EtcdCluster.start(3);
    console.log(`etcd: 3 members at ${cluster.endpoints.join(' ')}`);
    const t0 = Date.now();
    for (const id of ids) startInstance(id);
    // Specs only once every instance is up and sees the others, as boxes that boot together.
    await waitUntil(() => instances.every((i) => i.ready() && i.state()?.live?.length === INSTANCES), 30_000, () => `${INSTANCES} instances ready: ${stderrs()}`, { intervalMs: 50 });
    console.log(`${INSTANCES} instances up and seeing each other after ${Date.now() - t0} ms (TTL ${TTL_S} s, dead-man at ⅔ TTL)`);
    watch.start(10);
    const t1 = Date.now();
    writeSpecs(specsDir, specs);
    await waitUntil(() => ownedOnce(running(), specs) && watch.oncePerSpec(specs) && settled(instances), 30_000, () => `every spec owned and running once: ${describeOwnership(instances)} ${stderrs()}`, { intervalMs: 20 });
    const convergeMs = Date.now() - t1;
    const spread = instances.map((i) => i.owned().length);
    console.log(`${SPECS} specs written: each owned once and its pipeline process running once after ${convergeMs} ms; spread ${ids.map((id, n) => `${id} ${spread[n]}`).join(', ')}`);

    // Steady state: etcd's counters over a window with nothing changing.
    const before = await Promise.all(cluster.endpoints.map(etcdCounters));
    const w0 = Date.now();
    await new Promise((r) => setTimeout(r, STEADY_S * 1000));
    const after = await Promise.all(cluster.endpoints.map(etcdCounters));
    const minutes = (Date.now() - w0) / 60_000;
    const delta = (k: string) => after.map((a, n) => a[k]! - before[n]![k]!);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const perSpecMin = (n: number) => Math.round((n / SPECS / minutes) * 10) / 10;
    const grpcPerSpecMin = perSpecMin(sum(delta('grpc_server_handled_total')));
    const msgsPerSpecMin = perSpecMin(sum(delta('grpc_server_msg_received_total')));
    const proposalsPerSpecMin = perSpecMin(Math.max(...delta('etcd_server_proposals_committed_total')));
    const rangesPerSpecMin = perSpecMin(sum(delta('etcd_debugging_mvcc_range_total')));
    const putsPerSpecMin = perSpecMin(Math.max(...delta('etcd_debugging_mvcc_put_total')));
    if (!ownedOnce(running(), specs) || !watch.oncePerSpec(specs)) throw new Error(`ownership moved at steady state: ${describeOwnership(instances)}`);
    console.log(
      `etcd at steady state over ${STEADY_S} s, per spec per minute: ${grpcPerSpecMin} gRPC calls handled (grpc_server_handled_total, all members), ${msgsPerSpecMin} gRPC messages received, ${rangesPerSpecMin} range reads (etcd_debugging_mvcc_range_total, all members), ${proposalsPerSpecMin} raft proposals committed (etcd_server_proposals_committed_total, one member), ${putsPerSpecMin} key writes (etcd_debugging_mvcc_put_total, one member)`,
    );

    // SIGKILL: its dead-man kills its pipelines on the pipe's end and revokes its lease (its last will).
    const killed = [...running()].sort((x, y) => y.owned().length - x.owned().length)[0]!;
    const k0 = Date.now();
    await killed.kill();
    await waitUntil(() => movedOff(killed), TTL + 10_000, () => `survivors running everything: ${describeOwnership(instances)}`, { intervalMs: 20 });
    const kill = summary(failovers(watch, killed.id, k0));
    console.log(
      `SIGKILL of ${killed.id} (${kill.specs} specs): its pipelines gone within ${kill.stoppedWorstMs} ms (dead-man on the pipe's end); taken over in median ${kill.takeoverMedianMs} ms, worst ${kill.takeoverWorstMs} ms (TTL ${TTL} ms; the will revokes the lease); both alive at once: ${kill.overlapMaxMs} ms max`,
    );

    // The killed box comes back (same id): it owns nothing, nothing moves to it.
    // The time a spawn holds the event loop (fork, register, state file fsync'd, guard sent): a kill
    // inside it leaves a process the dead-man switch was never told of.
    const spawnMs = instances.flatMap((i) => i.lines.filter((l) => l.kind === 'spawned').map((l) => l.ms!));
    const spawnMedianMs = percentile(spawnMs, 50);
    const spawnWorstMs = Math.max(...spawnMs);
    console.log(`spawnRegistered of a pipeline process (fork to its guard sent to the dead-man): median ${spawnMedianMs} ms, worst ${spawnWorstMs} ms over ${spawnMs.length}`);

    const back = startInstance(killed.id);
    await waitUntil(() => back.ready() && running().every((i) => i.state()?.live?.length === INSTANCES), 30_000, () => `${killed.id} back: ${stderrs()}`, { intervalMs: 50 });

    // SIGSTOP: the paused instance's dead-man kills its pipelines at ⅔ TTL; its lease ends at TTL.
    const paused = [...running()].sort((x, y) => y.owned().length - x.owned().length)[0]!;
    const s0 = Date.now();
    paused.signal('SIGSTOP');
    await waitUntil(() => movedOff(paused), TTL + 10_000, () => `the others running everything: ${describeOwnership(instances)}`, { intervalMs: 20 });
    const stopFs = failovers(watch, paused.id, s0);
    const stop = summary(stopFs);
    console.log(
      `SIGSTOP of ${paused.id} (${stop.specs} specs): its pipelines killed by its dead-man within ${stop.stoppedWorstMs} ms; taken over in median ${stop.takeoverMedianMs} ms, worst ${stop.takeoverWorstMs} ms; double-cast window ${stop.overlapMaxMs} ms max over ${stop.overlapSpecs} specs (goal 0); margin between the last kill and the first takeover ${Math.min(...stopFs.map((f) => f.takeoverMs ?? Infinity)) - stop.stoppedWorstMs} ms`,
    );
    const c0 = Date.now();
    paused.signal('SIGCONT');
    await waitUntil(() => paused.lines.some((l) => l.kind === 'state' && l.t > c0 && l.fenced === false), TTL + 10_000, () => `${paused.id} back on a lease: ${describeOwnership(instances)} ${paused.stderr}`, { intervalMs: 20 });
    const rejoinMs = Date.now() - c0;
    const resumed = paused.lines.find((l) => l.kind === 'resumed' && l.t >= c0);
    // One TTL more: anything it would restart on its own stale belief shows by then.
    await new Promise((r) => setTimeout(r, TTL));
    const restarted = watch.processes.filter((p) => p.instance === paused.id && p.startMs > s0);
    const ownedAfter = paused.owned();
    console.log(
      `SIGCONT: first tick ${resumed ? `fenced=${resumed.fenced}, owning ${resumed.owned?.length}` : 'not seen'}; back on a new lease after ${rejoinMs} ms, owning ${ownedAfter.length}; pipeline processes it started after the pause: ${restarted.length}${restarted.length ? ` (${restarted.map((p) => p.spec).join(', ')})` : ''}`,
    );
    if (!watch.oncePerSpec(specs)) console.log(`WARNING: not one pipeline per spec after the resume: ${[...watch.aliveBySpec()].filter(([, v]) => v.length !== 1).map(([s, v]) => `${s}: ${v.join(',')}`).join('; ')}`);

    console.log(
      JSON.stringify({
        bench: 'failover',
        etcdMembers: 3,
        instances: INSTANCES,
        specs: SPECS,
        ttlS: TTL_S,
        deadManMs: Math.floor((TTL * 2) / 3),
        spread,
        convergeMs,
        etcdGrpcCallsPerSpecPerMin: grpcPerSpecMin,
        etcdRangeReadsPerSpecPerMin: rangesPerSpecMin,
        etcdProposalsPerSpecPerMin: proposalsPerSpecMin,
        etcdPutsPerSpecPerMin: putsPerSpecMin,
        killTakeoverMedianMs: kill.takeoverMedianMs,
        killTakeoverWorstMs: kill.takeoverWorstMs,
        killOverlapMaxMs: kill.overlapMaxMs,
        stopPipelinesKilledWorstMs: stop.stoppedWorstMs,
        stopTakeoverMedianMs: stop.takeoverMedianMs,
        stopTakeoverWorstMs: stop.takeoverWorstMs,
        doubleCastWindowMaxMs: stop.overlapMaxMs,
        doubleCastSpecs: stop.overlapSpecs,
        pausedRejoinMs: rejoinMs,
        spawnRegisteredMedianMs: spawnMedianMs,
        spawnRegisteredWorstMs: spawnWorstMs,
        pausedRestartedPipelines: restarted.length,
        procPolls: watch.polls,
      }),
    );
  } finally {
    await Promise.all(instances.map((i) => i.terminate()));
    watch.stop();
    const left = watch.killAlive();
    if (left.length) console.error(`pipeline processes left running, killed now: ${left.map((p) => `${p.instance}:${p.spec} (pid ${p.pid})`).join(', ')}`);
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
