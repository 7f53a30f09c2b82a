// bench/pipeline: CPU, speed, drops, time to servable and bitrate of the real media path, for a
// still dashboard and an animated page at 480p15, 720p30 and 1080p30, next to the seed's v1.1
// baseline (hand-run Xvfb + Chromium + `ffmpeg -c:v libx264` at the default preset,
// hls_list_size 10) measured in the same run on the same pages. CPU is utime+stime of the
// FFmpeg, Chromium and Xvfb process groups (and damage capture's helper), read from /proc, as % of one core.
// pagecast captures as the controller does (damage-driven where it runs; --capture x11grab for the other path).
// For each still page, `floor` is what showing it costs with nothing capturing it: Xvfb and
// Chromium with the same page, no FFmpeg, in the same run (floorCpuPct in the JSON line).
// pagecast's encoder steps down when it falls behind real time (encoder-pace.ts): each case first
// lets it adapt (no step for a full pace window and more), then measures, and reports the speed
// over the measurement (media seconds per wall second of the FFmpeg running then) and the level.
//
//   npm run bench:pipeline [-- --only 720p30-static --seconds 20]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { silentLogger } from '../machines/log.js';
import { ProcessRegistry, groupCpuTicks, spawnRegistered, FFMPEG_STOP, type RegisteredChild } from '../machines/processes/registry.js';
import { chromiumArgs, findChromium } from '../machines/media/browser.js';
import type { CapturePath, StartContext, StreamInput } from '../machines/components.js';
import type { EncoderArgsOptions, MotionMode } from '../machines/media/encoder-args.js';
import { FfmpegEncoderDriver, playlistKbps, readMediaPlaylist, type FfmpegEncoderHandle } from '../machines/media/encoder.js';
import { PACE_DEFAULTS, describeLevel } from '../machines/media/encoder-pace.js';
import { ProgressParser, type ProgressSample } from '../machines/media/ffmpeg-progress.js';
import { createMediaDrivers } from '../machines/media/drivers.js';
import { BrowserOptions, PRESETS, type Resolution } from '../specs/schema.js';
import { waitUntil } from '../test/helpers.js';
import { startPageServer, type PageServer } from '../test/fixtures/media/page-server.js';

const CLK_TCK = 100; // Linux USER_HZ

interface Figures {
  cpu: { ffmpeg: number; chromium: number; xvfb: number; grab: number; total: number };
  speed: number;
  droppedPct: number;
  servableMs: number;
  kbps: number;
  /** pagecast only: after adaptation. */
  adapted?: { speed: number; degradedTo: string; steps: number; adaptMs: number };
  /** pagecast only: the capture path, frames grabbed and encoded per second at the end. */
  capture?: { path: string; capturedFps: number; encodedFps: number };
}

interface Case {
  name: string;
  quality: Resolution;
  page: 'static' | 'animated';
}

const CASES: Case[] = (['480p', '720p', '1080p'] as const).flatMap((p) =>
  (['static', 'animated'] as const).map((page) => ({ name: `${p}${PRESETS[p].fps}-${page}`, quality: { ...PRESETS[p] }, page })),
);

interface BenchArgs {
  only?: string;
  seconds: number;
  /** Experiments: encoder overrides for pagecast's pipeline, and skipping the baseline. */
  encoder: Partial<EncoderArgsOptions>;
  skipBaseline: boolean;
  capture: 'auto' | CapturePath;
}

function parseArgs(argv: string[]): BenchArgs {
  const out: BenchArgs = { seconds: 20, encoder: {}, skipBaseline: false, capture: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') out.only = argv[++i];
    else if (argv[i] === '--seconds') out.seconds = Number(argv[++i]);
    else if (argv[i] === '--floor') out.encoder.floorSeconds = Number(argv[++i]);
    else if (argv[i] === '--motion') out.encoder.motion = argv[++i] as MotionMode;
    else if (argv[i] === '--threads') out.encoder.x264Threads = Number(argv[++i]);
    else if (argv[i] === '--skip-baseline') out.skipBaseline = true;
    else if (argv[i] === '--capture') out.capture = argv[++i] as CapturePath;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!Number.isFinite(out.seconds) || out.seconds <= 0) throw new Error('--seconds expects a positive number');
  return out;
}

/** CPU % of one core per group over `seconds`, sampled from /proc (no FFmpeg group: 0). */
async function measureCpu(groups: { ffmpeg?: number; chromium: number; xvfb: number; grab?: number }, seconds: number) {
  const ticks = (g: number | undefined) => (g === undefined ? 0 : groupCpuTicks(g));
  const read = () => ({ ffmpeg: ticks(groups.ffmpeg), chromium: groupCpuTicks(groups.chromium), xvfb: groupCpuTicks(groups.xvfb), grab: ticks(groups.grab) });
  const a = read();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000)); // the measurement window
  const b = read();
  const wall = (Date.now() - t0) / 1000;
  const pct = (k: 'ffmpeg' | 'chromium' | 'xvfb' | 'grab') => ((b[k] - a[k]) / CLK_TCK / wall) * 100;
  const cpu = { ffmpeg: pct('ffmpeg'), chromium: pct('chromium'), xvfb: pct('xvfb'), grab: pct('grab'), total: 0 };
  cpu.total = cpu.ffmpeg + cpu.chromium + cpu.xvfb + cpu.grab;
  return cpu;
}

function dropped(s: ProgressSample | { droppedFrames: number; frame: number } | undefined): number {
  if (!s || !(s.frame + s.droppedFrames > 0)) return 0;
  return (s.droppedFrames / (s.frame + s.droppedFrames)) * 100;
}

const ctx = (): StartContext => ({ signal: new AbortController().signal, log: silentLogger(), report: () => {} });

/** pagecast's own pipeline, exactly as the controller runs it. */
async function runOurs(c: Case, url: string, registry: ProcessRegistry, root: string, seconds: number, encoder: Partial<EncoderArgsOptions>, capture: BenchArgs['capture']): Promise<Figures> {
  const drivers = createMediaDrivers({ registry });
  // The encoder driver itself, for its pace (the machines see only the EncoderHandle part).
  const encoderDriver = new FfmpegEncoderDriver({ registry, probeCacheFile: join(root, 'probe.json'), args: encoder, capture });
  const input: StreamInput = { url, quality: c.quality, mode: 'hls', hwAccel: 'off', browser: BrowserOptions.parse({}) };
  const dir = join(root, `ours-${c.name}`);
  const display = await drivers.display.start(c.quality, ctx());
  const browser = await drivers.browser.start({ display: display.display, input }, ctx());
  try {
    const t0 = Date.now();
    const enc: FfmpegEncoderHandle = await encoderDriver.start({ display: display.display, input, dir }, ctx());
    await enc.servable();
    const servableMs = Date.now() - t0;
    try {
      // Adapted: the FFmpeg running now has run a full window and a margin without a step and keeps up.
      const settled = () => enc.pace().speed >= PACE_DEFAULTS.slowBelow && enc.speedOver(PACE_DEFAULTS.windowMs + PACE_DEFAULTS.holdMs + 5000) >= 0;
      await waitUntil(settled, 180_000, 'the encoder to adapt', { intervalMs: 500 }).catch(() => undefined); // measured as it is then
      const adaptMs = Date.now() - t0;
      const pg = (name: string) => registry.list().find((r) => r.name === name)!.pgid;
      const grabPg = () => registry.list().find((r) => r.name === 'damage-grab')?.pgid;
      // A step during the measurement restarts FFmpeg: measure again (at most twice).
      for (let attempt = 0; ; attempt++) {
        const steps = enc.pace().steps;
        const cpu = await measureCpu({ ffmpeg: pg('ffmpeg'), chromium: pg('chromium'), xvfb: pg('Xvfb'), grab: grabPg() }, seconds);
        const p = enc.pace();
        if (p.steps !== steps && attempt < 2) continue;
        const f = enc.figures();
        const pl = readMediaPlaylist(dir);
        const adapted = { speed: enc.speedOver(seconds * 1000), degradedTo: p.index === 0 ? 'none' : describeLevel(p.level), steps: p.steps, adaptMs };
        const capture = f?.capture && { path: f.capture.path, capturedFps: f.capture.capturedFps, encodedFps: f.capture.encodedFps };
        return { cpu, speed: f?.speed ?? 0, droppedPct: dropped(f), servableMs, kbps: pl ? playlistKbps(dir, pl) : 0, adapted, ...(capture ? { capture } : {}) };
      }
    } finally {
      await enc.stop();
    }
  } finally {
    await browser.stop();
    await display.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The floor: Xvfb and Chromium showing the page as pagecast starts them, with nothing capturing. */
async function runFloor(c: Case, url: string, registry: ProcessRegistry, seconds: number): Promise<number> {
  const drivers = createMediaDrivers({ registry });
  const input: StreamInput = { url, quality: c.quality, mode: 'hls', hwAccel: 'off', browser: BrowserOptions.parse({}) };
  const display = await drivers.display.start(c.quality, ctx());
  const browser = await drivers.browser.start({ display: display.display, input }, ctx());
  try {
    // As long as pagecast's own case waits before it measures: the page's start-up is not counted.
    await new Promise((r) => setTimeout(r, 5000));
    const pg = (name: string) => registry.list().find((r) => r.name === name)!.pgid;
    const cpu = await measureCpu({ chromium: pg('chromium'), xvfb: pg('Xvfb') }, seconds);
    console.log(`${c.name.padEnd(18)} floor    cpu ${r1(cpu.total).toString().padStart(5)}% (chromium ${r1(cpu.chromium)}, xvfb ${r1(cpu.xvfb)}): the page shown, nothing capturing`);
    return cpu.total;
  } finally {
    await browser.stop();
    await display.stop();
  }
}

/** The seed's v1.1 pipeline, run by hand as it did. */
async function runBaseline(c: Case, url: string, registry: ProcessRegistry, root: string, seconds: number): Promise<Figures> {
  const { width, height, fps, bitrateKbps } = c.quality;
  const dir = join(root, `base-${c.name}`);
  const profile = join(root, `base-profile-${c.name}`);
  const started: RegisteredChild[] = [];
  try {
    const xvfb = spawnRegistered(registry, 'Xvfb', 'Xvfb', ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    started.push(xvfb);
    const display = await new Promise<string>((resolve) => {
      let text = '';
      (xvfb.subprocess.stdio[3] as Readable).on('data', (d: Buffer) => {
        text += String(d);
        if (text.includes('\n')) resolve(`:${text.trim()}`);
      });
    });
    mkdirSync(profile, { recursive: true });
    const chromium = spawnRegistered(registry, 'chromium', findChromium()!, [...chromiumArgs(width, height, process.getuid?.() === 0), `--user-data-dir=${profile}`, url], {
      // Its temporary files (org.chromium.Chromium.*, left behind when it is killed) go with its profile.
      env: { ...process.env, DISPLAY: display, TMPDIR: profile },
      stdio: 'ignore',
    });
    started.push(chromium);
    await new Promise((r) => setTimeout(r, 3000)); // let the page load, as the seed's script did
    mkdirSync(dir, { recursive: true });
    const t0 = Date.now();
    const ffmpeg = spawnRegistered(
      registry,
      'ffmpeg',
      'ffmpeg',
      [
        '-hide_banner', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-stats_period', '1',
        '-f', 'x11grab', '-framerate', String(fps), '-video_size', `${width}x${height}`, '-i', display,
        '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo', '-map', '0:v', '-map', '1:a',
        '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-b:v', `${bitrateKbps}k`, '-g', String(fps * 2),
        '-c:a', 'aac', '-b:a', '128k',
        '-f', 'hls', '-hls_time', '2', '-hls_list_size', '10', '-hls_flags', 'delete_segments+append_list', 'index.m3u8',
      ],
      { cwd: dir, stdin: 'pipe', stdout: 'pipe', stderr: 'ignore', stopSteps: FFMPEG_STOP },
    );
    started.push(ffmpeg);
    const parser = new ProgressParser();
    let last: ProgressSample | undefined;
    (ffmpeg.subprocess.stdout as Readable).on('data', (d: Buffer) => {
      for (const s of parser.push(String(d))) last = s;
    });
    await waitUntil(() => (readMediaPlaylist(dir)?.segments.length ?? 0) >= 3, 30_000, 'the baseline to list three segments', { intervalMs: 100 });
    const servableMs = Date.now() - t0;
    const cpu = await measureCpu({ ffmpeg: ffmpeg.pgid, chromium: chromium.pgid, xvfb: xvfb.pgid }, seconds);
    const pl = readMediaPlaylist(dir);
    return { cpu, speed: last?.speed ?? 0, droppedPct: dropped(last), servableMs, kbps: pl ? playlistKbps(dir, pl) : 0 };
  } finally {
    for (const p of started.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

const r1 = (n: number) => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cases = CASES.filter((c) => args.only === undefined || c.name === args.only);
  if (cases.length === 0) throw new Error(`no case named ${args.only}; cases: ${CASES.map((c) => c.name).join(', ')}`);
  const root = mkdtempSync(join(tmpdir(), 'pagecast-bench-'));
  const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
  const pages: PageServer = await startPageServer();
  const onSignal = () => void registry.stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: Array<Record<string, number | string>> = [];
  try {
    for (const c of cases) {
      const url = pages.url(c.page === 'static' ? '/static' : '/animated');
      const ours = await runOurs(c, url, registry, root, args.seconds, args.encoder, args.capture);
      const skipped: Figures = { cpu: { ffmpeg: NaN, chromium: NaN, xvfb: NaN, grab: NaN, total: NaN }, speed: NaN, droppedPct: NaN, servableMs: NaN, kbps: NaN };
      const base = args.skipBaseline ? skipped : await runBaseline(c, url, registry, root, args.seconds);
      const line = (who: string, f: Figures) =>
        `${c.name.padEnd(18)} ${who.padEnd(8)} cpu ${r1(f.cpu.total).toString().padStart(5)}% (ffmpeg ${r1(f.cpu.ffmpeg)}, chromium ${r1(f.cpu.chromium)}, xvfb ${r1(f.cpu.xvfb)}${f.cpu.grab > 0 ? `, grab ${r1(f.cpu.grab)}` : ''})  speed ${f.speed.toFixed(3)}  dropped ${f.droppedPct.toFixed(2)}%  servable ${f.servableMs} ms  ${Math.round(f.kbps)} kbps`;
      console.log(line('pagecast', ours));
      const a = ours.adapted!;
      if (ours.capture) console.log(`${c.name.padEnd(18)} capture  ${ours.capture.path}: ${r1(ours.capture.capturedFps)} frames grabbed/s, ${r1(ours.capture.encodedFps)} encoded/s`);
      console.log(`${c.name.padEnd(18)} adapted  speed ${a.speed.toFixed(3)}  degraded to ${a.degradedTo}  (${a.steps} steps, settled after ${Math.round(a.adaptMs / 1000)} s)`);
      console.log(line('baseline', base));
      console.log(`${c.name.padEnd(18)} ratio    cpu ${(ours.cpu.total / base.cpu.total).toFixed(2)}  servable ${(ours.servableMs / base.servableMs).toFixed(2)}  kbps ${(ours.kbps / base.kbps).toFixed(2)}`);
      const floor = c.page === 'static' ? await runFloor(c, url, registry, args.seconds) : undefined;
      if (floor !== undefined) console.log(`${c.name.padEnd(18)} ratio    cpu ${(ours.cpu.total / floor).toFixed(2)} × the floor`);
      results.push({
        name: c.name,
        cpuPct: r1(ours.cpu.total),
        baselineCpuPct: r1(base.cpu.total),
        speed: Math.round(ours.speed * 1000) / 1000,
        droppedPct: Math.round(ours.droppedPct * 100) / 100,
        servableMs: ours.servableMs,
        kbps: Math.round(ours.kbps),
        adaptedSpeed: Math.round(ours.adapted!.speed * 1000) / 1000,
        degradedTo: ours.adapted!.degradedTo,
        steps: ours.adapted!.steps,
        adaptMs: ours.adapted!.adaptMs,
        ...(floor === undefined ? {} : { floorCpuPct: r1(floor) }),
        ...(ours.capture ? { capture: ours.capture.path, capturedFps: r1(ours.capture.capturedFps), encodedFps: r1(ours.capture.encodedFps) } : {}),
      });
    }
  } finally {
    await registry.stopAll();
    await pages.close();
    rmSync(root, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ bench: 'pipeline', cases: results }));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
