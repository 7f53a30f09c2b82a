// bench/e2e: the real pipeline against fake TVs, over repeated runs.
//   spec written → PLAYING; device stop (IDLE) → PLAYING; connection dropped → PLAYING (no LOAD);
//   FFmpeg SIGKILL → PLAYING; device away past parkAfter (stream parked), then back: answering →
//   PLAYING; live latency at the device (HLS, fMP4); controller CPU with 3 specs.
// Usage: npm run bench:e2e [-- --runs N]. Ends with one JSON line.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHarness, specYaml, waitPlaying, PAGE } from '../test/harness.js';
import { FakeCastDevice, selfSignedCert } from '../test/fake-device/device.js';
import { waitUntil } from '../test/helpers.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'cpu-seconds': { type: 'string', default: '30' } } });
const RUNS = Math.max(1, Number(values.runs));
const CPU_SECONDS = Number(values['cpu-seconds']);

const stats = (xs: number[]) => ({ p50: Math.round([...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!), max: Math.round(Math.max(...xs)) });

/** A short parkAfter, so a run can wait it out: the device is away this long before the stream parks. */
const PARK_AFTER = '3s';

async function measureRecovery(): Promise<{ spec: number[]; idle: number[]; reconnect: number[]; kill: number[]; back: number[]; reconnectLoads: number; latency: { hls: number; fmp4: number } }> {
  const h = await startHarness();
  const tv = await h.device('Bench TV');
  const out = { spec: [] as number[], idle: [] as number[], reconnect: [] as number[], kill: [] as number[], back: [] as number[], reconnectLoads: 0, latency: { hls: NaN, fmp4: NaN } };
  const latencies: Record<'hls' | 'fmp4', number[]> = { hls: [], fmp4: [] };
  try {
    for (let run = 0; run < RUNS; run++) {
      const mode = run === RUNS - 1 && RUNS > 1 ? 'fmp4' : 'hls';
      let t = Date.now();
      h.writeSpec('bench.yaml', specYaml('bench', `{ host: 127.0.0.1, port: ${tv.port} }`, `${h.page.url}?run=${run}`, `    parkAfter: ${PARK_AFTER}\n  mode: ${mode}\n`));
      await waitPlaying(tv, 60_000);
      out.spec.push(Date.now() - t);

      // Live latency: the median of one sample per decoded segment over six segments.
      const samples: number[] = [];
      for (let k = 0; k < 6; k++) {
        const seen = tv.status().player?.segmentsDecoded ?? 0;
        await waitUntil(() => (tv.status().player?.segmentsDecoded ?? 0) > seen, 30_000, 'a segment');
        const l = tv.status().player?.latencyMs;
        if (l !== undefined) samples.push(l);
      }
      const lat = samples.length ? samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)] : undefined;
      if (lat !== undefined) latencies[mode].push(lat);

      const loads = tv.count('LOAD');
      t = Date.now();
      await tv.remoteStop();
      await waitUntil(() => tv.count('LOAD') > loads, 30_000, 'LOAD');
      await waitPlaying(tv);
      out.idle.push(Date.now() - t);

      const loadsBefore = tv.count('LOAD');
      t = Date.now();
      await tv.dropConnections();
      await waitUntil(() => tv.status().connections > 0 && h.controller.get('bench')?.phase === 'Playing' && h.controller.get('bench')?.lastDrift?.reason === 'ConnectionLost', 30_000, 'rejoin');
      out.reconnect.push(Date.now() - t);
      out.reconnectLoads += tv.count('LOAD') - loadsBefore;

      const ff = h.runtime.registry.list().find((r) => /ffmpeg/.test(r.name))!;
      const decoded = tv.status().player?.segmentsDecoded ?? 0;
      t = Date.now();
      process.kill(ff.pid, 'SIGKILL');
      await waitUntil(() => (tv.status().player?.segmentsDecoded ?? 0) >= decoded + 2 && tv.status().media?.playerState === 'PLAYING' && h.runtime.registry.list().some((r) => /ffmpeg/.test(r.name) && r.pid !== ff.pid), 60_000, 'playing after kill');
      out.kill.push(Date.now() - t);

      // Away past parkAfter: every process of the stream stops. Back: from the first connection the
      // device accepts to PLAYING with decoded frames from a new LOAD.
      await tv.powerOff();
      await waitUntil(() => h.controller.get('bench')?.phase === 'Parked' && h.runtime.registry.list().length === 0, 60_000, 'parked, no process left');
      const accepted = tv.acceptedAt.length;
      const loadsParked = tv.count('LOAD');
      await tv.powerOn();
      await waitUntil(() => tv.acceptedAt.length > accepted, 60_000, 'reconnected');
      await waitUntil(() => tv.count('LOAD') > loadsParked && tv.status().media?.playerState === 'PLAYING' && (tv.status().player?.framesDecoded ?? 0) > 0, 60_000, 'playing after the device is back');
      out.back.push(Date.now() - tv.acceptedAt[accepted]!);

      h.removeSpec('bench.yaml');
      await waitUntil(() => h.runtime.registry.list().length === 0, 30_000, 'teardown');
      console.log(`run ${run + 1}/${RUNS} (${mode}): spec→PLAYING ${out.spec.at(-1)} ms, IDLE→PLAYING ${out.idle.at(-1)} ms, reconnect ${out.reconnect.at(-1)} ms, FFmpeg kill→PLAYING ${out.kill.at(-1)} ms, device back→PLAYING ${out.back.at(-1)} ms, latency ${lat ?? 'n/a'} ms`);
    }
  } finally {
    await h.close();
  }
  const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]! : NaN);
  out.latency = { hls: median(latencies.hls), fmp4: median(latencies.fmp4) };
  return out;
}

/** CPU of `pagecast run` itself (not its children) while 3 specs play, from /proc/<pid>/stat. */
async function measureControllerCpu(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-bench-e2e-'));
  const state = mkdtempSync(join(tmpdir(), 'pc-bench-e2e-state-'));
  const page = createServer((_q, r) => r.end(PAGE));
  await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(page.address() as { port: number }).port}/`;
  const tls = await selfSignedCert();
  const tvs = await Promise.all([1, 2, 3].map(async (i) => {
    const d = new FakeCastDevice({ name: `CPU TV ${i}`, host: '127.0.0.1', port: 0, tls });
    await d.start();
    return d;
  }));
  tvs.forEach((tv, i) => writeFileSync(join(dir, `s${i}.yaml`), specYaml(`s${i}`, `{ host: 127.0.0.1, port: ${tv.port} }`, url)));
  // BENCH_CPU_PROF=DIR writes a CPU profile of the controller to DIR (to find what it spends).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const child = spawn(process.execPath, [...prof, 'dist/controller/cli/cli.js', 'run', dir, '--state-dir', state, '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0', '--log-level', 'warn'], { stdio: 'ignore' });
  try {
    for (const tv of tvs) await waitPlaying(tv, 90_000);
    const ticks = () => {
      const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
    };
    // Per thread (main, libuv workers, V8 helpers), to see where the ticks go.
    const threads = () => {
      const out = new Map<string, number>();
      for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
        try {
          const name = readFileSync(`/proc/${child.pid}/task/${tid}/comm`, 'utf8').trim();
          const f = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          out.set(`${name}#${tid} user`, Number(f[11]));
          out.set(`${name}#${tid} sys`, Number(f[12]));
        } catch {
          // the thread ended
        }
      }
      return out;
    };
    const t0 = Date.now();
    const c0 = ticks();
    const th0 = threads();
    await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
    const pct = ((ticks() - c0) / 100 / ((Date.now() - t0) / 1000)) * 100;
    const th1 = threads();
    console.log(`  by thread (ticks of 10 ms): ${[...th1].map(([n, t]) => [n, t - (th0.get(n) ?? 0)] as const).filter(([, t]) => t > 0).map(([n, t]) => `${n} ${t}`).join(', ')}`);
    console.log(`controller process CPU with 3 specs playing: ${pct.toFixed(2)} % of one core over ${CPU_SECONDS} s`);
    return pct;
  } finally {
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await done;
    for (const tv of tvs) await tv.stop();
    page.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const r = await measureRecovery();
  const cpu = await measureControllerCpu();
  const result = {
    bench: 'e2e',
    runs: RUNS,
    specToPlayingMs: stats(r.spec),
    idleToPlayingMs: stats(r.idle),
    reconnectToPlayingMs: { ...stats(r.reconnect), newLoads: r.reconnectLoads },
    encoderKillToPlayingMs: stats(r.kill),
    deviceBackToPlayingMs: stats(r.back),
    latencyMs: { hls: Math.round(r.latency.hls), fmp4: Math.round(r.latency.fmp4) },
    controllerCpuPct: Math.round(cpu * 100) / 100,
  };
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
