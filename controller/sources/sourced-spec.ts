// A desired spec as a source hands it to the controller: the spec (URL resolved), where it came
// from, and its generation.
import type { CastSpec } from '../../specs/schema.js';
import type { SpecSource } from '../status/types.js';

export interface SourcedSpec {
  spec: CastSpec; // url and storage state resolved
  source: SpecSource;
  generation: string;
  ephemeral: boolean;
  /** Ephemeral casts: when they end, ms since epoch. */
  expiresAt?: number;
}

/** Label equality, e.g. { site: 'home' }: an instance runs only the specs that match. */
export function matchesSelector(spec: CastSpec, selector: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => spec.metadata.labels[k] === v);
}
