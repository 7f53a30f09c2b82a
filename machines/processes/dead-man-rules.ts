// The dead-man switch's decisions, as pure functions: when the controller has been silent too
// long, which processes of a guarded group may be killed, and the line protocol between the
// controller and its dead-man child. No I/O here, no imports: the child loads this file.
//
// Which processes may be killed follows the reaper's rules (registry.ts, top comment): a leader
// only while its pid still has the recorded start time and command; its whole group only if it
// leads it; once the leader is gone, only members that carry this run's owner token and started no
// earlier than the leader. Anything that cannot be checked is left alone.

/** A process the dead-man kills when the controller falls silent: a ProcessRecord, as sent. */
export interface Guard {
  pid: number;
  pgid: number;
  name: string;
  /** Clock ticks since boot (/proc/<pid>/stat field 22) when it started. */
  startTime: number;
  /** argv[0]'s basename when it was registered. */
  command?: string;
}

/**
 * An HTTP POST the dead-man makes when the controller dies, so that what the controller held ends
 * at once instead of at its timeout (e.g. revoking its etcd lease, so another instance takes its
 * screens over now). The requests of one will are alternatives, tried in order until one answers 2xx.
 */
export interface WillRequest {
  url: string;
  body: string;
}

/** At most this many alternatives in a will, each at most this long: a will is a few etcd endpoints. */
export const MAX_WILL_REQUESTS = 16;
const MAX_WILL_TEXT = 4096;

/** Controller → dead-man, one JSON object per line. */
export type ControllerMessage =
  | { t: 'beat' }
  /** What to ask when the controller dies (replaces the last will; empty: none). */
  | { t: 'will'; requests: WillRequest[] }
  | { t: 'guard'; guard: Guard }
  | { t: 'unguard'; pid: number }
  /** A deliberate end (the controller stops): exit without killing anything. */
  | { t: 'stop' };

export interface GroupOutcome {
  pid: number;
  pgid: number;
  name: string;
  /** Pids sent SIGKILL (the leader and members alive at that moment). */
  killed: number[];
  /** Pids left alone, each with why. */
  skipped: Array<{ pid: number; why: string }>;
}

/** Dead-man → controller, one JSON object per line. */
export type DeadManMessage =
  | { t: 'ready'; pid: number }
  /** The controller was silent for `silentMs` (≥ `timeoutMs`): every guard was dealt with. */
  | { t: 'fired'; silentMs: number; timeoutMs: number; groups: GroupOutcome[] }
  | { t: 'error'; message: string };

// ---- timing ----

/**
 * Whether to fire now, and otherwise how long until the deadline. `lastHeardAt` is when the
 * dead-man last read a line from the controller, on its own monotonic clock. A heartbeat that is
 * late because the controller's event loop was blocked is exactly the silence this measures.
 */
export function deadManVerdict(o: { lastHeardAt: number; now: number; timeoutMs: number }): { fire: boolean; silentMs: number; checkInMs: number } {
  const silentMs = Math.max(0, o.now - o.lastHeardAt);
  const fire = silentMs >= o.timeoutMs;
  return { fire, silentMs, checkInMs: fire ? 0 : o.timeoutMs - silentMs };
}

/** The heartbeat period: three beats per timeout, so one late or lost beat is not yet silence. */
export function heartbeatIntervalMs(timeoutMs: number): number {
  return Math.max(1, Math.floor(timeoutMs / 3));
}

/** The rule: a pipeline's processes stop when the controller is silent for ⅔ of the lease TTL. */
export function deadManTimeoutForLease(ttlMs: number): number {
  return Math.floor((ttlMs * 2) / 3);
}

/** Below this the switch would fire on an ordinary garbage collection or a busy second core. */
export const MIN_TIMEOUT_MS = 200;

// ---- which processes may be killed ----

/** What /proc said about a guarded process and its group, just before the kill. */
export interface GuardFacts {
  /** The process with the guard's pid, if there is one (any state, zombies included). */
  leader?: { state: string; startTime: number; command?: string };
  /** Live members of the guard's group (only read when the leader is gone); owner: carries this run's token, undefined when unreadable. */
  members?: Array<{ pid: number; startTime: number; owner: boolean | undefined }>;
}

/**
 * What to SIGKILL for one guard: the whole group (`group`, by its id), single pids, or nothing;
 * `needMembers` asks the caller to read the group's members and ask again.
 */
export type KillPlan =
  | { kind: 'group'; pgid: number; pids: number[] }
  | { kind: 'pids'; pids: number[]; skipped: Array<{ pid: number; why: string }> }
  | { kind: 'none'; skipped: Array<{ pid: number; why: string }> }
  | { kind: 'needMembers' };

const gone = (state: string) => state === 'Z' || state === 'X';

export function killPlan(g: Guard, facts: GuardFacts): KillPlan {
  const leader = facts.leader;
  if (leader && !gone(leader.state)) {
    const why =
      leader.startTime !== g.startTime ? 'the pid now belongs to a process with another start time' : g.command === undefined ? 'no command was recorded for it' : leader.command !== g.command ? `the pid now runs ${leader.command ?? '?'}, not ${g.command}` : undefined;
    // Reused pid: its group id is someone else's too (ours cannot have members left, or the pid
    // would not have been reused).
    if (why) return { kind: 'none', skipped: [{ pid: g.pid, why }] };
    // While our child lives and leads its group, every member descends from it.
    if (g.pgid === g.pid) return { kind: 'group', pgid: g.pgid, pids: [g.pid] };
    return { kind: 'pids', pids: [g.pid], skipped: [] };
  }
  // Leader gone (or a zombie nobody reaped while the controller was stopped): helpers that
  // outlived it still carry its group id, and so may a stranger's processes.
  if (g.pgid !== g.pid) return { kind: 'none', skipped: [] };
  if (facts.members === undefined) return { kind: 'needMembers' };
  const pids: number[] = [];
  const skipped: Array<{ pid: number; why: string }> = [];
  for (const m of facts.members) {
    if (m.startTime < g.startTime) skipped.push({ pid: m.pid, why: 'started before our child' });
    else if (m.owner === undefined) skipped.push({ pid: m.pid, why: 'its environment cannot be read' });
    else if (!m.owner) skipped.push({ pid: m.pid, why: 'not started by our child (no owner token)' });
    else pids.push(m.pid);
  }
  return { kind: 'pids', pids, skipped };
}

// ---- the line protocol ----

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const isPid = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 1 && (v as number) <= 4_194_304;

function parseObject(line: string): Parsed<Record<string, unknown>> {
  const text = line.length > 200 ? `${line.slice(0, 200)}…` : line;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, error: `not JSON: ${JSON.stringify(text)}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: `not a JSON object: ${JSON.stringify(text)}` };
  return { ok: true, value: v as Record<string, unknown> };
}

/** One line the controller wrote. A pid or group id of 0, 1 or below is refused: kill(-1) signals everything. */
export function parseControllerLine(line: string): Parsed<ControllerMessage> {
  const o = parseObject(line);
  if (!o.ok) return o;
  const m = o.value;
  switch (m.t) {
    case 'beat':
    case 'stop':
      return { ok: true, value: { t: m.t } };
    case 'will': {
      if (!Array.isArray(m.requests) || m.requests.length > MAX_WILL_REQUESTS) return { ok: false, error: `will: requests must be a list of at most ${MAX_WILL_REQUESTS}` };
      const requests: WillRequest[] = [];
      for (const [i, r] of (m.requests as unknown[]).entries()) {
        const { url, body } = (r ?? {}) as Record<string, unknown>;
        if (typeof url !== 'string' || !/^https?:\/\//.test(url) || url.length > MAX_WILL_TEXT) return { ok: false, error: `will: request ${i}: url must be an http(s) URL of at most ${MAX_WILL_TEXT} characters` };
        if (typeof body !== 'string' || body.length > MAX_WILL_TEXT) return { ok: false, error: `will: request ${i}: body must be a string of at most ${MAX_WILL_TEXT} characters` };
        requests.push({ url, body });
      }
      return { ok: true, value: { t: 'will', requests } };
    }
    case 'unguard':
      return isPid(m.pid) ? { ok: true, value: { t: 'unguard', pid: m.pid } } : { ok: false, error: `unguard: pid must be an integer above 1, got ${JSON.stringify(m.pid)}` };
    case 'guard': {
      const g = m.guard as Record<string, unknown> | null | undefined;
      if (typeof g !== 'object' || g === null) return { ok: false, error: 'guard: missing the guard object' };
      if (!isPid(g.pid)) return { ok: false, error: `guard: pid must be an integer above 1, got ${JSON.stringify(g.pid)}` };
      if (!isPid(g.pgid)) return { ok: false, error: `guard ${g.pid}: pgid must be an integer above 1, got ${JSON.stringify(g.pgid)}` };
      if (!Number.isInteger(g.startTime) || (g.startTime as number) < 0) return { ok: false, error: `guard ${g.pid}: startTime must be a non-negative integer, got ${JSON.stringify(g.startTime)}` };
      if (g.command !== undefined && typeof g.command !== 'string') return { ok: false, error: `guard ${g.pid}: command must be a string` };
      const name = typeof g.name === 'string' ? g.name.slice(0, 100) : '?';
      return { ok: true, value: { t: 'guard', guard: { pid: g.pid, pgid: g.pgid, name, startTime: g.startTime as number, ...(g.command === undefined ? {} : { command: g.command }) } } };
    }
    default:
      return { ok: false, error: `unknown message type ${JSON.stringify(m.t)}` };
  }
}

/** One line the dead-man wrote. */
export function parseDeadManLine(line: string): Parsed<DeadManMessage> {
  const o = parseObject(line);
  if (!o.ok) return o;
  const m = o.value;
  switch (m.t) {
    case 'ready':
      return isPid(m.pid) ? { ok: true, value: { t: 'ready', pid: m.pid } } : { ok: false, error: 'ready: no pid' };
    case 'error':
      return { ok: true, value: { t: 'error', message: String(m.message) } };
    case 'fired': {
      if (!Array.isArray(m.groups) || typeof m.silentMs !== 'number' || typeof m.timeoutMs !== 'number') return { ok: false, error: 'fired: expected silentMs, timeoutMs and groups' };
      return { ok: true, value: { t: 'fired', silentMs: m.silentMs, timeoutMs: m.timeoutMs, groups: m.groups as GroupOutcome[] } };
    }
    default:
      return { ok: false, error: `unknown message type ${JSON.stringify(m.t)}` };
  }
}

export function formatLine(m: ControllerMessage | DeadManMessage): string {
  return `${JSON.stringify(m)}\n`;
}

/**
 * Splits a byte stream into lines; a line longer than `max` is cut off and reported as such
 * (a runaway writer must not grow the buffer without bound).
 */
export function lineSplitter(onLine: (line: string) => void, max = 64 * 1024): (chunk: string) => void {
  let partial = '';
  return (chunk) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    if (partial.length > max) {
      onLine(partial.slice(0, max));
      partial = '';
    }
    for (const p of parts) if (p.trim() !== '') onLine(p);
  };
}
