// Turns the parts of a spec that point elsewhere (urlFrom, storageState) into concrete values.
// The values may be secrets: no error message ever contains them, only where they came from.
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { CastSpec } from './schema.js';

/** What went wrong, with the field it belongs to (a Diagnostic without the file position). */
export interface ResolveError {
  path: string;
  message: string;
}

export type Resolved<T> = ({ error?: undefined } & T) | { error: ResolveError };

/** A URL file or storage state is a few KB; refuse anything absurd rather than read it. */
const MAX_SECRET_FILE_BYTES = 1024 * 1024;

function checkUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'file:';
  } catch {
    return false;
  }
}

/** A path from a spec, made absolute relative to the spec file's directory. */
export function relativeToSpec(specFile: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(specFile), p);
}

async function readSmall(path: string): Promise<{ text: string } | { reason: string }> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return { reason: 'is not a regular file' };
    if (st.size > MAX_SECRET_FILE_BYTES) return { reason: `is larger than ${MAX_SECRET_FILE_BYTES} bytes` };
    return { text: await readFile(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { reason: 'does not exist' };
    if (code === 'EACCES' || code === 'EPERM') return { reason: 'cannot be read (permission denied)' };
    return { reason: `cannot be read (${code ?? 'error'})` };
  }
}

/** The page URL: `url` as written, or read from `urlFrom` (an env variable or a file beside the spec). */
export async function resolveUrl(spec: CastSpec, specFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Resolved<{ url: string }>> {
  const body = spec.spec;
  if (body.url !== undefined) return { url: body.url };
  const from = body.urlFrom;
  if (!from) return { error: { path: 'spec.url', message: 'expected url or urlFrom' } };
  if ('env' in from) {
    const value = env[from.env]?.trim();
    if (value === undefined) return { error: { path: 'spec.urlFrom.env', message: `environment variable ${from.env} is not set` } };
    if (value === '') return { error: { path: 'spec.urlFrom.env', message: `environment variable ${from.env} is empty` } };
    if (!checkUrl(value)) return { error: { path: 'spec.urlFrom.env', message: `environment variable ${from.env} does not hold an http, https or file URL` } };
    return { url: value };
  }
  const read = await readSmall(relativeToSpec(specFile, from.file));
  if ('reason' in read) return { error: { path: 'spec.urlFrom.file', message: `${from.file} ${read.reason}` } };
  const value = read.text.trim();
  if (value === '') return { error: { path: 'spec.urlFrom.file', message: `${from.file} is empty` } };
  if (!checkUrl(value)) return { error: { path: 'spec.urlFrom.file', message: `${from.file} does not hold an http, https or file URL` } };
  return { url: value };
}

/**
 * `browser.storageState` as an absolute path, checked to exist and to be a Playwright storage
 * state (a JSON object). Undefined when the spec has none.
 */
export async function resolveStorageState(spec: CastSpec, specFile: string): Promise<Resolved<{ path: string | undefined }>> {
  const rel = spec.spec.browser.storageState;
  if (rel === undefined) return { path: undefined };
  const abs = relativeToSpec(specFile, rel);
  const read = await readSmall(abs);
  if ('reason' in read) return { error: { path: 'spec.browser.storageState', message: `${rel} ${read.reason}` } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.text);
  } catch {
    // JSON.parse's message quotes the text: it must not reach a log.
    return { error: { path: 'spec.browser.storageState', message: `${rel} is not valid JSON` } };
  }
  const state = parsed as { cookies?: unknown; origins?: unknown } | null;
  if (!state || typeof state !== 'object' || Array.isArray(state)) {
    return { error: { path: 'spec.browser.storageState', message: `${rel} is not a storage state (expected a JSON object with cookies and origins)` } };
  }
  if ((state.cookies !== undefined && !Array.isArray(state.cookies)) || (state.origins !== undefined && !Array.isArray(state.origins))) {
    return { error: { path: 'spec.browser.storageState', message: `${rel} is not a storage state (cookies and origins must be lists)` } };
  }
  return { path: abs };
}
