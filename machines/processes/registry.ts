// Every child process of the controller, with pid, process group, start time and command,
// mirrored in a state file so that the next start after a SIGKILL can remove what this run left
// behind, and nothing else. Only node builtins, execa, ../atomic-file.ts and ../errors.ts here: a
// fixture "controller" script loads these files, transpiled on their own.
//
// Which processes the reaper may kill (reapOrphans), and why that is sound on Linux:
// - Nothing, if the state file was written before the last reboot (its boot id differs).
// - A recorded leader, if its pid now has the recorded start time (field 22 of /proc/<pid>/stat)
//   and the recorded command (argv[0]'s basename): not a process that reused the pid.
// - While that leader lives, every member of its process group: a group belongs to one session,
//   a session is entered only by forking inside it, so they all descend from our child.
// - When the leader is gone, a member of its group only if it carries the previous run's owner
//   token in its environment (spawnRegistered sets PAGECAST_OWNER; descendants inherit it) and
//   started no earlier than the leader. A group id whose leader died may belong to a stranger: the
//   kernel reuses a pid once no process uses it as pid, group or session id, so a new process can
//   take the old leader's pid and found a new group and session with that very id.
// - Anything that cannot be checked (no command or owner recorded, an environment we may not
//   read) is left alone and reported: an orphan costs resources, a stranger killed costs data.
// The dead-man switch applies the same rules (killPlan in dead-man-rules.ts): change both together.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa, type Options as ExecaOptions, type ResultPromise } from 'execa';
import { removeStaleTemps, writeFileAtomicSync } from '../atomic-file.js';
import { PagecastError } from '../errors.js';
import type { Logger } from '../log.js';
import { OWNER_ENV, carriesOwner, groupMembers, processCommand, processStartTime, readStat } from './procfs.js';

// The /proc readers live in procfs.ts (the dead-man switch's child loads them without execa).
export { OWNER_ENV, groupMembers, parseStat, processCommand, processStartTime, readStat } from './procfs.js';

export interface ProcessRecord {
  pid: number;
  pgid: number;
  name: string;
  /** Clock ticks since boot when the process started (/proc/<pid>/stat field 22). */
  startTime: number;
  /** argv[0]'s basename (/proc/<pid>/cmdline) when registered; filled in by register(). */
  command?: string;
}

export interface ReapResult {
  /** Pids signalled (and gone, or SIGKILLed). */
  killed: number[];
  /** Recorded pids (and group members) left alone because they could not be proven ours. */
  skipped: number[];
  /** What went wrong with the state file itself, naming it; logged at error level too. */
  problems: string[];
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
  /** /proc/sys/kernel/random/boot_id: pids and start times mean nothing across a reboot. */
  bootId?: string;
  /** The value of OWNER_ENV in every child of that run. */
  owner?: string;
  processes: ProcessRecord[];
}

function currentBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
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

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
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

/** Told of each process as it is registered and unregistered (the dead-man switch guards them). */
export interface RegistryObserver {
  registered(rec: ProcessRecord): void;
  unregistered(rec: ProcessRecord): void;
}

export class ProcessRegistry {
  private readonly stateFile: string;
  private readonly log: Logger | undefined;
  private readonly live = new Map<number, ProcessRecord>();
  private readonly targets = new Map<number, StopTarget>();
  private readonly observers = new Set<RegistryObserver>();
  /** This run's owner token: in every child's environment, and in the state file. */
  readonly owner = randomBytes(8).toString('hex');
  private readonly bootId = currentBootId();

  constructor(opts: { stateFile: string; log?: Logger }) {
    this.stateFile = opts.stateFile;
    this.log = opts.log;
  }

  /**
   * Environment to add to a child started outside spawnRegistered (Chromium through Playwright),
   * so that its helpers can be told from strangers once it is gone.
   */
  childEnv(): Record<string, string> {
    return { [OWNER_ENV]: this.owner };
  }

  list(): ProcessRecord[] {
    return [...this.live.values()];
  }

  /** Replays the processes registered so far to `o`, then tells it of each change; returns the unsubscribe. */
  observe(o: RegistryObserver): () => void {
    this.observers.add(o);
    for (const rec of this.live.values()) this.tell(o, 'registered', rec);
    return () => void this.observers.delete(o);
  }

  register(rec: ProcessRecord, target?: Omit<StopTarget, 'pid' | 'pgid'>): void {
    rec = { ...rec, command: rec.command ?? processCommand(rec.pid) };
    this.live.set(rec.pid, rec);
    this.targets.set(rec.pid, { pid: rec.pid, pgid: rec.pgid, ...target });
    // Observers first (the dead-man switch guards it at once), then the state file with its fsyncs:
    // a controller killed during those tens of milliseconds leaves nothing unguarded.
    for (const o of this.observers) this.tell(o, 'registered', rec);
    this.save();
    this.log?.debug({ pid: rec.pid, pgid: rec.pgid, name: rec.name }, 'process registered');
  }

  unregister(pid: number): void {
    const rec = this.live.get(pid);
    if (!rec) return;
    this.live.delete(pid);
    this.targets.delete(pid);
    this.save();
    for (const o of this.observers) this.tell(o, 'unregistered', rec);
  }

  // An observer that throws must not undo a registration.
  private tell(o: RegistryObserver, what: 'registered' | 'unregistered', rec: ProcessRecord): void {
    try {
      o[what](rec);
    } catch (err) {
      this.log?.error({ pid: rec.pid, err: (err as Error).message }, `process observer failed on ${what}`);
    }
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
   * Reads the state file a previous run left and removes its processes, and only those (see the
   * rules at the top of this file). Also removes temps of interrupted writes beside the state
   * file. A state file that cannot be read is set aside and reported (problems, and an error
   * log line naming it), never skipped in silence. Afterwards the file lists only this run.
   */
  async reapOrphans(): Promise<ReapResult> {
    const problems: string[] = [];
    const killed = new Map<number, number>(); // pid → start time, to re-check before SIGKILL
    const skipped: number[] = [];
    const groups: number[] = [];
    removeStaleTemps(dirname(this.stateFile));
    const previous = this.readState(problems);
    for (const p of problems) this.log?.error({ file: this.stateFile }, p);
    const fromThisBoot = !previous?.bootId || !this.bootId || previous.bootId === this.bootId;
    if (previous && !fromThisBoot && previous.processes.length > 0) {
      this.log?.info({ file: this.stateFile, processes: previous.processes.length }, 'process list is from before a reboot: none of it can still run');
    }
    for (const rec of fromThisBoot ? (previous?.processes ?? []) : []) {
      if (this.live.has(rec.pid)) continue; // ours, this run
      const leader = readStat(rec.pid);
      const leaderAlive = leader !== undefined && leader.state !== 'Z' && leader.state !== 'X';
      if (leaderAlive) {
        const command = processCommand(rec.pid);
        if (leader.startTime !== rec.startTime || rec.command === undefined || command !== rec.command) {
          // The pid is someone else's now, so its group id is too: ours cannot have members left,
          // or the pid would not have been reused.
          skipped.push(rec.pid);
          const why = rec.command === undefined ? 'no command was recorded for it' : leader.startTime !== rec.startTime ? 'another start time' : `command ${command ?? '?'} instead of ${rec.command}`;
          this.log?.info({ pid: rec.pid, name: rec.name, why }, 'recorded pid now belongs to another process: left alone');
          continue;
        }
        const members = groupMembers(rec.pgid);
        if (rec.pgid === rec.pid) {
          // Our child leads its group: the whole group is ours while it lives.
          groups.push(rec.pgid);
          for (const m of members) killed.set(m.pid, m.startTime);
          killed.set(rec.pid, leader.startTime);
          signalGroup(rec.pgid, 'SIGTERM');
        } else {
          // In someone else's group (not started by spawnRegistered): only the process itself.
          killed.set(rec.pid, leader.startTime);
          signalPid(rec.pid, 'SIGTERM');
        }
        continue;
      }
      // Leader gone: helpers that outlived it (Chromium's) still carry its group id, and so may a
      // stranger's processes, if the pid was reused to found a new group.
      const owner = previous?.owner;
      for (const m of groupMembers(rec.pgid)) {
        const marked = owner === undefined ? undefined : carriesOwner(m.pid, owner);
        if (m.startTime < rec.startTime || marked !== true) {
          skipped.push(m.pid);
          this.log?.info({ pid: m.pid, pgid: rec.pgid, name: rec.name, why: marked === undefined ? 'its environment cannot be read, or no owner was recorded' : 'not started by our child' }, 'process in the group of a gone child: left alone');
          continue;
        }
        killed.set(m.pid, m.startTime);
        signalPid(m.pid, 'SIGTERM');
        if (!groups.includes(rec.pgid)) groups.push(rec.pgid);
      }
    }
    const same = (pid: number, startTime: number) => {
      const st = readStat(pid);
      return st !== undefined && st.state !== 'Z' && st.state !== 'X' && st.startTime === startTime;
    };
    const allGone = () => [...killed].every(([pid, start]) => !same(pid, start));
    if (!(await waitUntil(allGone, 3000))) {
      // One by one, each checked again: a group id may have been reused in the meantime.
      for (const [pid, start] of killed) if (same(pid, start)) signalPid(pid, 'SIGKILL');
      await waitUntil(allGone, 3000);
    }
    if (killed.size > 0) this.log?.warn({ killed: [...killed.keys()], groups }, 'removed processes left by a previous run');
    this.saveOrExplain();
    return { killed: [...killed.keys()], skipped: [...new Set(skipped)], problems };
  }

  /**
   * The previous run's list. Missing is normal (a first start); anything else that keeps it from
   * being read moves it aside (kept for inspection, and out of the way of the next write) and
   * adds a problem that names the file and what it means.
   */
  private readState(problems: string[]): StateFile | undefined {
    const file = this.stateFile;
    const consequence = 'processes the last run left (if it crashed) may still be running; check with: ps -eo pid,pgid,lstart,args';
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      const what = code === 'EISDIR' ? 'is a directory, not the process list' : `cannot be read (${(err as Error).message})`;
      problems.push(`${file} ${what}: ${this.setAside(what)}; ${consequence}`);
      return undefined;
    }
    try {
      const parsed = JSON.parse(text) as Partial<StateFile>;
      if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.processes)) throw new Error('no processes array');
      const processes = parsed.processes.filter(
        (p): p is ProcessRecord =>
          typeof p === 'object' && p !== null && Number.isInteger(p.pid) && p.pid > 1 && Number.isInteger(p.pgid) && p.pgid > 1 && Number.isFinite(p.startTime) && (p.command === undefined || typeof p.command === 'string'),
      );
      return {
        version: 1,
        controllerPid: Number(parsed.controllerPid),
        bootId: typeof parsed.bootId === 'string' ? parsed.bootId : undefined,
        owner: typeof parsed.owner === 'string' ? parsed.owner : undefined,
        processes,
      };
    } catch (err) {
      const what = `is not a valid process list (${(err as Error).message})`;
      problems.push(`${file} ${what}: ${this.setAside(what)}; ${consequence}`);
      return undefined;
    }
  }

  /** Renames the state file aside; says where, or throws what to do when it cannot be moved. */
  private setAside(what: string): string {
    const aside = `${this.stateFile}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      renameSync(this.stateFile, aside);
      return `moved aside to ${aside}`;
    } catch (err) {
      throw new PagecastError('STATE_CORRUPT', `${this.stateFile} ${what} and could not be moved aside (${(err as Error).message}): move or remove it (rm -r ${this.stateFile}) and start again`, {
        source: this.stateFile,
        cause: err,
      });
    }
  }

  private saveOrExplain(): void {
    try {
      this.save();
    } catch (err) {
      throw new PagecastError('STATE_CORRUPT', `cannot write the process list ${this.stateFile} (${(err as Error).message}): pagecast records its child processes there; make its directory writable`, {
        source: this.stateFile,
        cause: err,
      });
    }
  }

  private save(): void {
    const state: StateFile = { version: 1, controllerPid: process.pid, bootId: this.bootId, owner: this.owner, processes: this.list() };
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
  // detached: a new session and group led by the child. OWNER_ENV: its helpers stay recognisable as ours after it is gone.
  const env = { ...execaOpts.env, ...registry.childEnv() };
  const subprocess = execa(file, args, { reject: false, buffer: false, ...stdinDefault, ...execaOpts, env, detached: true, cleanup: false }) as ResultPromise;
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
