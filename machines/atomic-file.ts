// Crash-safe file writes and forgiving JSON reads for the state directory.
// A reader after a crash sees either the old file or the new one, never a torn mix:
// write a temp file in the same directory, fsync it, rename over the target, fsync the directory
// (so the rename itself survives power loss).
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
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
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on a directory (EINVAL/EISDIR); the rename still happened.
  } finally {
    await fh?.close().catch(() => undefined);
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
