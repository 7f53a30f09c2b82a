// The state directory: what is not in the spec files and must survive a restart.
// One JSON file per concern, each written atomically and on its own, so a corrupt file costs only
// its own concern: it is reported, set aside for inspection, and the rest still loads.
import { chmod, mkdir, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { readJsonFile, removeStaleTemps, writeFileAtomic } from '../../machines/atomic-file.js';
import { PagecastError } from '../../machines/errors.js';
import type { Logger } from '../../machines/log.js';
import { checkSpecData } from '../../specs/load.js';
import { formatPath } from '../../specs/diagnostics.js';
import { EphemeralCastRequestSchema } from '../status/types.js';

const LastGoodEntrySchema = z.object({
  file: z.string(),
  line: z.number().int().nonnegative(),
  column: z.number().int().nonnegative(),
  hash: z.string(),
  /** The spec document as written (checked again on every open), so a restart with a now-invalid file still runs it. */
  spec: z.unknown(),
});
export type LastGoodEntry = z.infer<typeof LastGoodEntrySchema>;

const StoredCastSchema = z.object({
  name: z.string().min(1),
  request: EphemeralCastRequestSchema,
  createdAt: z.string(),
  // A time that is not one (NaN, Infinity) would never expire, or expire at once: corrupt.
  expiresAt: z
    .string()
    .refine((t) => Number.isFinite(Date.parse(t)), { message: 'expiresAt is not a time' })
    .optional(),
});
export type StoredCast = z.infer<typeof StoredCastSchema>;

export interface StateSnapshot {
  lastGood: Record<string, LastGoodEntry>;
  suspended: string[];
  /** Every stored cast, expired ones included: expiry is the controller's decision. */
  casts: StoredCast[];
  /** What could not be loaded, one line each, naming the file. Never fatal. */
  problems: string[];
}

const FORMAT_VERSION = 1;
const FILES = { lastGood: 'last-good.json', suspended: 'suspends.json', casts: 'casts.json' } as const;
type Concern = keyof typeof FILES;

const LastGoodFile = z.object({ version: z.literal(FORMAT_VERSION), lastGood: z.record(z.string(), z.unknown()) });
const SuspendsFile = z.object({ version: z.literal(FORMAT_VERSION), suspended: z.array(z.string()) });
const CastsFile = z.object({ version: z.literal(FORMAT_VERSION), casts: z.array(z.unknown()) });

/** `$PAGECAST_STATE_DIR`, else `$XDG_STATE_HOME/pagecast`, else `~/.local/state/pagecast`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.PAGECAST_STATE_DIR) return env.PAGECAST_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'pagecast');
  return join(home, '.local', 'state', 'pagecast');
}

export class StateDir {
  readonly dir: string;
  private readonly log: Logger;
  private lastGood = new Map<string, LastGoodEntry>();
  private suspended = new Set<string>();
  private casts = new Map<string, StoredCast>();
  private readonly writers: Record<Concern, SerialWriter>;

  constructor(opts: { dir: string; log: Logger }) {
    this.dir = opts.dir;
    this.log = opts.log;
    this.writers = {
      lastGood: new SerialWriter(() => this.write('lastGood')),
      suspended: new SerialWriter(() => this.write('suspended')),
      casts: new SerialWriter(() => this.write('casts')),
    };
  }

  /** Creates the directory (0700) and loads what a previous run kept. Never throws on bad content. */
  async open(): Promise<StateSnapshot> {
    const problems: string[] = [];
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const st = await stat(this.dir);
      if (!st.isDirectory()) throw new Error('not a directory');
      if ((st.mode & 0o077) !== 0) {
        // It holds the API token and ephemeral cast URLs: nobody else reads it.
        await chmod(this.dir, 0o700);
        this.log.info({ dir: this.dir, was: (st.mode & 0o777).toString(8) }, 'state directory permissions tightened to 0700');
      }
    } catch (err) {
      // Content problems are never fatal; a directory we cannot have is a configuration error.
      throw new PagecastError('CONFIG', `state directory ${this.dir} cannot be used: ${(err as Error).message}`, { source: this.dir, cause: err });
    }

    // Temp files of writes a killed run left half done.
    const removed = removeStaleTemps(this.dir);
    if (removed.length > 0) this.log.info({ removed }, 'removed temp files of interrupted writes');

    const lastGood = await this.load(FILES.lastGood, LastGoodFile, problems);
    const rejected: Record<string, { entry: unknown; reason: string }> = {};
    for (const [name, raw] of Object.entries(lastGood?.lastGood ?? {})) {
      const entry = LastGoodEntrySchema.safeParse(raw);
      // A copy that no longer validates (hand-edited, or from an older pagecast) is never run.
      const checked = entry.success ? checkSpecData(entry.data.spec) : undefined;
      const reason = !entry.success
        ? firstIssue(entry.error)
        : !checked!.spec
          ? `spec no longer valid: ${checked!.problems[0] ? `${formatPath(checked!.problems[0].path)}: ${checked!.problems[0].message}` : 'invalid'}`
          : checked!.spec.metadata.name !== name
            ? `spec is named ${checked!.spec.metadata.name}`
            : undefined;
      if (reason === undefined) this.lastGood.set(name, entry.data!);
      else rejected[name] = { entry: raw, reason };
    }
    if (Object.keys(rejected).length > 0) {
      const aside = this.path(`${FILES.lastGood}.rejected-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      await writeFileAtomic(aside, JSON.stringify(rejected, null, 2) + '\n', 0o600).catch(() => undefined);
      for (const [name, { reason }] of Object.entries(rejected)) problems.push(`${this.path(FILES.lastGood)}: entry "${name}" set aside in ${aside}: ${reason}`);
      void this.writers.lastGood.schedule();
    }
    const suspends = await this.load(FILES.suspended, SuspendsFile, problems);
    for (const name of suspends?.suspended ?? []) this.suspended.add(name);
    const casts = await this.load(FILES.casts, CastsFile, problems);
    (casts?.casts ?? []).forEach((raw, i) => {
      const cast = StoredCastSchema.safeParse(raw);
      if (cast.success) this.casts.set(cast.data.name, cast.data);
      else problems.push(`${this.path(FILES.casts)}: cast #${i} ignored: ${firstIssue(cast.error)}`);
    });

    for (const p of problems) this.log.warn({ problem: p }, 'state directory: ignored what could not be loaded');
    return { ...this.snapshot(), problems };
  }

  snapshot(): Omit<StateSnapshot, 'problems'> {
    return {
      lastGood: Object.fromEntries(this.lastGood),
      suspended: [...this.suspended].sort(),
      casts: [...this.casts.values()],
    };
  }

  isSuspended(name: string): boolean {
    return this.suspended.has(name);
  }

  saveLastGood(name: string, entry: LastGoodEntry): Promise<void> {
    const prev = this.lastGood.get(name);
    // The reconciler calls this on every good pass: write only when the version changed.
    if (prev && prev.hash === entry.hash && prev.file === entry.file && prev.line === entry.line && prev.column === entry.column) {
      return this.writers.lastGood.settled();
    }
    this.lastGood.set(name, entry);
    return this.writers.lastGood.schedule();
  }

  dropLastGood(name: string): Promise<void> {
    if (!this.lastGood.delete(name)) return this.writers.lastGood.settled();
    return this.writers.lastGood.schedule();
  }

  setSuspended(name: string, suspended: boolean): Promise<void> {
    const changed = suspended ? !this.suspended.has(name) : this.suspended.has(name);
    if (!changed) return this.writers.suspended.settled();
    if (suspended) this.suspended.add(name);
    else this.suspended.delete(name);
    return this.writers.suspended.schedule();
  }

  putCast(cast: StoredCast): Promise<void> {
    this.casts.set(cast.name, cast);
    return this.writers.casts.schedule();
  }

  deleteCast(name: string): Promise<void> {
    if (!this.casts.delete(name)) return this.writers.casts.settled();
    return this.writers.casts.schedule();
  }

  /** Resolves when every write asked for so far is on disk (for shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled(Object.values(this.writers).map((w) => w.settled()));
  }

  private path(file: string): string {
    return join(this.dir, file);
  }

  private async load<T>(file: string, schema: z.ZodType<T>, problems: string[]): Promise<T | undefined> {
    const path = this.path(file);
    const read = await readJsonFile(path);
    if (read.ok) {
      const parsed = schema.safeParse(read.value);
      if (parsed.success) return parsed.data;
      problems.push(`${path}: unexpected content: ${firstIssue(parsed.error)}`);
    } else if ('error' in read) {
      problems.push(read.error);
    } else {
      return undefined; // missing: a first start, nothing to report
    }
    await this.setAside(path, problems);
    return undefined;
  }

  /** Keeps a corrupt file for inspection; the next write would otherwise destroy it. */
  private async setAside(path: string, problems: string[]): Promise<void> {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(path, aside);
      problems.push(`${path}: kept as ${aside}`);
    } catch {
      // Unreadable and unmovable: the next write replaces it; nothing else to do.
    }
  }

  private async write(concern: Concern): Promise<void> {
    const body =
      concern === 'lastGood'
        ? { version: FORMAT_VERSION, lastGood: Object.fromEntries(this.lastGood) }
        : concern === 'suspended'
          ? { version: FORMAT_VERSION, suspended: [...this.suspended].sort() }
          : { version: FORMAT_VERSION, casts: [...this.casts.values()] };
    const path = this.path(FILES[concern]);
    try {
      await writeFileAtomic(path, JSON.stringify(body, null, 2) + '\n', 0o600);
    } catch (err) {
      this.log.error({ file: path, err: (err as Error).message }, 'state directory: write failed');
      throw err;
    }
  }
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.length ? issue.path.join('.') + ': ' : '';
  return `${path}${issue.message}`;
}

/**
 * Serialises writes of one file and coalesces bursts: a write asked for while another is queued
 * joins the queued one, which snapshots the state when it starts, so it carries every change
 * made before it. Two writes of one file never run at once.
 */
export class SerialWriter {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  /** `gatherMs`: how long a write waits for more changes to join it before it starts. */
  constructor(
    private readonly write: () => Promise<void>,
    private readonly gatherMs = 20,
  ) {}

  schedule(): Promise<void> {
    if (this.queued) return this.queued;
    const before = this.running ?? Promise.resolve();
    const next: Promise<void> = before
      .catch(() => undefined)
      // A burst (a first scan saving 1,000 last good versions) becomes one write, not hundreds.
      .then(() => new Promise<void>((resolve) => setTimeout(resolve, this.gatherMs)))
      .then(async () => {
        this.queued = undefined;
        this.running = next;
        try {
          await this.write();
        } finally {
          if (this.running === next) this.running = undefined;
        }
      });
    // Callers may fire and forget (the failure is logged where it happens); awaiting callers
    // still see the rejection, but a dropped one must not become an unhandled rejection.
    next.catch(() => undefined);
    this.queued = next;
    return next;
  }

  /** Resolves when nothing asked for so far is pending (failures included). */
  async settled(): Promise<void> {
    await (this.queued ?? this.running)?.catch(() => undefined);
  }
}
