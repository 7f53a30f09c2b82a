// Real Xvfb + Chromium + FFmpeg: a leaking page gets its browser replaced, and every frame
// captured from the display around the replacement is the page, never white nor black.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../machines/log.js';
import { ProcessRegistry, groupMembers, readStat } from '../../../machines/processes/registry.js';
import { ChromiumBrowserDriver, type ChromiumBrowserHandle } from '../../../machines/media/browser.js';
import type { ComponentReport, DisplayHandle, StartContext, StreamInput } from '../../../machines/components.js';
import { XvfbDisplayDriver } from '../../../machines/media/display.js';
import { BrowserOptions } from '../../../specs/schema.js';
import { LEAK_RGB, startPageServer, type PageServer } from '../../fixtures/media/page-server.js';
import { waitUntil } from '../../helpers.js';

const W = 640;
const H = 360;
const root = mkdtempSync(join(tmpdir(), 'pagecast-renew-'));
const registry = new ProcessRegistry({ stateFile: join(root, 'children.json') });
let display: DisplayHandle;
let server: PageServer;
let running: ChromiumBrowserHandle | undefined;
let capture: Capture | undefined;

// The page's luma as FFmpeg's signalstats reports it (BT.601, limited range).
const [r, g, b] = LEAK_RGB;
const PAGE_Y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255;

function input(path: string, browser: Partial<BrowserOptions> = {}): StreamInput {
  return { url: server.url(path), quality: { width: W, height: H, fps: 30, bitrateKbps: 800 }, mode: 'hls', hwAccel: 'off', browser: { ...BrowserOptions.parse({}), ...browser } };
}
type Stamped = ComponentReport & { at?: number };
/**
 * Reports are stamped with the wall clock in seconds, to place them among the captured frames; so
 * are the driver's log lines (`events`), so that a frame that should not be there can be placed
 * between the steps of a replacement (launched, loaded, revealed, old one closed).
 */
function context(reports: Stamped[], events: Array<{ at: number; msg: string }> = []): StartContext {
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const j = JSON.parse(line) as { time: string; msg: string };
        events.push({ at: Date.parse(j.time) / 1000, msg: j.msg });
      }
      cb();
    },
  });
  return { signal: new AbortController().signal, log: createLogger({ level: 'debug', format: 'json', destination }), report: (rep) => reports.push({ ...rep, at: Date.now() / 1000 }) };
}

interface Frame {
  t: number; // wall clock, seconds
  yavg: number;
  ymax: number;
}
/** FFmpeg grabbing the display at 30 fps, writing every frame's luma statistics to a file. */
interface Capture {
  frames(): Frame[];
  stop(): Promise<void>;
}
function startCapture(): Capture {
  const file = join(root, `stats-${Date.now()}.txt`);
  const ff: ChildProcess = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-f', 'x11grab', '-draw_mouse', '0', '-framerate', '30', '-video_size', `${W}x${H}`, '-i', display.display, '-copyts', '-vf', `signalstats,metadata=print:file=${file}:direct=1`, '-f', 'null', '-'],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  const gone = new Promise<void>((resolve) => ff.once('exit', () => resolve()));
  const frames = (): Frame[] => {
    if (!existsSync(file)) return [];
    const out: Frame[] = [];
    let cur: Partial<Frame> | undefined;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      let m: RegExpExecArray | null;
      if ((m = / pts:(\d+)/.exec(line))) out.push((cur = { t: Number(m[1]) / 1e6 }) as Frame); // x11grab stamps frames with the wall clock in µs
      else if (cur && (m = /lavfi\.signalstats\.YAVG=([\d.]+)/.exec(line))) cur.yavg = Number(m[1]);
      else if (cur && (m = /lavfi\.signalstats\.YMAX=([\d.]+)/.exec(line))) cur.ymax = Number(m[1]);
    }
    return out.filter((f) => f.yavg !== undefined && f.ymax !== undefined);
  };
  return {
    frames,
    stop: async () => {
      ff.stdin?.end('q');
      await gone;
    },
  };
}

/** Frames unlike the page: white, black or partly either (the page is one flat colour). */
const foreign = (frames: Frame[]) => frames.filter((f) => Math.abs(f.yavg - PAGE_Y) > 2.5 || f.ymax > PAGE_Y + 6);

beforeAll(async () => {
  server = await startPageServer();
  display = await new XvfbDisplayDriver({ registry }).start({ width: W, height: H }, context([]));
});
afterEach(async () => {
  await capture?.stop();
  capture = undefined;
  await running?.stop();
  running = undefined;
});
afterAll(async () => {
  await registry.stopAll();
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('Chromium renewal on the same display', () => {
  it('replaces a browser past maxMemory with no white or black frame, and not again at once', async () => {
    const reports: Stamped[] = [];
    const driver = new ChromiumBrowserDriver({ registry, profileRoot: root, renewal: { checkIntervalMs: 250, minIntervalMs: 10 * 60_000 } });
    // Measure what this Chromium needs for the page without the leak, then allow 250 MB more.
    const probe = await driver.start({ display: display.display, input: input('/leak?mb=0') }, context([]));
    const baseline = probe.memoryBytes()!;
    await probe.stop();
    const maxMemory = baseline + 250e6;

    running = await driver.start({ display: display.display, input: input('/leak?mb=60&upTo=600', { maxMemory }) }, context(reports));
    const old = { pid: running.pid!, pgid: readStat(running.pid!)!.pgid };
    capture = startCapture();
    // From the first frame showing the page on: the replacement must come well after it.
    const firstFrame = (await waitUntil(() => capture!.frames().find((f) => foreign([f]).length === 0), 10_000, 'the capture to show the page', { intervalMs: 50 })).t;

    const renewed = await waitUntil(() => reports.find((rep) => rep.reason === 'Renewed'), 60_000, () => `a renewal (reports: ${JSON.stringify(reports)}, memory ${running?.memoryBytes()})`, { intervalMs: 50 });
    expect(renewed.at! - firstFrame).toBeGreaterThan(1.5); // the swap is among the frames looked at
    expect(renewed.message).toMatch(/^browser replaced \(memory \d+ MB > max \d+ MB\)$/);
    expect(running.renewals).toBe(1);
    expect(running.pid).not.toBe(old.pid);
    expect(running.memoryBytes()!).toBeLessThan(maxMemory); // a fresh browser, only beginning to leak
    // The old Chromium and all its helpers are gone; the new one is registered in its place.
    await waitUntil(() => groupMembers(old.pgid).length === 0, 10_000, 'the old Chromium gone', { intervalMs: 50 });
    const oldGone = Date.now() / 1000;
    expect(registry.list().map((rec) => rec.pid)).toContain(running.pid);
    expect(registry.list().map((rec) => rec.pid)).not.toContain(old.pid);

    await waitUntil(() => capture!.frames().at(-1)!.t > oldGone + 1, 10_000, 'a second of frames after the swap', { intervalMs: 50 });
    await capture.stop();
    const frames = capture.frames().filter((f) => f.t >= firstFrame);
    capture = undefined;
    expect(frames.length).toBeGreaterThan(60);
    expect(foreign(frames).map((f) => `${(f.t - firstFrame).toFixed(3)} s: Y ${f.yavg.toFixed(1)}, max ${f.ymax}`)).toEqual([]);

    // The new browser leaks past the limit too: reported, but not replaced again within the interval.
    const held = await waitUntil(() => reports.find((rep) => rep.reason === 'MemoryHigh'), 60_000, 'the memory reported high', { intervalMs: 50 });
    expect(held).toMatchObject({ type: 'BrowserReady', status: 'True' });
    expect(held.message).toMatch(/^memory \d+ MB > max \d+ MB, but the browser was replaced \d+ s ago; not again before 600 s$/);
    expect(running.renewals).toBe(1);
  });

  it('replaces the browser every restartEvery, the handle and its exit staying the same', async () => {
    const reports: Stamped[] = [];
    const events: Array<{ at: number; msg: string }> = [];
    const driver = new ChromiumBrowserDriver({ registry, profileRoot: root, renewal: { checkIntervalMs: 100, minIntervalMs: 10 * 60_000 } });
    running = await driver.start({ display: display.display, input: input('/leak?mb=0', { restartEvery: 2500 }) }, context(reports, events));
    const first = running.pid;
    capture = startCapture();
    const firstFrame = (await waitUntil(() => capture!.frames().find((f) => foreign([f]).length === 0), 10_000, 'the capture to show the page', { intervalMs: 50 })).t;
    await waitUntil(() => reports.filter((rep) => rep.reason === 'Renewed').length >= 2, 60_000, () => `two renewals (reports: ${JSON.stringify(reports)})`, { intervalMs: 50 });
    expect(reports.filter((rep) => rep.reason === 'Renewed').map((rep) => rep.message)).toEqual(['browser replaced (restartEvery 2.5 s)', 'browser replaced (restartEvery 2.5 s)']);
    expect(running.pid).not.toBe(first);
    const at = Date.now() / 1000;
    await waitUntil(() => capture!.frames().at(-1)!.t > at + 0.5, 10_000, 'frames after the second swap', { intervalMs: 50 });
    await capture.stop();
    const frames = capture.frames().filter((f) => f.t >= firstFrame);
    capture = undefined;
    expect(reports.find((rep) => rep.reason === 'Renewed')!.at! - firstFrame).toBeGreaterThan(1); // both swaps are among the frames looked at
    const when = (t: number) => `${(t - firstFrame).toFixed(3)} s`;
    expect(
      foreign(frames).map((f) => `${when(f.t)}: Y ${f.yavg.toFixed(1)}, max ${f.ymax}`),
      `the driver's steps: ${events.filter((e) => e.at >= firstFrame).map((e) => `${when(e.at)} ${e.msg}`).join('; ')}`,
    ).toEqual([]);
    // `exited` follows the current Chromium: killing it ends the handle.
    process.kill(running.pid!, 'SIGKILL');
    expect(['disconnected', 'exited']).toContain((await running.exited).reason);
    await running.stop();
    expect(registry.list().filter((rec) => rec.name === 'chromium')).toEqual([]);
  });
});
