// One pagecast instance of a site, for bench/failover and the instance-pause etcd test: a real
// Controller, EtcdCoordinator and dead-man switch (wired as `pagecast run --coordinator etcd`
// wires them), with stand-in components whose browser also runs one registered process per stream,
// so that an observer outside can see from /proc whose pipeline runs, and the dead-man can kill it
// as it would kill Chromium. The process is `sleep` with argv[0] `pc-pipeline:<instance>:<spec>`
// (PIPELINE_ARGV0). The browser is wrapped rather than the display because it is the component
// that is given the page, and so knows the spec (its URL ends with the spec's name).
//
// It prints JSON lines on stdout: `ready`; `state` whenever what it owns, its fence or its
// pipelines change; `spawned` when it started a pipeline process (and how long spawning and
// registering it took); `resumed` on the first tick after a gap (it was paused); `fired` when its
// dead-man switch killed its pipelines. SIGTERM stops it cleanly (its lease is revoked).
//
// Usage: node dist/bench/failover-instance.js --id a --site s --endpoints URL,URL --specs DIR
//          --state DIR [--ttl 3] [--capacity N] [--stagger-ms 250]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Controller } from '../controller/controller.js';
import { EtcdCoordinator } from '../controller/coordination/etcd-coordinator.js';
import type { BrowserDriver, BrowserHandle } from '../machines/components.js';
import { createLogger } from '../machines/log.js';
import { DeadManSwitch } from '../machines/processes/dead-man.js';
import { deadManTimeoutForLease } from '../machines/processes/dead-man-rules.js';
import { ProcessRegistry, spawnRegistered } from '../machines/processes/registry.js';
import { standInComponents } from '../test/stand-ins/components.js';
import { PIPELINE_ARGV0, type InstanceLine } from './failover-fleet.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      id: { type: 'string' },
      site: { type: 'string' },
      endpoints: { type: 'string' },
      specs: { type: 'string' },
      state: { type: 'string' },
      ttl: { type: 'string', default: '3' },
      capacity: { type: 'string' },
      'stagger-ms': { type: 'string' },
    },
  });
  const need = (k: 'id' | 'site' | 'endpoints' | 'specs' | 'state') => {
    const v = values[k];
    if (!v) throw new Error(`--${k} is required`);
    return v;
  };
  const id = need('id');
  const stateDir = need('state');
  const ttlSeconds = Number(values.ttl);
  const log = createLogger({ level: process.env.INSTANCE_LOG ?? 'warn', format: 'json' }).child({ instance: id });
  const print = (line: Omit<InstanceLine, 't' | 'id'>) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, ...line })}\n`);

  const streams = join(stateDir, 'streams');
  mkdirSync(streams, { recursive: true });
  const registry = new ProcessRegistry({ stateFile: join(stateDir, 'children.json'), log: log.child({ component: 'processes' }) });
  const deadMan = new DeadManSwitch({ registry, timeoutMs: deadManTimeoutForLease(ttlSeconds * 1000), log: log.child({ component: 'dead-man' }) });
  await deadMan.start();

  const running = new Map<object, string>(); // browser handle → spec
  const components = standInComponents(streams);
  const standInBrowser = components.browser;
  // The stand-in browser, plus one registered process for as long as it runs. The process dying
  // (the dead-man) is the browser dying, as Chromium's would be.
  const browser: BrowserDriver = {
    async start(o, ctx) {
      const h = (await standInBrowser.start(o, ctx)) as BrowserHandle & { die(i: { reason: string; signal?: string }): void };
      const spec = (o.input.url ?? o.input.pages?.[0]?.url ?? '?').split('/').pop()!;
      const t0 = performance.now();
      const child = spawnRegistered(registry, `pipeline ${spec}`, 'sleep', ['1000000'], { argv0: `${PIPELINE_ARGV0}:${id}:${spec}` });
      // Until spawnRegistered returns, its dead-man switch may not know the process yet.
      print({ kind: 'spawned', spec, pid: child.pid, ms: Math.round(performance.now() - t0) });
      running.set(h, spec);
      let stopping = false;
      void child.exited.then((e) => {
        registry.unregister(child.pid);
        running.delete(h);
        if (!stopping) h.die({ reason: 'killed', ...(e.signal ? { signal: e.signal } : {}) });
        tick();
      });
      const stop = h.stop.bind(h);
      h.stop = async () => {
        stopping = true;
        await child.stop();
        running.delete(h);
        await stop();
      };
      tick();
      return h;
    },
  };

  const coordinator = new EtcdCoordinator({
    endpoints: need('endpoints').split(','),
    site: need('site'),
    instanceId: id,
    ttlSeconds,
    log,
    ...(values.capacity ? { capacity: Number(values.capacity) } : {}),
    ...(values['stagger-ms'] ? { staggerMs: Number(values['stagger-ms']) } : {}),
  });
  // As `pagecast run` does: should this process die, its dead-man switch revokes its lease.
  coordinator.onLastWill((will) => deadMan.setWill(will));
  deadMan.onFired((f) => print({ kind: 'fired', killed: f.groups.flatMap((g) => g.killed), gapMs: f.silentMs }));

  const controller = new Controller({
    specsDir: need('specs'),
    stateDir,
    components: { ...components, browser },
    log,
    coordinator,
    resyncMs: 600_000,
    playCheckMs: 0,
  });

  let last = '';
  let lastTick = Date.now();
  function tick(): void {
    const now = Date.now();
    const snap = coordinator.snapshot();
    const { fenced, reason } = coordinator.health();
    const pipelines = [...new Set(running.values())].sort();
    if (now - lastTick > 500) print({ kind: 'resumed', gapMs: now - lastTick, owned: snap.owned, fenced, reason, pipelines });
    lastTick = now;
    const state = JSON.stringify({ owned: snap.owned, fenced, pipelines, live: snap.live });
    if (state === last) return;
    last = state;
    print({ kind: 'state', owned: snap.owned, fenced, ...(reason ? { reason } : {}), pipelines, live: snap.live });
  }
  coordinator.onChange(() => tick());
  const ticker = setInterval(tick, 20);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(ticker);
      await controller.stop();
      await registry.stopAll();
      await deadMan.stop();
    })());
  process.once('SIGTERM', () => void stop().then(() => process.exit(0), () => process.exit(1)));

  await controller.start();
  print({ kind: 'ready', pid: process.pid });
  tick();
}

main().catch((err: unknown) => {
  process.stderr.write(`failover instance: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
