// The controller as a process: SIGTERM stops every pipeline (the TV gets STOP, no child is left);
// after a SIGKILL the next start removes what the last run left.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRegistry } from '../../machines/processes/registry.js';
import { FakeCastDevice, selfSignedCert } from '../fake-device/device.js';
import { childPids, gone, PAGE, specYaml, waitPlaying } from '../harness.js';
import { waitUntil } from '../helpers.js';

const CLI = join(process.cwd(), 'dist/controller/cli/cli.js');

const controllers: ChildProcess[] = [];

/** `tmp` is the controller's TMPDIR: what a SIGKILLed one cannot clean up (Playwright's artifacts dir) stays in there. */
function startController(dir: string, stateDir: string, tmp: string): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'run', dir, '--state-dir', stateDir, '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0', '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TMPDIR: tmp },
  });
  child.stderr!.on('data', () => undefined);
  controllers.push(child);
  return child;
}

// A test that fails half-way must not leave a controller (and its Xvfb, Chromium, FFmpeg) running:
// SIGTERM makes it stop its pipelines.
afterEach(async () => {
  for (const child of controllers.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await exited;
  }
});

describe('pagecast run as a process', () => {
  let dir: string;
  let stateDir: string;
  let tmp: string;
  let tv: FakeCastDevice;
  let page: Server;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-proc-specs-'));
    stateDir = mkdtempSync(join(tmpdir(), 'pc-proc-state-'));
    tmp = mkdtempSync(join(tmpdir(), 'pc-proc-tmp-'));
    page = createServer((_q, r) => r.end(PAGE));
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(page.address() as { port: number }).port}/`;
    tv = new FakeCastDevice({ name: 'Proc TV', host: '127.0.0.1', port: 0, tls: await selfSignedCert() });
    await tv.start();
    writeFileSync(join(dir, 'k.yaml'), specYaml('kitchen', `{ host: 127.0.0.1, port: ${tv.port} }`, url));
  });
  afterAll(async () => {
    // What a SIGKILLed controller left, should a test have failed before the next start removed it.
    if (stateDir) await new ProcessRegistry({ stateFile: join(stateDir, 'children.json') }).reapOrphans();
    await tv?.stop();
    page?.close();
    for (const d of [dir, stateDir, tmp]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('SIGTERM: the TV receives STOP, the process exits 0 and no child is left', async () => {
    const child = startController(dir, stateDir, tmp);
    await waitPlaying(tv, 60_000);
    const pids = childPids(stateDir);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    const stops = tv.count('STOP');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(tv.count('STOP')).toBeGreaterThan(stops);
    expect(pids.filter((p) => !gone(p))).toEqual([]);
  });

  it('a second run on the same state directory exits naming the pid, and the first plays on untouched', async () => {
    const first = startController(dir, stateDir, tmp);
    await waitPlaying(tv, 60_000);
    const pids = childPids(stateDir);
    const loads = tv.count('LOAD');
    const second = spawn(process.execPath, [CLI, 'run', dir, '--state-dir', stateDir, '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
    let err = '';
    second.stderr!.on('data', (d) => (err += String(d)));
    const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toContain(`in use by pid ${first.pid}`);
    expect(pids.filter(gone)).toEqual([]); // nothing reaped
    expect(childPids(stateDir)).toEqual(pids);
    expect(tv.count('LOAD')).toBe(loads);
    await waitPlaying(tv, 10_000);
  });

  it('SIGKILL leaves children behind; the next start removes them and plays again', async () => {
    const first = startController(dir, stateDir, tmp);
    await waitPlaying(tv, 60_000);
    const pids = childPids(stateDir);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    const exited = new Promise<void>((r) => first.once('exit', () => r()));
    const oldProfiles = readdirSync(join(stateDir, 'profiles'));
    const oldStreams = readdirSync(join(stateDir, 'streams'));
    expect(oldProfiles).toHaveLength(1);
    expect(oldStreams).toHaveLength(1);
    first.kill('SIGKILL');
    await exited;
    // The children are in their own process groups: they outlive a SIGKILLed controller.
    expect(pids.some((p) => !gone(p))).toBe(true);
    // An interrupted atomic write, as a kill in mid-write leaves it; a file only the dead run made.
    writeFileSync(join(stateDir, `.last-good.json.${first.pid}.0badc0de.tmp`), '{"half":');
    writeFileSync(join(stateDir, 'streams', oldStreams[0]!, 'old-run.ts'), 'x');
    const second = startController(dir, stateDir, tmp);
    try {
      await waitUntil(() => pids.every(gone), 20_000, 'the last run’s children removed');
      await waitUntil(() => childPids(stateDir).some((p) => !pids.includes(p)), 30_000, 'new children');
      await waitPlaying(tv, 60_000);
      // Nothing of the dead run accumulates: its Chromium profile, stream files and temp files are gone.
      const profiles = readdirSync(join(stateDir, 'profiles'));
      expect(profiles.filter((p) => oldProfiles.includes(p))).toEqual([]);
      for (const d of readdirSync(join(stateDir, 'streams'))) expect(readdirSync(join(stateDir, 'streams', d))).not.toContain('old-run.ts');
      expect(readdirSync(stateDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      const done = new Promise<void>((r) => second.once('exit', () => r()));
      second.kill('SIGTERM');
      await done;
    }
  });
});
