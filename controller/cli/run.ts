// `pagecast run`: the controller with the real components, the status/control API and signal
// handling (SIGTERM/SIGINT stop every pipeline in order; a second signal forces exit).
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import { execa } from 'execa';
import { Controller } from '../controller.js';
import { tuneHeapForDaemon } from '../heap.js';
import { createLogger, type Logger } from '../../machines/log.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { defaultStateDir } from '../sources/state-dir.js';
import { lockStateDir } from '../sources/state-lock.js';
import { defaultTokenPath, loadOrCreateToken } from '../http/auth.js';
import { DEFAULT_API_PORT, startApiServer, type ApiServer } from '../http/api.js';
import { PagecastError } from '../../machines/errors.js';
import { escapeControl } from '../../specs/escape.js';

export interface RunOptions {
  specsDir?: string;
  stateDir: string;
  apiHost: string;
  apiPort: number;
  streamHost: string;
  streamPort: number;
  advertiseHost?: string;
  selector?: Record<string, string>;
  chromiumPath?: string;
  log: Logger;
}

export interface Running {
  controller: Controller;
  runtime: Runtime;
  api: ApiServer;
  stop(): Promise<void>;
}

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text) ?? /^()(\d+)$/.exec(text);
  if (!m) throw new PagecastError('CONFIG', `${what}: expected HOST:PORT, got "${text}"`);
  const port = Number(m[2]);
  if (port > 65535) throw new PagecastError('CONFIG', `${what}: port ${port} is out of range`);
  return { host: (m[1] || '127.0.0.1').replace(/^\[|\]$/g, ''), port };
}

export function parseSelector(text: string | undefined): Record<string, string> | undefined {
  if (!text) return undefined;
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9./_-]+)\s*=\s*([A-Za-z0-9._-]*)\s*$/.exec(part);
    if (!m) throw new PagecastError('CONFIG', `--selector: expected key=value[,key=value], got "${part}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Starts everything; resolves once the first reconcile is done. The state directory's lock comes
 * first, before anything is reaped or started; any error on the way closes what was opened, in
 * reverse order, and is thrown.
 */
export async function startPagecast(o: RunOptions): Promise<Running> {
  const opened: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of opened.splice(0).reverse()) await close().catch((err: unknown) => o.log.warn({ err: String(err) }, 'cleanup after a failed start'));
  };
  try {
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    const lock = await lockStateDir(o.stateDir);
    opened.push(() => lock.release());
    const runtime = await createRuntime({
      stateDir: o.stateDir,
      log: o.log,
      stream: { host: o.streamHost, port: o.streamPort, advertiseHost: o.advertiseHost },
      chromiumPath: o.chromiumPath,
    });
    opened.push(() => runtime.close());
    const controller = new Controller({
      specsDir: o.specsDir,
      stateDir: o.stateDir,
      components: runtime.components,
      log: o.log,
      selector: o.selector,
      processMetrics: true,
      fetches: (id) => runtime.streamServer.fetches(id),
    });
    opened.push(() => controller.stop());
    const token = await loadOrCreateToken(defaultTokenPath(o.stateDir));
    const api = await startApiServer({ control: controller, host: o.apiHost, port: o.apiPort, token, log: o.log.child({ component: 'api' }) });
    opened.push(() => api.close());
    await controller.start();
    o.log.info({ api: api.url, streams: `${o.streamHost}:${runtime.streamServer.port}` }, 'pagecast running');
    let stopping: Promise<void> | undefined;
    return {
      controller,
      runtime,
      api,
      stop() {
        stopping ??= closeAll();
        return stopping;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string' },
      api: { type: 'string' },
      stream: { type: 'string' },
      'advertise-host': { type: 'string' },
      selector: { type: 'string' },
      chromium: { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const log = createLogger({ level: values['log-level'] });
  const specsDir = resolve(positionals[0] ?? '.');
  const st = await stat(specsDir).catch(() => undefined);
  if (!st?.isDirectory()) {
    process.stderr.write(`pagecast run: ${specsDir} is not a directory of spec files\n`);
    return 2;
  }
  const api = parseHostPort(values.api ?? `127.0.0.1:${DEFAULT_API_PORT}`, '--api');
  const stream = parseHostPort(values.stream ?? '0.0.0.0:8181', '--stream');
  let running: Running;
  try {
    running = await startPagecast({
      specsDir,
      stateDir: resolve(values['state-dir'] ?? defaultStateDir()),
      apiHost: api.host,
      apiPort: api.port,
      streamHost: stream.host,
      streamPort: stream.port,
      advertiseHost: values['advertise-host'],
      selector: parseSelector(values.selector),
      chromiumPath: values.chromium,
      log,
    });
  } catch (err) {
    // Everything opened has been closed again: say why, exit non-zero.
    process.stderr.write(`pagecast run: ${escapeControl(err instanceof Error ? err.message : String(err))}\n`);
    return 1;
  }
  // Converged: from now on the daemon's heap favours size over speed (see controller/heap.ts).
  tuneHeapForDaemon();
  await notifySystemd('READY=1');
  return new Promise<number>((resolveExit) => {
    let signalled = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) {
        log.warn({ signal: sig }, 'second signal: forcing exit');
        void running.runtime.registry.stopAll([{ signal: 'SIGKILL', timeoutMs: 1000 }]).finally(() => process.exit(1));
        return;
      }
      signalled = true;
      log.info({ signal: sig }, 'stopping every pipeline');
      void notifySystemd('STOPPING=1');
      running.stop().then(
        () => {
          log.info('stopped');
          resolveExit(0);
        },
        (err: unknown) => {
          log.error({ err: String(err) }, 'stop failed');
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** sd_notify through systemd-notify, when running under systemd with Type=notify. */
async function notifySystemd(state: string): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  await execa('systemd-notify', [state], { reject: false });
}
