// Every child process of the controller, with pid, process group and start time, mirrored in a
// state file so that the next start after a SIGKILL can remove what this run left behind. The
// start time (field 22 of /proc/<pid>/stat) tells our process from an unrelated one that reused
// its pid. Only node builtins, execa and ../atomic-file.ts here: a fixture "controller" script
// loads this file and that one, transpiled on their own.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa, type Options as ExecaOptions, type ResultPromise } from 'execa';
import { writeFileAtomicSync } from '../atomic-file.js';
import type { Logger } from '../log.js';

export interface ProcessRecord {
  pid: number;
  pgid: number;
  name: string;
  /** Clock ticks since boot when the process started (/proc/<pid>/stat field 22). */
  startTime: number;
}

/** One escalation step: `q` writes "q" to the child's stdin (FFmpeg's graceful stop). */
export interface StopStep {
  signal: NodeJS.Signals | 'q';
  timeoutMs: number;
}
export const FFMPEG_STOP: StopStep[] = [
  { signal: 'q', timeoutMs: 4000 },
  { signal: 'SIGTERM', timeoutMs: 3000 },
  { signal: 'SIGKILL', timeoutMs: 3000 },
];
export const DEFAULT_STOP: StopStep[] = [
  { signal: 'SIGTERM', timeoutMs: 4000 },
  { signal: 'SIGKILL', timeoutMs: 3000 },
];

interface StopTarget {
  pid: number;
  pgid: number;
  /** For `q`: the child's stdin. */
  stdin?: NodeJS.WritableStream | null;
  /** Settles when the leader has exited (and was reaped by us). */
  exited?: Promise<unknown>;
}

interface StateFile {
  version: 1;
  controllerPid: number;
  processes: ProcessRecord[];
}

/** Start time of a process in clock ticks since boot, or undefined when it does not exist. */
export function processStartTime(pid: number): number | undefined {
  const stat = readStat(pid);
  return stat?.startTime;
}

interface Stat {
  state: string;
  pgid: number;
  startTime: number;
  utime: number;
  stime: number;
}

/** Fields of /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last ')'. */
export function parseStat(text: string): Stat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).trim().split(/\s+/); // f[0] is field 3 (state)
  const field = (n: number) => Number(f[n - 3]);
  const stat = { state: f[0] ?? '?', pgid: field(5), utime: field(14), stime: field(15), startTime: field(22) };
  return Number.isFinite(stat.startTime) && Number.isFinite(stat.pgid) ? stat : undefined;
}

export function readStat(pid: number): Stat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Live (not zombie) pids whose process group is `pgid`. */
export function groupMembers(pgid: number): Array<{ pid: number; startTime: number }> {
  const out: Array<{ pid: number; startTime: number }> = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = readStat(Number(e));
    if (s && s.pgid === pgid && s.state !== 'Z' && s.state !== 'X') out.push({ pid: Number(e), startTime: s.startTime });
  }
  return out;
}

/** Sum of user+system CPU ticks of every live process in a group (for benchmarks and figures). */
export function groupCpuTicks(pgid: number): number {
  let total = 0;
  for (const m of groupMembers(pgid)) {
    const s = readStat(m.pid);
    if (s) total += s.utime + s.stime;
  }
  return total;
}

function alive(pid: number): boolean {
  const s = readStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: already gone
  }
}

async function waitUntil(cond: () => boolean, timeoutMs: number, extra?: Promise<unknown>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let settled = extra === undefined;
  extra?.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (Date.now() < deadline) {
    if (settled && cond()) return true;
    await delay(50);
  }
  return settled && cond();
}

export class ProcessRegistry {
  private readonly stateFile: string;
  private readonly log: Logger | undefined;
  private readonly live = new Map<number, ProcessRecord>();
  private readonly targets = new Map<number, StopTarget>();

  constructor(opts: { stateFile: string; log?: Logger }) {
    this.stateFile = opts.stateFile;
    this.log = opts.log;
  }

  list(): ProcessRecord[] {
    return [...this.live.values()];
  }

  register(rec: ProcessRecord, target?: Omit<StopTarget, 'pid' | 'pgid'>): void {
    this.live.set(rec.pid, rec);
    this.targets.set(rec.pid, { pid: rec.pid, pgid: rec.pgid, ...target });
    this.save();
    this.log?.debug({ pid: rec.pid, pgid: rec.pgid, name: rec.name }, 'process registered');
  }

  unregister(pid: number): void {
    if (!this.live.delete(pid)) return;
    this.targets.delete(pid);
    this.save();
  }

  /** Escalates through `steps` until the process and its whole group are gone, then unregisters it. */
  async stop(pidOrTarget: number | StopTarget, steps: StopStep[] = DEFAULT_STOP): Promise<void> {
    const target = typeof pidOrTarget === 'number' ? this.targets.get(pidOrTarget) : pidOrTarget;
    if (!target) return;
    const gone = () => !alive(target.pid) && groupMembers(target.pgid).length === 0;
    for (const step of steps) {
      if (gone()) break;
      if (step.signal === 'q') {
        if (!target.stdin || !alive(target.pid)) continue;
        try {
          target.stdin.write('q\n');
        } catch {
          continue; // stdin already closed: go on to signals
        }
        if (await waitUntil(() => !alive(target.pid), step.timeoutMs, target.exited)) {
          // FFmpeg has no helpers, but a group may: clear the rest below.
          if (gone()) break;
        }
        continue;
      }
      signalGroup(target.pgid, step.signal);
      if (await waitUntil(gone, step.timeoutMs, target.exited)) break;
      this.log?.warn({ pid: target.pid, signal: step.signal }, 'process still running after signal, escalating');
    }
    this.unregister(target.pid);
  }

  /** Stops every registered process, all at once (each escalates on its own). */
  async stopAll(steps?: StopStep[]): Promise<void> {
    await Promise.all([...this.targets.values()].map((t) => this.stop(t, steps ?? DEFAULT_STOP)));
  }

  /**
   * Reads the state file a previous run left and removes its processes: a recorded leader is
   * killed (with its group) only if its start time still matches; a group whose leader is gone
   * loses only members that started after the leader did. Afterwards the file lists only this run.
   */
  async reapOrphans(): Promise<{ killed: number[]; skipped: number[] }> {
    const killed: number[] = [];
    const skipped: number[] = [];
    const previous = this.readState();
    const groups: number[] = [];
    for (const rec of previous?.processes ?? []) {
      if (this.live.has(rec.pid)) continue; // ours, this run
      const now = readStat(rec.pid);
      if (now && now.state !== 'Z') {
        if (now.startTime !== rec.startTime) {
          skipped.push(rec.pid); // pid reused by an unrelated process
          this.log?.info({ pid: rec.pid, name: rec.name }, 'recorded pid now belongs to another process: left alone');
          continue;
        }
        groups.push(rec.pgid);
        killed.push(...groupMembers(rec.pgid).map((m) => m.pid));
        signalGroup(rec.pgid, 'SIGTERM');
        continue;
      }
      // Leader gone: helpers that outlived it (Chromium's) still carry its group id.
      const left = groupMembers(rec.pgid).filter((m) => m.startTime >= rec.startTime);
      for (const m of left) {
        killed.push(m.pid);
        try {
          process.kill(m.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
      if (left.length > 0) groups.push(rec.pgid);
    }
    const allGone = () => killed.every((pid) => !alive(pid));
    if (!(await waitUntil(allGone, 3000))) {
      for (const pid of killed) if (alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await waitUntil(allGone, 3000);
    }
    if (killed.length > 0) this.log?.warn({ killed, groups }, 'removed processes left by a previous run');
    this.save();
    return { killed: [...new Set(killed)], skipped };
  }

  private readState(): StateFile | undefined {
    let text: string;
    try {
      text = readFileSync(this.stateFile, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed = JSON.parse(text) as Partial<StateFile>;
      if (!Array.isArray(parsed.processes)) throw new Error('no processes array');
      const processes = parsed.processes.filter(
        (p): p is ProcessRecord =>
          typeof p === 'object' && p !== null && Number.isInteger(p.pid) && p.pid > 1 && Number.isInteger(p.pgid) && p.pgid > 1 && Number.isFinite(p.startTime),
      );
      return { version: 1, controllerPid: Number(parsed.controllerPid), processes };
    } catch (err) {
      this.log?.warn({ file: this.stateFile, err: (err as Error).message }, 'process state file unreadable: ignored');
      return undefined;
    }
  }

  private save(): void {
    const state: StateFile = { version: 1, controllerPid: process.pid, processes: this.list() };
    mkdirSync(dirname(this.stateFile), { recursive: true });
    // Synchronous: a child is on disk before spawnRegistered returns, so a crash right after still finds it.
    writeFileAtomicSync(this.stateFile, JSON.stringify(state, null, 2) + '\n');
  }
}

export interface RegisteredChild {
  readonly pid: number;
  readonly pgid: number;
  readonly name: string;
  readonly subprocess: ResultPromise;
  /** Settles once when the leader exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Escalates with `steps` (default: the ones given at spawn), resolves when the group is gone. */
  stop(steps?: StopStep[]): Promise<void>;
}

/**
 * Spawns `file` in its own process group (so its helpers can be signalled together) and registers
 * it. The caller reads stdout/stderr/extra fds from `subprocess`.
 */
export function spawnRegistered(
  registry: ProcessRegistry,
  name: string,
  file: string,
  args: readonly string[],
  opts: ExecaOptions & { stopSteps?: StopStep[] } = {},
): RegisteredChild {
  const { stopSteps, ...execaOpts } = opts;
  const stdinDefault = 'stdio' in execaOpts || 'stdin' in execaOpts ? {} : { stdin: 'ignore' as const };
  const subprocess = execa(file, args, { reject: false, buffer: false, ...stdinDefault, ...execaOpts, detached: true, cleanup: false }) as ResultPromise;
  const pid = subprocess.pid;
  if (pid === undefined) {
    // execa reports spawn errors (ENOENT) through the promise; surface them the same way.
    const exited = subprocess.then((r) => ({ code: r.exitCode ?? null, signal: (r.signal ?? null) as NodeJS.Signals | null }));
    return { pid: -1, pgid: -1, name, subprocess, exited, stop: async () => {} };
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    subprocess.once('exit', (code, signal) => resolve({ code, signal }));
  });
  subprocess.catch(() => {}); // failures arrive through `exited`
  registry.register({ pid, pgid: pid, name, startTime: processStartTime(pid) ?? 0 }, { stdin: subprocess.stdin, exited });
  return {
    pid,
    pgid: pid,
    name,
    subprocess,
    exited,
    stop: (steps) => registry.stop({ pid, pgid: pid, stdin: subprocess.stdin, exited }, steps ?? stopSteps ?? DEFAULT_STOP),
  };
}

/** Keeps the last `max` lines a stream wrote (stderr), for exit messages. */
export function tailOf(stream: NodeJS.ReadableStream | null | undefined, max = 20): () => string[] {
  const lines: string[] = [];
  let partial = '';
  stream?.setEncoding?.('utf8');
  stream?.on('data', (chunk: string | Buffer) => {
    const parts = (partial + chunk.toString()).split(/\r?\n/);
    partial = parts.pop() ?? '';
    for (const l of parts) if (l.trim() !== '') lines.push(l.slice(0, 500));
    if (lines.length > max) lines.splice(0, lines.length - max);
  });
  return () => (partial.trim() === '' ? [...lines] : [...lines, partial.slice(0, 500)]);
}

export function lastLines(lines: string[], n = 5): string {
  return lines.length === 0 ? '(no output)' : lines.slice(-n).join(' | ');
}

/** How a child ended, in the shape of the components' ExitInfo. */
export function describeExit(
  name: string,
  e: { code: number | null; signal: string | null },
  stopping: boolean,
  stderr: string[],
): { reason: string; code: number | null; signal: string | null; message: string } {
  const how = e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
  const reason = stopping ? 'stopped' : e.signal ? 'killed' : 'exited';
  return { reason, code: e.code, signal: e.signal, message: `${name} ${how}: ${lastLines(stderr)}` };
}
