// `pagecast run`: the controller with the real components, the status/control API and signal
// handling (SIGTERM/SIGINT stop every pipeline in order; a second signal forces exit).
import { resolve } from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import { SdNotify } from '../service/sd-notify.js';
import { Controller } from '../controller.js';
import { LogTail } from '../status/log-tail.js';
import { tuneHeapForDaemon } from '../heap.js';
import { createLogger, parseLogFormat, type Logger } from '../../machines/log.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { defaultStateDir } from '../sources/state-dir.js';
import { lockStateDir } from '../sources/state-lock.js';
import { defaultTokenPath, loadOrCreateToken } from '../http/auth.js';
import { DEFAULT_API_PORT, startApiServer, type ApiServer } from '../http/api.js';
import { PagecastError } from '../../machines/errors.js';
import { escapeControl } from '../../specs/escape.js';
import { parseCommand, usageError } from './commands.js';
import { parseMqttUrl, readMqttCredentials } from '../integrations/mqtt/config.js';
import type { MqttBridge } from '../integrations/mqtt/bridge.js';
import { parseCoordinationFlags, type CoordinationConfig } from '../coordination/flags.js';
import { createCoordinator } from '../coordination/create.js';
import { DEFAULT_TTL_SECONDS } from '../coordination/etcd-coordinator.js';
import { deadManTimeoutForLease } from '../../machines/processes/dead-man-rules.js';

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
  /** Home Assistant through MQTT: the broker, and the file with its login. */
  mqtt?: { url: string; credentialsFile?: string };
  /** The console trusts Home Assistant's ingress proxy (the add-on only; see http/ingress.ts). */
  trustIngress?: boolean;
  /** Which specs are ours (default static: all the selector matches). */
  coordination?: CoordinationConfig;
  log: Logger;
}

export interface Running {
  controller: Controller;
  runtime: Runtime;
  api: ApiServer;
  mqtt?: MqttBridge;
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
    // A bad login file fails the start before anything runs.
    const mqttCredentials = o.mqtt?.credentialsFile ? await readMqttCredentials(o.mqtt.credentialsFile) : undefined;
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    const lock = await lockStateDir(o.stateDir);
    opened.push(() => lock.release());
    const runtime = await createRuntime({
      stateDir: o.stateDir,
      log: o.log,
      stream: { host: o.streamHost, port: o.streamPort, advertiseHost: o.advertiseHost },
      chromiumPath: o.chromiumPath,
      // With leases, the pipelines stop when the controller freezes, before its lease can pass on.
      ...(o.coordination?.kind === 'etcd' ? { deadManMs: deadManTimeoutForLease(1000 * (o.coordination.ttlSeconds ?? DEFAULT_TTL_SECONDS)) } : {}),
    });
    opened.push(() => runtime.close());
    // The console's recent log lines of each spec: a tee on the logger's destination.
    const logTail = new LogTail();
    logTail.attach(o.log);
    const coordinator = createCoordinator(o.coordination ?? { kind: 'static' }, o.log);
    // Should this process die, its dead-man switch revokes its lease: its screens move at once.
    const unwill = runtime.deadMan && coordinator.onLastWill?.((will) => runtime.deadMan!.setWill(will));
    if (unwill) opened.push(async () => unwill());
    const controller = new Controller({
      coordinator,
      logTail,
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
    // startApiServer names its component itself.
    const api = await startApiServer({ control: controller, host: o.apiHost, port: o.apiPort, token, log: o.log, ...(o.trustIngress ? { trustIngress: {} } : {}) });
    opened.push(() => api.close());
    await controller.start();
    // Started once the first reconcile is done, so nothing ever waits for the broker; stopped
    // first (reverse order), so Home Assistant sees this controller offline before pipelines stop.
    let mqtt: MqttBridge | undefined;
    if (o.mqtt) {
      // Loaded only when asked for: the MQTT client costs a fifth of a second at start.
      const { MqttBridge } = await import('../integrations/mqtt/bridge.js');
      const bridge = new MqttBridge({ control: controller, url: o.mqtt.url, credentials: mqttCredentials, log: o.log });
      bridge.start();
      opened.push(() => bridge.stop());
      mqtt = bridge;
    }
    o.log.info({ api: api.url, streams: `${o.streamHost}:${runtime.streamServer.port}` }, 'pagecast running');
    let stopping: Promise<void> | undefined;
    return {
      controller,
      runtime,
      api,
      ...(mqtt ? { mqtt } : {}),
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
  const { values, positionals } = parseCommand('run', args);
  // Bad flags are usage errors (exit 2), found before anything starts.
  const api = asUsage(() => parseHostPort(values.api ?? `127.0.0.1:${DEFAULT_API_PORT}`, '--api'));
  const stream = asUsage(() => parseHostPort(values.stream ?? '0.0.0.0:8181', '--stream'));
  const selector = asUsage(() => parseSelector(values.selector));
  const coordination = asUsage(() => parseCoordinationFlags(values));
  const format = asUsage(() => parseLogFormat(values['log-format'], '--log-format') ?? parseLogFormat(process.env.PAGECAST_LOG_FORMAT, 'PAGECAST_LOG_FORMAT'));
  const mqttUrl = values.mqtt === undefined ? undefined : asUsage(() => parseMqttUrl(values.mqtt!));
  if (values['mqtt-credentials'] !== undefined && mqttUrl === undefined) throw usageError('--mqtt-credentials needs --mqtt');
  const specsDir = resolve(positionals[0] ?? '.');
  const st = await stat(specsDir).catch(() => undefined);
  if (!st?.isDirectory()) {
    process.stderr.write(`pagecast run: ${escapeControl(specsDir)} is not a directory of spec files\n`);
    return 2;
  }
  const log = createLogger({ level: values['log-level'], ...(format ? { format } : {}) });
  // Under systemd (Type=notify): watchdog pings from now on, READY=1 once converged.
  const systemd = new SdNotify({ log: log.child({ component: 'systemd' }) });
  systemd.start();
  // The handlers go on before anything starts: a SIGTERM before them would kill the process (the
  // default action) with its children left running. One that comes during the start is acted on
  // once the start is done; a second one then forces exit.
  let pending: NodeJS.Signals | undefined;
  let onSignal = (sig: NodeJS.Signals): void => {
    if (pending) {
      log.warn({ signal: sig }, 'second signal while starting: forcing exit');
      process.exit(1);
    }
    pending = sig;
    log.info({ signal: sig }, 'stopping once the start is done');
  };
  const signalled = (sig: NodeJS.Signals) => onSignal(sig);
  process.on('SIGTERM', signalled);
  process.on('SIGINT', signalled);
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
      selector,
      chromiumPath: values.chromium,
      trustIngress: values['trust-ingress'] === true,
      coordination,
      ...(mqttUrl ? { mqtt: { url: mqttUrl, ...(values['mqtt-credentials'] ? { credentialsFile: resolve(values['mqtt-credentials']) } : {}) } } : {}),
      log,
    });
  } catch (err) {
    // Everything opened has been closed again: say why, exit non-zero.
    process.off('SIGTERM', signalled);
    process.off('SIGINT', signalled);
    systemd.close();
    process.stderr.write(`pagecast run: ${escapeControl(err instanceof Error ? err.message : String(err))}\n`);
    return 1;
  }
  const exited = new Promise<number>((resolveExit) => {
    let stopping = false;
    onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal: sig }, 'second signal: forcing exit');
        void running.runtime.registry.stopAll([{ signal: 'SIGKILL', timeoutMs: 1000 }]).finally(() => process.exit(1));
        return;
      }
      stopping = true;
      log.info({ signal: sig }, 'stopping every pipeline');
      systemd.stop();
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
  });
  if (pending) {
    onSignal(pending);
    return exited;
  }
  // Converged: from now on the daemon's heap favours size over speed (see controller/heap.ts).
  tuneHeapForDaemon();
  systemd.ready(running.controller);
  return exited;
}

/** A configuration error in a flag is a usage error: `pagecast run: --api: …`, exit 2. */
function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw err instanceof PagecastError && err.code === 'CONFIG' ? usageError(err.message) : err;
  }
}
