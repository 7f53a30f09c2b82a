// The dead-man switch with real processes (issue 14, fencing): a fixture controller guards process
// groups of `sleep`s through the real registry; pausing it (SIGSTOP) gets them killed within the
// timeout, killing it gets them killed at once, and neither touches a stranger's process.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeadManSwitch, defaultChildScript, type DeadManFired } from '../../../machines/processes/dead-man.js';
import { heartbeatIntervalMs, type DeadManMessage, type GroupOutcome } from '../../../machines/processes/dead-man-rules.js';
import { ProcessRegistry, processStartTime, spawnRegistered, type ProcessRecord } from '../../../machines/processes/registry.js';
import { alive, waitUntil } from '../../helpers.js';
import { buildRegistry } from './build-registry.js';

const FIXTURE = join(import.meta.dirname, '../../fixtures/processes/dead-man-controller.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'pagecast-dead-man-'));
const buildDir = join(import.meta.dirname, `../../fixtures/processes/.build-dead-man-${process.pid}`);
let registryModule = '';
beforeAll(() => {
  registryModule = buildRegistry(buildDir);
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  rmSync(buildDir, { recursive: true, force: true });
});

// Every process a test starts or learns of, SIGKILLed afterwards if it is still the same process.
const started = new Map<number, number | undefined>();
const track = (...pids: number[]) => pids.forEach((p) => started.set(p, processStartTime(p)));
const children: ResultPromise[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await c.catch(() => undefined);
  }
  for (const [pid, start] of started) {
    if (start !== undefined && processStartTime(pid) === start) process.kill(pid, 'SIGKILL');
  }
  started.clear();
});

/** A process that is none of the controller's business: its own group, no owner token. */
async function stranger(): Promise<number> {
  const s = execa('sleep', ['1000'], { detached: true, reject: false });
  children.push(s);
  await waitUntil(() => readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').startsWith('sleep'), 5_000, 'sleep to exec');
  return s.pid!;
}

interface Pids {
  a: number;
  b: number;
  bHelper: number;
  c: number;
  cHelper: number;
  deadMan: number;
  unregistered?: number;
}

/** Starts the fixture controller; `lines` collects what it prints, one JSON object a line. */
async function startController(timeoutMs: number, forge?: number, will?: string[], unregistered = false) {
  const state = join(tmp, `state-${Date.now()}-${Math.random()}.json`);
  const extra = [...(forge ? ['--forge', String(forge)] : []), ...(will ? ['--will', will.join(',')] : []), ...(unregistered ? ['--unregistered'] : [])];
  const ctl = execa('node', [FIXTURE, '--registry', registryModule, '--state', state, '--timeout-ms', String(timeoutMs), ...extra], { reject: false, buffer: false });
  children.push(ctl);
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  ctl.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + String(d)).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) if (p) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  let stderr = '';
  ctl.stderr!.on('data', (d: Buffer) => (stderr += String(d)));
  const pids = (await waitUntil(() => lines.find((l) => 'deadMan' in l), 15_000, () => `the fixture's pids (stderr: ${stderr})`)) as unknown as Pids;
  track(pids.a, pids.b, pids.bHelper, pids.c, pids.cHelper, pids.deadMan, ...(pids.unregistered ? [pids.unregistered] : []));
  return { ctl, pids, lines, state };
}

describe('the dead-man switch of a paused controller', () => {
  it('SIGSTOP: every guarded group is killed within the timeout; SIGCONT: the controller is told; strangers live', async () => {
    const timeoutMs = 1000;
    const slackMs = 1500; // timer lateness on a busy two-core machine
    const reused = await stranger(); // a pid the registry holds with another start time
    const bystander = await stranger(); // in no guarded group at all
    const { ctl, pids, lines } = await startController(timeoutMs, reused);
    // c's leader dies on its own: its helper is left in the group, recognisable by the owner token.
    process.kill(pids.c, 'SIGKILL');
    await waitUntil(() => !alive(pids.c), 5_000, 'c’s leader to exit');
    const guarded = [pids.a, pids.b, pids.bHelper, pids.cHelper];
    expect(guarded.filter((p) => !alive(p))).toEqual([]);

    const t0 = performance.now();
    ctl.kill('SIGSTOP');
    await waitUntil(() => guarded.every((p) => !alive(p)), timeoutMs + slackMs, () => `guarded processes gone; alive: ${guarded.filter(alive).join(' ')}`, { intervalMs: 5 });
    const elapsed = performance.now() - t0;
    console.log(`dead-man: SIGSTOP → guarded groups gone in ${Math.round(elapsed)} ms (timeout ${timeoutMs} ms)`);
    // The last beat came about one interval before the pause at most: not fired before that.
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - heartbeatIntervalMs(timeoutMs) - 100);
    expect(alive(reused)).toBe(true);
    expect(alive(bystander)).toBe(true);
    expect(alive(pids.deadMan)).toBe(true);
    expect(lines.some((l) => 'fired' in l)).toBe(false); // paused: it cannot have heard yet

    ctl.kill('SIGCONT');
    const { fired } = (await waitUntil(() => lines.find((l) => 'fired' in l), 5_000, 'the fired report')) as { fired: { silentMs: number; groups: GroupOutcome[] } };
    expect(fired.silentMs).toBeGreaterThanOrEqual(timeoutMs);
    const byName = Object.fromEntries(fired.groups.map((g) => [g.name, g]));
    expect(byName.a!.killed).toEqual([pids.a]);
    expect(byName.b!.killed.sort()).toEqual([pids.b, pids.bHelper].sort());
    expect(byName.c!.killed).toEqual([pids.cHelper]);
    expect(byName.forged!).toMatchObject({ killed: [], skipped: [{ pid: reused, why: expect.stringMatching(/another start time/) }] });

    // Resumed, it beats again and the switch is still there; a SIGTERM then ends both in order.
    expect(alive(pids.deadMan)).toBe(true);
    ctl.kill('SIGTERM');
    expect((await ctl).exitCode).toBe(0);
    await waitUntil(() => !alive(pids.deadMan), 5_000, 'the dead-man to exit');
    expect(lines.filter((l) => 'fired' in l)).toHaveLength(1);
    expect(alive(reused) && alive(bystander)).toBe(true);
  });
});

describe('the dead-man switch of a blocked controller', () => {
  it('an event loop blocked past the timeout gets the groups killed; once free, the controller is told', async () => {
    const timeoutMs = 1000;
    const { ctl, pids, lines } = await startController(timeoutMs);
    const guarded = [pids.a, pids.b, pids.bHelper, pids.c, pids.cHelper];
    const t0 = performance.now();
    ctl.kill('SIGUSR2'); // blocks its loop for three timeouts
    await waitUntil(() => guarded.every((p) => !alive(p)), timeoutMs + 1500, () => `guarded processes gone; alive: ${guarded.filter(alive).join(' ')}`, { intervalMs: 5 });
    console.log(`dead-man: event loop blocked → guarded groups gone in ${Math.round(performance.now() - t0)} ms (timeout ${timeoutMs} ms)`);
    expect(lines.some((l) => 'unblocked' in l)).toBe(false); // killed while the loop was still blocked
    await waitUntil(() => lines.find((l) => 'fired' in l), 10_000, 'the fired report');
    // The late beat is seen for what it was on this side too.
    const warned = lines.map((l) => l.log as { level: string; msg: string } | undefined).filter((l) => l?.level === 'warn');
    expect(warned.map((l) => l!.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/dead-man switch fired/), expect.stringMatching(/event loop blocked past the timeout/)]));
  });

  it('a dead-man child that dies is replaced, and the replacement guards every group', async () => {
    const timeoutMs = 1000;
    const { ctl, pids, lines } = await startController(timeoutMs);
    const starts = () => lines.filter((l) => (l.log as { msg?: string } | undefined)?.msg === 'dead-man switch: on').map((l) => (l.log as { pid: number }).pid);
    process.kill(pids.deadMan, 'SIGKILL');
    const [replacement] = (await waitUntil(() => (starts().length >= 2 ? starts().slice(1) : undefined), 10_000, 'a new dead-man')) as [number];
    track(replacement);
    expect(replacement).not.toBe(pids.deadMan);
    const guarded = [pids.a, pids.b, pids.bHelper, pids.c, pids.cHelper];
    expect(guarded.filter((p) => !alive(p))).toEqual([]); // the old one's death killed nothing
    ctl.kill('SIGSTOP');
    await waitUntil(() => guarded.every((p) => !alive(p)), timeoutMs + 1500, 'guarded processes gone');
    ctl.kill('SIGKILL');
    await waitUntil(() => !alive(replacement), 5_000, 'the replacement to exit with its controller');
  });
});

describe('the dead-man switch of a dead controller', () => {
  it('SIGKILL: the dead-man kills the guarded groups at once and exits; the reaper then finds nothing left', async () => {
    const timeoutMs = 5000; // long: what happens must come from the closed pipe, not the timeout
    const reused = await stranger();
    const { ctl, pids, state } = await startController(timeoutMs, reused);
    const guarded = [pids.a, pids.b, pids.bHelper, pids.c, pids.cHelper];
    const t0 = performance.now();
    ctl.kill('SIGKILL');
    await ctl;
    await waitUntil(() => guarded.every((p) => !alive(p)) && !alive(pids.deadMan), 3_000, () => `groups and dead-man gone; alive: ${[...guarded, pids.deadMan].filter(alive).join(' ')}`, { intervalMs: 5 });
    console.log(`dead-man: controller SIGKILLed → guarded groups and dead-man gone in ${Math.round(performance.now() - t0)} ms`);
    expect(alive(reused)).toBe(true);
    // The next start's reaper: our processes are gone already, the stranger is still spared.
    const reaped = await new ProcessRegistry({ stateFile: state }).reapOrphans();
    expect(reaped).toEqual({ killed: [], skipped: [reused], problems: [] });
    expect(alive(reused)).toBe(true);
  });
});

describe('a process of this run that was never guarded', () => {
  it('dies with the controller too: the dead-man finds it by the run’s owner token', async () => {
    const reused = await stranger();
    const { ctl, pids } = await startController(5000, undefined, undefined, true);
    expect(pids.unregistered).toBeGreaterThan(1);
    await waitUntil(() => readFileSync(`/proc/${pids.unregistered}/cmdline`, 'utf8').startsWith('sleep'), 5_000, 'the unregistered sleep to exec');
    ctl.kill('SIGKILL');
    await ctl;
    await waitUntil(() => !alive(pids.unregistered!) && !alive(pids.deadMan), 5_000, 'the unregistered child and the dead-man gone');
    expect(alive(reused)).toBe(true);
  });
});

describe('the last will', () => {
  /** A server that answers 503 on /down and 200 on /up, recording every request in order. */
  async function willServer() {
    const seen: Array<{ path: string; body: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += String(d)));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', body });
        res.writeHead(req.url === '/up' ? 200 : 503).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { seen, base, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
  }

  it('a dead controller’s will is made after its groups are killed: alternatives in order until one answers 2xx', async () => {
    const srv = await willServer();
    try {
      const { ctl, pids } = await startController(5000, undefined, [`${srv.base}/down`, `${srv.base}/up`, `${srv.base}/never`]);
      // The fixture sets its will before it prints its pids, and the pipe keeps order.
      ctl.kill('SIGKILL');
      await ctl;
      await waitUntil(() => !alive(pids.deadMan), 5_000, 'the dead-man to exit after its will');
      expect(srv.seen).toEqual([
        { path: '/down', body: '{"ID":"42"}' },
        { path: '/up', body: '{"ID":"42"}' },
      ]);
      expect([pids.a, pids.b, pids.c].filter(alive)).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a controller that stops cleanly leaves no will to make', async () => {
    const srv = await willServer();
    try {
      const { ctl, pids } = await startController(5000, undefined, [`${srv.base}/up`]);
      ctl.kill('SIGTERM');
      await ctl;
      await waitUntil(() => !alive(pids.deadMan), 5_000, 'the dead-man to exit');
      expect(srv.seen).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});

describe('the dead-man child on its own', () => {
  const childScript = () => join(buildDir, 'processes/dead-man-child.js');

  it('refuses bad input with clear errors, never guards its controller, and fires only after silence', async () => {
    const victim = execa('sleep', ['1000'], { detached: true, reject: false });
    children.push(victim);
    await waitUntil(() => readFileSync(`/proc/${victim.pid}/cmdline`, 'utf8').startsWith('sleep'), 5_000, 'sleep to exec');
    const rec: ProcessRecord = { pid: victim.pid!, pgid: victim.pid!, name: 'victim', startTime: processStartTime(victim.pid!)!, command: 'sleep' };
    const timeoutMs = 1000; // this test's own loop beats: leave room for a busy machine
    const dm = execa('node', [childScript(), '--timeout-ms', String(timeoutMs), '--owner', '0123456789abcdef', '--controller-pid', String(process.pid)], { stdin: 'pipe', reject: false, buffer: false });
    children.push(dm);
    track(dm.pid!);
    const got: DeadManMessage[] = [];
    let partial = '';
    dm.stdout!.on('data', (d: Buffer) => {
      const parts = (partial + String(d)).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p) got.push(JSON.parse(p) as DeadManMessage);
    });
    await waitUntil(() => got.some((m) => m.t === 'ready'), 10_000, 'ready');
    const write = (o: unknown) => dm.stdin!.write(`${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
    // Keep it fed while the bad lines go in: they must not count as life, nor kill anything.
    const beats = setInterval(() => write({ t: 'beat' }), heartbeatIntervalMs(timeoutMs));
    try {
      write('kill everything');
      write({ t: 'guard', guard: { ...rec, pgid: 1 } });
      write({ t: 'guard', guard: { pid: process.pid, pgid: process.pid, name: 'me', startTime: processStartTime(process.pid) } });
      write({ t: 'guard', guard: rec });
      const errors = () => got.filter((m): m is Extract<DeadManMessage, { t: 'error' }> => m.t === 'error').map((m) => m.message);
      await waitUntil(() => errors().length === 3, 5_000, () => `three errors, got ${JSON.stringify(errors())}`);
      expect(errors()[0]).toMatch(/line ignored: not JSON: "kill everything"/);
      expect(errors()[1]).toMatch(/pgid must be an integer above 1, got 1/);
      expect(errors()[2]).toMatch(/guard \d+ refused: that is the controller, the dead-man or the leader of their process group/);
      // Fed for two timeouts: no fire (absence can only be checked over a span of time).
      const until = performance.now() + 2 * timeoutMs;
      await waitUntil(() => performance.now() > until, 5_000, 'two timeouts of beats');
      expect(got.some((m) => m.t === 'fired')).toBe(false);
      expect(alive(rec.pid)).toBe(true);
    } finally {
      clearInterval(beats);
    }
    const fired = (await waitUntil(() => got.find((m) => m.t === 'fired'), 5_000, 'fired')) as Extract<DeadManMessage, { t: 'fired' }>;
    expect(fired.groups).toEqual([{ pid: rec.pid, pgid: rec.pid, name: 'victim', killed: [rec.pid], skipped: [] }]);
    await waitUntil(() => !alive(rec.pid), 2_000, 'the guarded sleep to die');
    // A deliberate stop: it exits at once, killing nothing more.
    write({ t: 'stop' });
    expect((await dm).exitCode).toBe(0);
  });

  it('refuses bad arguments with a message and exit code 2', async () => {
    const r = await execa('node', [childScript(), '--timeout-ms', '5', '--owner', '0123456789abcdef', '--controller-pid', String(process.pid)], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--timeout-ms must be an integer of at least 200, got "5"/);
  });
});

describe('DeadManSwitch in the controller', () => {
  it('refuses a timeout too short to tell a pause from a busy machine, and a missing child script', async () => {
    const registry = new ProcessRegistry({ stateFile: join(tmp, 'cfg.json') });
    await expect(new DeadManSwitch({ registry, timeoutMs: 50 }).start()).rejects.toThrow(/at least 200; got 50/);
    await expect(new DeadManSwitch({ registry, timeoutMs: 1000, childScript: join(tmp, 'nope.js') }).start()).rejects.toThrow(/nope\.js is missing/);
  });

  it('in this process: a blocked event loop fires it and onFired hears; stop() ends it and kills nothing', async () => {
    const registry = new ProcessRegistry({ stateFile: join(tmp, 'in-process.json') });
    const childScript = join(buildDir, 'processes/dead-man-child.js');
    const first = spawnRegistered(registry, 'first', 'sleep', ['1000']);
    track(first.pid);
    // 1 s: this test's own loop beats, and a busy machine must not fire it a second time.
    const deadMan = new DeadManSwitch({ registry, timeoutMs: 1000, childScript });
    const heard: DeadManFired[] = [];
    deadMan.onFired((f) => heard.push(f));
    await deadMan.start();
    try {
      const until = Date.now() + 2500;
      while (Date.now() < until); // this very loop, blocked past the timeout
      const f = await waitUntil(() => heard[0], 5_000, 'onFired');
      expect(f.groups).toEqual([{ pid: first.pid, pgid: first.pid, name: 'first', killed: [first.pid], skipped: [] }]);
      expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
      await first.stop();
      // Guards what is registered after a fire, too; and stop() leaves it running.
      const second = spawnRegistered(registry, 'second', 'sleep', ['1000']);
      track(second.pid);
      const child = deadMan.pid!;
      await deadMan.stop();
      expect(alive(child)).toBe(false);
      expect(alive(second.pid)).toBe(true);
      expect(heard).toHaveLength(1);
    } finally {
      await deadMan.stop();
      await registry.stopAll();
    }
  });

  it('finds its child script beside the compiled module, or in dist/ when running from the sources', () => {
    expect(defaultChildScript('file:///opt/pagecast/dist/machines/processes/dead-man.js')).toBe('/opt/pagecast/dist/machines/processes/dead-man-child.js');
    expect(defaultChildScript('file:///work/main/machines/processes/dead-man.ts')).toBe('/work/main/dist/machines/processes/dead-man-child.js');
  });

  it('the registry tells an observer of what was registered before and after, and of each end', () => {
    const registry = new ProcessRegistry({ stateFile: join(tmp, 'observe.json') });
    const rec = (pid: number): ProcessRecord => ({ pid, pgid: pid, name: `p${pid}`, startTime: 1, command: 'x' });
    registry.register(rec(100));
    const seen: string[] = [];
    const stop = registry.observe({ registered: (r) => seen.push(`+${r.pid}`), unregistered: (r) => seen.push(`-${r.pid}`) });
    registry.register(rec(101));
    registry.unregister(100);
    registry.unregister(100); // not registered any more: nothing to tell
    stop();
    registry.unregister(101);
    expect(seen).toEqual(['+100', '+101', '-100']);
  });
});
