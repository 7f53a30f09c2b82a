// `pagecast run` start-up: one controller per state directory, and a start that fails closes
// what it opened and says why.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../../controller/sources/state-lock.js';
import { waitUntil } from '../../helpers.js';
import { duplicateKeys } from '../../machines/duplicate-keys.js';
import { runCli as run } from './run-cli.js';


describe('pagecast run start-up', () => {
  let root: string;
  let specs: string;
  let state: string;
  let first: ChildProcess | undefined;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pc-run-'));
    specs = join(root, 'specs');
    state = join(root, 'state');
    mkdirSync(specs);
  });
  afterEach(async () => {
    if (first && first.exitCode === null && first.signalCode === null) {
      const gone = new Promise((r) => first!.once('exit', r));
      first.kill('SIGTERM');
      await gone;
    }
    first = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  it('a second run on the same state directory exits naming the pid, and touches nothing', async () => {
    first = spawn(process.execPath, ['dist/controller/cli/cli.js', 'run', specs, '--state-dir', state, '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    first.stdout!.on('data', (d) => (log += String(d)));
    first.stderr!.on('data', (d) => (log += String(d)));
    await waitUntil(() => log.includes('pagecast running'), 20_000, 'first run up');
    // What the first run owns, as the second would find it.
    const children = JSON.stringify({ version: 1, processes: [{ pid: first.pid, pgid: first.pid, name: 'ffmpeg', startTime: 1 }] });
    writeFileSync(join(state, 'children.json'), children);
    const r = await run(['run', specs, '--state-dir', state, '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0', '--log-level', 'silent']);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`state directory ${state} in use by pid ${first.pid}`);
    expect(readFileSync(join(state, 'children.json'), 'utf8')).toBe(children); // not reaped, not rewritten
    expect(JSON.parse(readFileSync(join(state, LOCK_FILE), 'utf8')).pid).toBe(first.pid);
    expect(first.exitCode).toBeNull();
  });

  /** `pagecast run` on an empty directory until it is up, then SIGTERM: its stderr. */
  const runUntilUp = async (env: NodeJS.ProcessEnv, extra: string[] = []) => {
    first = spawn(process.execPath, ['dist/controller/cli/cli.js', 'run', specs, '--state-dir', state, '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PAGECAST_LOG: 'debug', ...env },
    });
    let err = '';
    first.stderr!.on('data', (d) => (err += String(d)));
    const exited = new Promise<[number | null, string | null]>((r) => first!.once('exit', (code, signal) => r([code, signal])));
    await waitUntil(() => err.includes('pagecast running'), 20_000, 'run up');
    first.kill('SIGTERM');
    expect(await exited).toEqual([0, null]); // stopped in order, not killed by the signal
    return err;
  };

  it('logs JSON to a pipe, each key once in a line (the API’s component named once)', async () => {
    const err = await runUntilUp({ PAGECAST_LOG_FORMAT: '' });
    const lines = err.trimEnd().split('\n');
    for (const l of lines) expect(duplicateKeys(l), l).toEqual([]);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.find((e) => e.msg === 'control API listening')).toMatchObject({ component: 'api', level: 30 });
    expect(entries.at(-1)).toMatchObject({ msg: 'stopped' });
  });

  it('logs human-readable lines when PAGECAST_LOG_FORMAT or --log-format says pretty', async () => {
    for (const [env, extra] of [[{ PAGECAST_LOG_FORMAT: 'pretty' }, []], [{ PAGECAST_LOG_FORMAT: 'json' }, ['--log-format', 'pretty']]] as const) {
      const err = await runUntilUp(env, [...extra]);
      expect(err).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[api\] control API listening \{"host":"127\.0\.0\.1","port":\d+,"auth":"token"\}$/m);
      expect(err).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: stopped$/m);
      expect(err).not.toContain('\x1b'); // no colours: stderr is not a terminal
    }
  });

  it('a SIGTERM as soon as it logs, while it starts: every pipeline stopped in order, exit 0, the lock released', async () => {
    first = spawn(process.execPath, ['dist/controller/cli/cli.js', 'run', specs, '--state-dir', state, '--api', '127.0.0.1:0', '--stream', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PAGECAST_LOG: 'debug', PAGECAST_LOG_FORMAT: 'json' },
    });
    let err = '';
    const exited = new Promise<[number | null, string | null]>((r) => first!.once('exit', (code, signal) => r([code, signal])));
    // At its first line (the stream server, before the API and the first reconcile): before the
    // handlers went on first, this killed it with its children left running.
    first.stderr!.on('data', (d) => {
      if (!err) first!.kill('SIGTERM');
      err += String(d);
    });
    expect(await exited).toEqual([0, null]);
    const msgs = err.trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    // Usually still starting ('stopping once the start is done' first); on a slow machine it may be up.
    expect(msgs).toEqual(expect.arrayContaining(['stopping every pipeline', 'stopped']));
    expect(() => readFileSync(join(state, LOCK_FILE))).toThrow(/ENOENT/);
  });

  it('a start that fails (the API port is taken) exits non-zero with the reason and releases the lock', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await run(['run', specs, '--state-dir', state, '--api', `127.0.0.1:${port}`, '--stream', '127.0.0.1:0', '--log-level', 'silent']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/EADDRINUSE|in use/);
      expect(() => readFileSync(join(state, LOCK_FILE))).toThrow(/ENOENT/);
    } finally {
      blocker.close();
    }
  });
});
