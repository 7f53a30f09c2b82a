// What an HTTP server answers when node itself rejects a connection's request (node's
// 'clientError'): a bad request line or head, a head too large, or a head or request not in time.
import type { Socket } from 'node:net';

/**
 * How often node should check its header and request timeouts (30 s by default, which would let a
 * silent connection live up to 30 s past them): a quarter of the shorter one, 50 ms to 1 s.
 */
export function timeoutCheckInterval(headersMs: number, requestMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(headersMs, requestMs) / 4)));
}

/** How long a socket answered here is read and dropped before it is closed. */
const LINGER_MS = 2000;

/**
 * The answer to a request node rejected. A timeout must be 408, never 400: a browser that
 * sends its request on an idle connection (one it opened ahead of need, or kept alive) just as
 * the server times that connection out reads the server's answer as the answer to its request,
 * and it sends the request again on a new connection only for a 408 (Chromium does; measured by
 * hand with a 400 and a 408 on a reused socket).
 */
export function clientErrorReply(code: string | undefined): { status: string; code: string; message: string } {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: '408 Request Timeout', code: 'REQUEST_TIMEOUT', message: 'the request did not arrive in time' };
  if (code === 'HPE_HEADER_OVERFLOW') return { status: '431 Request Header Fields Too Large', code: 'HEADERS_TOO_LARGE', message: 'request headers too large' };
  return { status: '400 Bad Request', code: 'BAD_REQUEST', message: 'malformed HTTP request' };
}

export interface ClientErrorAnswer {
  /** Extra header lines, each ending in CRLF. */
  headers?: string;
  /** Answer with a JSON error body ({"error": {code, message}}); an empty body otherwise. */
  json?: boolean;
}

/**
 * Answers a rejected request if the socket can still take an answer and nothing was written on
 * it yet, then closes it whether or not the client ever closes its side. The close lingers (as
 * Apache's does): what the client still sends is read and dropped for a moment, since closing with
 * unread input makes the kernel reset the connection, and a reset can discard the answer before
 * the client has read it.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket, answer: ClientErrorAnswer = {}): void {
  if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const { status, code, message } = clientErrorReply(err.code);
  const body = answer.json ? JSON.stringify({ error: { code, message } }) : '';
  const type = body === '' ? '' : 'Content-Type: application/json\r\n';
  socket.end(`HTTP/1.1 ${status}\r\n${answer.headers ?? ''}${type}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('end', () => socket.destroy());
  socket.once('close', () => clearTimeout(linger));
}
