// What bench/failover and the instance-pause etcd test share: spec files, instances of
// failover-instance.ts in child processes (to SIGKILL and SIGSTOP), and a watch on /proc that sees
// each instance's pipeline processes start and end, from outside, whatever the instance believes.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** argv[0] of a stand-in pipeline process: `pc-pipeline:<instance>:<spec>`. */
export const PIPELINE_ARGV0 = 'pc-pipeline';

/** Where a generated spec's page lives: the spec's name is its last path segment. */
export const pageUrl = (spec: string) => `https://signage.example/board/${spec}`;

/** A spec on its own device and page, so that no two specs share a stream or a device. */
export function specYaml(name: string): string {
  return `apiVersion: pagecast/v1
kind: CastSpec
metadata:
  name: ${name}
spec:
  device: TV ${name}
  url: ${pageUrl(name)}
`;
}

export const specNames = (n: number) => Array.from({ length: n }, (_, i) => `screen-${String(i).padStart(2, '0')}`);

export function writeSpecs(dir: string, names: string[]): void {
  for (const n of names) writeFileSync(join(dir, `${n}.yaml`), specYaml(n));
}

export interface InstanceLine {
  /** Date.now() when printed. */
  t: number;
  id: string;
  kind: 'ready' | 'state' | 'spawned' | 'resumed' | 'fired';
  pid?: number;
  spec?: string;
  /** spawned: how long spawnRegistered took (the process exists from its start, its guard from its end). */
  ms?: number;
  owned?: string[];
  /** Specs whose pipeline process this instance runs, as it believes. */
  pipelines?: string[];
  fenced?: boolean;
  reason?: string;
  live?: string[];
  gapMs?: number;
  killed?: number[];
}

/** The compiled instance script (dist/bench), also when this module runs from the sources (vitest). */
export function instanceScript(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  return here.endsWith('.ts') ? join(dirname(here), '../dist/bench/failover-instance.js') : join(dirname(here), 'failover-instance.js');
}

export interface InstanceOptions {
  id: string;
  site: string;
  endpoints: string[];
  specsDir: string;
  /** Its own directory (the caller removes it: a SIGKILLed instance cannot). */
  stateDir: string;
  ttlSeconds: number;
  capacity?: number;
}

/** A failover-instance.js child process; every line it prints, parsed. */
export class Instance {
  readonly lines: InstanceLine[] = [];
  stderr = '';
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(readonly opts: InstanceOptions) {
    const args = [instanceScript(), '--id', opts.id, '--site', opts.site, '--endpoints', opts.endpoints.join(','), '--specs', opts.specsDir, '--state', opts.stateDir, '--ttl', String(opts.ttlSeconds)];
    if (opts.capacity !== undefined) args.push('--capacity', String(opts.capacity));
    this.proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as InstanceLine);
      } catch {
        this.stderr += `unparsed stdout: ${l}\n`;
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
  }

  get id(): string {
    return this.opts.id;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  ready(): boolean {
    return this.lines.some((l) => l.kind === 'ready');
  }

  /** The newest state line. */
  state(): InstanceLine | undefined {
    return this.lines.findLast((l) => l.kind === 'state');
  }

  owned(): string[] {
    return this.state()?.owned ?? [];
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  /** SIGKILL, as a box dies; resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.running) this.signal('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a clean stop: its lease is revoked), SIGCONT in case it is paused, SIGKILL after 5 s. */
  async terminate(): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    this.signal('SIGCONT');
    const timer = setTimeout(() => this.running && this.signal('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** True when every spec is in exactly one instance's newest `owned`, and nothing else is. */
export function ownedOnce(instances: Instance[], specs: string[]): boolean {
  const count = new Map<string, number>();
  for (const w of instances) for (const s of w.owned()) count.set(s, (count.get(s) ?? 0) + 1);
  return specs.every((s) => count.get(s) === 1) && count.size === specs.length;
}

/** Every running instance believes it runs exactly what it owns (each spawn returned: its dead-man knows the process). */
export function settled(instances: Instance[]): boolean {
  return instances.filter((i) => i.running).every((i) => JSON.stringify(i.state()?.pipelines ?? []) === JSON.stringify(i.owned()));
}

export function describeOwnership(instances: Instance[]): string {
  return instances.map((w) => `${w.id}${w.running ? '' : ' (dead)'}: ${w.owned().length} owned${w.state()?.fenced ? ' FENCED' : ''}`).join('; ');
}

// ---- the watch on /proc ----

/** One pipeline process as seen from outside: from its start (by the kernel) to when it was first seen gone. */
export interface PipelineProcess {
  pid: number;
  instance: string;
  spec: string;
  /** Wall-clock ms, from /proc/<pid>/stat's start time (10 ms resolution). */
  startMs: number;
  /** When the watch first found it gone or a zombie (at most one poll late). */
  endMs?: number;
}

const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** State and start time (ticks since boot) of a process, or undefined when there is none. */
function statOf(pid: number): { state: string; startTicks: number } | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (!text) return undefined;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0] ?? '?', startTicks: Number(f[19]) };
}

/**
 * Polls the children of the instances (/proc/<pid>/task/<pid>/children) for pipeline processes
 * and each one seen for its end. A process killed while its parent is paused stays a zombie until
 * the parent runs again: a zombie counts as gone.
 */
export class PipelineWatch {
  readonly processes: PipelineProcess[] = [];
  private readonly byPid = new Map<number, PipelineProcess>();
  private readonly bootWallMs: number;
  private timer?: NodeJS.Timeout;
  polls = 0;

  constructor(private readonly instancePids: () => Iterable<number>) {
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    this.bootWallMs = Date.now() - uptime * 1000;
  }

  start(intervalMs = 10): void {
    this.poll();
    this.timer = setInterval(() => this.poll(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  poll(): void {
    this.polls++;
    const now = Date.now();
    for (const parent of this.instancePids()) {
      const children = readText(`/proc/${parent}/task/${parent}/children`);
      if (!children) continue;
      for (const word of children.split(' ')) {
        const pid = Number(word);
        if (!pid || this.byPid.has(pid)) continue;
        // Not yet exec'd (a fork of node), or the dead-man child: looked at again next time.
        const argv0 = readText(`/proc/${pid}/cmdline`)?.split('\0')[0] ?? '';
        const [tag, instance, spec] = argv0.split(':');
        if (tag !== PIPELINE_ARGV0 || !instance || !spec) continue;
        const st = statOf(pid);
        if (!st) continue;
        const p: PipelineProcess = { pid, instance, spec, startMs: Math.round(this.bootWallMs + st.startTicks * CLOCK_TICK_MS) };
        this.byPid.set(pid, p);
        this.processes.push(p);
      }
    }
    for (const p of this.processes) {
      if (p.endMs !== undefined) continue;
      const st = statOf(p.pid);
      if (!st || st.state === 'Z' || st.state === 'X' || Math.round(this.bootWallMs + st.startTicks * CLOCK_TICK_MS) !== p.startMs) p.endMs = now;
    }
  }

  /**
   * SIGKILLs every pipeline process still alive (one the dead-man switch missed, or whose instance
   * was left paused), each only while its pid still has the start time it was seen with; returns them.
   */
  killAlive(): PipelineProcess[] {
    this.poll();
    const left = this.alive();
    for (const p of left) {
      const st = statOf(p.pid);
      if (!st || Math.round(this.bootWallMs + st.startTicks * CLOCK_TICK_MS) !== p.startMs) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    return left;
  }

  alive(): PipelineProcess[] {
    return this.processes.filter((p) => p.endMs === undefined);
  }

  /** Spec → instances whose pipeline for it is alive now. */
  aliveBySpec(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const p of this.alive()) out.set(p.spec, [...(out.get(p.spec) ?? []), p.instance]);
    return out;
  }

  /** True when each spec has exactly one live pipeline process and no other spec has any. */
  oncePerSpec(specs: string[]): boolean {
    const by = this.aliveBySpec();
    return by.size === specs.length && specs.every((s) => by.get(s)?.length === 1);
  }
}

/** How long two processes were both alive (0 if never). */
export function overlapMs(a: PipelineProcess, b: PipelineProcess, now = Date.now()): number {
  return Math.max(0, Math.min(a.endMs ?? now, b.endMs ?? now) - Math.max(a.startMs, b.startMs));
}

export interface SpecFailover {
  spec: string;
  /** The victim's last pipeline process for the spec, alive at the signal. */
  before?: PipelineProcess;
  /** The first pipeline process for the spec on another instance, started after the signal. */
  after?: PipelineProcess;
  /** after.startMs − the signal. */
  takeoverMs?: number;
  /** before.endMs − the signal. */
  stoppedMs?: number;
  /** Time both were alive. */
  overlapMs: number;
}

/** For each spec the victim ran at `signalAt`: who took it over, when, and for how long both ran. */
export function failovers(watch: PipelineWatch, victim: string, signalAt: number): SpecFailover[] {
  const had = watch.processes.filter((p) => p.instance === victim && p.startMs <= signalAt && (p.endMs === undefined || p.endMs >= signalAt));
  return had.map((before) => {
    const after = watch.processes.filter((p) => p.spec === before.spec && p.instance !== victim && p.startMs >= signalAt - CLOCK_TICK_MS).sort((x, y) => x.startMs - y.startMs)[0];
    // Every other process for the spec counts against overlap, not only the first.
    const others = watch.processes.filter((p) => p.spec === before.spec && p.instance !== victim);
    return {
      spec: before.spec,
      before,
      ...(after ? { after, takeoverMs: after.startMs - signalAt } : {}),
      ...(before.endMs !== undefined ? { stoppedMs: before.endMs - signalAt } : {}),
      overlapMs: Math.max(0, ...others.map((o) => overlapMs(before, o))),
    };
  });
}

// ---- etcd's own counters ----

/** Sums of a few counters over every label set, from one member's /metrics. */
export async function etcdCounters(endpoint: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const want = ['grpc_server_handled_total', 'grpc_server_msg_received_total', 'etcd_server_proposals_committed_total', 'etcd_debugging_mvcc_put_total', 'etcd_debugging_mvcc_range_total'];
  const out: Record<string, number> = Object.fromEntries(want.map((w) => [w, 0]));
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1]! in out) out[m[1]!]! += Number(m[3]);
  }
  return out;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
