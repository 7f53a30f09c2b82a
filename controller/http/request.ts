// What the API and the console share about a request: errors as answers, bodies read within a
// limit, loopback addresses and the Host header.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** A spec or cast name as the API and console take it. */
export const NAME_RE = /^[a-z0-9-]{1,63}$/;

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** An answer that is not a success; thrown inside a handler, turned into a JSON response. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** The body, at most `limit` bytes: a 413 HttpError beyond it. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, 'PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new HttpError(413, 'PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
      done = true;
    });
    req.on('error', (err) => {
      if (!done) reject(new HttpError(400, 'BAD_REQUEST', `request body could not be read: ${err.message}`));
      done = true;
    });
  });
}

/** The host of a Host header, without port or brackets. */
export function hostOf(hostHeader: string): string {
  // "[::1]:8780" → "::1"; "127.0.0.1:8780" → "127.0.0.1"
  if (hostHeader.startsWith('[')) return hostHeader.slice(1, hostHeader.indexOf(']'));
  return hostHeader.replace(/:\d*$/, '');
}
