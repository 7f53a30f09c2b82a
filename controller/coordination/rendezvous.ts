// Rendezvous (highest-random-weight) hashing: every instance can compute, with no coordination,
// how much each instance "wants" each spec. The order is stable (adding or removing an instance
// moves only the specs that instance ranks first), and it spreads specs evenly.
import { createHash } from 'node:crypto';

/** The weight of `instance` for `spec`: 48 bits of SHA-256, so it is a safe integer. */
export function rendezvousWeight(spec: string, instance: string): number {
  // The NUL keeps ("ab","c") and ("a","bc") apart.
  return createHash('sha256').update(instance).update('\0').update(spec).digest().readUIntBE(0, 6);
}

/** Instances from most to least wanting `spec`; ties (never in practice) by id, so every caller agrees. */
export function rankInstances(spec: string, instances: Iterable<string>): string[] {
  return [...new Set(instances)]
    .map((id) => ({ id, w: rendezvousWeight(spec, id) }))
    .sort((a, b) => b.w - a.w || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((x) => x.id);
}
