// systemd's notify protocol (sd_notify(3)) for `Type=notify` units: READY=1 once the first scan
// and reconcile are done, WATCHDOG=1 every half of WATCHDOG_USEC while the controller is healthy,
// STOPPING=1 when a stop begins, and a STATUS= line that `systemctl status` shows.
//
// Node cannot send a Unix datagram, and the notify socket takes nothing else. A short-lived sender
// per message (`systemd-notify`) is racy: systemd finds a message's unit from the sender's cgroup,
// and a sender that has already exited is not found (sd_notify(3)), so a WATCHDOG=1 can be lost.
// One long-lived helper sends instead: a few lines of Python's standard library that read one
// message per line on stdin and send each as a datagram. It is our child, in our cgroup and alive
// while systemd reads, so `NotifyAccess=all` accepts it. A well-kept npm package would have to be
// native (node-gyp per Node version, or prebuilt binaries that the registry lacks for arm64).
//
// Nothing happens when NOTIFY_SOCKET is unset.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../machines/log.js';

/**
 * What the notifier reads of the controller: readiness and liveness, as /readyz and /healthz do
 * (not ok once stopped, or while its reconcile loop is stuck: ./liveness.ts).
 */
export interface ServiceState {
  ready(): boolean;
  health(): { ok: boolean; reason?: string; specs: number; playing: number; failed: number };
}

export interface SdNotifyOptions {
  log: Logger;
  /** Read once by start(), which then removes the notify variables so no child inherits them. */
  env?: NodeJS.ProcessEnv;
  /** The Python 3 that runs the helper (default: python3 on PATH). */
  python?: string;
}

// One datagram per line. An error is reported on stderr and the helper goes on: a message lost
// only costs the next watchdog interval, and the helper ends with our stdin.
export const HELPER_SOURCE = String.raw`
import os, socket, sys
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for line in sys.stdin.buffer:
    try:
        sock.sendto(line.rstrip(b"\n"), addr)
    except OSError as err:
        print(err, file=sys.stderr, flush=True)
`;

/** The watchdog interval systemd asks for (WATCHDOG_USEC), in ms; undefined when it is not meant for this process. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 1000 / 2));
}

/** One line of status for `systemctl status`; nothing in it comes from a spec file. */
export function statusLine(h: ReturnType<ServiceState['health']>): string {
  return `${h.specs} spec${h.specs === 1 ? '' : 's'}: ${h.playing} playing, ${h.failed} failed`;
}

export class SdNotify {
  private helper?: ChildProcess;
  private watchdog?: NodeJS.Timeout;
  private state?: ServiceState;
  private lastStatus?: string;
  private stopping = false;
  private unhealthy = false;

  constructor(private readonly opts: SdNotifyOptions) {}

  /** True while a helper is there to send. */
  get enabled(): boolean {
    return this.helper !== undefined;
  }

  /**
   * Starts the helper and, when systemd asks for it, the watchdog. Until ready() hands over the
   * controller, the process is starting: the event loop turning is all there is to check, and
   * TimeoutStartSec bounds the start.
   */
  start(): void {
    const env = this.opts.env ?? process.env;
    const socketPath = env.NOTIFY_SOCKET;
    const interval = watchdogIntervalMs(env);
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (!socketPath || this.helper) return;
    const log = this.opts.log;
    const helper = spawn(this.opts.python ?? 'python3', ['-c', HELPER_SOURCE], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { NOTIFY_SOCKET: socketPath, PATH: env.PATH ?? '/usr/bin:/bin' },
    });
    this.helper = helper;
    const gone = () => {
      if (this.helper === helper) this.helper = undefined;
      clearInterval(this.watchdog);
    };
    helper.on('error', (err) => {
      gone();
      log.warn({ err: err.message }, 'systemd notify: cannot start python3 to send with; READY=1 and WATCHDOG=1 will not reach systemd');
    });
    // A write after the helper died fails here (EPIPE), not as an uncaught error.
    helper.stdin!.on('error', () => {});
    helper.stderr!.setEncoding('utf8').on('data', (text: string) => log.warn({ err: text.trim().slice(0, 300) }, 'systemd notify: a message was not sent'));
    helper.on('exit', (code, signal) => {
      gone();
      if (!this.stopping) log.warn({ code, signal }, 'systemd notify: the helper exited; systemd hears nothing more from this process');
    });
    // Neither the helper nor its pipes keep the process alive.
    helper.unref();
    for (const s of [helper.stdin, helper.stderr] as Array<{ unref?: () => void } | null>) s?.unref?.();
    if (interval !== undefined) {
      this.watchdog = setInterval(() => this.tick(), interval).unref();
      this.tick();
    }
    log.debug({ watchdogMs: interval }, 'systemd notify: on');
  }

  /** READY=1, once the controller has done its first scan and reconcile (false, and nothing sent, before). */
  ready(state: ServiceState): boolean {
    this.state = state;
    if (!state.ready()) return false;
    const h = state.health();
    this.lastStatus = statusLine(h);
    this.send(['READY=1', `STATUS=${this.lastStatus}`]);
    return true;
  }

  /** STOPPING=1: systemd now waits for the exit (TimeoutStopSec) instead of expecting pings. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.watchdog);
    this.send(['STOPPING=1', 'STATUS=stopping every pipeline']);
  }

  /** Ends the helper (it sends what it has read, then exits on end of input). */
  close(): void {
    this.stopping = true;
    clearInterval(this.watchdog);
    this.helper?.stdin?.end();
  }

  /**
   * Healthy: this tick runs, so the event loop turns, and the controller says it is alive (not
   * stopped). An unhealthy controller gets no ping, and systemd restarts it after WatchdogSec.
   */
  private tick(): void {
    if (this.stopping) return;
    const h = this.state?.health();
    if (h && !h.ok) {
      if (!this.unhealthy) {
        this.opts.log.warn(h, 'systemd notify: the controller is not healthy; the watchdog is not kept');
        // No WATCHDOG=1, but `systemctl status` says why until systemd restarts us.
        this.send([`STATUS=${(this.lastStatus = `not healthy: ${h.reason ?? 'stopped'}`)}`]);
      }
      this.unhealthy = true;
      return;
    }
    this.unhealthy = false;
    const lines = ['WATCHDOG=1'];
    const status = h && statusLine(h);
    if (status && status !== this.lastStatus) lines.push(`STATUS=${(this.lastStatus = status)}`);
    this.send(lines);
  }

  private send(lines: string[]): void {
    const stdin = this.helper?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) return;
    stdin.write(lines.map((l) => `${l.replace(/[\r\n]/g, ' ')}\n`).join(''));
  }
}
