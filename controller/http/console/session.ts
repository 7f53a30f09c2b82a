// Console sessions: the token is asked for once; the browser then holds a random session id in an
// HttpOnly, SameSite=Strict cookie. Each session has its own CSRF token, which every form carries.
// In memory only: a restarted controller asks for the token again.
import { createHash, randomBytes } from 'node:crypto';
import { tokensEqual } from '../auth.js';

export const SESSION_COOKIE = 'pagecast_session';
/** A session unused this long ends. */
export const SESSION_IDLE_MS = 12 * 3600_000;
/** A session ends this long after the token was given, used or not. */
export const SESSION_MAX_MS = 7 * 86_400_000;
/** Sessions held at once; the least recently used goes first. */
export const MAX_SESSIONS = 200;

export interface Session {
  /** The CSRF token every form and console request of this session carries. */
  csrf: string;
  createdAt: number;
  lastSeen: number;
  /**
   * Made for a request through Home Assistant's ingress, which signed the user in: it counts only
   * on such requests, so its cookie is no key from anywhere else (another add-on's ingress gets it
   * too if a browser sends it there).
   */
  ingress?: true;
}

export class SessionStore {
  /** By the SHA-256 of the id: the ids themselves are kept nowhere. */
  private readonly byHash = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new session: its id (for the cookie) and the session. */
  create(opts: { ingress?: boolean } = {}): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    const session: Session = { csrf: randomBytes(24).toString('base64url'), createdAt: t, lastSeen: t, ...(opts.ingress ? { ingress: true as const } : {}) };
    if (this.byHash.size >= MAX_SESSIONS) this.byHash.delete(this.byHash.keys().next().value!);
    this.byHash.set(hashOf(id), session);
    return { id, session };
  }

  /** The live session with this id (its use noted), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id || id.length > 128) return undefined;
    const key = hashOf(id);
    const s = this.byHash.get(key);
    if (!s) return undefined;
    const t = this.now();
    if (t - s.lastSeen > SESSION_IDLE_MS || t - s.createdAt > SESSION_MAX_MS) {
      this.byHash.delete(key);
      return undefined;
    }
    s.lastSeen = t;
    // Most recently used last: the first in the map is the one to drop when full.
    this.byHash.delete(key);
    this.byHash.set(key, s);
    return s;
  }

  end(id: string | undefined): void {
    if (id) this.byHash.delete(hashOf(id));
  }

  get size(): number {
    return this.byHash.size;
  }
}

function hashOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** The named cookie's value from a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Set-Cookie for a session: HttpOnly, SameSite=Strict, the whole console (`path`: the prefix a
 * proxy serves it under, so the browser sends it nowhere else on that site); Secure behind HTTPS.
 */
export function sessionCookie(id: string, opts: { secure: boolean; path?: string }): string {
  return `${SESSION_COOKIE}=${id}; Path=${opts.path || '/'}; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(SESSION_MAX_MS / 1000)}${opts.secure ? '; Secure' : ''}`;
}

/** Set-Cookie that removes the session cookie. */
export function clearedCookie(opts: { secure: boolean }): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${opts.secure ? '; Secure' : ''}`;
}

/** Whether the form's CSRF token is the session's (constant time). */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  return presented !== undefined && presented.length > 0 && tokensEqual(presented, session.csrf);
}

/**
 * Whether a browser request comes from a page of this console. Origin must name the host the
 * request was sent to; without Origin, Sec-Fetch-Site must not say another site. A request with
 * neither (an old browser, curl) passes this check and still needs the session and CSRF token.
 */
export function sameOrigin(headers: { origin?: string; host?: string; 'x-forwarded-host'?: string; 'sec-fetch-site'?: string }): boolean {
  const { origin } = headers;
  if (origin !== undefined) {
    // Behind a proxy (Home Assistant's ingress) the browser's host is the forwarded one. A page of
    // another site cannot set that header on a form post, and a fetch that sets it needs a CORS
    // preflight this server never grants.
    const hosts = [headers.host, headers['x-forwarded-host']?.split(',')[0]?.trim()].filter((h): h is string => !!h).map((h) => h.toLowerCase());
    if (origin === 'null' || hosts.length === 0) return false;
    try {
      return hosts.includes(new URL(origin).host.toLowerCase());
    } catch {
      return false;
    }
  }
  const site = headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}
