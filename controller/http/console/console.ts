// The web console on the API's address: pages rendered here (htmx swaps the fragments the live
// feed sends), its sign-in, and its actions, each through the same control plane as the API.
//   viewing   open to a loopback client of a loopback API; otherwise the session (or the token)
//   actions   the session, the form's CSRF token, and no foreign Origin
//   ingress   with --trust-ingress, Home Assistant's proxy speaks for a user it signed in: viewing,
//             and a session of its own (bound to ingress) for the actions; see ../ingress.ts
//   preview   the stream's files through the API, with the session only (the LAN URL is never shown)
import { constants as fsc } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { PagecastError } from '../../../machines/errors.js';
import type { Logger } from '../../../machines/log.js';
import { redactText } from '../../status/redact.js';
import { EphemeralCastRequestSchema, type ActionOutcome, type ControlPlane, type SpecStatus } from '../../status/types.js';
import { tokensEqual } from '../auth.js';
import { ingressPath } from '../ingress.js';
import { HttpError, NAME_RE, readBody } from '../request.js';
import { streamFileType } from '../stream-server.js';
import { Assets } from './assets.js';
import { EventHub, type Feed, type SseEvent } from './events.js';
import type { Html } from './html.js';
import { SESSION_COOKIE, SessionStore, clearedCookie, cookieValue, csrfMatches, sameOrigin, sessionCookie, type Session } from './session.js';
import { Thumbnailer } from './thumbnail.js';
import {
  DAY_MS,
  cardFragment,
  cardsFragment,
  countsFragment,
  detailFragment,
  devicesPage,
  errorPage,
  flash,
  loginPage,
  overviewPage,
  specPage,
  yamlFragment,
  type ViewContext,
} from './views.js';

/** Who is asking, as far as access goes. */
export interface Caller {
  /** The API listens on loopback and the request comes from loopback. */
  local: boolean;
  /** The browser's session, if its cookie names a live one. */
  session?: { id: string; session: Session };
  /** A valid bearer token was presented. */
  bearer: boolean;
  remote: string;
  /** Home Assistant's ingress proxy, trusted (--trust-ingress), speaks for a user it signed in. */
  ingress?: { user?: string };
}

export interface ConsoleOptions {
  control: ControlPlane;
  /** The API token; without one (loopback only) everything is open, as for the API. */
  token?: string;
  log: Logger;
  ffmpegPath?: string;
  now?: () => number;
}

const FORM_LIMIT = 16 * 1024;
const CONSOLE_PATHS = /^\/(?:$|specs\/|devices$|login$|logout$|assets\/|events\/|actions\/|favicon\.ico$)/;
const ACTIONS = new Set(['suspend', 'resume', 'recast', 'reload', 'restart', 'page', 'end']);

/** Content Security Policy of every page: only this origin's scripts and styles, no inline ones. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  // hls.js transmuxes in a worker it makes from a blob.
  "worker-src 'self' blob:",
  "form-action 'self'",
  // Home Assistant's ingress shows add-ons in a frame of its own origin.
  "frame-ancestors 'self'",
  "base-uri 'none'",
].join('; ');

export function isConsolePath(pathname: string): boolean {
  return CONSOLE_PATHS.test(pathname);
}

/** Whether `caller` may read status (pages, feeds, thumbnails, the JSON API's reads). */
export function mayView(caller: Caller, tokenSet: boolean): boolean {
  return !tokenSet || caller.local || caller.session !== undefined || caller.bearer || caller.ingress !== undefined;
}

/** The session a Cookie header names, if it is live; one made for ingress only on an ingress request. */
export function sessionOf(req: IncomingMessage, sessions: SessionStore, ingress = false): Caller['session'] {
  const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
  const session = sessions.get(id);
  if (session?.ingress && !ingress) return undefined;
  return session && id ? { id, session } : undefined;
}

export class ConsoleHandler {
  readonly sessions: SessionStore;
  readonly hub: EventHub;
  private readonly thumbnails: Thumbnailer;
  private readonly assets = new Assets();
  private readonly control: ControlPlane;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: ConsoleOptions) {
    this.control = opts.control;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.sessions = new SessionStore(this.now);
    this.hub = new EventHub(opts.control);
    this.thumbnails = new Thumbnailer({ ffmpegPath: opts.ffmpegPath, now: this.now });
  }

  private get tokenSet(): boolean {
    return this.opts.token !== undefined;
  }

  // ── the console's own paths ──────────────────────────────────────────────────────────────

  /** Answers a console path; its errors are pages too, except for the feeds and files (JSON, from the API). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller): Promise<void> {
    try {
      await this.route(req, res, url, caller);
    } catch (err) {
      const path = url.pathname;
      if (res.headersSent || path.startsWith('/assets/') || path.startsWith('/events/') || !(err instanceof HttpError)) throw err;
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      sendHtml(req, res, err.status, errorPage(this.context(req, caller), err.status, err.message));
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const read = method === 'GET' || method === 'HEAD';
    if (path.startsWith('/assets/')) {
      if (!read) throw notAllowed(method, path, ['GET', 'HEAD']);
      return this.asset(req, res, path);
    }
    if (path === '/favicon.ico') {
      res.writeHead(204, { 'cache-control': 'public, max-age=86400' }).end();
      return;
    }
    if (path === '/login') {
      if (read) return this.loginForm(req, res, url, caller);
      if (method === 'POST') return this.login(req, res, caller);
      throw notAllowed(method, path, ['GET', 'HEAD', 'POST']);
    }
    if (path === '/logout') {
      if (method !== 'POST') throw notAllowed(method, path, ['POST']);
      return this.logout(req, res, caller);
    }
    if (path.startsWith('/actions/')) {
      if (method !== 'POST') throw notAllowed(method, path, ['POST']);
      return this.action(req, res, path, caller);
    }
    if (!read) throw notAllowed(method, path, ['GET', 'HEAD']);
    if (!mayView(caller, this.tokenSet)) {
      if (path.startsWith('/events/')) throw new HttpError(401, 'UNAUTHORIZED', 'sign in first: beyond loopback, viewing needs the session');
      return redirect(res, `${baseOf(req)}/login?next=${encodeURIComponent(path)}`);
    }
    // Without a token, or through a trusted ingress, nothing is asked for: the browser gets a
    // session at once, for the CSRF token.
    let setCookie: string | undefined;
    if ((!this.tokenSet || caller.ingress) && !caller.session) {
      const made = this.sessions.create({ ingress: caller.ingress !== undefined });
      caller = { ...caller, session: made };
      setCookie = sessionCookie(made.id, { secure: isHttps(req), ...(caller.ingress ? { path: baseOf(req) } : {}) });
      if (caller.ingress) this.log.info({ remote: caller.remote, user: caller.ingress.user }, 'console: session through Home Assistant ingress');
    }
    const ctx = this.context(req, caller);
    if (path === '/') return sendHtml(req, res, 200, overviewPage(ctx, await this.overviewData()), setCookie);
    if (path === '/devices') return sendHtml(req, res, 200, devicesPage(ctx, await this.control.devices()), setCookie);
    if (path === '/events/overview') return this.hub.open(req, res, this.overviewFeed(ctx));
    const spec = /^\/(events\/)?specs\/([^/]+)$/.exec(path);
    if (spec) {
      const name = checkedName(spec[2]!);
      if (spec[1]) return this.hub.open(req, res, this.detailFeed(ctx, name));
      const status = this.control.get(name);
      if (!status) return sendHtml(req, res, 404, errorPage(ctx, 404, `No spec named "${name}".`), setCookie);
      const [detail, source] = await Promise.all([this.detailData(status), this.control.specSource(name)]);
      return sendHtml(req, res, 200, specPage(ctx, { ...detail, source, preview: !!status.stream && this.mayPreview(caller) }), setCookie);
    }
    throw new HttpError(404, 'NOT_FOUND', `no such page: ${path}`);
  }

  private context(req: IncomingMessage, caller: Caller): ViewContext {
    return {
      base: baseOf(req),
      tokenSet: this.tokenSet,
      now: this.now(),
      ...(caller.session ? { csrf: caller.session.session.csrf } : {}),
      ...(caller.ingress ? { ingress: true } : {}),
    };
  }

  private mayPreview(caller: Caller): boolean {
    return !this.tokenSet || caller.session !== undefined || caller.ingress !== undefined;
  }

  private async overviewData() {
    const specs = this.control.list();
    const spans = await this.control.playSpans(this.now() - DAY_MS);
    const deviceNames = [...new Set(specs.map((s) => s.device))].sort();
    return { specs, spans, deviceNames };
  }

  private async detailData(status: SpecStatus) {
    const spans = (await this.control.playSpans(this.now() - DAY_MS)).filter((s) => s.spec === status.name);
    return { status, drifts: this.control.driftHistory(status.name), logs: this.control.logLines(status.name), spans };
  }

  // ── live feeds ───────────────────────────────────────────────────────────────────────────

  private overviewFeed(ctx: ViewContext): Feed {
    let shown = '';
    const whole = async (): Promise<SseEvent[]> => {
      const { specs, spans } = await this.overviewData();
      const c = { ...ctx, now: this.now() };
      shown = specs.map((s) => s.name).join('\n');
      return [{ event: 'cards', data: cardsFragment(c, specs, spans).text }, ...specs.map((s) => ({ event: `card-${s.name}`, data: cardFragment(c, s, spans).text })), { event: 'counts', data: countsFragment(specs).text }];
    };
    return {
      initial: whole,
      changed: async (names) => {
        const specs = this.control.list();
        if (specs.map((s) => s.name).join('\n') !== shown) return whole();
        const spans = await this.control.playSpans(this.now() - DAY_MS);
        const c = { ...ctx, now: this.now() };
        const changed = specs.filter((s) => names.includes(s.name));
        return [...changed.map((s) => ({ event: `card-${s.name}`, data: cardFragment(c, s, spans).text })), { event: 'counts', data: countsFragment(specs).text }];
      },
    };
  }

  private detailFeed(ctx: ViewContext, name: string): Feed {
    // The file is read again only when the spec's version or its error changed.
    let fileKey: string | undefined;
    const render = async (): Promise<SseEvent[]> => {
      const status = this.control.get(name);
      if (!status) return [{ event: 'detail', data: `<p class="problem">The spec ${name} no longer exists.</p>` }];
      const c = { ...ctx, now: this.now() };
      const key = `${status.generation}\0${status.error ?? ''}`;
      const [detail, source] = await Promise.all([this.detailData(status), key === fileKey ? undefined : this.control.specSource(name)]);
      const events: SseEvent[] = [{ event: 'detail', data: detailFragment(c, detail).text }];
      if (key !== fileKey) events.push({ event: 'yaml', data: yamlFragment(source).text });
      fileKey = key;
      return events;
    };
    return { initial: render, changed: (names) => (names.includes(name) ? render() : []) };
  }

  /** `GET /api/v1/events`: each spec's status as JSON when it may read differently, `removed` when it is gone. */
  jsonFeed(): Feed {
    const known = new Set<string>();
    const statusOf = (name: string): SseEvent => {
      const s = this.control.get(name);
      if (s) known.add(name);
      else known.delete(name);
      return s ? { event: 'status', key: `spec:${name}`, data: JSON.stringify(s) } : { event: 'removed', key: `spec:${name}`, data: JSON.stringify({ name }) };
    };
    return {
      initial: () => this.control.list().map((s) => statusOf(s.name)),
      changed: (names) => names.filter((n) => known.has(n) || this.control.get(n)).map(statusOf),
    };
  }

  // ── thumbnails and the preview ───────────────────────────────────────────────────────────

  /** `GET /api/v1/specs/NAME/thumbnail.jpg`. */
  async thumbnail(res: ServerResponse, name: string): Promise<void> {
    const files = this.control.streamFiles(name);
    if (!files) throw new HttpError(404, this.control.get(name) ? 'NO_STREAM' : 'SPEC_NOT_FOUND', this.control.get(name) ? `${name} has no stream running` : `no spec named "${name}"`);
    let thumb;
    try {
      thumb = await this.thumbnails.thumbnail(files);
    } catch (err) {
      this.log.warn({ spec: name, err: redactText(err instanceof Error ? err.message : String(err)) }, 'thumbnail failed');
      throw new HttpError(503, 'THUMBNAIL_FAILED', `no thumbnail of ${name} now`, undefined, { 'retry-after': '2' });
    }
    if (!thumb) throw new HttpError(404, 'NO_SEGMENT', `${name} has written no segment yet`);
    res.writeHead(200, {
      'content-type': 'image/jpeg',
      'content-length': String(thumb.jpeg.length),
      // The same picture for a few seconds: a grid of cards asks once per card.
      'cache-control': 'private, max-age=5',
      'last-modified': new Date(thumb.at).toUTCString(),
      'x-content-type-options': 'nosniff',
    });
    res.end(thumb.jpeg);
  }

  /** `GET /api/v1/specs/NAME/stream/FILE`: the stream's files, with the session only. */
  async streamFile(req: IncomingMessage, res: ServerResponse, name: string, file: string, caller: Caller): Promise<void> {
    if (!this.mayPreview(caller)) throw new HttpError(401, 'UNAUTHORIZED', 'the preview needs the console session: sign in at /login');
    const files = this.control.streamFiles(name);
    const type = files && streamFileType(file, files.mode);
    if (!files || !type) throw new HttpError(404, 'NOT_FOUND', 'no such stream file');
    let fh: FileHandle;
    try {
      fh = await open(`${files.dir}/${file}`, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch {
      throw new HttpError(404, 'NOT_FOUND', 'no such stream file');
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new HttpError(404, 'NOT_FOUND', 'no such stream file');
      const headers = {
        'content-type': type.mime,
        'cache-control': type.kind === 'playlist' ? 'no-store' : 'private, max-age=60',
        'x-content-type-options': 'nosniff',
      };
      if (type.kind === 'playlist' || req.method === 'HEAD') {
        const body = req.method === 'HEAD' ? Buffer.alloc(0) : await fh.readFile();
        res.writeHead(200, { ...headers, 'content-length': String(req.method === 'HEAD' ? st.size : body.length) });
        res.end(body);
        return;
      }
      res.writeHead(200, { ...headers, 'content-length': String(st.size) });
      const rs = fh.createReadStream({ start: 0, end: Math.max(0, st.size - 1), autoClose: false, highWaterMark: 256 * 1024 });
      await pipeline(rs, res).catch(() => undefined); // a player that hung up early
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  // ── sign-in ──────────────────────────────────────────────────────────────────────────────

  private loginForm(req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller): Promise<void> | void {
    const next = safeNext(url.searchParams.get('next'));
    if (caller.session) return redirect(res, `${baseOf(req)}${next}`);
    return sendHtml(req, res, 200, loginPage(this.context(req, caller), { next }));
  }

  private async login(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    if (!sameOrigin(req.headers)) throw new HttpError(403, 'FORBIDDEN', 'sign-in from another site is refused');
    const form = await readForm(req);
    const next = safeNext(form.get('next'));
    const token = form.get('token') ?? '';
    if (this.tokenSet && !tokensEqual(token.trim(), this.opts.token!)) {
      this.log.warn({ remote: caller.remote }, 'console: sign-in refused (wrong token)');
      return sendHtml(req, res, 401, loginPage(this.context(req, { ...caller, session: undefined }), { next, error: 'That is not the API token.' }));
    }
    if (caller.session) this.sessions.end(caller.session.id);
    const made = this.sessions.create();
    this.log.info({ remote: caller.remote }, 'console: signed in');
    res.setHeader('set-cookie', sessionCookie(made.id, { secure: isHttps(req) }));
    return redirect(res, `${baseOf(req)}${next}`);
  }

  private async logout(req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    const session = await this.checkedSession(req, caller);
    if (session) this.sessions.end(caller.session!.id);
    res.setHeader('set-cookie', clearedCookie({ secure: isHttps(req) }));
    return redirect(res, `${baseOf(req)}/`);
  }

  /**
   * The session of a console mutation, once its origin and CSRF token are checked: a 401 without
   * a session (a token is set), a 403 for a foreign origin or a missing or wrong CSRF token.
   * Returns the form read on the way.
   */
  private async checkedSession(req: IncomingMessage, caller: Caller): Promise<URLSearchParams | undefined> {
    if (!sameOrigin(req.headers)) throw new HttpError(403, 'FORBIDDEN', 'requests from another site are not accepted');
    if (!caller.session) throw new HttpError(401, 'UNAUTHORIZED', 'sign in first: actions need the session');
    const form = await readForm(req);
    const presented = form.get('_csrf') ?? headerValue(req.headers['x-csrf-token']);
    if (!csrfMatches(caller.session.session, presented ?? undefined)) throw new HttpError(403, 'CSRF', 'the form is stale or from elsewhere: reload the page');
    return form;
  }

  // ── actions ──────────────────────────────────────────────────────────────────────────────

  private async action(req: IncomingMessage, res: ServerResponse, path: string, caller: Caller): Promise<void> {
    const htmx = req.headers['hx-request'] === 'true';
    let back = `${baseOf(req)}/`;
    try {
      const form = (await this.checkedSession(req, caller))!;
      const m = /^\/actions\/(?:(casts)|([^/]+)\/([a-z]+))$/.exec(path);
      if (!m) throw new HttpError(404, 'NOT_FOUND', `no such action: ${path}`);
      let message: string;
      if (m[1]) {
        const created = await this.createCast(form);
        message = `Cast ${created.name} started${created.expiresAt ? `; it ends at ${created.expiresAt}` : ''}.`;
        back = `${baseOf(req)}/specs/${encodeURIComponent(created.name)}`;
        this.log.info({ remote: caller.remote, action: 'createCast', name: created.name, ...via(caller) }, `console: cast ${created.name} created`);
      } else {
        const name = checkedName(m[2]!);
        const verb = m[3]!;
        if (!ACTIONS.has(verb)) throw new HttpError(404, 'NOT_FOUND', `no such action: ${verb}`);
        back = `${baseOf(req)}/specs/${encodeURIComponent(name)}`;
        message = await this.act(name, verb, form);
        this.log.info({ remote: caller.remote, action: verb, name, ...via(caller) }, `console: ${verb} ${name}`);
      }
      if (htmx) return sendHtml(req, res, 200, flash('ok', message));
      return redirect(res, back);
    } catch (err) {
      const e = err instanceof HttpError ? err : toHttpError(err);
      if (e.status === 401 || e.status === 403) this.log.warn({ remote: caller.remote, path, status: e.status }, 'console: action refused');
      if (htmx || e.status === 401 || e.status === 403) return sendHtml(req, res, e.status, flash('error', e.message));
      throw e;
    }
  }

  /** One action on a spec through the control plane; the message says what came of it. */
  private async act(name: string, verb: string, form: URLSearchParams): Promise<string> {
    const c = this.control;
    const outcome = (o: ActionOutcome): string => {
      if (o.ok) return o.message;
      throw new HttpError(o.reason === 'unknown' ? 404 : 409, o.reason === 'unknown' ? 'SPEC_NOT_FOUND' : 'NOT_PLAYING', redactText(o.message));
    };
    const found = (ok: boolean, what: string): string => {
      if (!ok) throw new HttpError(404, 'SPEC_NOT_FOUND', `no spec named "${name}"`);
      return what;
    };
    switch (verb) {
      case 'suspend':
        return found(await c.suspend(name), `${name} is suspended.`);
      case 'resume':
        return found(await c.resume(name), `${name} is resumed.`);
      case 'recast':
        return outcome(await c.recast(name));
      case 'reload':
        return outcome(await c.reloadPage(name));
      case 'restart':
        return outcome(await c.restartStream(name));
      case 'end':
        if (!(await c.deleteCast(name))) throw new HttpError(404, 'CAST_NOT_FOUND', `no ephemeral cast named "${name}"`);
        return `Cast ${name} ended.`;
      case 'page': {
        const index = Number(form.get('index'));
        if (!Number.isInteger(index) || index < 0) throw new HttpError(400, 'BAD_REQUEST', 'expected a page number');
        const o = await c.showPage(name, index);
        if (!o.ok) throw new HttpError(o.reason === 'unknown' ? 404 : 409, 'PAGE', redactText(o.message));
        return `${name} shows page ${index + 1}.`;
      }
      default:
        throw new HttpError(404, 'NOT_FOUND', `no such action: ${verb}`);
    }
  }

  private async createCast(form: URLSearchParams) {
    const field = (k: string) => {
      const v = form.get(k)?.trim();
      return v ? v : undefined;
    };
    const body = { device: field('device'), url: field('url'), quality: field('quality'), duration: field('duration'), name: field('name') };
    const parsed = EphemeralCastRequestSchema.safeParse(Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)));
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join('; ');
      throw new HttpError(400, 'SPEC_INVALID', redactText(why));
    }
    return this.control.createCast(parsed.data);
  }

  // ── static files ─────────────────────────────────────────────────────────────────────────

  private asset(req: IncomingMessage, res: ServerResponse, path: string): void {
    const a = this.assets.get(path);
    if (!a) throw new HttpError(404, 'NOT_FOUND', `no such asset: ${path}`);
    const headers: Record<string, string> = { 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache', vary: 'accept-encoding', 'x-content-type-options': 'nosniff' };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gz = acceptsGzip(req);
    const body = gz ? a.gzip : a.body;
    res.writeHead(200, { ...headers, ...(gz ? { 'content-encoding': 'gzip' } : {}), 'content-length': String(body.length) });
    res.end(body);
  }
}

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

/** How an action came, for the audit line: the console, or Home Assistant's ingress and its user. */
function via(caller: Caller): { via: string; user?: string } {
  return caller.ingress ? { via: 'ingress', ...(caller.ingress.user ? { user: caller.ingress.user } : {}) } : { via: 'console' };
}

function notAllowed(method: string, path: string, allow: string[]): HttpError {
  return new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (allowed: ${allow.join(', ')})`, undefined, { allow: allow.join(', ') });
}

function checkedName(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    name = raw;
  }
  if (!NAME_RE.test(name)) throw new HttpError(400, 'INVALID_NAME', `invalid name "${name.slice(0, 80)}": expected 1 to 63 of a-z, 0-9 and -`);
  return name;
}

/** A place to go after sign-in: a path of this console, never another site ("//evil", "/\\evil"). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.includes('\\') || /[\u0000-\u001f]/.test(next)) return '/';
  return next.length > 300 ? '/' : next;
}

/**
 * The path prefix a proxy serves the console under (Home Assistant's ingress sends it as
 * X-Ingress-Path); '' otherwise. Only a plain path is taken. It shapes links only: from any client,
 * since it changes nothing but that client's own pages; trust is ../ingress.ts's decision.
 */
export function baseOf(req: IncomingMessage): string {
  return ingressPath(req.headers) ?? '';
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isHttps(req: IncomingMessage): boolean {
  return headerValue(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim() === 'https';
}

function acceptsGzip(req: IncomingMessage): boolean {
  return /\bgzip\b/.test(headerValue(req.headers['accept-encoding']) ?? '');
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (headerValue(req.headers['content-type']) ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'expected a form (application/x-www-form-urlencoded)');
  return new URLSearchParams((await readBody(req, FORM_LIMIT)).toString('utf8'));
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': '0' });
  res.end();
}

/** An HTML answer with the console's security headers, gzipped when the browser takes it. */
export function sendHtml(req: IncomingMessage, res: ServerResponse, status: number, body: Html, setCookie?: string): void {
  const raw = Buffer.from(body.text);
  const gz = raw.length > 1024 && acceptsGzip(req);
  const out = gz ? gzipSync(raw, { level: 6 }) : raw;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(out.length),
    'cache-control': 'no-store',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    vary: 'accept-encoding, cookie',
    ...(gz ? { 'content-encoding': 'gzip' } : {}),
    ...(setCookie ? { 'set-cookie': setCookie } : {}),
  });
  res.end(out);
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof PagecastError && err.code === 'SPEC_INVALID') return new HttpError(400, 'SPEC_INVALID', redactText(err.message).split('\n').join('; '));
  if (err instanceof PagecastError) return new HttpError(500, err.code, redactText(err.message));
  return new HttpError(500, 'INTERNAL', 'internal error');
}
