// Temps of interrupted atomic writes do not accumulate (issue 9 point 9): removeStaleTemps removes
// those whose writer is gone, with real files and real dead and live processes.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import ts from 'typescript';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { removeStaleTemps } from '../../machines/atomic-file.js';
import { childProcesses, waitUntil } from '../helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'pagecast-atomic-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const children = childProcesses();
afterEach(() => children.killAll());

let dirs = 0;
const freshDir = () => {
  const d = join(tmp, `d${++dirs}`);
  mkdirSync(d);
  return d;
};

async function deadPid(): Promise<number> {
  const p = execa('true');
  await p;
  return p.pid!;
}

function liveChild(): number {
  const c = execa('sleep', ['1000'], { reject: false });
  children.track(c);
  return c.pid!;
}

describe.each([['removeStaleTemps', async (dir: string) => removeStaleTemps(dir)]] as const)('%s', (_name, remove) => {
  it('removes temps whose writer is gone or that are over a minute old, and nothing else', async () => {
    const dir = freshDir();
    const dead = await deadPid();
    const live = liveChild();
    const files = {
      deadWriter: `.children.json.${dead}.0a1b2c3d.tmp`,
      liveWriter: `.children.json.${live}.0a1b2c3d.tmp`,
      liveButOld: `.casts.json.${live}.deadbeef.tmp`,
      ourInFlight: `.casts.json.${process.pid}.12345678.tmp`,
      ourPidBeforeWeStarted: `.api-token.${process.pid}.87654321.tmp`,
      target: 'children.json',
      otherDotfile: '.children.json.tmp',
      notHex: `.x.${dead}.zzzzzzzz.tmp`,
    };
    for (const f of Object.values(files)) writeFileSync(join(dir, f), 'partial');
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(join(dir, files.liveButOld), twoMinutesAgo, twoMinutesAgo);
    // A temp with our pid from before this process existed: a run that had the same pid (a container's pid 1).
    const beforeUs = new Date(performance.timeOrigin - 5_000);
    utimesSync(join(dir, files.ourPidBeforeWeStarted), beforeUs, beforeUs);
    mkdirSync(join(dir, `.dir.${dead}.0a1b2c3d.tmp`)); // a directory is never a temp of ours

    const removed = await remove(dir);
    expect(removed.sort()).toEqual([files.deadWriter, files.liveButOld, files.ourPidBeforeWeStarted].map((f) => join(dir, f)).sort());
    expect(readdirSync(dir).sort()).toEqual([files.liveWriter, files.ourInFlight, files.target, files.otherDotfile, files.notHex, `.dir.${dead}.0a1b2c3d.tmp`].sort());
  });

  it('is quiet about a directory that does not exist', async () => {
    expect(await remove(join(tmp, 'missing'))).toEqual([]);
  });
});

describe('an atomic write killed with SIGKILL', () => {
  it('leaves the old or the new file whole, and a temp that removeStaleTemps removes at the next start', async () => {
    // The writer runs the real writeFileAtomicSync in its own process, big writes in a loop, so a kill lands mid-write.
    const build = join(tmp, 'build');
    mkdirSync(build);
    const src = readFileSync(join(import.meta.dirname, '../../machines/atomic-file.ts'), 'utf8');
    writeFileSync(join(build, 'atomic-file.mjs'), ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
    writeFileSync(
      join(build, 'writer.mjs'),
      `import { writeFileAtomicSync } from './atomic-file.mjs';
const [target] = process.argv.slice(2);
const big = Buffer.alloc(32 * 1024 * 1024, 'x');
for (;;) writeFileAtomicSync(target, big);
`,
    );
    const SIZE = 32 * 1024 * 1024;
    for (let attempt = 0; ; attempt++) {
      const dir = freshDir();
      const target = join(dir, 'children.json');
      const writer = execa('node', [join(build, 'writer.mjs'), target], { reject: false });
      children.track(writer);
      await waitUntil(() => readdirSync(dir).some((n) => n.endsWith('.tmp')), 10_000, 'a write in flight');
      writer.kill('SIGKILL');
      await writer;
      const temps = readdirSync(dir).filter((n) => n.endsWith('.tmp'));
      try {
        expect(statSync(target).size).toBe(SIZE); // the last complete write, never a torn one
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // killed during the first write
      }
      if (temps.length === 0 && attempt < 5) continue; // killed between a rename and the next write: again
      expect(temps).toEqual([expect.stringMatching(new RegExp(`^\\.children\\.json\\.${writer.pid}\\.[0-9a-f]{8}\\.tmp$`))]);
      expect(await removeStaleTemps(dir)).toEqual([join(dir, temps[0]!)]);
      expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      return;
    }
  });
});
