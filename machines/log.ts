// Structured, namespaced logs (pino): one child logger per spec and component.
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

export interface LogOptions {
  level?: string;
  /** Write to this destination instead of stderr (tests pass a stream). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.PAGECAST_LOG ?? 'info';
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Secrets never reach a log line, whatever a caller passes.
      redact: {
        paths: [
          ...['url', 'headers', 'token', 'storageState', 'authorization'].flatMap((k) => [k, `*.${k}`]),
          // A rotation's pages: each has its own URL and may have its own headers and storage state.
          ...['url', 'browser.headers', 'browser.storageState'].flatMap((k) => [`pages[*].${k}`, `*.pages[*].${k}`]),
          'browser.headers',
          '*.browser.headers',
        ],
        censor: '[redacted]',
      },
    },
    (opts.destination ?? process.stderr) as DestinationStream,
  );
}

/** A logger that drops everything: for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
