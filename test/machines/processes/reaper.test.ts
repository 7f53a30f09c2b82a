// The reaper kills only what the last run started (issue 9 point 7), and a process list it cannot
// read is reported loudly (point 6). Real processes throughout, checked in /proc.
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomicSync } from '../../../machines/atomic-file.js';
import { ProcessRegistry, processStartTime, readStat } from '../../../machines/processes/registry.js';
import { waitUntil, captureLog } from '../../helpers.js';
import { buildRegistry } from './build-registry.js';

const tmp = mkdtempSync(join(tmpdir(), 'pagecast-reaper-'));
const buildDir = join(import.meta.dirname, `../../fixtures/media/.build-reaper-${process.pid}`);
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  rmSync(buildDir, { recursive: true, force: true });
});

// Every process a test starts, killed afterwards whatever happened.
const started: number[] = [];
const children: ResultPromise[] = [];
afterEach(async () => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await c.catch(() => undefined);
  }
});

const alive = (pid: number) => {
  const s = readStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
};
const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();


/** Reads pids a child prints, one per line, until `n` arrived. */
async function pidsPrinted(c: ResultPromise, n: number): Promise<number[]> {
  let text = '';
  c.stdout!.on('data', (d: Buffer) => (text += String(d)));
  await waitUntil(() => text.split('\n').filter(Boolean).length >= n, 5_000, `${n} pids printed`);
  return text.split('\n').filter(Boolean).map(Number);
}

/**
 * A stranger's process group whose leader is gone: a detached shell (its own session and group)
 * starts two sleepers and exits. Returns the leader's pid and start time, and the sleepers.
 */
async function strangerGroupWithoutLeader(): Promise<{ leader: number; leaderStart: number; members: number[] }> {
  const sh = execa('sh', ['-c', 'sleep 1000 & echo $!; sleep 1000 & echo $!; read line'], { detached: true, stdin: 'pipe', reject: false, buffer: false });
  children.push(sh);
  const members = await pidsPrinted(sh, 2);
  started.push(...members);
  const leader = sh.pid!;
  const leaderStart = processStartTime(leader)!;
  sh.stdin!.end('go\n');
  await waitUntil(() => !alive(leader), 5_000, 'the stranger leader to exit');
  expect(members.map((m) => readStat(m)?.pgid)).toEqual([leader, leader]);
  return { leader, leaderStart, members };
}

function writeState(stateFile: string, state: object): void {
  mkdirSync(join(stateFile, '..'), { recursive: true });
  writeFileAtomicSync(stateFile, JSON.stringify(state));
}

describe('reapOrphans kills only what the last run started', () => {
  it('after a crash in which a group leader died too: our helper goes, a stranger group whose leader pid was reused stays', async () => {
    const registryModule = buildRegistry(buildDir);
    const stateFile = join(tmp, 'crash', 'children.json');
    const ctl = execa('node', [join(import.meta.dirname, '../../fixtures/media/fake-controller.mjs'), registryModule, stateFile], { reject: false });
    children.push(ctl);
    const [sleeper, groupLeader, helper] = (JSON.parse(await new Promise<string>((r) => ctl.stdout!.once('data', (d) => r(String(d))))) as { pids: number[] }).pids as [number, number, number];
    started.push(sleeper, groupLeader, helper);
    ctl.kill('SIGKILL');
    await ctl;
    // Our group's leader dies as well; its helper lives on in the group, as Chromium's do.
    process.kill(groupLeader, 'SIGKILL');
    await waitUntil(() => !alive(groupLeader), 5_000, 'our group leader to exit');
    expect(readStat(helper)?.pgid).toBe(groupLeader);

    // A stranger group as the kernel can make it after a pid is reused: its id is a pid the state
    // file names, its leader gone, its members started after the recorded start time.
    const stranger = await strangerGroupWithoutLeader();
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { processes: object[] };
    state.processes.push({ pid: stranger.leader, pgid: stranger.leader, name: 'xvfb', startTime: stranger.leaderStart, command: 'sh' });
    writeFileAtomicSync(stateFile, JSON.stringify(state));

    const cap = captureLog();
    const result = await new ProcessRegistry({ stateFile, log: cap.log }).reapOrphans();
    expect(result.killed).toEqual(expect.arrayContaining([sleeper, helper]));
    expect(result.killed).not.toEqual(expect.arrayContaining([stranger.members[0]]));
    expect(result.skipped).toEqual(expect.arrayContaining(stranger.members));
    await waitUntil(() => !alive(sleeper) && !alive(helper), 5_000, 'our orphans to exit');
    expect(stranger.members.every(alive)).toBe(true);
    expect(result.problems).toEqual([]);
  });

  it('spares a live process with the recorded pid and start time but another command', async () => {
    const stranger = execa('sleep', ['1000'], { reject: false, detached: true }); // leads its group, as our children do
    children.push(stranger);
    const pid = stranger.pid!;
    await waitUntil(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'), 5_000, 'sleep to exec');
    const stateFile = join(tmp, 'command', 'children.json');
    writeState(stateFile, { version: 1, controllerPid: 1, bootId, owner: 'x', processes: [{ pid, pgid: pid, name: 'ffmpeg', startTime: processStartTime(pid), command: 'ffmpeg' }] });
    const result = await new ProcessRegistry({ stateFile }).reapOrphans();
    expect(result).toEqual({ killed: [], skipped: [pid], problems: [] });
    expect(alive(pid)).toBe(true);
  });

  it('spares a process whose record has no command (an older state file), and everything from before a reboot', async () => {
    const a = execa('sleep', ['1000'], { reject: false, detached: true });
    const b = execa('sleep', ['1000'], { reject: false, detached: true });
    children.push(a, b);
    await waitUntil(() => [a.pid!, b.pid!].every((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep')), 5_000, 'sleep to exec');
    const noCommand = join(tmp, 'legacy', 'children.json');
    writeState(noCommand, { version: 1, controllerPid: 1, processes: [{ pid: a.pid, pgid: a.pid, name: 'x', startTime: processStartTime(a.pid!) }] });
    expect(await new ProcessRegistry({ stateFile: noCommand }).reapOrphans()).toEqual({ killed: [], skipped: [a.pid], problems: [] });
    // Same pid, start time and command as recorded: after a reboot that proves nothing.
    const rebooted = join(tmp, 'reboot', 'children.json');
    writeState(rebooted, { version: 1, controllerPid: 1, bootId: 'an-earlier-boot', owner: 'x', processes: [{ pid: b.pid, pgid: b.pid, name: 'x', startTime: processStartTime(b.pid!), command: 'sleep' }] });
    expect(await new ProcessRegistry({ stateFile: rebooted }).reapOrphans()).toEqual({ killed: [], skipped: [], problems: [] });
    expect(alive(a.pid!) && alive(b.pid!)).toBe(true);
  });

  it('kills a recorded leader whose start time and command match, with its whole group', async () => {
    const sh = execa('sh', ['-c', 'sleep 1000 & echo $!; wait'], { detached: true, reject: false, buffer: false });
    children.push(sh);
    const [member] = (await pidsPrinted(sh, 1)) as [number];
    started.push(member);
    const stateFile = join(tmp, 'match', 'children.json');
    writeState(stateFile, { version: 1, controllerPid: 1, bootId, owner: 'x', processes: [{ pid: sh.pid, pgid: sh.pid, name: 'x', startTime: processStartTime(sh.pid!), command: 'sh' }] });
    const result = await new ProcessRegistry({ stateFile }).reapOrphans();
    expect(result.killed.sort()).toEqual([sh.pid!, member].sort());
    await waitUntil(() => !alive(sh.pid!) && !alive(member), 5_000, 'the group to exit');
  });

  it('removes temps of interrupted writes of the process list', async () => {
    const dir = join(tmp, 'temps');
    mkdirSync(dir, { recursive: true });
    const dead = execa('true');
    await dead;
    const temp = join(dir, `.children.json.${dead.pid}.0badc0de.tmp`);
    writeFileSync(temp, '{"version":1,"proc');
    await new ProcessRegistry({ stateFile: join(dir, 'children.json') }).reapOrphans();
    expect(existsSync(temp)).toBe(false);
    expect(readdirSync(dir)).toEqual(['children.json']);
  });
});

describe('a process list that cannot be read is reported loudly', () => {
  const expectReported = (problems: string[], errors: Array<Record<string, unknown>>, stateFile: string, what: RegExp) => {
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(what);
    expect(problems[0]).toContain(stateFile);
    expect(problems[0]).toMatch(/may still be running/);
    expect(errors.map((l) => l.msg)).toEqual(problems);
    expect(errors.every((l) => l.level === 50 && l.file === stateFile)).toBe(true);
  };

  it('a directory in its place is moved aside, named, and the start goes on', async () => {
    const dir = join(tmp, 'dir-in-place');
    const stateFile = join(dir, 'children.json');
    mkdirSync(join(stateFile, 'something'), { recursive: true });
    const cap = captureLog();
    const reg = new ProcessRegistry({ stateFile, log: cap.log });
    const result = await reg.reapOrphans();
    expectReported(result.problems, cap.lines().filter((l) => l.level === 50), stateFile, /is a directory, not the process list: moved aside to .*children\.json\.unreadable-/);
    const aside = readdirSync(dir).find((n) => n.startsWith('children.json.unreadable-'))!;
    expect(statSync(join(dir, aside, 'something')).isDirectory()).toBe(true);
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({ processes: [] });
  });

  it('an unreadable file (a symlink loop) is moved aside with an error naming it', async () => {
    const dir = join(tmp, 'loop');
    mkdirSync(dir, { recursive: true });
    const stateFile = join(dir, 'children.json');
    symlinkSync('children.json', stateFile);
    const cap = captureLog();
    const result = await new ProcessRegistry({ stateFile, log: cap.log }).reapOrphans();
    expectReported(result.problems, cap.lines().filter((l) => l.level === 50), stateFile, /cannot be read \(ELOOP/);
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({ processes: [] });
  });

  it('a corrupt file is moved aside with an error naming it', async () => {
    const dir = join(tmp, 'corrupt');
    mkdirSync(dir, { recursive: true });
    const stateFile = join(dir, 'children.json');
    writeFileSync(stateFile, '{not json');
    const cap = captureLog();
    const result = await new ProcessRegistry({ stateFile, log: cap.log }).reapOrphans();
    expect(result.killed).toEqual([]);
    expectReported(result.problems, cap.lines().filter((l) => l.level === 50), stateFile, /is not a valid process list/);
    const aside = readdirSync(dir).find((n) => n.startsWith('children.json.unreadable-'))!;
    expect(readFileSync(join(dir, aside), 'utf8')).toBe('{not json');
  });

  it('mode 000 is reported, not ignored (run as an unprivileged user: root reads anything)', async () => {
    const registryModule = buildRegistry(buildDir);
    const dir = mkdtempSync(join(tmpdir(), 'pagecast-reaper-000-'));
    try {
      const stateFile = join(dir, 'children.json');
      writeFileSync(stateFile, JSON.stringify({ version: 1, controllerPid: 1, processes: [] }));
      chmodSync(stateFile, 0o000);
      const asRoot = process.getuid?.() === 0;
      if (asRoot) {
        chownSync(dir, 65534, 65534);
        chownSync(stateFile, 65534, 65534);
      }
      const script = join(buildDir, 'reap-once.mjs');
      writeFileSync(
        script,
        `const [registryModule, stateFile] = process.argv.slice(2);
const { ProcessRegistry } = await import(registryModule);
const lines = [];
const at = (level) => (fields, msg) => lines.push({ level, ...fields, msg });
const log = { error: at(50), warn: at(40), info: at(30), debug: at(20) };
const result = await new ProcessRegistry({ stateFile, log }).reapOrphans();
process.stdout.write(JSON.stringify({ result, lines }));
`,
      );
      const run = await execa('node', [script, registryModule, stateFile], { reject: false, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
      expect(run.stderr).toBe('');
      const { result, lines } = JSON.parse(run.stdout) as { result: { problems: string[] }; lines: Array<Record<string, unknown>> };
      expectReported(result.problems, lines.filter((l) => l.level === 50), stateFile, /cannot be read \(EACCES/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
