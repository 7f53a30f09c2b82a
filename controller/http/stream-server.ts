// One HTTP server for every stream, reachable by the devices on the LAN. Each stream lives under
// /s/<token>/<file>, the token being the only secret (at least 128 random bits). It serves only
// the files FFmpeg writes, directly in the stream's directory, and records who fetched what: the
// server-side proof that a device is really playing.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv6, type AddressInfo, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { StreamFetchStats, StreamPublisher } from '../../machines/components.js';
import type { StreamMode } from '../../specs/schema.js';
import { MASTER_PLAYLIST } from '../../machines/media/encoder.js';
import { ENCODER_DEFAULTS } from '../../machines/media/encoder-args.js';
import { withSteadyTargetDuration } from '../../machines/media/playlist.js';
import { PagecastError } from '../../machines/errors.js';
import { answerClientError, timeoutCheckInterval } from './client-error.js';
import { firstLanAddress, localAddressFor } from './local-address.js';
import type { Logger } from '../../machines/log.js';

// ── pure parts ─────────────────────────────────────────────────────────────────────────────

/** The master playlist the encoder writes in every stream directory. */
/** What a device is told to fetch: the encoder's master playlist. */
export const STREAM_ENTRY = MASTER_PLAYLIST;

/**
 * RFC 8216's registered type. The Cast LOAD may say `application/x-mpegURL` (CAST.md §3.2); the
 * receiver picks its player from the LOAD, not from this header, and hls.js/Shaka accept both.
 */
export const PLAYLIST_MIME = 'application/vnd.apple.mpegurl';

export type FetchKind = 'playlist' | 'segment';

export interface StreamFileType {
  kind: FetchKind;
  mime: string;
  cacheControl: string;
}

// Playlists change every segment; a cached one would freeze a player at an old live edge.
const NO_CACHE = 'no-cache, no-store';
// Media segments are never rewritten under the same name (a restarted encoder continues the
// sequence), so a short immutable cache is safe and spares a re-fetch on a player retry.
const SEGMENT_CACHE = 'public, max-age=60, immutable';
// The fMP4 init segment keeps its name across encoder restarts but may change (another encoder
// after a hardware fallback), so it is revalidated like a playlist.

const TYPES: Record<string, { kind: FetchKind; mime: string; cacheControl: string; modes: readonly StreamMode[] }> = {
  m3u8: { kind: 'playlist', mime: PLAYLIST_MIME, cacheControl: NO_CACHE, modes: ['hls', 'fmp4'] },
  ts: { kind: 'segment', mime: 'video/mp2t', cacheControl: SEGMENT_CACHE, modes: ['hls'] },
  aac: { kind: 'segment', mime: 'audio/aac', cacheControl: SEGMENT_CACHE, modes: ['hls'] },
  m4s: { kind: 'segment', mime: 'video/iso.segment', cacheControl: SEGMENT_CACHE, modes: ['fmp4'] },
  mp4: { kind: 'segment', mime: 'video/mp4', cacheControl: NO_CACHE, modes: ['fmp4'] },
};

// A plain name FFmpeg could have written: no dot first (hides `..`, `.tmp` files), no slash, no
// percent sign, bounded length. Anything else is not a stream file, whatever it decodes to.
const FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const TOKEN = /^[A-Za-z0-9_-]{22,64}$/;

/** The type of a file a stream of `mode` may serve, or undefined when it must not be served. */
export function streamFileType(name: string, mode: StreamMode): StreamFileType | undefined {
  if (!FILE_NAME.test(name) || name.includes('..')) return undefined;
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const t = TYPES[name.slice(dot + 1)];
  if (!t || !t.modes.includes(mode)) return undefined;
  return { kind: t.kind, mime: t.mime, cacheControl: t.cacheControl };
}

/**
 * `/s/<token>/<file>` from a raw request target, or undefined. Matched on the raw bytes and never
 * decoded: stream file names need no escaping, so any `%`, `\`, NUL, extra slash or dot segment
 * (encoded once, twice or not at all) simply fails to match.
 */
export function parseStreamPath(rawTarget: string): { token: string; file: string } | undefined {
  const q = rawTarget.indexOf('?');
  const path = q === -1 ? rawTarget : rawTarget.slice(0, q);
  const parts = path.split('/');
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== 's') return undefined;
  const [, , token, file] = parts as [string, string, string, string];
  if (!TOKEN.test(token) || !FILE_NAME.test(file) || file.includes('..')) return undefined;
  return { token, file };
}

export type RangeResult = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * A single `bytes=` range against a file of `size` bytes (RFC 9110 §14). undefined means "serve
 * the whole file": no header, a malformed one, or several ranges (allowed to be ignored).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** The remote address as a device would be known: IPv4-mapped IPv6 shown as plain IPv4. */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

/** 144 random bits, URL-safe. */
export function newStreamToken(): string {
  return randomBytes(18).toString('base64url');
}

/** Headers every response carries, errors included: the Cast receiver is a web app (CAST.md §3.2). */
export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, Accept, Accept-Encoding, Origin, Content-Type, If-None-Match, If-Modified-Since',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges, Content-Type, Date',
};

// ── the server ─────────────────────────────────────────────────────────────────────────────

/**
 * What one client may hold of the server, and for how long. The server is on the LAN without a
 * token, so nobody may starve it of sockets or file descriptors: idle, header-dripping and
 * slow-reading connections are closed by these timeouts, and connections over a cap are closed at
 * once, before a byte is read.
 */
export interface StreamServerLimits {
  /** The request head must arrive within this (a TV sends it in one packet). */
  headersTimeoutMs: number;
  /** The whole request within this (a GET has no body); at least headersTimeoutMs. */
  requestTimeoutMs: number;
  /** A kept-alive connection with no next request is closed after this. */
  keepAliveTimeoutMs: number;
  /**
   * A socket on which nothing is read or written for this long is destroyed. A response write
   * counts when it completes, so a reader that does not drain a chunk in this time is cut off.
   */
  idleTimeoutMs: number;
  /** Open connections per client address. */
  maxConnectionsPerClient: number;
  /** Open connections in all: the process stays well below its file descriptor limit. */
  maxConnections: number;
}

/**
 * A Chromecast keeps 1 to 4 connections and fetches a playlist and a 2 s segment every 2 s; hls.js
 * in a browser opens up to 6. Keep-alive outlives the 2 s between fetches with room to spare; a
 * 2 s segment at 20 Mbit/s (5 MB) goes out in 256 KiB writes, each of which must drain within the
 * idle timeout (13 KB/s is far below what plays). 128 connections are 32 busy TVs.
 */
export const DEFAULT_STREAM_LIMITS: Readonly<StreamServerLimits> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 10_000,
  idleTimeoutMs: 20_000,
  maxConnectionsPerClient: 32,
  maxConnections: 128,
};

/** Connections closed over a cap are logged at most this often (one line with the count). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface StreamServerOptions {
  /** Listen address; default 0.0.0.0 (the devices are on the LAN). */
  host?: string;
  /** Default 8181; 0 picks a free port. */
  port?: number;
  /** Put this host in URLs instead of the address that routes to the device (NAT, DNS name). */
  advertiseHost?: string;
  log: Logger;
  /** Clock for fetch times (ms since epoch); tests pass their own. */
  now?: () => number;
  /** Route lookup used by prepareRoute; default localAddressFor. */
  resolveLocal?: (deviceHost: string) => Promise<string>;
  /** Timeouts and connection caps; DEFAULT_STREAM_LIMITS for what is not given. */
  limits?: Partial<StreamServerLimits>;
}

export type FetchListener = (streamId: string, client: string, kind: FetchKind, at: string) => void;

interface Published {
  streamId: string;
  dir: string;
  mode: StreamMode;
  token: string;
  clients: Map<string, StreamFetchStats>;
}

const NOT_FOUND_BODY = 'not found\n';
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

export class StreamServer implements StreamPublisher {
  private readonly opts: StreamServerOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly byToken = new Map<string, Published>();
  private readonly byStream = new Map<string, Published>();
  private readonly routes = new Map<string, string>();
  private readonly listeners = new Set<FetchListener>();
  private readonly limits: StreamServerLimits;
  /** Open connections by client address. */
  private readonly openByClient = new Map<string, number>();
  private refused = 0;
  private refusedUnlogged = 0;
  private refusalLoggedAt = -Infinity;
  private server: Server | undefined;
  private boundPort: number | undefined;

  constructor(opts: StreamServerOptions) {
    this.opts = opts;
    this.log = opts.log.child({ component: 'stream-server' });
    this.now = opts.now ?? Date.now;
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
  }

  async start(): Promise<void> {
    if (this.server) return;
    const host = this.opts.host ?? '0.0.0.0';
    const port = this.opts.port ?? 8181;
    const l = this.limits;
    const server = createServer({ connectionsCheckingInterval: timeoutCheckInterval(l.headersTimeoutMs, l.requestTimeoutMs) }, (req, res) => this.onRequest(req, res));
    server.headersTimeout = Math.min(l.headersTimeoutMs, l.requestTimeoutMs);
    server.requestTimeout = l.requestTimeoutMs;
    server.keepAliveTimeout = l.keepAliveTimeoutMs;
    // With no 'timeout' listener, node destroys a socket idle this long.
    server.timeout = l.idleTimeoutMs;
    // Over the total, node closes the accepted handle before a socket object exists.
    server.maxConnections = l.maxConnections;
    server.on('drop', (data) => this.noteRefused(clientAddress(data?.remoteAddress), 'total'));
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('clientError', (err, socket) => this.onClientError(err, socket as Socket));
    await new Promise<void>((resolveListen, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new PagecastError('CONFIG', `stream server cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err, source: `${host}:${port}` }));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolveListen();
      });
    });
    // After listening, a server error (EMFILE on accept...) is logged, never thrown.
    server.on('error', (err) => this.log.error({ err }, 'stream server error'));
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    this.log.info({ host, port: this.boundPort }, 'stream server listening');
  }

  /** Stops listening and drops open connections (a device's keep-alive would hold close() forever). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
    this.log.info('stream server stopped');
  }

  /** Connections open now, and how many were closed over a cap since start. */
  connectionStats(): { open: number; refused: number } {
    let open = 0;
    for (const n of this.openByClient.values()) open += n;
    return { open, refused: this.refused };
  }

  get port(): number {
    return this.boundPort ?? this.opts.port ?? 8181;
  }

  publish(streamId: string, dir: string, mode: StreamMode): { token: string; entry: string } {
    const absDir = resolve(dir);
    const existing = this.byStream.get(streamId);
    if (existing && existing.dir === absDir) {
      // An encoder restart republishes: the URL a device follows must not change.
      existing.mode = mode;
      return { token: existing.token, entry: STREAM_ENTRY };
    }
    if (existing) this.byToken.delete(existing.token);
    const p: Published = { streamId, dir: absDir, mode, token: newStreamToken(), clients: new Map() };
    this.byStream.set(streamId, p);
    this.byToken.set(p.token, p);
    this.log.info({ streamId, mode, dir: absDir }, 'stream published');
    return { token: p.token, entry: STREAM_ENTRY };
  }

  unpublish(streamId: string): void {
    const p = this.byStream.get(streamId);
    if (!p) return;
    this.byStream.delete(streamId);
    this.byToken.delete(p.token);
    this.log.info({ streamId }, 'stream unpublished');
  }

  /**
   * Looks up, and caches, which local address routes to `deviceHost`. urlFor is synchronous (the
   * machines' interface), so call this once a device is resolved; without it urlFor falls back to
   * this machine's first LAN address.
   */
  async prepareRoute(deviceHost: string): Promise<string> {
    const address = await (this.opts.resolveLocal ?? localAddressFor)(deviceHost);
    this.routes.set(deviceHost, address);
    return address;
  }

  urlFor(streamId: string, deviceHost: string): string {
    const p = this.byStream.get(streamId);
    if (!p) throw new PagecastError('CONFIG', `stream ${streamId} is not published`, { source: 'stream-server' });
    const host = this.advertisedHost(deviceHost);
    return `http://${isIPv6(host) ? `[${host}]` : host}:${this.port}/s/${p.token}/${STREAM_ENTRY}`;
  }

  fetches(streamId: string): StreamFetchStats[] {
    const p = this.byStream.get(streamId);
    if (!p) return [];
    return [...p.clients.values()].map((s) => ({ ...s })).sort((a, b) => a.client.localeCompare(b.client));
  }

  /** Called on every successful GET of a playlist or segment. Returns the unsubscribe. */
  onFetch(listener: FetchListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private advertisedHost(deviceHost: string): string {
    if (this.opts.advertiseHost) return this.opts.advertiseHost;
    const bound = this.opts.host ?? '0.0.0.0';
    // Bound to one address: that is the only one a device can reach.
    if (!WILDCARD_HOSTS.has(bound)) return bound;
    const routed = this.routes.get(deviceHost);
    if (routed) return routed;
    if (deviceHost === 'localhost' || deviceHost.startsWith('127.') || deviceHost === '::1') return deviceHost === '::1' ? '::1' : '127.0.0.1';
    return firstLanAddress() ?? '127.0.0.1';
  }

  // ── connections ──

  /** Counts a new connection against its client's cap, or closes it at once, unread. */
  private admit(socket: Socket): void {
    const client = clientAddress(socket.remoteAddress);
    const open = this.openByClient.get(client) ?? 0;
    if (open >= this.limits.maxConnectionsPerClient) {
      socket.destroy();
      this.noteRefused(client, 'client');
      return;
    }
    this.openByClient.set(client, open + 1);
    socket.once('close', () => {
      const left = (this.openByClient.get(client) ?? 1) - 1;
      if (left > 0) this.openByClient.set(client, left);
      else this.openByClient.delete(client);
    });
  }

  private noteRefused(client: string, cap: 'client' | 'total'): void {
    this.refused++;
    this.refusedUnlogged++;
    // A flood is one line a minute, not one per connection.
    const now = this.now();
    if (now - this.refusalLoggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.refusalLoggedAt = now;
    const max = cap === 'client' ? this.limits.maxConnectionsPerClient : this.limits.maxConnections;
    this.log.warn({ client, cap, max, refused: this.refusedUnlogged }, 'stream server: connections over the cap closed');
    this.refusedUnlogged = 0;
  }

  // ── request handling ──

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
    req.on('error', () => undefined); // a client that hangs up mid-request is not our error
    this.handle(req, res).catch((err: unknown) => {
      this.log.warn({ err, client: clientAddress(req.socket.remoteAddress) }, 'stream request failed');
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.setHeader('Cache-Control', NO_CACHE);
        res.end('internal error\n');
      } else {
        res.destroy();
      }
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? '';
    if (method === 'OPTIONS') {
      // CORS preflight. Chrome's Private Network Access asks before a public page reaches a LAN host.
      if (req.headers['access-control-request-private-network'] === 'true') res.setHeader('Access-Control-Allow-Private-Network', 'true');
      res.setHeader('Access-Control-Max-Age', '600');
      res.setHeader('Allow', 'GET, HEAD, OPTIONS');
      res.writeHead(204).end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD, OPTIONS');
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.writeHead(405).end('method not allowed\n');
      return;
    }
    const target = parseStreamPath(req.url ?? '');
    const stream = target && this.byToken.get(target.token);
    const type = stream && streamFileType(target.file, stream.mode);
    if (!target || !stream || !type) return this.notFound(res);

    let fd: number;
    try {
      // O_NOFOLLOW: a symlink in the directory is refused, not followed out of it. O_NONBLOCK: a
      // FIFO under a segment's name must not hang the open. Opening first, then fstat, leaves no
      // gap in which FFmpeg's deletion could turn a stat into a failed read.
      // Synchronous: a playlist or segment is read from the page cache in well under a millisecond,
      // where the promise API's thread-pool hops (open, stat, reads, close) cost more than the read.
      fd = openSync(join(stream.dir, target.file), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'ENOTDIR' && code !== 'EISDIR') {
        this.log.warn({ streamId: stream.streamId, file: target.file, code }, 'stream file unreadable');
      }
      return this.notFound(res);
    }
    let handedOff = false;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return this.notFound(res);
      handedOff = await this.sendFile(req, res, fd, st.size, stream, type);
    } finally {
      if (!handedOff) closeSync(fd);
    }
  }

  /** Returns true when a read stream took ownership of the file descriptor. */
  private async sendFile(req: IncomingMessage, res: ServerResponse, fd: number, statSize: number, stream: Published, type: StreamFileType): Promise<boolean> {
    const head = req.method === 'HEAD';
    // Playlists are small and replaced by rename: read whole, so the body is one consistent version
    // (for HEAD too, so that its length is the served one).
    const body = type.kind === 'playlist' ? this.servedPlaylist(readRange(fd, 0, statSize)) : undefined;
    const size = body ? body.length : statSize;
    const range = parseRange(req.headers.range, size);
    res.setHeader('Content-Type', type.mime);
    res.setHeader('Cache-Control', type.cacheControl);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${size}`);
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.writeHead(416).end();
      return false;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = Math.max(0, end - start + 1);
    res.setHeader('Content-Length', String(length));
    if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    res.statusCode = range ? 206 : 200;
    if (head) {
      res.end();
      return false;
    }
    const client = clientAddress(req.socket.remoteAddress);
    this.recordFetch(stream, client, type.kind);
    if (length === 0) {
      res.end();
      return false;
    }
    // A segment up to a few MB (a 2 s segment at any preset's rate) is read at once and sent in one
    // write; a bigger file is streamed, so no request holds the event loop for long.
    if (body || length <= INLINE_MAX_BYTES) {
      const slice = body ? body.subarray(start, end + 1) : readRange(fd, start, length);
      this.addBytes(stream, client, slice.length);
      res.end(slice);
      return false;
    }
    const rs = createReadStream('', { fd, start, end, autoClose: true, highWaterMark: 256 * 1024 });
    rs.on('data', (chunk: string | Buffer) => this.addBytes(stream, client, chunk.length));
    try {
      await pipeline(rs, res);
    } catch (err) {
      // Mostly a player that closed the connection early; the descriptor is closed by autoClose.
      this.log.debug({ streamId: stream.streamId, err }, 'segment response ended early');
    }
    return true;
  }

  private servedPlaylist(raw: Buffer): Buffer {
    const text = raw.toString('utf8');
    // The encoders' segment length is the least EXT-X-TARGETDURATION served.
    const served = withSteadyTargetDuration(text, ENCODER_DEFAULTS.segmentSeconds);
    return served === text ? raw : Buffer.from(served, 'utf8');
  }

  private notFound(res: ServerResponse): void {
    // The same answer for an unknown token, an unknown file and a refused one: no oracle.
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', NO_CACHE);
    res.writeHead(404).end(NOT_FOUND_BODY);
  }

  private recordFetch(stream: Published, client: string, kind: FetchKind): void {
    const at = new Date(this.now()).toISOString();
    let stats = stream.clients.get(client);
    if (!stats) {
      stats = { client, bytes: 0 };
      stream.clients.set(client, stats);
    }
    if (kind === 'playlist') stats.lastPlaylistAt = at;
    else stats.lastSegmentAt = at;
    for (const listener of this.listeners) {
      try {
        listener(stream.streamId, client, kind, at);
      } catch (err) {
        this.log.warn({ err, streamId: stream.streamId }, 'fetch listener threw');
      }
    }
  }

  private addBytes(stream: Published, client: string, n: number): void {
    const stats = stream.clients.get(client);
    if (stats) stats.bytes += n;
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    // Malformed HTTP, or a request head or request not in time (with CORS, like every response).
    answerClientError(err, socket, { headers: 'Access-Control-Allow-Origin: *\r\n' });
  }
}

/** Files up to this size are read whole and sent in one write. */
const INLINE_MAX_BYTES = 8 * 1024 * 1024;

/** `length` bytes from `start` (fewer if the file is shorter now). */
function readRange(fd: number, start: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, start + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}
