// Structured, namespaced logs (pino): one child logger per spec and component. JSON lines for
// journald and log shippers; human-readable lines (pino-pretty) when a person watches stderr.
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import { PagecastError } from './errors.js';
import { escapeControl } from '../specs/escape.js';

export type Logger = PinoLogger;

export type LogFormat = 'json' | 'pretty';

export interface LogOptions {
  level?: string;
  /** Write to this destination instead of stderr (tests pass a stream). */
  destination?: NodeJS.WritableStream;
  /**
   * json or pretty. Default: JSON to a given destination; to stderr, $PAGECAST_LOG_FORMAT, else
   * pretty when stderr is a terminal and JSON when it is not (a pipe, a file, journald).
   */
  format?: LogFormat;
}

/** Reads `json`, `pretty` or `auto` (undefined: choose by the terminal); `source` names the flag or variable. */
export function parseLogFormat(text: string | undefined, source: string): LogFormat | undefined {
  if (text === undefined || text === '' || text === 'auto') return undefined;
  if (text === 'json' || text === 'pretty') return text;
  throw new PagecastError('CONFIG', `${source}: expected json, pretty or auto, got "${text}"`, { source });
}

/** The format createLogger writes in: what was asked for, else pretty for a person at a terminal. */
export function chooseLogFormat(o: { format?: LogFormat; destination?: unknown; env?: NodeJS.ProcessEnv; stderrIsTTY?: boolean }): LogFormat {
  if (o.format) return o.format;
  if (o.destination) return 'json';
  return parseLogFormat((o.env ?? process.env).PAGECAST_LOG_FORMAT, 'PAGECAST_LOG_FORMAT') ?? ((o.stderrIsTTY ?? process.stderr.isTTY) ? 'pretty' : 'json');
}

/**
 * Fields whose values never reach a log line, at any depth: a URL may carry a token in its query,
 * and a login's secret (a token, a password) is what the page signs in with.
 */
const SECRET_FIELDS = new Set(['url', 'headers', 'token', 'storageState', 'authorization', 'login', 'secret', 'password']);
const CENSOR = '[redacted]';

/**
 * The log entry with every secret field's value censored, however deep (pino's `redact` paths
 * below are its fast path, but a path names a depth, and a whole spec logged inside a field sits
 * deeper). Copies only what changes; errors, dates and buffers go to pino's serializers as they are.
 */
export function scrubSecrets(entry: Record<string, unknown>): Record<string, unknown> {
  return scrub(entry, []) as Record<string, unknown>;
}

function scrub(value: unknown, ancestors: object[]): unknown {
  if (value === null || typeof value !== 'object' || ancestors.includes(value) || ancestors.length > 12) return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  ancestors.push(value);
  let out: unknown;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((v: unknown, i) => {
      const s = scrub(v, ancestors);
      if (s !== v) (copy ??= value.slice())[i] = s;
    });
    out = copy;
  } else {
    let copy: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const s = SECRET_FIELDS.has(k) && v !== undefined ? CENSOR : scrub(v, ancestors);
      if (s !== v) (copy ??= { ...(value as Record<string, unknown>) })[k] = s;
    }
    out = copy;
  }
  ancestors.pop();
  return out ?? value;
}

// Children are made with Object.create(parent), so a property of the root is seen by every child.
const ROOT = Symbol('pagecast.log.root');
type Rooted = Logger & { [ROOT]?: Logger };

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.PAGECAST_LOG ?? 'info';
  const format = chooseLogFormat(opts);
  const destination = format === 'pretty' ? prettyStream(opts.destination) : ((opts.destination ?? process.stderr) as DestinationStream);
  const log = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Secrets never reach a log line, whatever a caller passes.
      formatters: { log: scrubSecrets },
      redact: {
        paths: [
          // A login (its secret once resolved: a token, a password) goes whole, like a header.
          ...['url', 'headers', 'token', 'storageState', 'authorization', 'login', 'secret', 'password'].flatMap((k) => [k, `*.${k}`]),
          // A rotation's pages: each has its own URL and may have its own headers, storage state and login.
          ...['url', 'browser.headers', 'browser.storageState', 'browser.login'].flatMap((k) => [`pages[*].${k}`, `*.pages[*].${k}`]),
          // A spec's or a stream input's browser options, logged on their own or inside the spec.
          ...['headers', 'storageState', 'login'].flatMap((k) => [`browser.${k}`, `*.browser.${k}`]),
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
  return rooted(log);
}

/**
 * One line per entry: "12:00:05.123 INFO: [encoder] starting FFmpeg {"stream":"kitchen-1",…}".
 * Redaction has happened before (pino redacts, then this formats); the message is escaped, the
 * fields are JSON, so text from a page or a device cannot move the cursor of the terminal.
 */
function prettyStream(destination: NodeJS.WritableStream | undefined): DestinationStream {
  const toStderr = destination === undefined;
  return pretty({
    destination: destination ?? 2,
    sync: true, // the last lines before an exit are not lost
    colorize: toStderr && process.stderr.isTTY === true && process.env.NO_COLOR === undefined,
    translateTime: 'SYS:HH:MM:ss.l',
    singleLine: true,
    ignore: 'component',
    messageFormat: (entry, messageKey) => {
      const msg = escapeControl(String(entry[messageKey] ?? ''), { oneLine: true });
      return typeof entry.component === 'string' ? `[${escapeControl(entry.component, { oneLine: true })}] ${msg}` : msg;
    },
  });
}

/** A logger that drops everything: for tests and benchmarks. */
export function silentLogger(): Logger {
  return rooted(pino({ level: 'silent' }));
}

function rooted(log: Logger): Logger {
  Object.defineProperty(log, ROOT, { value: log });
  return log;
}

/**
 * `log` with `component` set to `name`: the innermost part that logs names itself. A pino child
 * only appends its bindings, so a second `component` binding would write the key twice in every
 * line (parsers then disagree on which one counts). When `log` already names a component, the
 * child is made from the root with `log`'s other bindings (spec, stream…) and level. (pino's
 * bindings() leaves out `pid` and `hostname`: no chain here binds those.)
 */
export function componentLogger(log: Logger, name: string): Logger {
  const { component, ...rest } = log.bindings() as Record<string, unknown>;
  const root = (log as Rooted)[ROOT];
  if (component === undefined || !root) return log.child({ component: name });
  const child = root.child({ ...rest, component: name });
  child.level = log.level;
  return child;
}
