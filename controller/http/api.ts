// The status and control API: loopback by default, JSON in and out, bearer token for mutations.
// Every request ends in a JSON answer, however malformed it is; nothing a client sends can throw
// out of the handler. Bodies and tokens are never logged or echoed (a cast URL may carry a secret).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import type { z } from 'zod';
import { PagecastError } from '../../machines/errors.js';
import type { Logger } from '../../machines/log.js';
import { issuesToProblems } from '../../specs/diagnostics.js';
import { escapeControl } from '../../specs/escape.js';
import { redactText } from '../status/redact.js';
import { tokensEqual } from './auth.js';
import { answerClientError, timeoutCheckInterval } from './client-error.js';
import { isIngressRequest, ingressUser, type IngressTrust } from './ingress.js';
import { parseJson } from './json-body.js';
import { HttpError, NAME_RE, hostOf, isLoopbackHost, readBody, type ErrorBody } from './request.js';
import { ConsoleHandler, isConsolePath, mayView, sessionOf, type Caller } from './console/console.js';

export { HttpError, isLoopbackHost, type ErrorBody };
import {
  EphemeralCastRequestSchema,
  ShowPageRequestSchema,
  type ControlPlane,
  type EphemeralCastRequest,
  type ShowPageOutcome,
  type ShowPageRequest,
} from '../status/types.js';

export const DEFAULT_API_PORT = 8780;
/** A cast request is a few hundred bytes; a malformed body costs CPU to locate its error in. */
export const MAX_BODY_BYTES = 16 * 1024;

export interface ApiServerOptions {
  control: ControlPlane;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Bearer token for mutations (and for every /api read from a non-loopback client). */
  token?: string;
  /** Escape hatch for a trusted network; binding beyond loopback without a token is refused otherwise. */
  allowNonLoopbackWithoutToken?: boolean;
  log: Logger;
  /** FFmpeg for the console's thumbnails; 'ffmpeg' on the PATH by default. */
  ffmpegPath?: string;
  /** Home Assistant's ingress proxy may speak for the users it signed in (see ingress.ts); off by default. */
  trustIngress?: IngressTrust;
  /** A request head within headersMs and the whole request within requestMs (10 s and 15 s by default). */
  timeouts?: { headersMs: number; requestMs: number };
}

export interface ApiServer {
  readonly port: number;
  readonly host: string;
  /** e.g. http://127.0.0.1:8780 */
  readonly url: string;
  close(): Promise<void>;
}

// ── routing (pure) ─────────────────────────────────────────────────────────────────────────

export type Route =
  | { kind: 'healthz' }
  | { kind: 'readyz' }
  | { kind: 'metrics' }
  | { kind: 'listSpecs' }
  | { kind: 'getSpec'; name: string }
  | { kind: 'suspend'; name: string }
  | { kind: 'resume'; name: string }
  | { kind: 'showPage'; name: string }
  | { kind: 'recast'; name: string }
  | { kind: 'reload'; name: string }
  | { kind: 'restart'; name: string }
  | { kind: 'events' }
  | { kind: 'thumbnail'; name: string }
  | { kind: 'streamFile'; name: string; file: string }
  | { kind: 'createCast' }
  | { kind: 'deleteCast'; name: string };

export type RouteMatch = { ok: true; route: Route; mutation: boolean } | { ok: false; status: 404 | 405; allow?: string[] };

const READ = ['GET', 'HEAD'];

/** Maps method and path to a route; a known path with the wrong method is 405 with its Allow list. */
export function matchRoute(method: string, pathname: string): RouteMatch {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  const parts = path.split('/').slice(1);
  const pick = (allowed: string[], route: Route, mutation: boolean): RouteMatch =>
    allowed.includes(method) ? { ok: true, route, mutation } : { ok: false, status: 405, allow: allowed };

  if (path === '/healthz') return pick(READ, { kind: 'healthz' }, false);
  if (path === '/readyz') return pick(READ, { kind: 'readyz' }, false);
  if (path === '/metrics') return pick(READ, { kind: 'metrics' }, false);
  if (parts[0] !== 'api' || parts[1] !== 'v1') return { ok: false, status: 404 };
  const [, , collection, name, verb, ...rest] = parts;
  if (collection === 'specs' && name !== undefined && verb === 'stream' && rest.length === 1) return pick(READ, { kind: 'streamFile', name, file: rest[0]! }, false);
  if (rest.length > 0) return { ok: false, status: 404 };
  if (collection === 'events' && name === undefined) return pick(READ, { kind: 'events' }, false);
  if (collection === 'specs') {
    if (name === undefined) return pick(READ, { kind: 'listSpecs' }, false);
    if (verb === undefined) return pick(READ, { kind: 'getSpec', name }, false);
    if (verb === 'suspend') return pick(['POST'], { kind: 'suspend', name }, true);
    if (verb === 'resume') return pick(['POST'], { kind: 'resume', name }, true);
    if (verb === 'page') return pick(['POST'], { kind: 'showPage', name }, true);
    if (verb === 'recast' || verb === 'reload' || verb === 'restart') return pick(['POST'], { kind: verb, name }, true);
    if (verb === 'thumbnail.jpg') return pick(READ, { kind: 'thumbnail', name }, false);
    return { ok: false, status: 404 };
  }
  if (collection === 'casts') {
    if (verb !== undefined) return { ok: false, status: 404 };
    if (name === undefined) return pick(['POST'], { kind: 'createCast' }, true);
    return pick(['DELETE'], { kind: 'deleteCast', name }, true);
  }
  return { ok: false, status: 404 };
}

// ── JSON bodies ────────────────────────────────────────────────────────────────────────────

function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const type = value.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

function parseJsonBody(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'BAD_REQUEST', 'request body is empty: expected a JSON object');
  const parsed = parseJson(text);
  if (parsed.ok) return parsed.value;
  const { message, line, column, position } = parsed.error;
  throw new HttpError(400, 'MALFORMED_JSON', `request body is not valid JSON: ${message} at line ${line}, column ${column} (position ${position})`, {
    line,
    column,
    position,
  });
}

/** A request body declared and parsed as JSON: 415, 413 or 400 (with the position) otherwise. */
async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'expected Content-Type: application/json');
  }
  return parseJsonBody(await readBody(req, MAX_BODY_BYTES));
}

// ── the server ─────────────────────────────────────────────────────────────────────────────

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? DEFAULT_API_PORT;
  const loopbackBind = isLoopbackHost(host);
  const log = opts.log.child({ component: 'api' });
  if (!loopbackBind && !opts.token && !opts.allowNonLoopbackWithoutToken) {
    throw new PagecastError(
      'CONFIG',
      `refusing to serve the control API on ${host} without a token: anyone who can reach it could control your devices (use 127.0.0.1, or give a token file)`,
      { source: 'api' },
    );
  }
  if (!loopbackBind && !opts.token) log.warn({ host }, 'control API served beyond loopback WITHOUT a token');

  const consoleHandler = new ConsoleHandler({ control: opts.control, token: opts.token, log: log.child({ component: 'console' }), ffmpegPath: opts.ffmpegPath });
  const handler = new ApiHandler(opts.control, opts.token, loopbackBind, log, consoleHandler, opts.trustIngress);
  const timeouts = opts.timeouts ?? { headersMs: 10_000, requestMs: 15_000 };
  const server: Server = createServer({ connectionsCheckingInterval: timeoutCheckInterval(timeouts.headersMs, timeouts.requestMs) }, (req, res) => {
    handler.handle(req, res).catch((err: unknown) => {
      // handle() answers every error itself; this is the last line before an unhandled rejection.
      log.error({ err: redactText(String((err as Error)?.message ?? err)) }, 'api: request failed unexpectedly');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
      else res.destroy();
    });
  });
  server.requestTimeout = Math.max(timeouts.requestMs, timeouts.headersMs);
  server.headersTimeout = timeouts.headersMs;
  server.keepAliveTimeout = 5_000;
  // A request node itself rejects (a bad request line, a head too large, a head not in time).
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT' && err.code !== 'ECONNRESET') log.debug({ code: err.code }, 'api: malformed HTTP request');
    answerClientError(err, socket, { json: true });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new PagecastError('CONFIG', `control API cannot listen on ${host}:${port}: ${err.message}`, { source: 'api', cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: err.message }, 'api: server error'));
  const actual = (server.address() as AddressInfo).port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  log.info({ host, port: actual, auth: opts.token ? 'token' : 'none' }, 'control API listening');

  let closing: Promise<void> | undefined;
  return {
    port: actual,
    host,
    url: `http://${urlHost}:${actual}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Event streams never end by themselves.
        consoleHandler.hub.closeAll();
        server.closeIdleConnections();
        // A client holding a request open must not hold up shutdown for long.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      return closing;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

class ApiHandler {
  constructor(
    private readonly control: ControlPlane,
    private readonly token: string | undefined,
    private readonly loopbackBind: boolean,
    private readonly log: Logger,
    private readonly console: ConsoleHandler,
    private readonly trustIngress?: IngressTrust,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = req.socket.remoteAddress ?? 'unknown';
    try {
      await this.route(req, res, remote);
    } catch (err) {
      const e = toHttpError(err);
      if (e.status === 401 || e.status === 403) {
        // Refused mutations are worth an audit line: who tried what (never the presented token).
        this.log.warn({ remote, method: req.method, path: safePath(req.url), status: e.status }, 'api: request refused');
      }
      // A 503 is a passing state with a Retry-After (a thumbnail while a stream starts or ends), said
      // by whoever answered it; an error line is for what should not happen.
      if (e.status >= 500 && e.status !== 503) this.log.error({ remote, method: req.method, err: redactText((err as Error)?.message ?? String(err)) }, 'api: handler error');
      const headers = { ...e.headers };
      // Do not read a body we refused: close the connection instead of draining it.
      if (e.status === 413) headers.connection = 'close';
      if (!res.headersSent) sendJson(res, e.status, errorBody(e), headers);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, remote: string): Promise<void> {
    const method = req.method ?? 'GET';
    // The Host check defeats DNS rebinding: a web page must not reach a loopback API by a name.
    if (this.loopbackBind && req.headers.host !== undefined && !isLoopbackHost(hostOf(req.headers.host))) {
      throw new HttpError(421, 'MISDIRECTED', 'this API answers only to a loopback Host');
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://api.invalid');
    } catch {
      throw new HttpError(400, 'BAD_REQUEST', 'malformed request path');
    }
    const pathname = url.pathname;
    const caller = this.caller(req, remote);
    if (isConsolePath(pathname)) return this.console.handle(req, res, url, caller);
    const match = matchRoute(method, pathname);
    if (!match.ok) {
      if (match.status === 405) {
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${pathname} (allowed: ${match.allow!.join(', ')})`, undefined, {
          allow: match.allow!.join(', '),
        });
      }
      throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${pathname}`);
    }
    const { route } = match;

    if (match.mutation) {
      // Browsers always send Origin; the CLI and curl do not. A page must never drive a TV.
      if (req.headers.origin !== undefined) throw new HttpError(403, 'FORBIDDEN', 'requests from a web page are not accepted');
      this.authorize(req, true);
    } else if (route.kind !== 'healthz' && route.kind !== 'readyz' && route.kind !== 'metrics' && !mayView(caller, this.token !== undefined)) {
      // Beyond loopback (the client's address or the API's own), reads need the token or the console's session.
      this.authorize(req, false);
    }
    if ('name' in route && !NAME_RE.test(route.name)) {
      throw new HttpError(400, 'INVALID_NAME', `invalid name "${route.name.slice(0, 80)}": expected 1 to 63 of a-z, 0-9 and -`);
    }

    switch (route.kind) {
      case 'healthz': {
        const report = this.control.health();
        return sendJson(res, report.ok ? 200 : 503, report);
      }
      case 'readyz': {
        // Liveness is /healthz; this says whether the first scan and reconcile are done.
        const ready = this.control.ready();
        return sendJson(res, ready ? 200 : 503, { ready });
      }
      case 'metrics': {
        const text = await this.control.metrics();
        res.writeHead(200, {
          'content-type': 'text/plain; version=0.0.4; charset=utf-8',
          'content-length': String(Buffer.byteLength(text)),
          'cache-control': 'no-store',
        });
        res.end(text);
        return;
      }
      case 'listSpecs':
        return sendJson(res, 200, { specs: this.control.list() });
      case 'getSpec': {
        const status = this.control.get(route.name);
        if (!status) throw new HttpError(404, 'SPEC_NOT_FOUND', `no spec named "${route.name}"`);
        return sendJson(res, 200, status);
      }
      case 'suspend':
      case 'resume': {
        const suspend = route.kind === 'suspend';
        const found = suspend ? await this.control.suspend(route.name) : await this.control.resume(route.name);
        if (!found) throw new HttpError(404, 'SPEC_NOT_FOUND', `no spec named "${route.name}"`);
        this.log.info({ remote, action: route.kind, name: route.name }, `api: ${route.kind} ${route.name}`);
        return sendJson(res, 200, { name: route.name, suspended: suspend });
      }
      case 'showPage': {
        const { index } = showPageRequestFrom(await readJsonBody(req));
        const outcome = await this.control.showPage(route.name, index);
        if (!outcome.ok) throw showPageError(outcome);
        this.log.info({ remote, action: 'showPage', name: route.name, page: index }, `api: ${route.name} shows page ${index}`);
        return sendJson(res, 200, { name: route.name, page: outcome.page });
      }
      case 'recast':
      case 'reload':
      case 'restart': {
        const act = { recast: () => this.control.recast(route.name), reload: () => this.control.reloadPage(route.name), restart: () => this.control.restartStream(route.name) }[route.kind];
        const outcome = await act();
        if (!outcome.ok) throw new HttpError(outcome.reason === 'unknown' ? 404 : 409, outcome.reason === 'unknown' ? 'SPEC_NOT_FOUND' : 'NOT_PLAYING', redactText(outcome.message));
        this.log.info({ remote, action: route.kind, name: route.name }, `api: ${route.kind} ${route.name}`);
        return sendJson(res, 200, { name: route.name, action: route.kind, message: redactText(outcome.message) });
      }
      case 'events':
        return this.console.hub.open(req, res, this.console.jsonFeed());
      case 'thumbnail':
        return this.console.thumbnail(res, route.name);
      case 'streamFile':
        return this.console.streamFile(req, res, route.name, route.file, caller);
      case 'createCast': {
        const request = castRequestFrom(await readJsonBody(req));
        const created = await this.control.createCast(request);
        this.log.info({ remote, action: 'createCast', name: created.name, expiresAt: created.expiresAt }, `api: cast ${created.name} created`);
        return sendJson(res, 201, created, { location: `/api/v1/specs/${encodeURIComponent(created.name)}` });
      }
      case 'deleteCast': {
        const found = await this.control.deleteCast(route.name);
        if (!found) throw new HttpError(404, 'CAST_NOT_FOUND', `no ephemeral cast named "${route.name}"`);
        this.log.info({ remote, action: 'deleteCast', name: route.name }, `api: cast ${route.name} deleted`);
        return sendJson(res, 200, { name: route.name, deleted: true });
      }
    }
  }

  /** Who asks: local (a loopback client of a loopback API), the console session, a valid bearer token. */
  private caller(req: IncomingMessage, remote: string): Caller {
    const presented = req.headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    const ingress = isIngressRequest(this.trustIngress, remote, req.headers);
    const session = sessionOf(req, this.console.sessions, ingress);
    return {
      ...(ingress ? { ingress: { user: ingressUser(req.headers) } } : {}),
      local: this.loopbackBind && isLoopbackHost(remote),
      ...(session ? { session } : {}),
      bearer: presented !== undefined && this.token !== undefined && tokensEqual(presented, this.token),
      remote,
    };
  }

  private authorize(req: IncomingMessage, mutation: boolean): void {
    if (!this.token) {
      // Only reachable on loopback (start refuses otherwise) or with the explicit escape hatch.
      return;
    }
    const header = req.headers.authorization;
    const presented = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    const challenge = { 'www-authenticate': 'Bearer realm="pagecast"' };
    if (presented === undefined) {
      throw new HttpError(401, 'UNAUTHORIZED', mutation ? 'this needs the API token (Authorization: Bearer <token>)' : 'reads from beyond loopback need the API token', undefined, challenge);
    }
    if (!tokensEqual(presented, this.token)) {
      throw new HttpError(401, 'UNAUTHORIZED', 'token rejected', undefined, { 'www-authenticate': 'Bearer realm="pagecast", error="invalid_token"' });
    }
  }
}

/** The path without its query (which no route uses and a client might fill with anything). */
function safePath(url: string | undefined): string {
  return (url ?? '/').split('?')[0]!.slice(0, 200);
}

/** Field errors listed in one answer; more only say how many (the body is at most 16 KiB of them). */
const MAX_FIELD_ERRORS = 20;

/**
 * A body checked against a request schema: the parsed value, or a 400 (with `code`) naming each
 * `body.<field>`, never a 500. `example` shows the object expected when the body is not one.
 */
function checkedBody<T>(body: unknown, schema: z.ZodType<T>, code: string, example: string): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, code, `body: expected a JSON object like ${example}`, { errors: ['body: expected an object'] });
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const lines = issuesToProblems(parsed.error.issues, body, schema).map((p) => {
    // A field name is the client's text: bounded, and escaped before it can reach a terminal.
    const path = ['body', ...p.path.map((k) => (typeof k === 'string' && k.length > 64 ? `${k.slice(0, 64)}…` : String(k)))].join('.');
    return escapeControl(`${path}: ${p.message}`, { oneLine: true });
  });
  const errors = lines.length > MAX_FIELD_ERRORS ? [...lines.slice(0, MAX_FIELD_ERRORS), `… and ${lines.length - MAX_FIELD_ERRORS} more`] : lines;
  throw new HttpError(400, code, errors.join('\n'), { errors });
}

/** A cast request body: a 400 SPEC_INVALID naming each `body.<field>`. */
export function castRequestFrom(body: unknown): EphemeralCastRequest {
  return checkedBody(body, EphemeralCastRequestSchema, 'SPEC_INVALID', '{"device": "Kitchen TV", "url": "https://..."}');
}

/** A page jump body, `{"index": N}` with N 0-based: a 400 BAD_REQUEST naming the field. */
export function showPageRequestFrom(body: unknown): ShowPageRequest {
  return checkedBody(body, ShowPageRequestSchema, 'BAD_REQUEST', '{"index": 0} (pages are numbered from 0)');
}

/** Why a page jump was refused, as an HTTP answer. */
function showPageError(outcome: Extract<ShowPageOutcome, { ok: false }>): HttpError {
  const [status, code] = (
    {
      unknown: [404, 'SPEC_NOT_FOUND'],
      'no-pages': [409, 'NO_PAGES'],
      'not-playing': [409, 'NOT_PLAYING'],
      range: [422, 'PAGE_OUT_OF_RANGE'],
      'not-ready': [409, 'PAGE_NOT_READY'],
    } as const
  )[outcome.reason];
  return new HttpError(status, code, redactText(outcome.message));
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof PagecastError && err.code === 'SPEC_INVALID') {
    const message = redactText(err.message);
    return new HttpError(400, 'SPEC_INVALID', message, { errors: message.split('\n').filter((l) => l.trim() !== '') });
  }
  if (err instanceof PagecastError) return new HttpError(500, err.code, redactText(err.message));
  return new HttpError(500, 'INTERNAL', 'internal error');
}

function errorBody(e: HttpError): ErrorBody {
  return { error: e.details === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, details: e.details } };
}
