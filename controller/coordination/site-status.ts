// The controller's side of a site's shared status: what this instance publishes for the specs it
// owns, and what it shows for the ones another instance owns. Both are kept light: a spec's status
// is written when its phase changes and otherwise at most every `refreshMs` (so a site of 60
// specs costs a few etcd writes a minute, not one per encoder figure), and the site is read every
// `refreshMs` into a cache that status reads use as it stands.
import type { Logger } from '../../machines/log.js';
import type { SpecStatus } from '../status/types.js';
import type { Coordinator, SiteSpecStatus } from './coordinator.js';

export interface SiteStatusOptions {
  coordinator: Coordinator;
  log: Logger;
  /** Most time between two writes of an unchanged phase, and between two reads of the site (default 10 s). */
  refreshMs?: number;
  now?: () => number;
}

interface Published {
  phase: string;
  at: number;
}

/** Whether a value another instance published is a spec status we can show: our own shape, for `name`. */
export function asSpecStatus(name: string, value: unknown): SpecStatus | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const s = value as Partial<SpecStatus>;
  if (s.name !== name || typeof s.phase !== 'string' || !Array.isArray(s.conditions)) return undefined;
  return s as SpecStatus;
}

/** Whether a status must be written now: its phase changed, or the last write is `refreshMs` old. */
export function publishDue(last: Published | undefined, phase: string, now: number, refreshMs: number): boolean {
  return !last || last.phase !== phase || now - last.at >= refreshMs;
}

export class SiteStatus {
  private readonly published = new Map<string, Published>();
  private site = new Map<string, SiteSpecStatus>();
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private readonly refreshMs: number;

  constructor(private readonly opts: SiteStatusOptions) {
    this.refreshMs = opts.refreshMs ?? 10_000;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads the whole site into the cache; one read at a time. */
  refresh(): Promise<void> {
    this.reading ??= this.opts.coordinator
      .siteStatus()
      .then((all) => void (this.site = new Map(all.map((s) => [s.name, s]))))
      .catch((err: unknown) => this.opts.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'site status not read'))
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Publishes the statuses of these specs that we own and that are due (see publishDue). */
  publish(statuses: Iterable<SpecStatus>): void {
    const now = this.now();
    for (const s of statuses) {
      if (!this.opts.coordinator.owns(s.name)) {
        this.published.delete(s.name);
        continue;
      }
      if (!publishDue(this.published.get(s.name), s.phase, now, this.refreshMs)) continue;
      this.published.set(s.name, { phase: s.phase, at: now });
      this.opts.coordinator.publishStatus(s.name, s).then(
        (written) => void (written || this.published.delete(s.name)),
        (err: unknown) => {
          this.published.delete(s.name);
          this.opts.log.debug({ spec: s.name, err: err instanceof Error ? err.message : String(err) }, 'status not published');
        },
      );
    }
  }

  /** What the site says of `name`, as last read: its owner and, when it published one, its status. */
  of(name: string): { owner?: string; status?: SpecStatus } {
    const s = this.site.get(name);
    if (!s) return {};
    const status = asSpecStatus(name, s.status);
    return { ...(s.owner ? { owner: s.owner } : {}), ...(status ? { status } : {}) };
  }
}
