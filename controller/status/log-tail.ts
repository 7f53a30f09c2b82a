// The recent log lines of each spec and stream, in memory, for the console's spec page. A tee on
// the logger's destination: every JSON line pino writes is passed on unchanged and, when it names
// a spec or a stream, also kept in a small ring for that name. Nothing is written anywhere else.
import { symbols, type DestinationStream } from 'pino';
import type { Logger } from '../../machines/log.js';
import { redactText } from './redact.js';
import type { LogLine } from './types.js';

export interface LogTailOptions {
  /** Lines kept per spec and per stream (default 200). */
  perKey?: number;
  /** Specs and streams remembered at once; the oldest goes first (default 1000). */
  maxKeys?: number;
}

const LEVELS: Record<number, LogLine['level']> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** Fields every line has, or that the console shows apart. */
const SHOWN_APART = new Set(['time', 'level', 'msg', 'spec', 'stream', 'component', 'pid', 'hostname']);
const MAX_TEXT = 500;

type Kept = LogLine & { at: number };

/** On a tee attach() made: the destination it passes lines on to. */
const TEED = Symbol('pagecast.logTail.next');

export class LogTail {
  private readonly byKey = new Map<string, Kept[]>();
  private readonly perKey: number;
  private readonly maxKeys: number;

  constructor(opts: LogTailOptions = {}) {
    this.perKey = opts.perKey ?? 200;
    this.maxKeys = opts.maxKeys ?? 1000;
  }

  /** Keeps the lines (pino's JSON, one entry a line) that name a spec or a stream. */
  record(chunk: string): void {
    for (const text of chunk.split('\n')) {
      // Most lines name neither: skip them before parsing.
      if (!text.includes('"spec"') && !text.includes('"stream"')) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (entry === null || typeof entry !== 'object') continue;
      const line = lineOf(entry);
      if (typeof entry.spec === 'string') this.keep(`spec:${entry.spec}`, line);
      if (typeof entry.stream === 'string') this.keep(`stream:${entry.stream}`, line);
    }
  }

  /** A spec's lines and, when given, its stream's, oldest first, at most `limit`. */
  lines(spec: string, stream?: string, limit = 100): LogLine[] {
    const own = this.byKey.get(`spec:${spec}`) ?? [];
    const theirs = stream === undefined ? [] : (this.byKey.get(`stream:${stream}`) ?? []);
    // A line naming both is in both rings: keep it once.
    const merged = [...new Set([...own, ...theirs])].sort((a, b) => a.at - b.at);
    return merged.slice(-limit).map(({ at: _at, ...l }) => l);
  }

  /** A pino destination that keeps what it is given and passes it on to `next` (if any). */
  destination(next?: DestinationStream): DestinationStream & { flushSync?(): void; flush?(cb?: (err?: Error) => void): void } {
    const n = next as (DestinationStream & { flushSync?(): void; flush?(cb?: (err?: Error) => void): void }) | undefined;
    return {
      write: (msg: string) => {
        try {
          this.record(msg);
        } finally {
          n?.write(msg);
        }
      },
      flushSync: () => n?.flushSync?.(),
      flush: (cb?: (err?: Error) => void) => (n?.flush ? n.flush(cb) : cb?.()),
    };
  }

  /**
   * Tees the root logger `log` (the one createLogger returned): its destination becomes
   * destination(its destination), through pino's public symbol for it, so children made before
   * and after see the tee, and the format (JSON or pretty) is whatever the logger already writes.
   */
  attach(log: Logger): void {
    const holder = log as unknown as Record<symbol, DestinationStream & { [TEED]?: DestinationStream }>;
    const current = holder[symbols.streamSym];
    // Attached again (another start with the same logger): the new tail replaces the old one.
    const next = current?.[TEED] ?? current;
    holder[symbols.streamSym] = Object.assign(this.destination(next), { [TEED]: next });
  }

  private keep(key: string, line: Kept): void {
    let ring = this.byKey.get(key);
    if (!ring) {
      if (this.byKey.size >= this.maxKeys) this.byKey.delete(this.byKey.keys().next().value!);
      this.byKey.set(key, (ring = []));
    }
    ring.push(line);
    if (ring.length > this.perKey) ring.splice(0, ring.length - this.perKey);
  }
}

function lineOf(entry: Record<string, unknown>): Kept {
  const t = typeof entry.time === 'string' || typeof entry.time === 'number' ? new Date(entry.time) : new Date();
  const at = Number.isFinite(t.getTime()) ? t.getTime() : Date.now();
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) if (!SHOWN_APART.has(k)) rest[k] = v;
  const fields = Object.keys(rest).length ? clip(redactText(JSON.stringify(rest))) : undefined;
  return {
    at,
    time: new Date(at).toISOString(),
    level: LEVELS[Number(entry.level)] ?? 'info',
    msg: clip(redactText(typeof entry.msg === 'string' ? entry.msg : '')),
    ...(typeof entry.component === 'string' ? { component: entry.component } : {}),
    ...(fields ? { fields } : {}),
  };
}

function clip(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s;
}
