import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ResultPromise } from 'execa';
import { createLogger, type Logger } from '../machines/log.js';
import { readStat } from '../machines/processes/procfs.js';

export interface WaitOptions {
  /** Pause between probes; raise it for probes that cost something (a frame grab, an HTTP request). */
  intervalMs?: number;
}

// Waiting on conditions, never on fixed sleeps. A probe that throws counts as "not yet"; the
// last error is in the timeout message. `what` may be a function, to describe the state at the timeout.
export async function waitUntil<T>(
  probe: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs = 10_000,
  what: string | (() => string) = 'condition',
  opts: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const said = typeof what === 'function' ? what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${said}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}

export interface RequestLog {
  /** Paths of requests undici created for the origin, in order. */
  created: string[];
  /** Paths whose request headers undici wrote to the socket: these reach the server even if aborted later. */
  sent: string[];
  close(): void;
}

/**
 * Requests this process makes to `origin` (e.g. `http://127.0.0.1:1234`), seen on the client side
 * through undici's diagnostics channels. A server's own count cannot tell a request sent before
 * some moment from one sent after it: one already on the wire arrives later.
 */
export function recordRequests(origin: string): RequestLog {
  const log: RequestLog = { created: [], sent: [], close: () => {} };
  const want = new URL(origin).origin;
  type Msg = { request: { origin?: unknown; path?: unknown } };
  const pathIf = (m: unknown): string | undefined => {
    const r = (m as Msg).request;
    try {
      return new URL(String(r.origin)).origin === want ? String(r.path) : undefined;
    } catch {
      return undefined;
    }
  };
  const onCreate = (m: unknown) => {
    const p = pathIf(m);
    if (p !== undefined) log.created.push(p);
  };
  const onSent = (m: unknown) => {
    const p = pathIf(m);
    if (p !== undefined) log.sent.push(p);
  };
  subscribe('undici:request:create', onCreate);
  subscribe('undici:client:sendHeaders', onSent);
  log.close = () => {
    unsubscribe('undici:request:create', onCreate);
    unsubscribe('undici:client:sendHeaders', onSent);
  };
  return log;
}

/** Temp directories a test file makes; `removeAll` in an afterEach/afterAll removes them. */
export function tempDirs(): { make(prefix: string): string; removeAll(): void } {
  const dirs: string[] = [];
  return {
    make(prefix) {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    removeAll() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** A debug-level logger whose JSON lines the test can read back. */
export function captureLog(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', destination: dest }), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Child processes a test file starts; `killAll` (in an afterEach) SIGKILLs and awaits them. */
export function childProcesses(): { track<T extends ResultPromise>(c: T): T; killAll(): Promise<void> } {
  const children: ResultPromise[] = [];
  return {
    track(c) {
      children.push(c);
      return c;
    },
    async killAll() {
      for (const c of children.splice(0)) {
        c.kill('SIGKILL');
        await c.catch(() => undefined);
      }
    },
  };
}

/** A TCP port free on 127.0.0.1 now, for a server a test starts as another process. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether `pid` is a running process: not gone, and not a zombie waiting to be reaped. */
export function alive(pid: number): boolean {
  const s = readStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}
