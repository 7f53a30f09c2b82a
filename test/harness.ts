// End-to-end harness: the real runtime (Xvfb, Chromium, FFmpeg, stream server, castv2 sender),
// the controller on a temp spec dir, fake Cast devices and a local page, all on 127.0.0.1.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller } from '../controller/controller.js';
import { createLogger, silentLogger, type Logger } from '../machines/log.js';
import { createRuntime, type Runtime } from '../controller/runtime.js';
import { FakeCastDevice, selfSignedCert } from './fake-device/device.js';
import { waitUntil } from './helpers.js';

export const PAGE = `<!doctype html><html><body style="margin:0;background:#123;color:#fff;font:bold 20vh sans-serif">
<div id="n">0</div><script>let n=0;setInterval(()=>{document.getElementById('n').textContent=String(++n)},1000)</script></body></html>`;

export interface Harness {
  dir: string;
  stateDir: string;
  runtime: Runtime;
  controller: Controller;
  page: { url: string; hits: number };
  mdnsPort: number;
  log: Logger;
  device(name: string, opts?: { mdns?: boolean; id?: string }): Promise<FakeCastDevice>;
  writeSpec(file: string, text: string): void;
  removeSpec(file: string): void;
  /** pids the process registry holds right now. */
  pids(): number[];
  close(): Promise<void>;
}

let tls: { key: Buffer; cert: Buffer } | undefined;

export async function startHarness(opts: { specs?: Record<string, string>; logLevel?: string } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-e2e-specs-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'pc-e2e-state-'));
  const log = process.env.PAGECAST_TEST_LOG ? createLogger({ level: process.env.PAGECAST_TEST_LOG }) : silentLogger();
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
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
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
      log,
      fetches: (id) => created.streamServer.fetches(id),
    });
    await controller.start();
    tls ??= await selfSignedCert();
  } catch (err) {
    // A harness that did not come up leaves nothing behind either.
    await controller?.stop().catch(() => {});
    await runtime?.close().catch(() => {});
    server.close();
    removeDirs();
    throw err;
  }
  const devices: FakeCastDevice[] = [];
  const rt = runtime; // narrowed, for the closures below
  const ctl = controller;
  return {
    dir,
    stateDir,
    runtime: rt,
    controller: ctl,
    page,
    mdnsPort,
    log,
    async device(name, o = {}) {
      const d = new FakeCastDevice({ name, host: '127.0.0.1', port: 0, tls, ...(o.id ? { id: o.id } : {}), ...(o.mdns ? { mdns: { port: mdnsPort } } : {}) });
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
        server.close();
        removeDirs();
      }
    },
  };
}

export function specYaml(name: string, device: string, url: string, extra = ''): string {
  return `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${name}
spec:
  device: ${device}
  url: ${url}
  quality: 480p
  hwAccel: off
  policy:
    backoff: { initial: 500ms, max: 4s }
${extra}`;
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

export async function waitPlaying(d: FakeCastDevice, timeoutMs = 30_000): Promise<void> {
  await waitUntil(() => {
    const s = d.status();
    return s.media?.playerState === 'PLAYING' && (s.player?.framesDecoded ?? 0) > 0;
  }, timeoutMs, `${d.name} PLAYING with decoded frames`);
}
