// Coordinator instances in child processes (test/fixtures/coordinator-worker.mjs), so that a test can
// SIGKILL or SIGSTOP one as a box would die or hang. Each line a worker prints is kept with the time
// the test read it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface WorkerLine {
  t: number;
  id: string;
  kind: 'started' | 'state' | 'resumed' | 'alive';
  owned?: string[];
  fenced?: boolean;
  reason?: string;
  fenceDeadline?: number;
  gapMs?: number;
  live?: string[];
}

const WORKER = join(import.meta.dirname, '../../fixtures/coordinator-worker.mjs');

export class CoordinatorWorker {
  readonly lines: WorkerLine[] = [];
  stderr = '';
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(module: string, readonly id: string, options: Record<string, unknown>) {
    this.proc = spawn(process.execPath, [WORKER, module, JSON.stringify({ ...options, instanceId: id })], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as WorkerLine);
      } catch {
        this.stderr += `unparsed stdout: ${l}\n`;
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The newest state line (what it would cast now, and whether it is fenced). */
  state(): WorkerLine | undefined {
    return this.lines.findLast((l) => l.kind === 'state');
  }

  owned(): string[] {
    return this.state()?.owned ?? [];
  }

  /** The newest fence deadline it reported (its lease renewed up to there). */
  fenceDeadline(): number | undefined {
    return this.lines.findLast((l) => l.fenceDeadline !== undefined)?.fenceDeadline;
  }

  /** The first time (as the worker printed it) at or after `since` that its state included `spec`. */
  ownedSince(spec: string, since: number): number | undefined {
    return this.lines.find((l) => l.kind === 'state' && l.t >= since && l.owned?.includes(spec))?.t;
  }

  /** A command on its stdin, e.g. { candidates: [...] }. */
  send(command: Record<string, unknown>): void {
    this.proc.stdin!.write(JSON.stringify(command) + '\n');
  }

  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid, sig);
  }

  /** Stops it by pid: SIGKILL (the coordinator's clean stop is tested in-process). */
  async kill(): Promise<void> {
    if (this.running) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.exited;
  }

  /** SIGTERM: the worker stops its coordinator (revokes its lease) and exits; SIGKILL after 5 s. */
  async terminate(): Promise<void> {
    if (!this.running) return;
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => this.running && process.kill(this.pid, 'SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** True when every spec is owned by exactly one of `workers` (by their newest state lines). */
export function ownedOnce(workers: CoordinatorWorker[], specs: string[]): boolean {
  const count = new Map<string, number>();
  for (const w of workers) for (const s of w.owned()) count.set(s, (count.get(s) ?? 0) + 1);
  return specs.every((s) => count.get(s) === 1) && [...count.keys()].every((s) => specs.includes(s));
}

export function describeOwnership(workers: CoordinatorWorker[]): string {
  return workers.map((w) => `${w.id}${w.running ? '' : ' (dead)'}: ${w.owned().join(',') || '-'}${w.state()?.fenced ? ' FENCED' : ''}`).join('; ');
}
