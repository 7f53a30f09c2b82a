// Which owner keys to claim and release, as a pure function of what this instance knows: its
// candidates (the specs its selector matches), who owns what, the live instances, its capacity.
//
// 1. Release what we hold but no longer want (the spec left our selector or was deleted).
// 2. Keep everything else we hold: a playing screen moves only when its owner dies.
// 3. Claim free specs in rendezvous order. Each instance waits `rank × staggerMs` after a spec
//    became free before it tries: the instance that ranks first claims at once, the next one only
//    if the first did not (full, not matching the spec, or dying). So the load spreads as the hash
//    says without a round of messages, and a spec nobody ranks first for still finds an owner.
import { rankInstances, rendezvousWeight } from './rendezvous.js';

export interface ClaimInput {
  self: string;
  /** The specs this instance may run. */
  candidates: Iterable<string>;
  /** Every spec that has an owner key in the site, to its owner (undefined: a key we could not read — still taken). */
  owners: ReadonlyMap<string, string | undefined>;
  /** Specs whose key we hold under our current lease. */
  held: ReadonlySet<string>;
  /** Instances registered in the site (ourselves included or not). */
  live: Iterable<string>;
  capacity: number;
  /** When we first saw each free spec free (our clock); a spec missing here counts as free since `now`. */
  freeSince: ReadonlyMap<string, number>;
  now: number;
  staggerMs: number;
}

export interface ClaimPlan {
  /** Free specs to try, best first; at most the room left under capacity. */
  claim: string[];
  /** Held specs we no longer want. */
  release: string[];
  /** When a free spec we could claim becomes due for us (plan again then); undefined: nothing waits. */
  recheckAt?: number;
}

export function planClaims(input: ClaimInput): ClaimPlan {
  const candidates = new Set(input.candidates);
  const release = [...input.held].filter((name) => !candidates.has(name)).sort();
  const kept = input.held.size - release.length;
  const room = Math.max(0, input.capacity - kept);
  if (room === 0) return { claim: [], release };

  const everyone = [...new Set([...input.live, input.self])];
  const due: Array<{ name: string; rank: number; weight: number }> = [];
  let recheckAt: number | undefined;
  for (const name of candidates) {
    if (input.owners.has(name) || input.held.has(name)) continue;
    const rank = rankInstances(name, everyone).indexOf(input.self);
    const at = (input.freeSince.get(name) ?? input.now) + rank * input.staggerMs;
    if (at <= input.now) due.push({ name, rank, weight: rendezvousWeight(name, input.self) });
    else recheckAt = recheckAt === undefined ? at : Math.min(recheckAt, at);
  }
  // Specs we rank first for before those we are a fallback for; then our own preference.
  due.sort((a, b) => a.rank - b.rank || b.weight - a.weight || (a.name < b.name ? -1 : 1));
  const claim = due.slice(0, room).map((d) => d.name);
  return recheckAt === undefined ? { claim, release } : { claim, release, recheckAt };
}
