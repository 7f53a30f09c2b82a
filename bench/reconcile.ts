// bench/reconcile: 1,000 spec files with stand-in components (no real processes).
// Prints the cold-start time until all are Playing, edit → applied latency (p50/p99 over 100
// edits) and RSS after converging; ends with one JSON line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Controller } from '../controller/controller.js';
import { tuneHeapForDaemon } from '../controller/heap.js';
import { silentLogger } from '../machines/log.js';
import { standInComponents } from '../test/stand-ins/components.js';

const SPECS = Number(process.env.BENCH_SPECS ?? 1000);
const EDITS = Number(process.env.BENCH_EDITS ?? 100);

const specText = (i: number, rev = 0) => `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: screen-${i}
  labels: { site: store-${i % 20} }
spec:
  device: { host: 10.0.${Math.floor(i / 250)}.${i % 250}, port: 8009 }
  url: https://signage.example/board/${i}?rev=${rev}
  quality: 720p
  priority: ${rev}
  browser:
    zoom: 1.25
    reload: 6h
  policy:
    backoff: { initial: 2s, max: 5m }
`;

async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

async function loadOnlyInFreshProcess(dir: string): Promise<number> {
  const load = pathToFileURL(resolve('dist/specs/load.js')).href;
  const code = `const { listSpecFiles, loadSpecFile } = await import(${JSON.stringify(load)});
const t0 = performance.now();
const loaded = await Promise.all((await listSpecFiles(${JSON.stringify(dir)})).map((f) => loadSpecFile(f)));
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, specs: loaded.reduce((n, r) => n + r.specs.length, 0) }));`;
  const out = await new Promise<string>((res, rej) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d));
    child.on('close', (c) => (c === 0 ? res(text) : rej(new Error(`load-only pass exited ${c}`))));
  });
  const r = JSON.parse(out) as { ms: number; specs: number };
  if (r.specs !== SPECS) throw new Error(`load-only pass loaded ${r.specs} specs, not ${SPECS}`);
  return r.ms;
}

/** Resolves when the committed heap is `ratio` of what it is now or less (or after `maxMs`); the ms waited. */
async function heapReduced(ratio: number, maxMs: number): Promise<number> {
  const t0 = performance.now();
  const target = process.memoryUsage().heapTotal * ratio;
  while (performance.now() - t0 < maxMs && process.memoryUsage().heapTotal > target) await new Promise((r) => setTimeout(r, 250));
  return performance.now() - t0;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-bench-specs-'));
  const state = mkdtempSync(join(tmpdir(), 'pc-bench-state-'));
  const streams = mkdtempSync(join(tmpdir(), 'pc-bench-streams-'));
  for (let i = 0; i < SPECS; i++) writeFileSync(join(dir, `screen-${i}.yaml`), specText(i));
  const components = standInComponents(streams);
  const ctl = new Controller({ specsDir: dir, stateDir: state, components, log: silentLogger(), resyncMs: 600_000 });

  // BENCH_PROFILE=FILE writes a CPU profile of the cold converge alone (open it in Chrome DevTools).
  const profiler = process.env.BENCH_PROFILE ? await startProfile() : undefined;
  const t0 = performance.now();
  await ctl.start();
  // Polled, only the specs not yet seen playing: the bench's own work stays out of the figure.
  const waiting = new Set(Array.from({ length: SPECS }, (_, i) => `screen-${i}`));
  await new Promise<void>((resolve) => {
    const check = () => {
      for (const name of waiting) {
        const cast = ctl.actor(name)?.getSnapshot().children.cast?.getSnapshot() as { matches(v: unknown): boolean } | undefined;
        if (cast?.matches({ connected: 'playing' })) waiting.delete(name);
      }
      if (waiting.size === 0) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
  const coldConvergeMs = performance.now() - t0;
  if (profiler) await profiler.stop(process.env.BENCH_PROFILE!);
  tuneHeapForDaemon(); // as `pagecast run` does once its first reconcile is done
  console.log(`cold start: ${SPECS} specs Playing in ${coldConvergeMs.toFixed(0)} ms`);

  const latencies: number[] = [];
  for (let e = 0; e < EDITS; e++) {
    const i = (e * 37) % SPECS;
    const actor = ctl.actor(`screen-${i}`)!;
    const rev = e + 1;
    const applied = new Promise<void>((resolve) => {
      const sub = actor.subscribe((s) => {
        if (s.context.spec.spec.priority === rev) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    const t = performance.now();
    writeFileSync(join(dir, `screen-${i}.yaml`), specText(i, rev));
    await applied;
    latencies.push(performance.now() - t);
  }
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(`edit → applied over ${EDITS} edits: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
  // A daemon's memory, as it is once quiet: V8's memory reducer gives back what the start-up and
  // the edits grew, about 8 s after the last full collection (--gc-memory-reducer-start-delay-ms).
  // Waited for (the committed heap a fifth smaller, at most 20 s), then one full collection.
  const settleMs = await heapReduced(0.8, 20_000);
  global.gc?.();
  const rssMB = process.memoryUsage().rss / 1024 / 1024;
  const mu = process.memoryUsage();
  console.log(`heap used ${(mu.heapUsed / 1048576).toFixed(0)} MB of ${(mu.heapTotal / 1048576).toFixed(0)} MB, external ${(mu.external / 1048576).toFixed(0)} MB`);
  console.log(`RSS after converging: ${rssMB.toFixed(0)} MB (${(settleMs / 1000).toFixed(1)} s after the edits, once V8's memory reducer ran)`);
  await ctl.stop();

  // The floor: only reading and validating the same files, as the controller's first scan does,
  // in a fresh process so that it pays the same cold start (module loading, JIT) as the converge.
  const loadOnlyMs = await loadOnlyInFreshProcess(dir);
  console.log(`load only: ${SPECS} files read and validated in ${loadOnlyMs.toFixed(0)} ms (cold converge is ${(coldConvergeMs / loadOnlyMs).toFixed(2)}x)`);
  for (const d of [dir, state, streams]) rmSync(d, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      bench: 'reconcile',
      specs: SPECS,
      coldConvergeMs: Math.round(coldConvergeMs),
      loadOnlyMs: Math.round(loadOnlyMs),
      editAppliedP50Ms: Math.round(p50 * 10) / 10,
      editAppliedP99Ms: Math.round(p99 * 10) / 10,
      rssMB: Math.round(rssMB),
    }),
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
