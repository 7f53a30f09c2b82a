// One controller per state directory. The lock is taken before anything else (before the last
// run's orphans are reaped), so a second `pagecast run` on the same directory touches nothing of
// the first one's and exits with the pid that holds it. A lock left by a dead controller (or by a
// process that merely reused its pid) is taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PagecastError } from '../../machines/errors.js';
import { processStartTime } from '../../machines/processes/registry.js';

const LockFile = z.object({ pid: z.number().int().positive(), startTime: z.number() });
type LockFile = z.infer<typeof LockFile>;

export interface StateLock {
  readonly path: string;
  release(): Promise<void>;
}

export const LOCK_FILE = 'controller.lock';

/** Takes the state directory's lock or throws PagecastError('STATE_LOCKED') naming the holder. */
export async function lockStateDir(dir: string, pid = process.pid): Promise<StateLock> {
  const path = join(dir, LOCK_FILE);
  const me: LockFile = { pid, startTime: processStartTime(pid) ?? 0 };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(me) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      let released = false;
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          // Only our own lock: never a successor's.
          const held = await readLock(path);
          if (held && held.pid === me.pid && held.startTime === me.startTime) await unlink(path).catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PagecastError('CONFIG', `state directory ${dir}: cannot create its lock ${path}: ${(err as Error).message}`, { source: path, cause: err });
      }
    }
    const held = await readLock(path);
    if (held && processStartTime(held.pid) === held.startTime) {
      throw new PagecastError('STATE_LOCKED', `state directory ${dir} in use by pid ${held.pid} (another pagecast run); stop it or use --state-dir`, { source: path });
    }
    // Stale (its process is gone or is another process now) or unreadable: take it over.
    await unlink(path).catch(() => undefined);
  }
  throw new PagecastError('STATE_LOCKED', `state directory ${dir}: could not take the lock ${path}`, { source: path });
}

async function readLock(path: string): Promise<LockFile | undefined> {
  try {
    const parsed = LockFile.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
