// The soak's world: a spec directory (plain files and a Kubernetes ConfigMap mount side by side),
// a page server whose pages can be told to hang, three fake Cast devices, and the controller as a
// child process (`pagecast run`) that can be stopped, killed and started again.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FakeCastDevice, selfSignedCert } from '../../test/fake-device/device.js';
import { defaultTokenPath } from '../../controller/http/auth.js';

// ── specs ────────────────────────────────────────────────────────────────────────────────────

export interface SpecDef {
  name: string;
  device: number; // index into the devices
  page: number;
  mode: 'hls' | 'fmp4';
  priority: number;
  /** In the ConfigMap mount (cm/), else a plain file in the spec directory. */
  configMap: boolean;
}

/**
 * Four specs on three devices: kitchen and lobby render the same page and so share one stream;
 * hall is fMP4; lobby-fallback waits behind lobby on the third TV and plays when lobby is gone.
 */
export const SPECS: readonly SpecDef[] = [
  { name: 'kitchen', device: 0, page: 1, mode: 'hls', priority: 0, configMap: false },
  { name: 'hall', device: 1, page: 2, mode: 'fmp4', priority: 0, configMap: true },
  { name: 'lobby', device: 2, page: 1, mode: 'hls', priority: 0, configMap: true },
  { name: 'lobby-fallback', device: 2, page: 3, mode: 'hls', priority: -10, configMap: false },
];

export interface SpecVersion {
  rev: number;
  title?: string;
  broken?: boolean;
}

export function specText(def: SpecDef, devicePort: number, pageUrl: string, v: SpecVersion): string {
  return `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${def.name}
  labels: { rev: "r${v.rev}" }
spec:
  device: { host: 127.0.0.1, port: ${devicePort} }
  url: ${pageUrl}
  title: ${v.title ?? def.name}
  quality: ${v.broken ? '999p' : '480p'}
  hwAccel: off
  mode: ${def.mode}
  priority: ${def.priority}
  policy:
    # The soak faults a device every minute or so on purpose: a budget for that, not for a home.
    maxRestarts: { count: 10000, window: 10m }
`;
}

/** The spec directory: plain files, and cm/ laid out as the kubelet lays out a ConfigMap volume. */
export class SpecDir {
  private cmGeneration = 0;
  private cmFiles = new Map<string, string>();

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'cm'), { recursive: true });
  }

  private get cm(): string {
    return join(this.dir, 'cm');
  }

  /** Writes a plain file the way git does: a temp file renamed over the old one. */
  writePlain(name: string, text: string): void {
    const tmp = join(this.dir, `.${name}.yaml.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.dir, `${name}.yaml`));
  }

  removePlain(name: string): void {
    rmSync(join(this.dir, `${name}.yaml`), { force: true });
  }

  /** Sets or (text undefined) removes keys, then swaps the whole ConfigMap at once. */
  swapConfigMap(changes: Record<string, string | undefined>): void {
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) this.cmFiles.delete(k);
      else this.cmFiles.set(k, v);
    }
    const gen = `..2026_12_01_00_00_00.${++this.cmGeneration}`;
    const genDir = join(this.cm, gen);
    mkdirSync(genDir);
    for (const [k, v] of this.cmFiles) writeFileSync(join(genDir, `${k}.yaml`), v);
    const old = existsSync(join(this.cm, '..data')) ? readlinkSync(join(this.cm, '..data')) : undefined;
    symlinkSync(gen, join(this.cm, '..data_tmp'));
    renameSync(join(this.cm, '..data_tmp'), join(this.cm, '..data'));
    // The visible names: one symlink per key into ..data.
    for (const k of this.cmFiles.keys()) {
      const link = join(this.cm, `${k}.yaml`);
      if (!existsSync(link)) symlinkSync(`..data/${k}.yaml`, link);
    }
    for (const [k, v] of Object.entries(changes)) if (v === undefined) rmSync(join(this.cm, `${k}.yaml`), { force: true });
    if (old) rmSync(join(this.cm, old), { recursive: true, force: true });
  }

  write(def: SpecDef, text: string): void {
    if (def.configMap) this.swapConfigMap({ [def.name]: text });
    else this.writePlain(def.name, text);
  }

  remove(def: SpecDef): void {
    if (def.configMap) this.swapConfigMap({ [def.name]: undefined });
    else this.removePlain(def.name);
  }
}

// ── pages ────────────────────────────────────────────────────────────────────────────────────

const COLORS = ['#123', '#312', '#231', '#332'];

/** Page n: a colour, a ticking counter, and a poll of /cmd/n that can tell it to hang. */
function pageHtml(n: number): string {
  return `<!doctype html><html><body style="margin:0;background:${COLORS[n % COLORS.length]};color:#fff;font:bold 20vh sans-serif">
<div id="n">0</div><script>
let n=0;setInterval(()=>{document.getElementById('n').textContent=String(++n)},1000);
setInterval(async()=>{try{const r=await fetch('/cmd/${n}');if((await r.text())==='hang'){for(;;){}}}catch{}},1000);
</script></body></html>`;
}

export class PageServer {
  private server?: Server;
  private readonly pending = new Map<number, string>();
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const m = /^\/(page|cmd)\/(\d+)/.exec(req.url ?? '');
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      const n = Number(m[2]);
      if (m[1] === 'page') {
        res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' }).end(pageHtml(n));
        return;
      }
      const cmd = this.pending.get(n) ?? '';
      this.pending.delete(n);
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(cmd);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(n: number): string {
    return `http://127.0.0.1:${this.port}/page/${n}`;
  }

  /** The next poll of page n (by whichever browser shows it) makes it spin for ever. */
  hang(n: number): void {
    this.pending.set(n, 'hang');
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

// ── devices ──────────────────────────────────────────────────────────────────────────────────

export async function startDevices(n: number): Promise<FakeCastDevice[]> {
  const tls = await selfSignedCert();
  const out: FakeCastDevice[] = [];
  for (let i = 0; i < n; i++) {
    const d = new FakeCastDevice({ name: `Soak TV ${i + 1}`, host: '127.0.0.1', port: 0, tls });
    await d.start();
    out.push(d);
  }
  return out;
}

// ── the controller ───────────────────────────────────────────────────────────────────────────

export interface ControllerEvents {
  /** The controller died without being told to (a crash: an unhandled rejection or exception). */
  onUnexpectedExit(code: number | null, signal: string | null): void;
  /** A line on stderr that is not a structured log line: a stack trace, an uncaught error. */
  onStrayOutput(line: string): void;
}

export class ControllerProcess {
  child?: ChildProcess;
  startedAt = 0;
  starts = 0;
  private expectingExit = false;
  private readonly log: WriteStream;
  private token?: string;

  constructor(
    private readonly o: { specsDir: string; stateDir: string; apiPort: number; logFile: string; events: ControllerEvents },
  ) {
    this.log = createWriteStream(o.logFile, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get api(): string {
    return `http://127.0.0.1:${this.o.apiPort}`;
  }

  start(): void {
    this.expectingExit = false;
    const child = spawn(
      process.execPath,
      ['dist/controller/cli/cli.js', 'run', this.o.specsDir, '--state-dir', this.o.stateDir, '--api', `127.0.0.1:${this.o.apiPort}`, '--stream', '127.0.0.1:0', '--log-level', 'info'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    this.startedAt = Date.now();
    this.starts++;
    this.log.write(`--- controller start ${this.starts} pid ${child.pid} at ${new Date().toISOString()}\n`);
    let partial = '';
    const onData = (chunk: Buffer) => {
      this.log.write(chunk);
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        if (!line.startsWith('{')) this.o.events.onStrayOutput(line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      this.log.write(`--- controller exit code ${code} signal ${signal}\n`);
      if (!this.expectingExit) this.o.events.onUnexpectedExit(code, signal);
    });
  }

  /** Resolves once the API answers /readyz (the first reconcile is done). */
  async ready(timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.pid === undefined) throw new Error('the controller exited while starting');
      try {
        const r = await fetch(`${this.api}/readyz`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`the controller was not ready within ${timeoutMs} ms`);
  }

  /** SIGTERM (graceful) or SIGKILL; resolves with how long the exit took. */
  async signal(sig: 'SIGTERM' | 'SIGKILL', timeoutMs = 60_000): Promise<{ ms: number; code: number | null }> {
    const child = this.child;
    if (!child || this.pid === undefined) return { ms: 0, code: null };
    this.expectingExit = true;
    const t = Date.now();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill(sig);
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs))]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`the controller did not exit within ${timeoutMs} ms of ${sig}`);
    }
    return { ms: Date.now() - t, code };
  }

  private async authHeader(): Promise<Record<string, string>> {
    this.token ??= readFileSync(defaultTokenPath(this.o.stateDir), 'utf8').trim();
    return { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' };
  }

  async specs(): Promise<Array<{ name: string; phase: string; error?: string; suspended: boolean }> | undefined> {
    try {
      const r = await fetch(`${this.api}/api/v1/specs`, { signal: AbortSignal.timeout(2000) });
      if (!r.ok) return undefined;
      return ((await r.json()) as { specs: Array<{ name: string; phase: string; error?: string; suspended: boolean }> }).specs;
    } catch {
      return undefined;
    }
  }

  async post(path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.api}${path}`, { method: 'POST', headers: await this.authHeader(), body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  }

  close(): void {
    this.log.end();
  }
}
