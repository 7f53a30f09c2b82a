import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultTokenPath, loadOrCreateToken, readToken, tokensEqual } from '../../../controller/http/auth.js';
import { PagecastError } from '../../../machines/errors.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pagecast-token-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadOrCreateToken', () => {
  it('creates a 32-byte base64url token with mode 0600, then reads the same one back', async () => {
    const path = defaultTokenPath(join(root, 'state'));
    expect(path).toBe(join(root, 'state', 'api-token'));
    const token = await loadOrCreateToken(path);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'state'))).mode & 0o777).toBe(0o700);
    expect(await loadOrCreateToken(path)).toBe(token);
    expect(await loadOrCreateToken(join(root, 'other'))).not.toBe(token);
  });

  it('trims whitespace from a hand-written token', async () => {
    const path = join(root, 'tok');
    await writeFile(path, '  my-token \n', { mode: 0o600 });
    expect(await loadOrCreateToken(path)).toBe('my-token');
    expect(await readFile(path, 'utf8')).toBe('  my-token \n');
  });

  it('refuses a token file that group or others can read', async () => {
    const path = join(root, 'tok');
    await writeFile(path, 'abc\n');
    await chmod(path, 0o644);
    const err = await loadOrCreateToken(path).catch((e) => e);
    expect(err).toBeInstanceOf(PagecastError);
    expect(err.code).toBe('CONFIG');
    expect(err.message).toBe(`token file ${path} is readable by others (mode 644): run chmod 600 ${path}`);
    expect(err.message).not.toContain('abc');
  });

  it('refuses an empty token file', async () => {
    const path = join(root, 'tok');
    await writeFile(path, ' \n', { mode: 0o600 });
    await expect(readToken(path)).rejects.toThrow(/is empty/);
    expect(await readToken(join(root, 'missing'))).toBeUndefined();
  });
});

describe('tokensEqual', () => {
  it('compares whole strings, whatever their lengths', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abd')).toBe(false);
    expect(tokensEqual('abc', 'abcd')).toBe(false);
    expect(tokensEqual('', 'a')).toBe(false);
  });
});
