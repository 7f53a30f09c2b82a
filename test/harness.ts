// End-to-end harness: the real runtime (Xvfb, Chromium, FFmpeg, stream server, castv2 sender),
// the controller on a temp spec dir, fake Cast devices, a local page and the fixture pages
// (solid colours, a 500), all on 127.0.0.1.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Controller } from '../controller/controller.js';
import type { LogTail } from '../controller/status/log-tail.js';
import { discover } from '../machines/cast/discovery.js';
import { createLogger, silentLogger, type Logger } from '../machines/log.js';
import { createRuntime, type Runtime } from '../controller/runtime.js';
import { OWNER_ENV } from '../machines/processes/registry.js';
import { FakeCastDevice, selfSignedCert } from './fake-device/device.js';
import type { SampleFramesOptions } from './fake-device/frame-sampler.js';
import { startPageServer, type PageServer } from './fixtures/media/page-server.js';
import { waitUntil } from './helpers.js';

export const PAGE = `<!doctype html><html><body style="margin:0;background:#123;color:#fff;font:bold 20vh sans-serif">
<div id="n">0</div><script>let n=0;setInterval(()=>{document.getElementById('n').textContent=String(++n)},1000)</script></body></html>`;

export interface Harness {
  dir: string;
  stateDir: string;
  runtime: Runtime;
  controller: Controller;
  page: { url: string; hits: number };
  /** The fixture pages: `pages.url('/solid/red')`, `pages.url('/500')`. */
  pages: PageServer;
  mdnsPort: number;
  log: Logger;
  /** `sampleFrames`: the device records what it decodes as colour grids (device.frames()). */
  device(name: string, opts?: { mdns?: boolean; id?: string; sampleFrames?: SampleFramesOptions }): Promise<FakeCastDevice>;
  writeSpec(file: string, text: string): void;
  removeSpec(file: string): void;
  /** pids the process registry holds right now. */
  pids(): number[];
  close(): Promise<void>;
}

let tls: { key: Buffer; cert: Buffer } | undefined;

export async function startHarness(opts: { specs?: Record<string, string>; logLevel?: string; logTail?: LogTail } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-e2e-specs-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'pc-e2e-state-'));
  const log = process.env.PAGECAST_TEST_LOG ? createLogger({ level: process.env.PAGECAST_TEST_LOG }) : silentLogger();
  // The console's log lines need lines written: info and up, kept in the tail only.
  const logged = opts.logTail && !process.env.PAGECAST_TEST_LOG ? createLogger({ level: 'info', destination: new Writable({ write: (_c, _e, cb) => cb() }) }) : log;
  opts.logTail?.attach(logged);
  const page = { url: '', hits: 0 };
  const server: Server = createServer((_req, res) => {
    page.hits++;
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  const removeDirs = () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  };
  const mdnsPort = 20000 + Math.floor(Math.random() * 20000);
  let runtime: Runtime | undefined;
  let controller: Controller | undefined;
  let pages: PageServer | undefined;
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    pages = await startPageServer();
    page.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    for (const [f, t] of Object.entries(opts.specs ?? {})) writeFileSync(join(dir, f), t);
    const created = await createRuntime({
      stateDir,
      log,
      stream: { host: '127.0.0.1', port: 0 },
      discovery: { interface: '127.0.0.1', port: mdnsPort, address: '127.255.255.255', timeoutMs: 3000, requeryMs: 300 },
      castTimings: { heartbeatMs: 1000, deadAfterMs: 3000, requestTimeoutMs: 5000, connectTimeoutMs: 3000, statusPollMs: 1000 },
    });
    runtime = created;
    controller = new Controller({
      specsDir: dir,
      stateDir,
      components: created.components,
      log: logged,
      fetches: (id) => created.streamServer.fetches(id),
      logTail: opts.logTail,
      // The console's Devices view asks the loopback mDNS the fake devices answer on.
      discover: () => discover({ interface: '127.0.0.1', port: mdnsPort, address: '127.255.255.255', timeoutMs: 1500 }),
    });
    await controller.start();
    tls ??= await selfSignedCert();
  } catch (err) {
    // A harness that did not come up leaves nothing behind either.
    await controller?.stop().catch(() => {});
    await runtime?.close().catch(() => {});
    await pages?.close();
    server.close();
    removeDirs();
    throw err;
  }
  const devices: FakeCastDevice[] = [];
  const rt = runtime; // narrowed, for the closures below
  const ctl = controller;
  const fixtures = pages;
  return {
    dir,
    stateDir,
    runtime: rt,
    controller: ctl,
    page,
    pages: fixtures,
    mdnsPort,
    log,
    async device(name, o = {}) {
      const d = new FakeCastDevice({
        name,
        host: '127.0.0.1',
        port: 0,
        tls,
        ...(o.id ? { id: o.id } : {}),
        ...(o.mdns ? { mdns: { port: mdnsPort } } : {}),
        ...(o.sampleFrames ? { sampleFrames: o.sampleFrames } : {}),
      });
      await d.start();
      devices.push(d);
      return d;
    },
    writeSpec(file, text) {
      writeFileSync(join(dir, file), text);
    },
    removeSpec(file) {
      unlinkSync(join(dir, file));
    },
    pids() {
      return rt.registry.list().map((r) => r.pid);
    },
    async close() {
      try {
        await ctl.stop();
        await rt.close();
        for (const d of devices) await d.stop();
      } finally {
        await fixtures.close();
        server.close();
        removeDirs();
      }
    },
  };
}

export function specYaml(name: string, device: string, url: string, extra = ''): string {
  return specWith(name, device, `  url: ${url}\n`, extra);
}

/** A spec for the harness's devices: low quality, software encoding, a short backoff. */
function specWith(name: string, device: string, source: string, extra: string): string {
  return `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${name}
spec:
  device: ${device}
${source}  quality: 480p
  hwAccel: off
  policy:
    backoff: { initial: 500ms, max: 4s }
${extra}`;
}

/** A page of a rotation: its URL and, optionally, how long it shows per turn (`5s`). */
export interface PageYaml {
  url: string;
  for?: string;
}

/** A spec with `pages` instead of `url`, otherwise as specYaml. */
export function pagesYaml(name: string, device: string, pages: readonly PageYaml[], extra = ''): string {
  const list = pages.map((p) => `    - url: ${JSON.stringify(p.url)}\n${p.for ? `      for: ${p.for}\n` : ''}`).join('');
  return specWith(name, device, `  pages:\n${list}`, extra);
}

/** A spec's device written as an address: the fake device found without discovery. */
export function deviceAt(d: FakeCastDevice): string {
  return `{ host: 127.0.0.1, port: ${d.port} }`;
}

/** True when no process with this pid exists (a zombie counts as gone: it has exited). */
export function gone(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Live processes whose environment carries this owner token (`runtime.registry.owner`): every child
 * of a harness and what they started, Chromium's helpers included, which the registry does not list.
 */
export function ownedProcesses(owner: string): number[] {
  const mark = `${OWNER_ENV}=${owner}`;
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => {
      try {
        return !gone(pid) && readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(mark);
      } catch {
        return false; // exited, or not ours to read
      }
    });
}

export async function waitPlaying(d: FakeCastDevice, timeoutMs = 30_000): Promise<void> {
  await waitUntil(() => {
    const s = d.status();
    return s.media?.playerState === 'PLAYING' && (s.player?.framesDecoded ?? 0) > 0;
  }, timeoutMs, `${d.name} PLAYING with decoded frames`);
}

/** The pids a `pagecast run` on this state directory has registered (its children.json), [] when none. */
export function childPids(stateDir: string): number[] {
  try {
    const data = JSON.parse(readFileSync(join(stateDir, 'children.json'), 'utf8')) as { processes?: Array<{ pid: number }> };
    return (data.processes ?? []).map((c) => c.pid);
  } catch {
    return [];
  }
}
