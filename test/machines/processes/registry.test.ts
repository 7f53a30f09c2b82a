import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomicSync } from '../../../machines/atomic-file.js';
import { FFMPEG_STOP, ProcessRegistry, parseStat, processStartTime, spawnRegistered } from '../../../machines/processes/registry.js';
import { alive, waitUntil } from '../../helpers.js';
import { buildRegistry } from './build-registry.js';

const tmp = mkdtempSync(join(tmpdir(), 'pagecast-reg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseStat', () => {
  it('reads fields after a command name holding spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = 'S';
    const s = parseStat(`123 (a (b) c) ${fields.join(' ')}`)!;
    expect(s).toMatchObject({ state: 'S', pgid: 5, utime: 14, stime: 15, startTime: 22 });
    expect(parseStat('garbage')).toBeUndefined();
  });
});

describe('ProcessRegistry', () => {
  it('records children in the state file and stops a whole group, escalating past SIGTERM', async () => {
    const stateFile = join(tmp, 'a.json');
    const reg = new ProcessRegistry({ stateFile });
    // Ignores SIGTERM and has a helper: only SIGKILL to the group ends both.
    const c = spawnRegistered(reg, 'stubborn', 'sh', ['-c', "trap '' TERM; sleep 1000 & echo $!; wait; wait"], { stdout: 'pipe' });
    const helper = await new Promise<number>((r) => c.subprocess.stdout!.once('data', (d) => r(Number(String(d).trim()))));
    const state = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(state.processes).toEqual([{ pid: c.pid, pgid: c.pid, name: 'stubborn', startTime: processStartTime(c.pid), command: 'sh' }]);
    expect(state.owner).toBe(reg.owner);
    const t0 = Date.now();
    await c.stop([{ signal: 'SIGTERM', timeoutMs: 300 }, { signal: 'SIGKILL', timeoutMs: 2000 }]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(alive(c.pid)).toBe(false);
    expect(alive(helper)).toBe(false);
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).processes).toEqual([]);
    expect(await c.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('stops FFmpeg-style children with q on stdin first', async () => {
    const reg = new ProcessRegistry({ stateFile: join(tmp, 'b.json') });
    const c = spawnRegistered(reg, 'q-reader', 'sh', ['-c', 'read line; [ "$line" = q ] && exit 0; exit 3'], { stdin: 'pipe' });
    await c.stop(FFMPEG_STOP);
    expect(await c.exited).toEqual({ code: 0, signal: null });
  });

  it('after a SIGKILLed controller, reapOrphans removes its children and spares a reused pid', async () => {
    // The fixture runs the real registry: transpile it next to the sources so `execa` resolves.
    const buildDir = join(import.meta.dirname, `../../fixtures/media/.build-${process.pid}`);
    try {
      const registryModule = buildRegistry(buildDir);
      const stateFile = join(tmp, 'controller.json');
      const ctl = execa('node', [join(import.meta.dirname, '../../fixtures/media/fake-controller.mjs'), registryModule, stateFile], { reject: false });
      const line = await new Promise<string>((r) => ctl.stdout!.once('data', (d) => r(String(d))));
      const { pids } = JSON.parse(line) as { pids: number[] };
      expect(pids.every(alive)).toBe(true);
      ctl.kill('SIGKILL');
      await ctl;
      expect(pids.every(alive)).toBe(true); // orphans, as after a real crash

      // An unrelated process whose pid the state file claims, with another start time.
      const unrelated = execa('sleep', ['1000'], { reject: false });
      const state = JSON.parse(readFileSync(stateFile, 'utf8'));
      state.processes.push({ pid: unrelated.pid, pgid: unrelated.pid, name: 'ffmpeg', startTime: processStartTime(unrelated.pid!)! - 1 });
      writeFileAtomicSync(stateFile, JSON.stringify(state));

      const reg = new ProcessRegistry({ stateFile });
      const result = await reg.reapOrphans();
      expect(result.skipped).toEqual([unrelated.pid]);
      expect(result.killed).toEqual(expect.arrayContaining(pids));
      await waitUntil(() => pids.every((p) => !alive(p)), 5000, 'the orphans to exit');
      expect(alive(unrelated.pid!)).toBe(true);
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).processes).toEqual([]);
      unrelated.kill('SIGKILL');
      await unrelated;
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
  });

  it('a SIGTERMed controller leaves no child behind (checked in /proc)', async () => {
    const buildDir = join(import.meta.dirname, `../../fixtures/media/.build-term-${process.pid}`);
    try {
      const registryModule = buildRegistry(buildDir);
      const stateFile = join(tmp, 'term.json');
      const ctl = execa('node', [join(import.meta.dirname, '../../fixtures/media/fake-controller.mjs'), registryModule, stateFile], { reject: false });
      const { pids } = JSON.parse(await new Promise<string>((r) => ctl.stdout!.once('data', (d) => r(String(d))))) as { pids: number[] };
      ctl.kill('SIGTERM');
      expect((await ctl).exitCode).toBe(0);
      expect(pids.filter(alive)).toEqual([]);
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).processes).toEqual([]);
    } finally {
      rmSync(buildDir, { recursive: true, force: true });
    }
  });

});
