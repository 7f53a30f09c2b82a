// The controller's side of the dead-man switch (issue 14, fencing): a small child process that
// SIGKILLs every registered pipeline process when this controller stops sending heartbeats for
// `timeoutMs` (⅔ of the lease TTL under etcd), so that a paused or partitioned controller's
// pipelines stop before another instance takes its screens over. The heartbeat is a timer on this
// event loop, on purpose: a beat that is late because the loop was blocked is the silence the switch
// is there to catch. Which processes the child may kill, and what it does when this process dies,
// is in dead-man-child.ts; the decisions themselves are dead-man-rules.ts.
//
// Off unless asked for: the single-box default has no lease to lose, and a controller that is only
// slow is better left alone than having its pipelines killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PagecastError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProcessRecord, ProcessRegistry } from './registry.js';
import { MIN_TIMEOUT_MS, formatLine, heartbeatIntervalMs, lineSplitter, parseDeadManLine, type ControllerMessage, type GroupOutcome, type WillRequest } from './dead-man-rules.js';

export type { GroupOutcome, WillRequest } from './dead-man-rules.js';

export interface DeadManOptions {
  registry: ProcessRegistry;
  /** Silence after which the child kills the guarded groups; at least MIN_TIMEOUT_MS. */
  timeoutMs: number;
  log?: Logger;
  /** The child's script; default: dead-man-child.js beside this module (dist/ when running from the sources). */
  childScript?: string;
  /** How long start() waits for the child to say it is ready. */
  startTimeoutMs?: number;
  /** Pause before replacing a child that exited on its own. */
  respawnDelayMs?: number;
}

/** What the child reported after firing: every guarded group was killed (or skipped, with why). */
export interface DeadManFired {
  silentMs: number;
  timeoutMs: number;
  groups: GroupOutcome[];
}

/** The compiled child beside this module; from the TypeScript sources (vitest), the one in dist/. */
export function defaultChildScript(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  const dir = dirname(here);
  return here.endsWith('.ts') ? join(dir, '../../dist/machines/processes/dead-man-child.js') : join(dir, 'dead-man-child.js');
}

export class DeadManSwitch {
  private child?: ChildProcess;
  private beat?: NodeJS.Timeout;
  private respawn?: NodeJS.Timeout;
  private unobserve?: () => void;
  private lastBeatAt = 0;
  private will: WillRequest[] = [];
  private running = false;
  private readonly listeners = new Set<(f: DeadManFired) => void>();

  constructor(private readonly opts: DeadManOptions) {}

  /** The child's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Called when the child fired: the listed processes were SIGKILLed while this process was silent. Returns the unsubscribe. */
  onFired(listener: (f: DeadManFired) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Starts the child, guards every registered process (now and later), starts the heartbeat. */
  async start(): Promise<void> {
    if (this.running) return;
    const { timeoutMs } = this.opts;
    if (!Number.isInteger(timeoutMs) || timeoutMs < MIN_TIMEOUT_MS) {
      throw new PagecastError('CONFIG', `dead-man switch: the timeout must be a whole number of milliseconds, at least ${MIN_TIMEOUT_MS}; got ${timeoutMs}`);
    }
    const script = this.opts.childScript ?? defaultChildScript();
    if (!existsSync(script)) {
      throw new PagecastError('CONFIG', `dead-man switch: its child script ${script} is missing (run npm run build)`, { source: script });
    }
    this.running = true;
    try {
      await this.spawnChild(script);
    } catch (err) {
      this.running = false;
      throw err;
    }
    const interval = heartbeatIntervalMs(timeoutMs);
    this.lastBeatAt = performance.now();
    this.beat = setInterval(() => this.heartbeat(), interval).unref();
  }

  /** Ends the child without killing anything (the caller stops its pipelines itself), and waits for it. */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.beat);
    clearTimeout(this.respawn);
    this.unobserve?.();
    this.unobserve = undefined;
    const child = this.child;
    if (!child) return;
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
    this.send({ t: 'stop' });
    child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 3000)));
    // Still our unreaped child until 'exit' is seen, so its pid cannot belong to anyone else.
    if ((await Promise.race([exited, late])) === 'late') child.kill('SIGKILL');
    clearTimeout(timer);
    await exited;
    this.child = undefined;
  }

  private heartbeat(): void {
    const now = performance.now();
    const gap = now - this.lastBeatAt;
    this.lastBeatAt = now;
    // Not the decision (the child makes it), only what this side can tell after the fact.
    if (gap >= this.opts.timeoutMs) this.opts.log?.warn({ gapMs: Math.round(gap), timeoutMs: this.opts.timeoutMs }, 'dead-man switch: this process was paused or its event loop blocked past the timeout; its pipelines have probably been killed');
    this.send({ t: 'beat' });
  }

  /**
   * What the child asks when this process dies (see WillRequest): replaces the last will, and is
   * given again to a replacement child.
   */
  setWill(requests: WillRequest[]): void {
    this.will = requests;
    this.send({ t: 'will', requests });
  }

  private send(m: ControllerMessage): void {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) return;
    stdin.write(formatLine(m));
  }

  private spawnChild(script: string): Promise<void> {
    const { registry, timeoutMs, log } = this.opts;
    // Its own session: Ctrl-Z or a signal to the controller's group leaves it running. Its own
    // small environment: no NODE_OPTIONS (loaders, inspectors) and no owner token, so it never
    // looks like one of the pipeline's processes.
    const child = spawn(process.execPath, [script, '--timeout-ms', String(timeoutMs), '--owner', registry.owner, '--controller-pid', String(process.pid)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    this.child = child;
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr] as Array<{ unref?: () => void } | null>) s?.unref?.();
    child.stdin!.on('error', () => {}); // EPIPE after the child died: 'exit' says so
    const stderrTail: string[] = [];
    child.stderr!.setEncoding('utf8').on(
      'data',
      lineSplitter((line) => {
        stderrTail.push(line.slice(0, 300));
        if (stderrTail.length > 5) stderrTail.shift();
        log?.warn({ pid: child.pid, line: line.slice(0, 300) }, 'dead-man switch says');
      }),
    );
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new PagecastError('PROCESS_FAILED', `dead-man switch: its child did not start within ${this.opts.startTimeoutMs ?? 15_000} ms`, { timedOut: true, source: script }));
      }, this.opts.startTimeoutMs ?? 15_000);
      child.stdout!.setEncoding('utf8').on(
        'data',
        lineSplitter((line) => {
          const parsed = parseDeadManLine(line);
          if (!parsed.ok) return log?.error({ pid: child.pid, err: parsed.error }, 'dead-man switch: a line from its child was not understood');
          const m = parsed.value;
          if (m.t === 'ready') {
            if (ready) return;
            ready = true;
            clearTimeout(timer);
            // Replays the will and every process registered so far as a guard, then follows the registry.
            if (this.will.length) this.send({ t: 'will', requests: this.will });
            this.unobserve?.();
            this.unobserve = registry.observe({
              registered: (rec: ProcessRecord) => this.send({ t: 'guard', guard: rec }),
              unregistered: (rec: ProcessRecord) => this.send({ t: 'unguard', pid: rec.pid }),
            });
            log?.debug({ pid: child.pid, timeoutMs }, 'dead-man switch: on');
            resolve();
          } else if (m.t === 'error') {
            log?.error({ pid: child.pid, err: m.message }, 'dead-man switch: its child refused a message');
          } else {
            const f: DeadManFired = { silentMs: m.silentMs, timeoutMs: m.timeoutMs, groups: m.groups };
            log?.warn({ silentMs: f.silentMs, timeoutMs: f.timeoutMs, killed: f.groups.flatMap((g) => g.killed), skipped: f.groups.flatMap((g) => g.skipped) }, 'dead-man switch fired: this process was silent past the timeout; its pipelines were killed');
            for (const l of this.listeners) l(f);
          }
        }),
      );
      child.once('error', (err) => {
        clearTimeout(timer);
        if (!ready) reject(new PagecastError('PROCESS_FAILED', `dead-man switch: cannot start its child (${err.message})`, { cause: err, source: script }));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (this.child === child) this.child = undefined;
        if (!ready) {
          reject(new PagecastError('PROCESS_FAILED', `dead-man switch: its child exited before it was ready (${signal ?? `code ${code}`}): ${stderrTail.join(' | ') || '(no output)'}`, { exitCode: code, signal, source: script }));
          return;
        }
        if (!this.running) return;
        // A switch that is gone protects nothing: replace it (it guards every registered process again).
        this.unobserve?.();
        this.unobserve = undefined;
        log?.error({ code, signal, stderr: stderrTail }, 'dead-man switch: its child exited; starting another');
        this.scheduleRespawn(script);
      });
    });
  }

  /** Until a replacement is up, pipelines are unguarded: keep trying while running. */
  private scheduleRespawn(script: string): void {
    clearTimeout(this.respawn);
    this.respawn = setTimeout(() => {
      if (!this.running) return;
      this.spawnChild(script).catch((err: Error) => {
        if (!this.running) return;
        this.opts.log?.error({ err: err.message }, 'dead-man switch: could not be restarted, trying again; pipelines are not guarded meanwhile');
        this.scheduleRespawn(script);
      });
    }, this.opts.respawnDelayMs ?? 1000);
    this.respawn.unref();
  }
}
