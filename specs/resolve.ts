// Turns the parts of a spec that point elsewhere (urlFrom, storageState, a login's secrets) into
// concrete values. The values may be secrets: no error message ever contains them, only where
// they came from.
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { BrowserOptions, CastSpec, Login, Page, SecretFrom, UrlFrom } from './schema.js';

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
  return urlOf(spec.spec, 'spec', specFile, env);
}

/** `url`, or `urlFrom` read, of the spec or of one page; `at` is its path (`spec`, `spec.pages[1]`). */
async function urlOf(
  owner: { url?: string | undefined; urlFrom?: UrlFrom | undefined },
  at: string,
  specFile: string,
  env: NodeJS.ProcessEnv,
): Promise<Resolved<{ url: string }>> {
  if (owner.url !== undefined) return { url: owner.url };
  const from = owner.urlFrom;
  if (!from) return { error: { path: `${at}.url`, message: at === 'spec' ? 'expected url, urlFrom or pages' : 'expected url or urlFrom' } };
  if ('env' in from) {
    const path = `${at}.urlFrom.env`;
    const value = env[from.env]?.trim();
    if (value === undefined) return { error: { path, message: `environment variable ${from.env} is not set` } };
    if (value === '') return { error: { path, message: `environment variable ${from.env} is empty` } };
    if (!checkUrl(value)) return { error: { path, message: `environment variable ${from.env} does not hold an http, https or file URL` } };
    return { url: value };
  }
  const path = `${at}.urlFrom.file`;
  const read = await readSmall(relativeToSpec(specFile, from.file));
  if ('reason' in read) return { error: { path, message: `${from.file} ${read.reason}` } };
  const value = read.text.trim();
  if (value === '') return { error: { path, message: `${from.file} is empty` } };
  if (!checkUrl(value)) return { error: { path, message: `${from.file} does not hold an http, https or file URL` } };
  return { url: value };
}

/**
 * `browser.storageState` as an absolute path, checked to exist and to be a Playwright storage
 * state (a JSON object). Undefined when the spec has none.
 */
export async function resolveStorageState(spec: CastSpec, specFile: string): Promise<Resolved<{ path: string | undefined }>> {
  return storageStateOf(spec.spec.browser.storageState, 'spec.browser.storageState', specFile);
}

async function storageStateOf(rel: string | undefined, path: string, specFile: string): Promise<Resolved<{ path: string | undefined }>> {
  if (rel === undefined) return { path: undefined };
  const abs = relativeToSpec(specFile, rel);
  const read = await readSmall(abs);
  if ('reason' in read) return { error: { path, message: `${rel} ${read.reason}` } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.text);
  } catch {
    // JSON.parse's message quotes the text: it must not reach a log.
    return { error: { path, message: `${rel} is not valid JSON` } };
  }
  const state = parsed as { cookies?: unknown; origins?: unknown } | null;
  if (!state || typeof state !== 'object' || Array.isArray(state)) {
    return { error: { path, message: `${rel} is not a storage state (expected a JSON object with cookies and origins)` } };
  }
  if ((state.cookies !== undefined && !Array.isArray(state.cookies)) || (state.origins !== undefined && !Array.isArray(state.origins))) {
    return { error: { path, message: `${rel} is not a storage state (cookies and origins must be lists)` } };
  }
  return { path: abs };
}

/** A login's secrets, read. */
export type LoginSecret = { kind: 'homeAssistant'; token: string } | { kind: 'grafana'; token: string } | { kind: 'basic'; username: string; password: string };

/** A login with its secrets read, as a resolved spec carries it (the secret counts in the stream's key). */
export type ResolvedLogin = Login & { secret?: LoginSecret };

/** The secrets of a resolved login; undefined for none, or for one not resolved. */
export function loginSecret(login: Login | undefined): LoginSecret | undefined {
  return (login as ResolvedLogin | undefined)?.secret;
}

/** One secret from an env variable or a file beside the spec, trimmed; `at` is its field path. */
async function secretOf(from: SecretFrom, at: string, specFile: string, env: NodeJS.ProcessEnv): Promise<Resolved<{ value: string }>> {
  let value: string;
  let what: string;
  let path: string;
  if ('env' in from) {
    [what, path] = [`environment variable ${from.env}`, `${at}.env`];
    const v = env[from.env]?.trim();
    if (v === undefined) return { error: { path, message: `${what} is not set` } };
    value = v;
  } else {
    [what, path] = [from.file, `${at}.file`];
    const read = await readSmall(relativeToSpec(specFile, from.file));
    if ('reason' in read) return { error: { path, message: `${from.file} ${read.reason}` } };
    value = read.text.trim();
  }
  if (value === '') return { error: { path, message: `${what} is empty` } };
  // A header value with a line break would be a header injection, and no token has one.
  if (/[\u0000-\u001f\u007f]/.test(value)) return { error: { path, message: `${what} holds control characters (more than one line?)` } };
  return { value };
}

/** `login` with its secrets read; `at` is the browser options' path (`spec.browser`, `spec.pages[0].browser`). */
export async function resolveLogin(login: Login | undefined, at: string, specFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Resolved<{ login: ResolvedLogin | undefined }>> {
  if (!login) return { login: undefined };
  if ('homeAssistant' in login || 'grafana' in login) {
    const kind = 'homeAssistant' in login ? 'homeAssistant' : 'grafana';
    const from = 'homeAssistant' in login ? login.homeAssistant.tokenFrom : login.grafana.tokenFrom;
    const token = await secretOf(from, `${at}.login.${kind}.tokenFrom`, specFile, env);
    if (token.error) return { error: token.error };
    return { login: { ...login, secret: { kind, token: token.value } } };
  }
  const username = await secretOf(login.basic.usernameFrom, `${at}.login.basic.usernameFrom`, specFile, env);
  if (username.error) return { error: username.error };
  if (username.value.includes(':')) return { error: { path: `${at}.login.basic.usernameFrom`, message: 'a basic-auth username must not contain ":"' } };
  const password = await secretOf(login.basic.passwordFrom, `${at}.login.basic.passwordFrom`, specFile, env);
  if (password.error) return { error: password.error };
  return { login: { ...login, secret: { kind: 'basic', username: username.value, password: password.value } } };
}

/** A browser options object (the spec's or a page's) with its storage state and login resolved. */
async function browserOf<B extends Pick<BrowserOptions, 'storageState' | 'login'>>(b: B, at: string, specFile: string, env: NodeJS.ProcessEnv): Promise<Resolved<{ browser: B }>> {
  const storage = await storageStateOf(b.storageState, `${at}.storageState`, specFile);
  if (storage.error) return { error: storage.error };
  const login = await resolveLogin(b.login, at, specFile, env);
  if (login.error) return { error: login.error };
  return { browser: { ...b, storageState: storage.path, login: login.login } };
}

/**
 * Each page's `url` read (urlFrom) and its `browser.storageState` made absolute, in order; the
 * first problem, naming the page (`spec.pages[1].urlFrom.env`). Undefined for a url spec.
 */
export async function resolvePages(spec: CastSpec, specFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Resolved<{ pages: Page[] | undefined }>> {
  const pages = spec.spec.pages;
  if (!pages) return { pages: undefined };
  const out: Page[] = [];
  for (const [i, page] of pages.entries()) {
    const at = `spec.pages[${i}]`;
    const url = await urlOf(page, at, specFile, env);
    if (url.error) return { error: url.error };
    if (!page.browser) {
      out.push({ ...page, url: url.url });
      continue;
    }
    const browser = await browserOf(page.browser, `${at}.browser`, specFile, env);
    if (browser.error) return { error: browser.error };
    out.push({ ...page, url: url.url, browser: browser.browser });
  }
  return { pages: out };
}

/**
 * The spec with everything that points elsewhere resolved: `url` (or every page's), and every
 * `storageState` absolute and checked. The first problem otherwise, with its field path.
 */
export async function resolveSpec(spec: CastSpec, specFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Resolved<{ spec: CastSpec }>> {
  const body = spec.spec;
  const browser = await browserOf(body.browser, 'spec.browser', specFile, env);
  if (body.pages) {
    const pages = await resolvePages(spec, specFile, env);
    if (pages.error) return { error: pages.error };
    if (browser.error) return { error: browser.error };
    return { spec: { ...spec, spec: { ...body, pages: pages.pages, browser: browser.browser } } };
  }
  const url = await resolveUrl(spec, specFile, env);
  if (url.error) return { error: url.error };
  if (browser.error) return { error: browser.error };
  return { spec: { ...spec, spec: { ...body, url: url.url, browser: browser.browser } } };
}
