// How much memory a Chromium holds: the sum over its process group (the browser, its renderers,
// GPU and utility helpers share it) of each process's PSS, so pages shared between the helpers
// count once in total rather than once per process. RSS where smaps_rollup cannot be read.
import { readFileSync } from 'node:fs';
import { groupMembers } from '../processes/registry.js';

/** `Pss:` of /proc/<pid>/smaps_rollup in bytes, or undefined. */
export function parsePss(smapsRollup: string): number | undefined {
  const m = /^Pss:\s+(\d+) kB$/m.exec(smapsRollup);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Resident bytes from /proc/<pid>/statm (its second field, in pages). */
export function parseStatmRss(statm: string, pageSize = 4096): number | undefined {
  const pages = Number(statm.trim().split(/\s+/)[1]);
  return Number.isFinite(pages) ? pages * pageSize : undefined;
}

/** One process's memory: PSS, else RSS, else 0 (gone meanwhile). */
export function processMemory(pid: number): number {
  try {
    const pss = parsePss(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (pss !== undefined) return pss;
  } catch {
    // an older kernel, or gone: try statm
  }
  try {
    return parseStatmRss(readFileSync(`/proc/${pid}/statm`, 'utf8')) ?? 0;
  } catch {
    return 0;
  }
}

/** One process's resident bytes (statm), or 0 (gone meanwhile). */
export function processRss(pid: number): number {
  try {
    return parseStatmRss(readFileSync(`/proc/${pid}/statm`, 'utf8')) ?? 0;
  } catch {
    return 0;
  }
}

/** Bytes held by every live process of the group `pgid`. */
export function groupMemory(pgid: number): number {
  let total = 0;
  for (const m of groupMembers(pgid)) total += processMemory(m.pid);
  return total;
}

/**
 * The memory of `pids` as a check against `limit` needs it: their RSS sum while that is within the
 * limit (a process's RSS counts its shared pages in full, so it is never below its PSS, and
 * nothing can be over), else their PSS sum. statm costs little to read; smaps_rollup walks the
 * process's page tables, which made the 20 s memory check about a sixth of what the controller's
 * JavaScript spent with one Chromium playing (bench/e2e's profile), and a box with many browsers
 * pays it for each. So PSS is read only for a browser near its limit.
 */
export function memoryAgainst(pids: readonly number[], limit: number, read: { rss: (pid: number) => number; pss: (pid: number) => number } = { rss: processRss, pss: processMemory }): number {
  let rss = 0;
  for (const pid of pids) rss += read.rss(pid);
  if (rss <= limit) return rss;
  let pss = 0;
  for (const pid of pids) pss += read.pss(pid);
  return pss;
}

/** memoryAgainst for every live process of the group `pgid`. */
export function groupMemoryAgainst(pgid: number, limit: number): number {
  return memoryAgainst(groupMembers(pgid).map((m) => m.pid), limit);
}

export type RenewCause = { kind: 'memory'; bytes: number; max: number } | { kind: 'schedule'; everyMs: number };

const mb = (bytes: number) => `${Math.round(bytes / 1e6)} MB`;
const duration = (ms: number) => (ms >= 3_600_000 ? `${+(ms / 3_600_000).toFixed(1)} h` : ms >= 60_000 ? `${+(ms / 60_000).toFixed(1)} min` : `${+(ms / 1000).toFixed(1)} s`);

export function describeCause(c: RenewCause): string {
  return c.kind === 'memory' ? `memory ${mb(c.bytes)} > max ${mb(c.max)}` : `restartEvery ${duration(c.everyMs)}`;
}

/**
 * Whether to replace the browser now. Over `maxMemory` it is replaced, unless it was itself made
 * (or a replacement tried) less than `minIntervalMs` ago: a page that needs more than the limit
 * right after it loads would otherwise have its browser replaced over and over. `restartEvery`
 * counts from the last replacement, or from the start.
 */
export function renewalDue(o: {
  now: number;
  memoryBytes: number | undefined;
  maxMemory: number;
  restartEvery?: number;
  startedAt: number;
  lastRenewedAt?: number; // the last replacement made or tried
  minIntervalMs: number;
}): { cause: RenewCause; held: boolean } | undefined {
  if (o.memoryBytes !== undefined && o.memoryBytes > o.maxMemory) {
    return { cause: { kind: 'memory', bytes: o.memoryBytes, max: o.maxMemory }, held: o.lastRenewedAt !== undefined && o.now - o.lastRenewedAt < o.minIntervalMs };
  }
  if (o.restartEvery !== undefined && o.now - (o.lastRenewedAt ?? o.startedAt) >= o.restartEvery) return { cause: { kind: 'schedule', everyMs: o.restartEvery }, held: false };
  return undefined;
}
