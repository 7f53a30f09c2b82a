// The control API's bearer token: a file only its owner can read, created at first start.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../machines/atomic-file.js';
import { PagecastError } from '../../machines/errors.js';

export const TOKEN_FILE_NAME = 'api-token';

/** Where `pagecast run` keeps the token and where the CLI looks for it by default. */
export function defaultTokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE_NAME);
}

/** Reads the token, or creates one (32 random bytes, base64url, mode 0600) when the file is missing. */
export async function loadOrCreateToken(path: string): Promise<string> {
  const existing = await readToken(path);
  if (existing !== undefined) return existing;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writeFileAtomic(path, token + '\n', 0o600);
  return token;
}

/**
 * Reads an existing token file; undefined when it does not exist. Refuses a file that group or
 * others can read (a leaked token is a remote control for every TV), and an empty one.
 */
export async function readToken(path: string): Promise<string | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PagecastError('CONFIG', `token file ${path}: ${(err as Error).message}`, { source: path, cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new PagecastError(
      'CONFIG',
      `token file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`,
      { source: path },
    );
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PagecastError('CONFIG', `token file ${path}: ${(err as Error).message}`, { source: path, cause: err });
  }
  const token = text.trim();
  if (!token) throw new PagecastError('CONFIG', `token file ${path} is empty`, { source: path });
  return token;
}

/** Constant-time comparison; hashing first makes the lengths equal without leaking them. */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
