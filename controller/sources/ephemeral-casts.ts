// The ephemeral-cast source: casts made through the API (the seed's /start and /stop webhooks),
// stored in the state directory with their expiry so a restart keeps them. By default they
// outrank file specs (priority 100), so a doorbell camera preempts a dashboard until it expires.
import { randomBytes } from 'node:crypto';
import { CastSpecSchema, type CastSpec } from '../../specs/schema.js';
import { parseDuration } from '../../specs/duration.js';
import { generationOf } from '../../specs/identity.js';
import { PagecastError } from '../../machines/errors.js';
import type { Logger } from '../../machines/log.js';
import { EphemeralCastRequestSchema, MAX_CAST_MS, type EphemeralCastRequest } from '../status/types.js';
import type { StateDir, StoredCast } from './state-dir.js';
import type { SourcedSpec } from './sourced-spec.js';

export { MAX_CAST_MS };

export interface EphemeralCastsOptions {
  state: StateDir;
  log: Logger;
  /** Default priority of ephemeral casts (above file specs). */
  priority?: number;
}

export class EphemeralCasts {
  readonly specs = new Map<string, SourcedSpec>();

  constructor(private readonly opts: EphemeralCastsOptions) {}

  private get priority(): number {
    return this.opts.priority ?? 100;
  }

  /** Takes in a cast read back from the state directory; an expired one is deleted. */
  async admit(c: StoredCast, now: number): Promise<void> {
    const expiresAt = c.expiresAt ? Date.parse(c.expiresAt) : undefined;
    if (expiresAt !== undefined && !Number.isFinite(expiresAt)) {
      await this.opts.state.deleteCast(c.name);
      throw new PagecastError('STATE_CORRUPT', `stored cast ${c.name}: expiresAt "${c.expiresAt}" is not a time; the cast is dropped`);
    }
    if (expiresAt !== undefined && expiresAt <= now) {
      await this.opts.state.deleteCast(c.name);
      return;
    }
    const spec = castRequestToSpec(c.name, c.request, this.priority);
    this.specs.set(c.name, { spec, source: { ephemeral: true, expiresAt: c.expiresAt }, generation: generationOf(spec), ephemeral: true, expiresAt });
  }

  /** Validates and stores a new cast; throws PagecastError('SPEC_INVALID') naming `body.<field>`. */
  async create(req: EphemeralCastRequest, now: number, taken: (name: string) => string | undefined): Promise<{ name: string; expiresAt?: string }> {
    // The API checked the body already; a direct caller gets the same check.
    const checked = EphemeralCastRequestSchema.safeParse(req);
    if (!checked.success) throw new PagecastError('SPEC_INVALID', checked.error.issues.map((i) => `${['body', ...i.path.map(String)].join('.')}: ${i.message}`).join('\n'));
    const name = req.name || `cast-${randomBytes(3).toString('hex')}`;
    const owner = taken(name);
    if (owner !== undefined) throw new PagecastError('SPEC_INVALID', `body.name: ${name} is already a spec from ${owner}`);
    // The schema checked the duration: a positive number of ms, at most MAX_CAST_MS.
    const expiresAt = req.duration === undefined ? undefined : new Date(now + parseDuration(req.duration)!).toISOString();
    castRequestToSpec(name, req, this.priority); // validates; throws SPEC_INVALID
    const stored: StoredCast = { name, request: { ...req, name }, createdAt: new Date(now).toISOString(), expiresAt };
    await this.opts.state.putCast(stored);
    await this.admit(stored, now);
    return { name, expiresAt };
  }

  async delete(name: string): Promise<boolean> {
    if (!this.specs.delete(name)) return false;
    await this.opts.state.deleteCast(name);
    return true;
  }

  /** Drops the casts that have expired by `now`; returns their names. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [name, g] of this.specs) {
      if (g.expiresAt !== undefined && g.expiresAt <= now) {
        this.specs.delete(name);
        void this.opts.state.deleteCast(name);
        this.opts.log.info({ spec: name }, 'ephemeral cast expired');
        gone.push(name);
      }
    }
    return gone;
  }
}

/** Builds and validates the spec behind an API cast; field errors are named `body.<field>`. */
export function castRequestToSpec(name: string, req: EphemeralCastRequest, defaultPriority: number): CastSpec {
  const input = {
    apiVersion: 'pagecast/v1',
    kind: 'CastSpec',
    metadata: { name, labels: { 'pagecast/ephemeral': 'true' } },
    spec: {
      device: req.device,
      url: req.url,
      ...(req.quality !== undefined ? { quality: req.quality } : {}),
      ...(req.mode !== undefined ? { mode: req.mode } : {}),
      priority: req.priority ?? defaultPriority,
      policy: { onOtherApp: 'takeover' },
    },
  };
  const r = CastSpecSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const path = i.path.map(String);
      const field = path[0] === 'spec' ? ['body', ...path.slice(1)] : path[0] === 'metadata' ? ['body', 'name'] : ['body', ...path];
      return `${field.join('.')}: ${i.message}`;
    });
    throw new PagecastError('SPEC_INVALID', lines.join('\n'));
  }
  return r.data;
}
