import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockStateDir } from '../../../controller/sources/state-lock.js';
import { processStartTime } from '../../../machines/processes/registry.js';

describe('the state directory lock', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pc-lock-'));
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const liveProcess = async () => {
    child = spawn('sleep', ['600'], { stdio: 'ignore' });
    await new Promise((r) => child!.once('spawn', r));
    return child.pid!;
  };

  it('a second holder is refused with the pid that holds it, and may take it once released', async () => {
    const pid = await liveProcess();
    const other = await lockStateDir(dir, pid);
    await expect(lockStateDir(dir)).rejects.toMatchObject({ code: 'STATE_LOCKED', message: expect.stringContaining(`in use by pid ${pid}`) });
    await other.release();
    const mine = await lockStateDir(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await mine.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('takes over the lock of a controller that died', async () => {
    const pid = await liveProcess();
    await lockStateDir(dir, pid);
    const gone = new Promise((r) => child!.once('exit', r));
    child!.kill('SIGKILL');
    await gone;
    const mine = await lockStateDir(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await mine.release();
  });

  it('takes over a lock whose pid now belongs to another process (start time differs)', async () => {
    const pid = await liveProcess();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, startTime: processStartTime(pid)! - 100 }));
    const mine = await lockStateDir(dir);
    await mine.release();
  });

  it('takes over an unreadable lock file', async () => {
    writeFileSync(join(dir, LOCK_FILE), 'garbage');
    await (await lockStateDir(dir)).release();
  });

  it('release never removes a successor’s lock', async () => {
    const mine = await lockStateDir(dir);
    const pid = await liveProcess();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, startTime: processStartTime(pid) }));
    await mine.release();
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(pid);
  });
});
