// bench/soak: months in an hour. The real pipeline (Xvfb, Chromium, FFmpeg, `pagecast run` as a
// child process) and three fake Cast devices, four specs (two sharing one stream, one fMP4, one
// waiting behind another on the same TV), with a seeded random fault every 15–30 s: processes
// killed, pages hung, devices stopped, taken, silenced, rebooted, put in standby or offline for
// minutes, specs edited, broken, deleted, pulled and swapped, specs suspended, ephemeral casts,
// and the controller itself stopped or killed and started again.
//
// Checked once a second: no orphan, every spec back in its expected phase within its fault's
// bound, no crash, the controller's RSS and descriptors flat, Chromium's memory, the stream
// directories' size, the state directory, and how much of the time each device really played
// (decoded frames advancing) outside the fault windows — from the devices and from the proof-of-
// play file. Exits non-zero when an invariant breaks. Ends with one JSON line.
//
//   npm run bench:soak -- --minutes 60 [--seed 42] [--keep]
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAULTS, type FaultKind, type Soak } from './soak/faults.js';
import { Model } from './soak/model.js';
import { covered, merge, pooledSlopePerHour, seededRandom, between, weighted, type Interval, type Sample } from './soak/stats.js';
import { descendsFrom, diskUsage, pipelineProcesses, processFigures } from './soak/procs.js';
import { ControllerProcess, PageServer, SPECS, SpecDir, specText, startDevices } from './soak/world.js';
import { ENCODER_DEFAULTS } from '../machines/media/encoder-args.js';
import { PLAY_CHECKPOINT_MS } from '../controller/status/play-log.js';
import { readPlayIntervals } from './soak/play-file.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(values.minutes);
const SEED = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!(MINUTES > 0) || !Number.isInteger(SEED)) {
  console.error('usage: bench:soak -- --minutes N [--seed S] [--keep]');
  process.exit(2);
}

/** The playlist window, the delete threshold, and the segment being written. */
const MAX_SEGMENTS = ENCODER_DEFAULTS.listSize + ENCODER_DEFAULTS.deleteThreshold + 1;
/** A process outliving its controller this long after the next one is up is an orphan. */
const ORPHAN_GRACE_MS = 20_000;
/** More processes of a kind than the streams need, for longer than this, is an excess. */
const EXCESS_GRACE_MS = 90_000;
/** The controller's RSS and descriptors are fitted from this long after each start. */
const WARM_MS = 60_000;
const ADVANCE_LOOKBACK_MS = 4_000;
/** A fault is over once its devices have been as expected this long without a break: a TV
 *  playing from its buffer while the stream behind it restarts has not recovered yet. */
const STABLE_MS = 15_000;

interface FaultRecord {
  kind: string;
  note: string;
  devices: number[];
  injectedAt: number;
  windowEnd?: number;
  recoveredAt?: number;
  boundMs: number;
  late?: boolean;
  /** Since when its devices have been as expected without a break (after its window). */
  okSince?: number;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 'pc-soak-'));
  const specsDir = join(root, 'specs');
  const stateDir = join(root, 'state');
  const logFile = join(root, 'controller.log');
  const rand = seededRandom(SEED);
  const violations: string[] = [];
  const violation = (what: string) => {
    violations.push(`${new Date().toISOString()} ${what}`);
    console.log(`  VIOLATION: ${what}`);
  };
  let unhandled = 0;
  let strayLines = 0;

  const pages = new PageServer();
  await pages.start();
  const devices = await startDevices(3);
  const specDir = new SpecDir(specsDir);
  const model = new Model();
  for (const def of SPECS) specDir.write(def, specText(def, devices[def.device]!.port, pages.url(def.page), model.versions.get(def.name)!));

  let restarting = false;
  const controller: ControllerProcess = new ControllerProcess({
    specsDir,
    stateDir,
    apiPort: await freePort(),
    logFile,
    events: {
      onUnexpectedExit: (code, signal) => {
        unhandled++;
        violation(`the controller died by itself (code ${code}, signal ${signal}); see ${logFile}`);
        if (!restarting && !finishing) void restart();
      },
      onStrayOutput: (line) => {
        if (++strayLines <= 20) console.log(`  controller stderr: ${line.slice(0, 300)}`);
        if (/Unhandled|uncaught|Error:/i.test(line)) unhandled++;
      },
    },
  });
  let readyAt = 0;
  let finishing = false;
  /** Stops the controller with `sig` (if given) and starts it again; resolves once it is ready. */
  const restart = async (sig?: 'SIGTERM' | 'SIGKILL') => {
    restarting = true;
    try {
      if (sig) {
        const { ms } = await controller.signal(sig);
        if (sig === 'SIGTERM' && ms > 30_000) violation(`SIGTERM took ${ms} ms`);
        if (sig === 'SIGTERM') {
          // A graceful stop leaves nothing running.
          const left = await leftovers();
          if (left.length) violation(`after SIGTERM: ${left.map((p) => `${p.comm} ${p.pid}`).join(', ')} still running`);
        }
      }
      controller.start();
      await controller.ready();
      readyAt = Date.now();
      startSegment();
    } finally {
      restarting = false;
    }
  };

  // ── what is sampled ───────────────────────────────────────────────────────────────────────
  const rssSegments: Sample[][] = [];
  const fdSegments: Sample[][] = [];
  const startSegment = () => {
    rssSegments.push([]);
    fdSegments.push([]);
  };
  let statuses = new Map<string, { phase: string; error?: string; stream?: { id: string } }>();
  const frames: Array<Array<{ t: number; frames: number; playing: boolean }>> = devices.map(() => []);
  const faults: FaultRecord[] = [];
  const firstSeen = new Map<number, number>();
  const orphans = new Set<number>();
  const excessSince = new Map<string, number>();
  let excess = 0;
  let chromiumMaxBytes = 0;
  let diskMaxBytes = 0;
  let streamDirMax = 0;
  const stateSamples: Sample[] = [];
  let profilesMax = 0;
  // Per device: the seconds counted for the play ratio, with the spec that should play.
  const counted: Array<Array<{ t: number; spec: string; advancing: boolean }>> = devices.map(() => []);
  let t0 = 0;

  const advancing = (i: number, now: number): boolean => {
    const h = frames[i]!;
    const cur = h[h.length - 1];
    if (!cur || !cur.playing) return false;
    const past = [...h].reverse().find((x) => x.t <= now - ADVANCE_LOOKBACK_MS);
    return past !== undefined && cur.frames > past.frames;
  };

  const deviceOk = (i: number, now: number): boolean => {
    for (const [name, phase] of model.expectedPhases(i)) {
      const st = statuses.get(name);
      if (!st) return false;
      if (phase === 'Playing' && st.phase !== 'Playing') return false;
      if (phase === 'Suspended' && st.phase !== 'Suspended') return false;
      if (phase === 'NotPlaying' && st.phase === 'Playing') return false;
    }
    return model.winner(i) === undefined || advancing(i, now);
  };

  let sampling = false;
  const sample = async () => {
    if (sampling) return;
    sampling = true;
    try {
      const now = Date.now();
      const list = await controller.specs();
      if (list) statuses = new Map(list.map((s) => [s.name, s as { phase: string; error?: string; stream?: { id: string } }]));
      else statuses = new Map();
      devices.forEach((d, i) => {
        const st = d.status();
        const h = frames[i]!;
        h.push({ t: now, frames: st.player?.framesDecoded ?? 0, playing: st.media?.playerState === 'PLAYING' && st.player !== undefined });
        while (h.length > 10) h.shift();
      });

      // Processes: orphans and excess.
      const ctl = controller.pid;
      const procs = pipelineProcesses();
      for (const p of procs) {
        if (p.kind === 'renderer' || p.kind === 'chromium-helper' || p.kind === 'crashpad') continue;
        if (ctl !== undefined && descendsFrom(p.pid, ctl)) continue;
        const seen = firstSeen.get(p.pid) ?? now;
        firstSeen.set(p.pid, seen);
        if (!restarting && readyAt > 0 && now - Math.max(seen, readyAt) > ORPHAN_GRACE_MS && !orphans.has(p.pid)) {
          orphans.add(p.pid);
          violation(`orphan: ${p.comm} ${p.pid} (${p.cmdline.slice(0, 120)}) outlived its controller`);
        }
      }
      const need = model.streamsNeeded(devices.length);
      for (const kind of ['ffmpeg', 'damage-grab', 'xvfb', 'chromium', 'crashpad'] as const) {
        const n = procs.filter((p) => p.kind === kind).length;
        // Each browser has two crash handlers, which outlive it by a moment.
        if (n > (kind === 'crashpad' ? 2 * need : need)) {
          const since = excessSince.get(kind) ?? now;
          excessSince.set(kind, since);
          if (now - since > EXCESS_GRACE_MS && since !== -1) {
            excess++;
            violation(`excess: ${n} ${kind} processes for ${need} streams, for ${Math.round((now - since) / 1000)} s`);
            excessSince.set(kind, -1); // once per episode
          }
        } else excessSince.delete(kind);
      }
      chromiumMaxBytes = Math.max(chromiumMaxBytes, procs.filter((p) => p.kind !== 'ffmpeg' && p.kind !== 'xvfb' && p.kind !== 'damage-grab').reduce((s, p) => s + p.rssBytes, 0));

      // The controller's own figures.
      if (ctl !== undefined && readyAt > 0 && now - readyAt > WARM_MS && !restarting) {
        const f = processFigures(ctl);
        if (f) {
          rssSegments[rssSegments.length - 1]!.push([now / 1000, f.rssBytes / 1e6]);
          fdSegments[fdSegments.length - 1]!.push([now / 1000, f.fds]);
        }
      }

      // Stream directories and the state directory.
      const streams = join(stateDir, 'streams');
      if (existsSync(streams)) {
        for (const id of readdirSync(streams)) {
          let n = 0;
          try {
            n = readdirSync(join(streams, id)).filter((f) => /\.(ts|m4s)$/.test(f)).length;
          } catch {
            continue;
          }
          streamDirMax = Math.max(streamDirMax, n);
          if (n > MAX_SEGMENTS) violation(`stream directory ${id} holds ${n} segments (at most ${MAX_SEGMENTS})`);
        }
      }
      if (Math.floor(now / 1000) % 10 === 0) {
        const all = diskUsage(stateDir).bytes;
        diskMaxBytes = Math.max(diskMaxBytes, all);
        const kept = all - diskUsage(streams).bytes - diskUsage(join(stateDir, 'profiles')).bytes;
        stateSamples.push([now / 1000, kept / 1e6]);
        const profiles = existsSync(join(stateDir, 'profiles')) ? readdirSync(join(stateDir, 'profiles')).length : 0;
        profilesMax = Math.max(profilesMax, profiles);
        const browsers = procs.filter((p) => p.kind === 'chromium').length;
        if (profiles > browsers + 2) violation(`${profiles} Chromium profiles for ${browsers} browsers`);
      }

      // Faults: over once their devices have been as expected for STABLE_MS after the window;
      // the recovery time runs from the window's end to the start of that stable stretch.
      for (const f of faults) {
        if (f.windowEnd === undefined || f.recoveredAt !== undefined) continue;
        if (!restarting && f.devices.every((i) => deviceOk(i, now))) f.okSince ??= now;
        else f.okSince = undefined;
        if (f.okSince !== undefined && now - f.okSince >= STABLE_MS) f.recoveredAt = f.okSince;
        const backAt = f.recoveredAt ?? f.okSince ?? now;
        if (backAt - f.windowEnd > f.boundMs && !f.late) {
          f.late = true;
          violation(`${f.kind} (${f.note}): not back ${f.boundMs} ms after its window`);
        }
      }

      // Every second in which a device should play; fault windows are taken out at the end.
      if (t0 > 0) {
        devices.forEach((_, i) => {
          const w = model.winner(i);
          if (w !== undefined) counted[i]!.push({ t: now, spec: w, advancing: advancing(i, now) });
        });
      }
    } catch (err) {
      console.log(`  sampler: ${(err as Error).message}`);
    } finally {
      sampling = false;
    }
  };

  const streamDevices = (streamId: string): number[] | undefined => {
    const specs = [...statuses].filter(([, st]) => st.stream?.id === streamId).map(([name]) => name);
    if (specs.length === 0) return undefined;
    return [...new Set(specs.map((n) => SPECS.find((s) => s.name === n)?.device).filter((d): d is number => d !== undefined))];
  };

  const soak: Soak = {
    rand,
    devices,
    pages,
    specDir,
    controller,
    model,
    streamDevices,
    restartController: restart,
    violation,
    settled: (i) => !faults.some((f) => f.devices.includes(i) && f.recoveredAt === undefined),
  };

  const timer = setInterval(() => void sample(), 1000);
  let exitCode = 0;
  try {
    // ── warm up: everything playing ───────────────────────────────────────────────────────
    const tStart = Date.now();
    await restart();
    while (!devices.every((_, i) => deviceOk(i, Date.now()))) {
      if (Date.now() - tStart > 240_000) throw new Error('the specs did not all play within 240 s of the start');
      await sleep(500);
    }
    console.log(`soak: seed ${SEED}, ${MINUTES} min; all ${SPECS.length} specs playing after ${Date.now() - tStart} ms; log ${logFile}`);
    t0 = Date.now();
    const deadline = t0 + MINUTES * 60_000;

    // ── faults ────────────────────────────────────────────────────────────────────────────
    const pending: Promise<void>[] = [];
    let next = t0 + between(rand, 15_000, 30_000);
    let deferred = 0;
    while (next < deadline) {
      await sleep(Math.max(0, next - Date.now()));
      if (restarting) await waitFor(() => !restarting, 180_000);
      const left = deadline - Date.now();
      const options: Array<{ item: FaultKind; weight: number }> = FAULTS.filter((k) => (k.needsMs ?? 0) <= left).map((k) => ({ item: k, weight: k.weight }));
      let injected = false;
      for (let tries = 0; tries < 8 && !injected; tries++) {
        const kind = weighted(rand, options);
        const r = await kind.inject(soak).catch((err: unknown) => {
          violation(`${kind.kind}: could not inject: ${(err as Error).message}`);
          return undefined;
        });
        if (!r) continue;
        injected = true;
        const rec: FaultRecord = { kind: kind.kind, note: r.note, devices: r.devices, injectedAt: Date.now(), boundMs: kind.boundMs };
        faults.push(rec);
        console.log(`  ${new Date().toISOString().slice(11, 19)} ${kind.kind}: ${r.note}`);
        pending.push(
          r.end.then(
            () => void (rec.windowEnd = Date.now()),
            (err: unknown) => {
              rec.windowEnd = Date.now();
              violation(`${kind.kind}: ${(err as Error).message}`);
            },
          ),
        );
      }
      // The next fault 15–30 s after this one; when every target was still recovering from an
      // earlier fault, another try in 2 s (a fault on a recovering TV would measure both at once).
      if (injected) next = Date.now() + between(rand, 15_000, 30_000);
      else {
        deferred++;
        next = Date.now() + 2000;
      }
    }
    // ── drain: every window ends, everything recovers ─────────────────────────────────────
    await sleep(Math.max(0, deadline - Date.now()));
    await Promise.all(pending);
    await waitFor(() => faults.every((f) => f.recoveredAt !== undefined || (f.windowEnd !== undefined && Date.now() - f.windowEnd > f.boundMs + STABLE_MS)), 600_000);
    for (const f of faults) if (f.recoveredAt === undefined) violation(`${f.kind} (${f.note}): never recovered`);
    const tEnd = Date.now();

    // ── stop: nothing left behind ─────────────────────────────────────────────────────────
    finishing = true;
    clearInterval(timer);
    const { code } = await controller.signal('SIGTERM');
    if (code !== 0) violation(`the controller exited with ${code} on the final SIGTERM`);
    const left = await leftovers();
    if (left.length) violation(`after the final stop: ${left.map((p) => `${p.comm} ${p.pid}`).join(', ')} still running`);
    const profilesLeft = existsSync(join(stateDir, 'profiles')) ? readdirSync(join(stateDir, 'profiles')).length : 0;
    if (profilesLeft) violation(`${profilesLeft} Chromium profiles left after the final stop`);

    // ── figures ───────────────────────────────────────────────────────────────────────────
    const byKind: Record<string, number> = {};
    const worst: Record<string, number> = {};
    for (const f of faults) {
      byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
      if (f.recoveredAt !== undefined && f.windowEnd !== undefined) worst[f.kind] = Math.max(worst[f.kind] ?? 0, f.recoveredAt - f.windowEnd);
    }
    // Outside every fault window: from a fault's injection to the start of its stable stretch.
    const outside = (i: number, t: number) => !faults.some((f) => f.devices.includes(i) && t >= f.injectedAt - 1000 && t <= (f.recoveredAt ?? Infinity));
    counted.forEach((cs, i) => counted.splice(i, 1, cs.filter((c) => outside(i, c.t))));
    const all = counted.flat();
    const playRatioDevices = all.length ? all.filter((c) => c.advancing).length / all.length : Number.NaN;
    // From the proof-of-play file: the same seconds, covered by an interval of the spec that should play.
    const intervals = readPlayIntervals(stateDir, tEnd);
    const bySpec = new Map<string, Interval[]>();
    for (const iv of intervals) bySpec.set(iv.spec, merge([...(bySpec.get(iv.spec) ?? []), iv]));
    // A SIGKILLed controller's last interval ends at its last checkpoint (at most a minute before):
    // those seconds are left out of the comparison, on both sides.
    const kills = faults.filter((f) => f.kind === 'controller-sigkill').map((f) => f.injectedAt);
    const checkable = all.filter((c) => !kills.some((k) => c.t <= k && c.t > k - PLAY_CHECKPOINT_MS - 5000));
    const inFile = checkable.filter((c) => covered(bySpec.get(c.spec) ?? [], c.t - 500, c.t + 500) > 0).length;
    const playRatio = checkable.length ? inFile / checkable.length : Number.NaN;
    const devicesOnCheckable = checkable.length ? checkable.filter((c) => c.advancing).length / checkable.length : Number.NaN;
    if (!(Math.abs(playRatio - devicesOnCheckable) <= 0.02)) violation(`the proof-of-play file says ${ratio(playRatio)}, the devices ${ratio(devicesOnCheckable)} (same seconds)`);
    const rssSlope = pooledSlopePerHour(rssSegments);
    const fdSlope = pooledSlopePerHour(fdSegments);
    const stateSlope = pooledSlopePerHour([stateSamples]);
    const long = MINUTES >= 30;
    if (long && rssSlope > 20) violation(`controller RSS grows ${rssSlope.toFixed(1)} MB/h`);
    if (long && fdSlope > 5) violation(`controller descriptors grow ${fdSlope.toFixed(1)}/h`);
    if (long && playRatioDevices < 0.99) violation(`play ratio ${ratio(playRatioDevices)} < 0.99`);

    // Where the devices did not advance outside fault windows: runs of seconds, per device.
    counted.forEach((cs, i) => {
      const runs: string[] = [];
      let from: number | undefined;
      cs.forEach((c, k) => {
        if (!c.advancing && from === undefined) from = c.t;
        const next = cs[k + 1];
        if (from !== undefined && (c.advancing || !next || next.advancing || next.t - c.t > 1500)) {
          runs.push(`${new Date(from).toISOString().slice(11, 19)}+${Math.round((c.t - from) / 1000) + (c.advancing ? 0 : 1)}s`);
          from = undefined;
        }
      });
      if (runs.length) console.log(`  ${devices[i]!.name} not advancing at ${runs.slice(0, 30).join(', ')}${runs.length > 30 ? ' …' : ''}`);
    });
    console.log(`faults: ${faults.length} in ${((tEnd - t0) / 60_000).toFixed(1)} min; by kind ${JSON.stringify(byKind)}`);
    console.log(`worst recovery (ms after the window): ${JSON.stringify(worst)}`);
    console.log(`play ratio outside fault windows: devices ${ratio(playRatioDevices)}, proof-of-play file ${ratio(playRatio)} (${all.length} device-seconds)`);
    console.log(`controller: RSS ${rssSlope.toFixed(2)} MB/h, descriptors ${fdSlope.toFixed(2)}/h over ${controller.starts} lifetimes; state dir (without streams, profiles) ${stateSlope.toFixed(2)} MB/h`);
    console.log(`chromium max ${(chromiumMaxBytes / 1e6).toFixed(0)} MB RSS; disk max ${(diskMaxBytes / 1e6).toFixed(1)} MB; stream dir max ${streamDirMax} segments; profiles max ${profilesMax}`);
    console.log(`orphans ${orphans.size}, excess ${excess}, unhandled ${unhandled}, violations ${violations.length}`);
    exitCode = violations.length > 0 ? 1 : 0;
    console.log(
      JSON.stringify({
        bench: 'soak',
        minutes: MINUTES,
        seed: SEED,
        faults: faults.length,
        byKind,
        worstRecoveryMs: worst,
        orphans: orphans.size + excess,
        unhandled,
        rssSlopeMBPerHour: round(rssSlope),
        fdSlopePerHour: round(fdSlope),
        playRatio: round(playRatio, 4),
        playRatioDevices: round(playRatioDevices, 4),
        diskMaxMB: round(diskMaxBytes / 1e6),
        chromiumMaxMB: Math.round(chromiumMaxBytes / 1e6),
        streamDirMaxSegments: streamDirMax,
        stateSlopeMBPerHour: round(stateSlope),
        violations: violations.length,
        deferredTries: deferred,
      }),
    );
  } catch (err) {
    console.log(`soak failed: ${(err as Error).stack ?? String(err)}`);
    exitCode = 1;
  } finally {
    finishing = true;
    clearInterval(timer);
    if (controller.pid !== undefined) await controller.signal('SIGTERM').catch(() => controller.signal('SIGKILL'));
    controller.close();
    for (const d of devices) await d.stop();
    await pages.stop();
    if (violations.length) console.log(`violations:\n  ${violations.join('\n  ')}`);
    if (values.keep || exitCode !== 0) console.log(`kept ${root} (controller log: ${logFile})`);
    else rmSync(root, { recursive: true, force: true });
  }
  return exitCode;

  async function waitFor(pred: () => boolean, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!pred() && Date.now() < until) await sleep(250);
  }
}

/** What still runs of pagecast's children once its controller has exited (given 5 s to go). */
async function leftovers(): Promise<ReturnType<typeof pipelineProcesses>> {
  const until = Date.now() + 5000;
  for (;;) {
    const left = pipelineProcesses();
    if (left.length === 0 || Date.now() > until) return left;
    await sleep(200);
  }
}

function ratio(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : 'n/a';
}

function round(x: number, digits = 2): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : -1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
