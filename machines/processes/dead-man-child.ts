// The dead-man switch's child process (started by dead-man.ts, one per controller). It reads the
// controller's heartbeats and guards on stdin; when the controller is silent for the timeout (it is
// SIGSTOPped, or its event loop is blocked), it SIGKILLs every guarded process group that is still
// provably ours and says so on stdout. It runs in its own session, so a stop signal aimed at the
// controller's process group (Ctrl-Z) does not pause it too.
//
// When the pipe closes without a "stop" (the controller died), it kills the guarded groups as well
// and exits: a dead controller's stream server is gone, so its pipelines only burn CPU, and an
// instance that lost its lease must not keep a screen's pipeline running on its behalf. The next
// start's reaper then finds nothing of them (and stays sound if the dead-man got there first: both
// check start times). It also exits when it finds itself re-parented, in case the pipe's write end
// leaked into another process and no end-of-file comes.
//
// Node rather than Python (as sd-notify's helper is): the kill rules are dead-man-rules.ts and the
// /proc readers procfs.ts, the same TypeScript as the reaper's, type-checked and unit-tested once;
// a Python copy would be a second, untested statement of who may be killed. Measured on the 2-core
// test machine: 42 MB RSS, 0.25–0.38 s from spawn to "ready", 3 ms CPU a second at rest; Python 3.11
// (-S) would take 8 MB and 0.08 s. One per controller, started once: the 34 MB buy one source of
// truth. It loads nothing but those two files and node builtins (execa would add 13 MB and 0.4 s).
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { carriesOwner, groupMembers, processCommand, readStat } from './procfs.js';
import { MIN_TIMEOUT_MS, deadManVerdict, formatLine, killPlan, lineSplitter, parseControllerLine, type DeadManMessage, type GroupOutcome, type Guard, type GuardFacts, type WillRequest } from './dead-man-rules.js';

function fail(message: string): never {
  process.stderr.write(`pagecast dead-man: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({ options: { 'timeout-ms': { type: 'string' }, owner: { type: 'string' }, 'controller-pid': { type: 'string' } } });
const timeoutMs = Number(values['timeout-ms']);
const owner = values.owner ?? '';
const controllerPid = Number(values['controller-pid']);
if (!Number.isInteger(timeoutMs) || timeoutMs < MIN_TIMEOUT_MS) fail(`--timeout-ms must be an integer of at least ${MIN_TIMEOUT_MS}, got ${JSON.stringify(values['timeout-ms'])}`);
if (!/^[0-9a-f]{8,64}$/.test(owner)) fail('--owner must be the registry owner token (hex)');
if (!Number.isInteger(controllerPid) || controllerPid <= 1) fail('--controller-pid must be a pid');
// Started after the controller was already gone: nothing to guard.
if (process.ppid !== controllerPid) process.exit(0);

// Never guarded, whatever a guard says: this process, the controller, and the leaders of their
// groups (a group kill through such a guard would hit the controller's own group). A guard in the
// controller's group that does not lead it is fine: killPlan only ever kills that one pid.
const untouchable = new Set([process.pid, controllerPid, readStat(process.pid)?.pgid, readStat(controllerPid)?.pgid].filter((n): n is number => n !== undefined));

const guards = new Map<number, Guard>();
let lastHeardAt = performance.now();
/** Fired since the controller was last heard: nothing new to do until it speaks again. */
let fired = false;
let ending = false;
let timer: NodeJS.Timeout | undefined;

// A write to a dead controller fails with EPIPE: there is nobody left to tell.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
function send(m: DeadManMessage): void {
  process.stdout.write(formatLine(m));
}

function arm(): void {
  clearTimeout(timer);
  timer = setTimeout(check, deadManVerdict({ lastHeardAt, now: performance.now(), timeoutMs }).checkInMs);
}

function check(): void {
  if (process.ppid !== controllerPid) return controllerGone('re-parented: the controller is gone');
  // Let the event loop poll stdin once before judging: the poll phase runs between this timer and
  // the immediate, so a beat the controller sent in time, but that this process (starved on a busy
  // machine) has not read yet, still counts.
  setImmediate(() => {
    if (ending) return;
    const v = deadManVerdict({ lastHeardAt, now: performance.now(), timeoutMs });
    if (!v.fire) return arm();
    fired = true;
    send({ t: 'fired', silentMs: Math.round(v.silentMs), timeoutMs, groups: killAll() });
  });
}

function facts(g: Guard): GuardFacts {
  const st = readStat(g.pid);
  return st ? { leader: { state: st.state, startTime: st.startTime, command: processCommand(g.pid) } } : {};
}

function kill(target: number): void {
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    // ESRCH: gone already
  }
}

function killGuard(g: Guard): GroupOutcome {
  const f = facts(g);
  let plan = killPlan(g, f);
  if (plan.kind === 'needMembers') plan = killPlan(g, { ...f, members: groupMembers(g.pgid).map((m) => ({ ...m, owner: carriesOwner(m.pid, owner) })) });
  const out: GroupOutcome = { pid: g.pid, pgid: g.pgid, name: g.name, killed: [], skipped: [] };
  switch (plan.kind) {
    case 'group':
      out.killed = [...new Set([g.pid, ...groupMembers(g.pgid).map((m) => m.pid)])];
      kill(-plan.pgid);
      break;
    case 'pids':
      out.skipped = plan.skipped;
      for (const pid of plan.pids) kill(pid);
      out.killed = plan.pids;
      break;
    case 'none':
      out.skipped = plan.skipped;
      break;
    case 'needMembers':
      break; // not reached: members were given
  }
  return out;
}

function killAll(): GroupOutcome[] {
  const out = [...guards.values()].map(killGuard);
  guards.clear();
  return out;
}

/** The controller's last will: tried in order until one answers 2xx, each for at most a second. */
let will: WillRequest[] = [];

async function executeWill(): Promise<string> {
  if (will.length === 0) return '';
  const failures: string[] = [];
  for (const r of will) {
    try {
      const res = await fetch(r.url, { method: 'POST', body: r.body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return `; its will done at ${new URL(r.url).host}`;
      failures.push(`${new URL(r.url).host}: HTTP ${res.status}`);
    } catch (err) {
      failures.push(`${new URL(r.url).host}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return `; its will failed (${failures.join(', ')})`;
}

/**
 * Every process that carries this run's owner token (spawnRegistered puts it in the environment and
 * descendants inherit it): a process spawned while the controller died, before it was registered
 * or before its guard line was sent. The token is this run's own random value, so a match is ours.
 */
function ownersOrphans(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    if (carriesOwner(pid, owner)) found.push(pid);
  }
  return found;
}

function controllerGone(why: string): void {
  if (ending) return;
  ending = true;
  clearTimeout(timer);
  const groups = killAll();
  const killed = groups.flatMap((g) => g.killed);
  for (const pid of ownersOrphans()) {
    if (killed.includes(pid)) continue;
    kill(pid);
    killed.push(pid);
  }
  void executeWill().then((done) => {
    process.stderr.write(`pagecast dead-man: ${why}; killed ${killed.length ? killed.join(' ') : 'nothing'}${done}\n`);
    process.exit(0);
  });
}

const onLine = (line: string) => {
  const parsed = parseControllerLine(line);
  if (!parsed.ok) return send({ t: 'error', message: `line ignored: ${parsed.error}` });
  const m = parsed.value;
  switch (m.t) {
    case 'stop':
      ending = true;
      process.exit(0);
      break;
    case 'guard':
      if (untouchable.has(m.guard.pid)) {
        return send({ t: 'error', message: `guard ${m.guard.pid} refused: that is the controller, the dead-man or the leader of their process group` });
      }
      guards.set(m.guard.pid, m.guard);
      break;
    case 'unguard':
      guards.delete(m.pid);
      break;
    case 'will':
      will = m.requests;
      break;
    case 'beat':
      break;
  }
  // Any well-formed line shows the controller's event loop turning.
  lastHeardAt = performance.now();
  if (fired) {
    fired = false;
    arm();
  }
};

process.stdin.setEncoding('utf8');
process.stdin.on('data', lineSplitter(onLine));
process.stdin.on('end', () => controllerGone('the controller closed the pipe (it exited)'));
process.stdin.on('error', () => controllerGone('the pipe from the controller failed'));
arm();
send({ t: 'ready', pid: process.pid });
