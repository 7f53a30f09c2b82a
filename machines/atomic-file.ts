// Crash-safe file writes and forgiving JSON reads: the one way pagecast replaces a file (state
// directory, API token, process registry, probe cache, master playlist).
// A reader after a crash sees either the old file or the new one, never a torn mix:
// write a temp file in the same directory, fsync it, rename over the target, fsync the directory
// (so the rename itself survives power loss). The synchronous form is for callers that must not
// yield before the file is down (the process registry records a child before spawn returns).
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, lstatSync, openSync, readdirSync, renameSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Beside the target (a rename across filesystems is not atomic); pid and random: writers never share one. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** `.<basename>.<pid>.<8 hex>.tmp`, as tempPathFor() names them. */
const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

export interface StaleTempOptions {
  /** A temp older than this is stale whoever wrote it (its pid may have been reused). Default 60 s. */
  maxAgeMs?: number;
  now?: number;
  /** Default: signal 0 (ESRCH means gone). */
  isAlive?(pid: number): boolean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/**
 * Whether a temp left by writeFileAtomic can still become a file: its writer is alive, started
 * before the temp was written (a pid of an earlier run reused by this process does not count) and
 * the temp is younger than maxAgeMs. Writes take milliseconds, so a minute is generous.
 */
function isStaleTemp(name: string, st: Stats, opts: StaleTempOptions): boolean {
  const m = TEMP_NAME.exec(name);
  if (!m || !st.isFile()) return false;
  const pid = Number(m[1]);
  const now = opts.now ?? Date.now();
  if (now - st.mtimeMs > (opts.maxAgeMs ?? 60_000)) return true;
  if (pid === process.pid) return st.mtimeMs < performance.timeOrigin;
  return !(opts.isAlive ?? pidAlive)(pid);
}

/**
 * Removes the temp files of atomic writes interrupted by a crash (`kill -9` between write and
 * rename) in `dir`, not below it. Called once at start for every directory written atomically
 * (synchronous: a handful of entries, and the process registry must not yield). Returns the
 * removed paths; a file that cannot be examined or removed is left for the next start.
 */
export function removeStaleTemps(dir: string, opts: StaleTempOptions = {}): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no directory yet: nothing was written
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!TEMP_NAME.test(name)) continue;
    const path = join(dir, name);
    try {
      if (!isStaleTemp(name, lstatSync(path), opts)) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    // open() applies the umask; chmod makes the mode exact.
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** writeFileAtomic, step for step, without yielding. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeFileSync(fd, data);
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkQuietly(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkQuietly(tmp);
    throw err;
  }
  fsyncDirSync(dirname(path));
}

// Some filesystems refuse fsync on a directory (EINVAL/EISDIR); the rename still happened.
async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // see above
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // see fsyncDir
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

export type JsonReadResult = { ok: true; value: unknown } | { ok: false; missing: true } | { ok: false; missing?: false; error: string };

/** Reads and parses a JSON file; never throws: a missing file and a corrupt one are results. */
export async function readJsonFile(path: string): Promise<JsonReadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, missing: true };
    return { ok: false, error: `${path}: cannot read: ${(err as Error).message}` };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: `${path}: not valid JSON: ${(err as Error).message}` };
  }
}
